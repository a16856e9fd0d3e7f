// SPDX-License-Identifier: Apache-2.0
// The value types of health checks (DESIGN.md "Automatic rollback"): what
// `rewind health`, `rewind run` and rewindd get back from
// RollbackSystem::check_health. The checks themselves are configured in
// [[check]] tables and [health] (see src/config/automation.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rwd {

// good: every check passed; degraded: a non-critical check failed;
// critical: a critical check failed.
enum class HealthLevel { kGood, kDegraded, kCritical };
std::string_view health_level_name(HealthLevel l);  // "good", "degraded", "critical"
std::optional<HealthLevel> parse_health_level(std::string_view name);

struct HealthCheckResult {
  std::string name;
  // service, command, sqlite, postgres, free_space, verify, kernel_log
  std::string kind;
  bool ok = false;
  bool critical = false;
  std::string message;  // what was found, also when ok
};

struct HealthReport {
  HealthLevel level = HealthLevel::kGood;
  std::vector<HealthCheckResult> checks;  // in configuration order
  // The failed critical checks' names (the trigger names of a rollback).
  std::vector<std::string> failed_critical() const;
};

struct HealthOptions {
  std::vector<std::string> only;  // check names (--check); empty = all
  // Kernel-log checks remember how far they read, so that a line fires
  // once. false: look without moving the position (a recovery point's
  // health level, taken in passing).
  bool advance_log_position = true;
};

}  // namespace rwd
