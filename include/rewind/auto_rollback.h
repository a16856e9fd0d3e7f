// SPDX-License-Identifier: Apache-2.0
// Automatic rollback (DESIGN.md "Automatic rollback"): the [auto_rollback]
// settings, one rollback to a point for a trigger, its record in the catalog,
// and the pending `--confirm-within` confirmations. `rewind run` and rewindd
// both act through RollbackSystem::auto_rollback; rewindd and `rewind
// boot-check` enforce expired confirmations through enforce_confirmations.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rewind/progress.h"
#include "rewind/result.h"
#include "rewind/rollback.h"

namespace rwd {

// The triggers the configuration may arm ([auto_rollback] triggers).
inline constexpr const char* kAutoRollbackTriggers[] = {"update-failure",  "timeout",
                                                        "service-failure", "health-critical",
                                                        "critical-error",  "corruption"};

// [auto_rollback], with its defaults.
struct AutoRollbackConfig {
  bool enabled = true;
  std::vector<std::string> triggers{std::begin(kAutoRollbackTriggers),
                                    std::end(kAutoRollbackTriggers)};
  // A rollback still running after this long is cancelled (the engine
  // reverts to its safety point) and reported as timed-out.
  std::chrono::nanoseconds max_rollback_time = std::chrono::minutes(5);
  // true: only the components that differ from the target point are rolled back.
  bool partial = false;
  // Rolled back first, in this order (one operation), before the others.
  std::vector<std::string> priority_components;
  // rewindd's guard: at most max_rollbacks automatic rollbacks within
  // `window` (counted from the auto_rollbacks records), then it stops acting.
  int max_rollbacks = 1;
  std::chrono::nanoseconds window = std::chrono::hours(1);

  bool armed(const std::string& trigger) const;
};

struct AutoRollbackRequest {
  std::string point;    // the target: number, latest, latest:KIND (`run`: its pre point)
  std::string trigger;  // update-failure, timeout, health-critical, unconfirmed, ...
  std::string reason;   // for people: "the command exited with status 1", the failed check
  // Empty: every component of the point (with partial: those that differ).
  std::vector<std::string> components;
  std::optional<bool> partial;  // overrides [auto_rollback] partial
  bool apply_packages = false;
  ProgressObserver* observer = nullptr;
};

struct AutoRollbackReport {
  int64_t record = 0;  // the auto_rollbacks row
  int64_t point = 0;
  std::string trigger;
  std::string reason;
  std::string scope;                    // full | partial
  std::vector<std::string> components;  // in the order they were rolled back
  // completed | nothing-to-do (partial, nothing differed) | failed |
  // timed-out (past max_rollback_time; reverted) | partial (some groups done)
  std::string result;
  std::string message;
  std::vector<RollbackReport> operations;  // one per group (priority first)
  bool succeeded() const { return result == "completed" || result == "nothing-to-do"; }
};

// One row of the catalog's auto_rollbacks table.
struct AutoRollbackRecord {
  int64_t id = 0;
  int64_t time_ns = 0;
  std::string trigger;
  int64_t point = 0;
  std::string scope;
  std::vector<std::string> components;
  std::string result;
  std::string reason;
  std::vector<int64_t> operations;
};

// One row of the catalog's confirmations table (`run --confirm-within`).
struct Confirmation {
  int64_t id = 0;
  int64_t pre_id = 0;
  int64_t post_id = 0;
  int64_t deadline_ns = 0;  // UTC, ns since the epoch
  std::string state;        // pending | confirmed | rolled-back
};

}  // namespace rwd
