// SPDX-License-Identifier: Apache-2.0
// What rewindd remembers across restarts and reboots (doc/daemon.md
// "State"): paused or not, the `attention` state, the automatic rollbacks
// it made (the guard counts them), and when each scheduled job last ran.
// One JSON file, <state_dir>/state.json (0600, directory 0700), replaced
// atomically (io/durable.h) at every change; `rewind boot-check` reads and
// updates the same file.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::daemon {

// An automatic rollback the daemon (or boot-check) made; the catalog's
// auto_rollbacks table has the full record (`record`).
struct DaemonRollback {
  int64_t time_ns = 0;
  std::string trigger;
  std::string reason;
  int64_t point = 0;      // the target
  int64_t operation = 0;  // 0: none (it failed before starting)
  int64_t safety = 0;
  std::string result;  // the automatic-rollback report's result (completed, failed, ...)
  int64_t record = 0;  // its row in the catalog's auto_rollbacks table
};

struct DaemonState {
  bool paused = false;
  std::string pause_reason;
  bool attention = false;
  std::string attention_reason;
  std::vector<DaemonRollback> rollbacks;  // oldest first, the last 100
  // Scheduled jobs: when each last ran ("verify", "verify-read-data",
  // "retention", "timeline").
  std::map<std::string, int64_t> last_run_ns;
  // The last verify: when, whether it passed, its problems.
  int64_t last_verify_ns = 0;
  bool last_verify_ok = true;
  std::vector<std::string> last_verify_problems;
  // The last health evaluation.
  std::string health_level = "unknown";
  int64_t health_ns = 0;
  // The last time the guard refused to act, and why (shown by status).
  std::string last_refusal;
  // The boot the last boot-check saw (/proc/sys/kernel/random/boot_id).
  std::string boot_id;
};

nlohmann::json to_json(const DaemonState& s);
DaemonState state_from_json(const nlohmann::json& j);

// <system_root><state_dir>/state.json; a missing file is a fresh state.
// Errors: kCorruptedData for a file that does not parse (a person should
// look at it rather than have the guard's memory silently reset), I/O codes.
Result<DaemonState> load_state(io::Fs& fs, const std::string& dir);
Status save_state(io::Fs& fs, const std::string& dir, const DaemonState& s);

}  // namespace rwd::daemon
