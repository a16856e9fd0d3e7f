// SPDX-License-Identifier: Apache-2.0
// Facts the monitor gathers besides the health checks: whether the
// services of the configured services components are up, and the login
// notice it leaves after an automatic rollback.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::daemon {

struct ServiceFailure {
  std::string component;
  std::string unit;
  std::string reason;  // "enabled but not running", or the manager's error
};

// Every unit of every `adapter = "services"` component of `sections`
// (the configuration's [[component]] list, as config::Config holds it) that
// is enabled but not active. A manager that cannot tell whether units of
// this system run (systemd under another root) is skipped.
std::vector<ServiceFailure> failed_services(
    io::Fs& fs, const std::string& system_root,
    const std::vector<std::pair<std::string, nlohmann::json>>& services_components);

// Writes <motd_dir>/rewind (0644) under the system root: what happened
// and how to undo it. Errors: I/O codes.
Status write_login_notice(io::Fs& fs, const std::string& system_root, const std::string& motd_dir,
                          const std::string& text);

}  // namespace rwd::daemon
