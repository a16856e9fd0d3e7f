// SPDX-License-Identifier: Apache-2.0
// The audit log's entries of the decisions rewindd and `rewind boot-check`
// take (doc/daemon.md "Audit log"): an automatic rollback started and
// finished, a rollback not taken because of a guard, the attention state,
// scheduled retention that forgot points, timeline points. Operation names
// are "<who> <what>" ("daemon rollback", "boot-check refuse"), the
// arguments `key=value` strings, the message the decision as logged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rewind/auto_rollback.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

// What the entries call each kind of decision.
inline constexpr std::string_view kDecisionRollback = "rollback";
inline constexpr std::string_view kDecisionRefuse = "refuse";
inline constexpr std::string_view kDecisionAttention = "attention";
inline constexpr std::string_view kDecisionRetention = "retention";
inline constexpr std::string_view kDecisionTimeline = "timeline";

// Appends one entry, operation "daemon <what>" ("boot-check <what>" when
// `boot`), uid the daemon's own. The decision was taken whatever happens to
// its record: a failed append is logged as a warning and the caller goes on.
void audit_decision(RollbackSystem& sys, bool boot, std::string_view what,
                    std::vector<std::string> arguments, int result, const std::string& message);

// The exit code (DESIGN.md's table) an automatic rollback's result stands
// for: 0 completed or nothing to do, 3 partial, 5 failed or timed out.
int rollback_result_code(const AutoRollbackReport& r);

// The arguments of a finished automatic rollback: "finished", trigger,
// point, scope, components, result, operation, safety, reason.
std::vector<std::string> rollback_arguments(const AutoRollbackReport& r);

}  // namespace rwd::daemon
