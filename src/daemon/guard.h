// SPDX-License-Identifier: Apache-2.0
// The decisions of automatic rollback, as pure functions of what the
// daemon knows (doc/daemon.md "Guards" and "Target"), so that each rule is
// tested on its own and the monitor only gathers facts and acts.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/state.h"
#include "rewind/auto_rollback.h"
#include "rewind/rollback.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

struct Verdict {
  bool act = false;
  std::string reason;  // why it acts or why not, for the log and `status`
};

// Whether the guards let an automatic rollback happen now: not paused, not
// in the attention state, fewer than [auto_rollback] max_rollbacks within
// its window. `recent` counts the automatic rollbacks of the catalog within
// the window: the daemon's, `rewind run`'s and expired confirmations' alike
// (after `run` rolled an update back, the daemon rolling back again would
// be a rollback of a rollback).
Verdict guard(const DaemonState& state, const AutoRollbackConfig& config, int recent);

// Where to roll back to, in the order to try (a point whose rollback fails
// before changing anything, e.g. damaged data, is skipped for the next):
// - with an update (a `pre` point), its pre point and nothing else (never
//   the post point of the update that broke things); refused when an
//   automatic rollback already went to that point (one per update: a second
//   would be a rollback of a rollback);
// - without one, the points that are neither safety points (their state is
//   what a rollback undid) nor post points, newest first, taken while health
//   was good (or when no check was configured: health ""); refused when the
//   newest of them was already an automatic rollback's target;
// - never a point a later rollback undid (newer than its target, taken
//   before it ran).
// `targeted`: the points automatic rollbacks went to; `damaged`: points
// known not to verify.
struct TargetChoice {
  std::vector<int64_t> candidates;
  std::string why;  // "the pre point of the latest update (3)", or why there is none
  bool from_update = false;
};
TargetChoice choose_target(const std::vector<RecoveryPointInfo>& points,
                           const std::vector<RollbackProgress>& operations,
                           const std::set<int64_t>& targeted, const std::set<int64_t>& damaged);

}  // namespace rwd::daemon
