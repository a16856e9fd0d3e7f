// SPDX-License-Identifier: Apache-2.0
// Health checks (DESIGN.md "Automatic rollback"): the [[check]]s of the
// configuration run against the system root, each giving ok/failed and a
// message, and an overall level. Used by `rewind health`, `rewind run`
// (before the pre point and after the command), recovery points (the level
// they record) and rewindd's schedule.
//
// Nothing here changes the system. The only state kept is the kernel-log
// read position (<repository>/health/kernel-log.json, written durably), so
// that a log line makes a check fail once, not forever.
#pragma once

#include <string>
#include <vector>

#include "config/automation.h"
#include "io/fs.h"
#include "rewind/health.h"
#include "rewind/result.h"

namespace rwd::config {
struct Config;
}

namespace rwd::health {

struct Context {
  io::Fs& fs;
  std::string system_root;  // "/" or an absolute directory
  std::string repository;   // the repository directory (free space, verify result, log position)
  // [service_manager]'s settings as JSON (the services adapter's keys);
  // a service check without manager keys uses these.
  nlohmann::json service_manager = nlohmann::json::object();
  bool advance_log_position = true;
};

// Runs the checks of `h` (only those named in `only`, when given) in order.
// Errors: kNotFound for a name in `only` that is not configured; a check
// that cannot run (a missing program, an unreadable log) is a failed check,
// not an error.
Result<HealthReport> run_health(const config::HealthConfig& h, const Context& ctx,
                                const std::vector<std::string>& only);

// The catalog meta key under which `verify` records its last result: a JSON
// object {"time_ns", "ok", "read_data", "problems"}.
inline constexpr const char* kVerifyMetaKey = "verify.last";

}  // namespace rwd::health
