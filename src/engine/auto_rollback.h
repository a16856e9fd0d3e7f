// SPDX-License-Identifier: Apache-2.0
// The automatic-rollback core (DESIGN.md "Automatic rollback"): one
// rollback to a point for a trigger, on behalf of `rewind run` and rewindd.
// The scope is every component of the point, or with `partial` the ones
// that differ from it (the manager's diff); priority components go first, in
// their own operation; each operation is the engine's (safety point first,
// journal, revert on failure). A watchdog cancels the running operation past
// max_rollback_time (the engine then reverts it). The attempt and its outcome
// are recorded in the catalog's auto_rollbacks table before and after.
#pragma once

#include "engine/rollback_engine.h"
#include "rewind/auto_rollback.h"

namespace rwd::engine {

Result<AutoRollbackReport> auto_rollback(RecoveryPointManager& points, RollbackEngine& engine,
                                         const AutoRollbackConfig& cfg,
                                         const AutoRollbackRequest& req);

}  // namespace rwd::engine
