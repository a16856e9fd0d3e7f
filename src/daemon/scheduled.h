// SPDX-License-Identifier: Apache-2.0
// The daemon's scheduled maintenance: verify, verify --read-data,
// retention and timeline recovery points. The server runs them on its idle
// worker thread (idle CPU and I/O priority, io/daemon_io.h).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/daemon_config.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

// The jobs and their intervals (zero: off).
std::vector<std::pair<std::string, Duration>> scheduled_jobs(const DaemonConfig& c);

struct JobResult {
  std::string summary;
  std::optional<Error> error;
  bool verified = false;              // a verify ran to its end
  std::vector<std::string> problems;  // what it found
};

// Runs one job ("verify", "verify-read-data", "retention", "timeline").
JobResult run_job(const std::string& job, const SystemOptions& options);

// The retention hook: this build has no retention entry point yet
// (`rewind forget` does not exist on main), so the job reports that and
// changes nothing. When it lands, this is the one place to call it.
JobResult run_retention(RollbackSystem& sys);

}  // namespace rwd::daemon
