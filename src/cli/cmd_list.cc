// SPDX-License-Identifier: Apache-2.0
// rewind list
#include "cli/command.h"

namespace rwd::cli {

Command list_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"list", "List recovery points", [](CLI::App&) {},
                 [o](const Globals& gl) {
                   auto sys = RollbackSystem::open(system_options(gl));
                   if (!sys) return report_error(gl, sys.error());
                   auto pts = (*sys)->list_recovery_points();
                   if (!pts) return report_error(gl, pts.error());
                   if (gl.out.json) {
                     json arr = json::array();
                     for (const auto& p : *pts) arr.push_back(point_json(p));
                     print_json(arr);
                     return 0;
                   }
                   std::printf("%5s  %-20s  %-7s  %-20s  %10s  %s\n", "ID", "TIME", "KIND", "NAME",
                               "SIZE", "COMPONENTS");
                   for (const auto& p : *pts) {
                     uint64_t size = 0;
                     std::string comps;
                     for (const auto& c : p.components) {
                       size += c.size;
                       comps += (comps.empty() ? "" : ",") + c.name;
                     }
                     std::printf("%5lld  %-20s  %-7s  %-20s  %10s  %s%s\n",
                                 static_cast<long long>(p.id), format_time(p.time_ns).c_str(),
                                 p.kind.c_str(), p.name.c_str(), human_bytes(size).c_str(),
                                 comps.c_str(), p.pinned ? "  (pinned)" : "");
                   }
                   return 0;
                 }};
}

}  // namespace rwd::cli
