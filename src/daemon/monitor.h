// SPDX-License-Identifier: Apache-2.0
// The automatic part of rewindd and `rewind boot-check` (doc/daemon.md
// "Automatic rollback"): one round runs the health checks, looks at the
// services of the configured services components, the kernel log and the
// live databases' integrity, enforces `--confirm-within` deadlines, and
// when an armed trigger fires decides, under the guards, whether to roll
// back and to which point, then does it through the automatic-rollback
// core and checks again.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/daemon_config.h"
#include "daemon/state.h"
#include "rewind/rollback.h"

namespace rwd::daemon {

// Where the daemon's memory lives; the monitor reads a snapshot and
// changes it through update() (which saves), so a person's pause or resume
// that arrives in between is never overwritten.
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual DaemonState snapshot() = 0;
  virtual void update(const std::function<void(DaemonState&)>& change) = 0;
};

struct MonitorEnv {
  std::string root = "/";
  std::string repo;
  std::optional<std::string> config;
};

// One fired trigger and why.
struct Trigger {
  std::string name;  // service-failure, critical-error, corruption, health-critical, ...
  std::string reason;
};

struct RoundReport {
  std::string health_level = "unknown";  // good, degraded, critical
  std::vector<Trigger> triggers;
  std::vector<std::string> decisions;  // each logged with its reason
  bool rolled_back = false;
  // Repository problems found (they block automatic rollback from the
  // damaged points; never a trigger).
  std::vector<std::string> repository_problems;
};

class Monitor {
 public:
  // One round as described above. `boot` marks boot-check's round (the
  // log says so). The rollback itself is bounded by [auto_rollback]
  // max_rollback_time, not by the caller.
  RoundReport round(const MonitorEnv& env, const LoadedConfig& cfg, StateStore& store,
                    bool boot = false);
};

}  // namespace rwd::daemon
