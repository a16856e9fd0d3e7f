// SPDX-License-Identifier: Apache-2.0
// The configuration loader (DESIGN.md "Configuration"): reads rewind.toml and
// its conf.d/*.toml drop-ins through io::Fs, validates them completely at load
// (unknown keys, types, component names, dependencies, overlapping paths) and
// returns plain values. Nothing here touches the system beyond reading the
// configuration files; callers own the returned Config.
//
// Every error is kUsage (exit code 2) and names the file, the line and the key,
// e.g. `/r/etc/rewind/rewind.toml:12: component "appdb": unknown key "servces"`;
// TOML syntax errors carry toml++'s description with file:line:column. Only a
// missing --config file is kNotFound, and a file that cannot be read keeps its
// I/O error code.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::config {

// One [[component]] table.
struct ComponentConfig {
  std::string name;                // [a-z0-9][a-z0-9_.-]*
  std::string adapter = "files";   // files | config | kernel | services | sqlite | postgres |
                                   // packages | command
  std::string category = "other";  // kernel_core | system_services | device_drivers |
                                   // configuration | user_data | database | other
  // Normalized absolute paths ("/etc"), within the system root: `paths = [...]`
  // followed by `path = "..."` when that is given too.
  std::vector<std::string> paths;
  std::vector<std::string> exclude;  // globs as written
  std::vector<std::string> depends_on;
  std::vector<std::string> services;
  bool critical = false;
  // argv, may be empty; a single string in the file becomes {"/bin/sh", "-c", s}.
  std::vector<std::string> pre_capture;
  std::vector<std::string> post_capture;
  // Every other key of the table (adapter-specific: host, port, databases,
  // manager, units, parts...), converted to JSON. Always empty for "files".
  nlohmann::json settings = nlohmann::json::object();
  std::string origin;  // "file:line" of the [[component]] that first defined it
};

// The table [service_manager].
struct ServiceManagerConfig {
  // command | systemd | runit, from the key `kind` (or its older name
  // `type`); the engine stops and starts services through the services
  // adapter's manager of that kind.
  std::string type = "command";
  // command: argv templates; "{service}" in any argument stands for the service name.
  std::vector<std::string> stop;
  std::vector<std::string> start;
  std::vector<std::string> status;
  // runit and systemd, as in a services component; empty: the manager's default.
  std::string service_dir;
  std::string sv_dir;
  std::vector<std::string> sv;
  std::vector<std::string> systemctl;
  std::string timeout = "5min";  // duration string, validated by parse_duration
};

// The table [repository].
struct RepositoryConfig {
  std::string path;           // absolute, as written (the caller resolves it against the
                              // system root); empty = not set
  int compression_level = 3;  // from compression = "zstd:N" (1..19) or "zstd"
  bool shred = false;         // prune overwrites deleted data (shred = true)
};

struct Config {
  RepositoryConfig repository;
  ServiceManagerConfig service_manager;
  // In dependency order: a component comes after everything it depends_on;
  // ties keep the order of first definition in the files.
  std::vector<ComponentConfig> components;
  // [retention], [auto_rollback], [health], [daemon], [hooks] (objects) and [[check]]
  // (array of objects), kept as JSON for the parts that use them; validated
  // here only as tables / arrays of tables. Drop-ins override a table's keys
  // one by one and append to [[check]].
  nlohmann::json sections = nlohmann::json::object();
  std::vector<std::string> files;  // files read, in order

  // The component of that name, or nullptr.
  const ComponentConfig* find(std::string_view name) const;
};

// Reads `config_file` when given (it must exist: kNotFound otherwise), else
// <system_root>/etc/rewind/rewind.toml when it exists; then the drop-ins
// <dir of the main file>/conf.d/*.toml in lexical order (when that directory
// exists; with the default location even if rewind.toml itself does not).
// Returns std::nullopt when no file at all exists and none was named.
// Errors: kUsage for invalid configuration, kNotFound for a missing
// `config_file`, the I/O error's code when a file cannot be read.
Result<std::optional<Config>> load(io::Fs& fs, const std::string& system_root,
                                   const std::optional<std::string>& config_file);

// Parses `text`s as if read from their `source`s (for tests and `config
// validate`); several documents merge in order, later ones overriding the
// keys of earlier ones (a component of the same name is overridden key by
// key). Errors: kUsage.
Result<Config> parse(
    const std::vector<std::pair<std::string /*source*/, std::string /*text*/>>& documents);

// The named components plus every component that (transitively) depends on
// them, in dependency order. Errors: kUsage for a name that is not configured.
Result<std::vector<std::string>> with_dependents(const Config& c,
                                                 const std::vector<std::string>& names);

// systemd.time durations: "30s", "5min", "24h", "7d", "2w", "1y", "1h 30min",
// "500ms", "2 weeks", "1.5h"; a number without unit is seconds. Months are
// 30.44 days, years 365.25 days (as systemd). Errors: kUsage on anything else
// (empty, negative, unknown unit, overflow).
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Whether `name` matches [a-z0-9][a-z0-9_.-]* (and is at most 255 bytes, as it
// names directories).
bool valid_component_name(std::string_view name);

}  // namespace rwd::config
