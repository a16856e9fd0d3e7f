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

#include "daemon/daemon_config.h"
#include "daemon/state.h"
#include "rewind/rollback.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

struct Verdict {
  bool act = false;
  std::string reason;  // why it acts or why not, for the log and `status`
};

// Whether the guards let an automatic rollback happen now: not paused, not
// in the attention state, fewer than max_auto_rollbacks within the window.
Verdict guard(const DaemonState& state, const DaemonConfig& config, int64_t now_ns);

// Where to roll back to, in the order to try (a point whose data fails to
// verify is skipped for the next one):
// - with an update (a `pre` point), its pre point and nothing else (never
//   the post point of the update that broke things); refused when an
//   automatic rollback already went to that point (one per update: a second
//   would be a rollback of a rollback);
// - without one, the points that are neither safety points (their state is
//   what a rollback undid) nor post points, newest first, taken while health
//   was good (or before health was recorded), and not among the points a
//   later rollback undid (newer than its target, older than it).
struct TargetChoice {
  std::vector<int64_t> candidates;
  std::string why;  // "the pre point of the latest update (3)", or why there is none
  bool from_update = false;
};
// `health_of` gives the health level a point recorded ("" when none).
TargetChoice choose_target(const std::vector<RecoveryPointInfo>& points,
                           const std::vector<RollbackProgress>& operations,
                           const DaemonState& state, const std::set<int64_t>& damaged,
                           const std::function<std::string(const RecoveryPointInfo&)>& health_of);

}  // namespace rwd::daemon
