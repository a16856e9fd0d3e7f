// SPDX-License-Identifier: Apache-2.0
// The automation tables of the configuration: [[check]], [health] and
// [auto_rollback] (DESIGN.md "Configuration"). config::parse keeps them as
// JSON in Config::sections and calls check_automation() once every file is
// read, so a configuration with an unknown or mistyped key fails to load
// (kUsage, naming the table, the check and the key); the parts that use
// them (health/, engine/, rewindd) read the plain values below.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rewind/auto_rollback.h"
#include "rewind/result.h"

namespace rwd::config {

struct Config;

// The kernel-log patterns checked when a kernel_log check names none:
// I/O errors, filesystem errors, out-of-memory kills (ECMAScript regexes,
// matched anywhere in a line).
const std::vector<std::string>& default_kernel_patterns();

// One [[check]] table. `kind` decides which keys are allowed:
//   command:    command (argv, or a string run by /bin/sh -c), timeout
//   service:    units (or unit), and optionally the manager's keys as in a
//               services component (manager, service_dir, sv_dir, sv,
//               systemctl, status); default: [service_manager]
//   sqlite:     path (within the system root), mode = "quick" | "full"
//   postgres:   host, port, user, database, pg_isready (argv), timeout
//   free_space: min_free ("10%", "500M", "2G"; default "5%"), path
//               (default: the repository)
//   verify:     max_age (duration; optional): the last `rewind verify`
//               must have passed, and be no older than that
//   kernel_log: source = "kmsg" | "file" | "journal", path (source file),
//               patterns (regexes; default default_kernel_patterns()),
//               journalctl (argv)
// Common keys: name (required, unique), kind (default: "command" when
// `command` is given), critical (default false), timeout (default
// [health] timeout).
struct CheckConfig {
  std::string name;
  std::string kind;
  bool critical = false;
  std::chrono::nanoseconds timeout{};
  std::vector<std::string> command;
  std::vector<std::string> units;
  nlohmann::json manager = nlohmann::json::object();  // manager keys given in the check
  std::string path;
  std::string mode = "quick";
  std::string host = "/run/postgresql";
  int port = 5432;
  std::string user = "postgres";
  std::string database = "postgres";
  std::vector<std::string> pg_isready{"pg_isready"};
  uint64_t min_free_bytes = 0;  // one of these two is set
  double min_free_percent = 0;
  std::chrono::nanoseconds max_age{};  // 0 = any age
  std::string source = "kmsg";
  std::vector<std::string> patterns;
  std::vector<std::string> journalctl{"journalctl"};
};

// [health].
struct HealthConfig {
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);  // a check's default time limit
  std::chrono::nanoseconds interval = std::chrono::minutes(5);  // how often rewindd runs them
  std::vector<CheckConfig> checks;                              // [[check]], in order
};

// Reads [health] and [[check]] from c.sections. Errors: kUsage.
Result<HealthConfig> health_config(const Config& c);
// Reads [auto_rollback] from c.sections (defaults when absent). Errors: kUsage.
Result<AutoRollbackConfig> auto_rollback_config(const Config& c);
// Both, for config::parse: the first error.
Status check_automation(const Config& c);

// "10%" -> percent, "500M" / "2G" / "1048576" -> bytes (K, M, G, T: powers
// of 1024). Errors: kUsage.
Status parse_min_free(std::string_view text, uint64_t& bytes, double& percent);

}  // namespace rwd::config
