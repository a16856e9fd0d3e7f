// SPDX-License-Identifier: Apache-2.0
// rewind health
#include "cli/command.h"
#include "cli/run_report.h"

namespace rwd::cli {

json health_json(const HealthReport& r) {
  json checks = json::array();
  for (const auto& c : r.checks)
    checks.push_back(json{{"name", c.name},
                          {"kind", c.kind},
                          {"ok", c.ok},
                          {"critical", c.critical},
                          {"message", c.message}});
  return json{{"level", std::string(health_level_name(r.level))}, {"checks", checks}};
}

void print_health(const HealthReport& r, std::FILE* out) {
  for (const auto& c : r.checks)
    std::fprintf(out, "%-6s  %-20s %-10s %s%s\n", c.ok ? "ok" : "FAILED", c.name.c_str(),
                 c.kind.c_str(), c.critical ? "[critical] " : "", c.message.c_str());
}

int health_exit_code(HealthLevel l) {
  switch (l) {
    case HealthLevel::kGood:
      return kExitOk;
    case HealthLevel::kDegraded:
      return kExitHealthDegraded;
    case HealthLevel::kCritical:
      return kExitHealthCritical;
  }
  return kExitOk;
}

Command health_command() {
  auto only = std::make_shared<std::vector<std::string>>();
  return Command{
      "health",
      "Run the configured health checks ([[check]]) and print each result and the overall level",
      [only](CLI::App& c) {
        c.add_option("--check", *only, "run only this check (repeatable)");
        c.footer(
            std::string("Levels: good (exit 0), degraded: a non-critical check failed (exit 6),\n"
                        "critical: a check with critical = true failed (exit 7).\n"
                        "Kinds of check: command, service, sqlite, postgres, free_space, verify,\n"
                        "kernel_log (see the README, \"Health checks\").\n\n") +
            kExitCodeHelp);
      },
      [only](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        HealthOptions ho;
        ho.only = *only;
        auto r = (*sys)->check_health(ho);
        if (!r) return report_error(gl, r.error());
        if (gl.out.json) {
          print_json(health_json(*r));
        } else {
          if (r->checks.empty()) std::printf("no health checks are configured ([[check]])\n");
          print_health(*r, stdout);
          std::printf("health: %s\n", std::string(health_level_name(r->level)).c_str());
        }
        return health_exit_code(r->level);
      }};
}

}  // namespace rwd::cli
