// SPDX-License-Identifier: Apache-2.0
// Service managers: how a unit is asked whether it is enabled and active,
// and how it is enabled, disabled, started and stopped. One implementation
// per kind — systemd (systemctl; enablement with --root semantics), runit
// (the link in the service directory, `sv` on the supervised directory) and
// command (argv templates from the configuration). The services adapter and
// the engine's [service_manager] (stopping and starting a component's
// services around its rollback) share this code.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::components::services {

// The manager's keys, as a [[component]] of adapter "services" or
// [service_manager] gives them.
struct ManagerSettings {
  std::string kind = "systemd";  // systemd | runit | command
  // runit: directories within the system root.
  std::string service_dir = "/etc/service";
  std::string sv_dir = "/etc/sv";
  std::vector<std::string> sv{"sv"};
  // systemd.
  std::vector<std::string> systemctl{"systemctl"};
  // command: "status", "start", "stop", "enable", "disable", "is_enabled"
  // and "environment" (optional; prints the unit's KEY=VALUE lines) argv
  // templates; "{unit}" (or "{service}") stands for the unit's name.
  std::map<std::string, std::vector<std::string>> commands;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

// The keys ManagerSettings reads, in the order an error message lists them.
const std::vector<std::string>& manager_keys();

// Reads the manager's keys of `settings` (other keys are left to the caller).
// kUsage names the key when a value has the wrong type or is invalid.
Result<ManagerSettings> parse_manager_settings(const nlohmann::json& settings,
                                               const std::string& who);

// Whether a unit is enabled. `link` is runit's: where <service_dir>/NAME
// points, restored as it was; `word` is what `systemctl is-enabled` said,
// recorded for people only.
struct Enablement {
  bool on = false;
  std::string link;
  std::string word;
  bool operator==(const Enablement& o) const { return on == o.on && link == o.link; }
};

// The variables a unit runs with, as its manager tells them: `vars` by
// name, and `files` the files they are also read from (systemd's
// EnvironmentFiles, as systemctl gives them: "PATH (ignore_errors=no)").
struct Environment {
  std::map<std::string, std::string> vars;
  std::vector<std::string> files;
  bool operator==(const Environment&) const = default;
};

// Parses systemctl show's "Environment=" value: assignments separated by
// blanks, each possibly quoted ("A=x y", 'B=z') with backslash escapes; a
// later assignment of a name wins, as in systemd. Words without '=' are
// skipped.
std::map<std::string, std::string> parse_systemd_environment(std::string_view value);

class Manager {
 public:
  virtual ~Manager() = default;
  Manager() = default;
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // False when the configuration gives no way to ask (command kind without
  // is_enabled): enablement is then neither recorded nor changed.
  virtual bool tracks_enablement() const { return true; }
  // Whether the manager can tell and change whether units of this system
  // run: not systemd for a root other than / (that system is not running,
  // and plain systemctl would answer for the host), unless a `systemctl`
  // that can was configured.
  virtual bool tracks_activity() const { return true; }
  virtual Result<Enablement> enablement(const std::string& unit) = 0;
  virtual Status set_enablement(const std::string& unit, const Enablement& want) = 0;
  virtual Result<bool> active(const std::string& unit) = 0;
  // Starts the unit and checks that it came up: kTimeout or kOther name the
  // unit when it did not (the failure a rollback reverts on).
  virtual Status start(const std::string& unit) = 0;
  virtual Status stop(const std::string& unit) = 0;
  // Absolute paths within the system root that hold the unit's files
  // (files or directories; missing ones are skipped by the caller), and
  // names of directories never captured beneath them (runit's supervise/).
  virtual std::vector<std::string> file_roots(const std::string& unit) const = 0;
  virtual std::vector<std::string> skipped_dirs() const { return {}; }
  // The unit's environment, or nullopt when the manager cannot tell (no
  // "environment" command; systemctl unable to answer). Recorded only: it
  // follows from files that are restored, never set by itself.
  virtual Result<std::optional<Environment>> environment(const std::string& unit) = 0;
};

// Opens the directory `abs_dir` (absolute within the system root) one name
// at a time beneath the root, never following a symlink on the way. A
// missing directory is created (0755) when `create`, else the result is an
// invalid Fd.
Result<io::Fd> open_dir(io::Fs& fs, const std::string& system_root, const std::string& abs_dir,
                        bool create);

// The manager of `s.kind` acting on the system under `system_root`.
std::unique_ptr<Manager> make_manager(const ManagerSettings& s, io::Fs& fs,
                                      const std::string& system_root);

}  // namespace rwd::components::services
