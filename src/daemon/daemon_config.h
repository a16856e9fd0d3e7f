// SPDX-License-Identifier: Apache-2.0
// The [daemon] table of rewind.toml (doc/daemon.md): the socket, who may do
// what through it, the schedules, where metrics and the login notice go,
// and the automatic-rollback guard. Parsed and checked completely (an
// unknown key is an error), so `rewindd` refuses a bad file at start and
// keeps the old settings when a reload brings one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/automation.h"
#include "io/fs.h"
#include "rewind/auto_rollback.h"
#include "rewind/result.h"

namespace rwd::daemon {

using Duration = std::chrono::nanoseconds;

// The actions of the socket protocol, in the order doc/daemon.md lists them.
const std::vector<std::string>& actions();

// Who may perform one action: users and groups as written (names or
// numeric ids). Root (uid 0) may always do everything.
struct AccessRule {
  std::vector<std::string> users;
  std::vector<std::string> groups;
};

struct DaemonConfig {
  // Absolute within the system root.
  std::string socket = "/run/rewind/rewindd.sock";
  std::string socket_group;                  // name or gid; empty: root's group
  std::map<std::string, AccessRule> access;  // every action of actions()
  Duration verify_interval = std::chrono::hours(24);
  Duration verify_read_data_interval = std::chrono::hours(24 * 7);
  Duration retention_interval = std::chrono::hours(24);
  Duration timeline_interval{0};                                  // zero: no timeline points
  std::string metrics_dir = "/var/lib/prometheus/node-exporter";  // "": no metrics
  std::string motd_dir = "/run/motd.d";                           // "": no login notice
  std::string state_dir = "/var/lib/rewindd";
  // The round's interval is [health] interval, the guard's count and window
  // [auto_rollback] max_rollbacks and window (config/automation.h): one key
  // per setting, shared with `rewind run` and `rewind health`.
};

// Parses the [daemon] section (a JSON object from config::Config::sections,
// or null when absent). Errors: kUsage naming the key, e.g.
// `[daemon]: unknown key "sockt" (known: socket, ...)`.
Result<DaemonConfig> parse_daemon_config(const nlohmann::json& section);

// Loads the configuration files the way rewind does (config::load) and
// returns the settings the daemon acts on.
struct LoadedConfig {
  DaemonConfig daemon;
  config::HealthConfig health;       // [health], [[check]]
  AutoRollbackConfig auto_rollback;  // [auto_rollback]
  // The services components: name and settings.
  std::vector<std::pair<std::string, nlohmann::json>> services;
  std::vector<std::string> files;
};
Result<LoadedConfig> load_daemon_config(io::Fs& fs, const std::string& system_root,
                                        const std::optional<std::string>& config_file);

// Resolves a user or group written in the configuration: a number is taken
// as is; a name is looked up in <system_root>/etc/passwd or /etc/group.
// Errors: kUsage for a name that is not there.
Result<uid_t> resolve_user(io::Fs& fs, const std::string& system_root, const std::string& user);
Result<gid_t> resolve_group(io::Fs& fs, const std::string& system_root, const std::string& group);

// An absolute path of the configuration, under the system root.
std::string at_root(const std::string& system_root, const std::string& path);

}  // namespace rwd::daemon
