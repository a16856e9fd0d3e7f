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

// Applies the configured retention policy ([retention]; DESIGN.md's
// decision "Retention.") and forgets what it removes; `prune` reclaims the
// data later. The summary names the points forgotten and why (min_free
// included). Points an unfinished operation uses and the pre point of an
// unconfirmed `--confirm-within` change are kept whatever the rules say.
// Forgetting anything (or failing to) is recorded in the audit log as
// "daemon retention"; a busy repository is an error to try again later.
JobResult run_retention(RollbackSystem& sys);

}  // namespace rwd::daemon
