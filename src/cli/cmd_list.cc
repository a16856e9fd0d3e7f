// SPDX-License-Identifier: Apache-2.0
// rewind list
#include "cli/command.h"

namespace rwd::cli {

Command list_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"list", "List recovery points",
                 [o](CLI::App& c) {
                   c.add_option("--kind", o->kinds, "Only points of this kind; repeatable");
                   c.add_option("--tag", o->tags, "Only points with this tag; repeatable");
                   c.add_option("-c,--component", o->components,
                                "Only points holding this component; repeatable");
                 },
                 [o](const Globals& gl) {
                   auto sys = RollbackSystem::open(system_options(gl));
                   if (!sys) return report_error(gl, sys.error());
                   auto pts = (*sys)->list_recovery_points();
                   if (!pts) return report_error(gl, pts.error());
                   std::erase_if(*pts, [&](const RecoveryPointInfo& p) {
                     auto has = [](const std::vector<std::string>& v, const std::string& x) {
                       return std::find(v.begin(), v.end(), x) != v.end();
                     };
                     if (!o->kinds.empty() && !has(o->kinds, p.kind)) return true;
                     for (const auto& t : o->tags)
                       if (!has(p.tags, t)) return true;
                     for (const auto& n : o->components)
                       if (std::none_of(p.components.begin(), p.components.end(),
                                        [&](const ComponentInfo& ci) { return ci.name == n; }))
                         return true;
                     return false;
                   });
                   if (gl.out.json) {
                     json arr = json::array();
                     for (const auto& p : *pts) {
                       json j = point_json(p);
                       j["unique"] = p.unique;
                       arr.push_back(std::move(j));
                     }
                     print_json(arr);
                     return 0;
                   }
                   // UNIQUE: stored bytes no other point references, what
                   // forgetting the point frees once `rewind prune` runs.
                   std::printf("%5s  %-20s  %-7s  %-20s  %10s  %10s  %s\n", "ID", "TIME", "KIND",
                               "NAME", "SIZE", "UNIQUE", "COMPONENTS");
                   for (const auto& p : *pts) {
                     uint64_t size = 0;
                     std::string comps;
                     for (const auto& c : p.components) {
                       size += c.size;
                       comps += (comps.empty() ? "" : ",") + c.name;
                     }
                     std::printf("%5lld  %-20s  %-7s  %-20s  %10s  %10s  %s%s%s\n",
                                 static_cast<long long>(p.id), format_time(p.time_ns).c_str(),
                                 p.kind.c_str(), p.name.c_str(), human_bytes(size).c_str(),
                                 human_bytes(p.unique).c_str(), comps.c_str(),
                                 p.pinned ? "  (pinned)" : "",
                                 p.health.empty() ? "" : ("  (health " + p.health + ")").c_str());
                   }
                   return 0;
                 }};
}

}  // namespace rwd::cli
