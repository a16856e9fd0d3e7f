// SPDX-License-Identifier: Apache-2.0
// rewind show
#include "cli/command.h"

namespace rwd::cli {

namespace {
// One value of an adapter's details, for a person: a list as "a, b", a
// table as "name value, ...", nothing as "none".
std::string detail_text(const json& v) {
  auto scalar = [](const json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
  if (v.is_string()) return v.get<std::string>();
  if ((v.is_array() || v.is_object()) && v.empty()) return "none";
  std::string out;
  if (v.is_array()) {
    for (const auto& x : v) {
      if (x.is_structured()) return v.dump();
      out += (out.empty() ? "" : ", ") + scalar(x);
    }
    return out;
  }
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (x.is_structured()) return v.dump();
      out += (out.empty() ? "" : ", ") + k + " " + scalar(x);
    }
    return out;
  }
  return v.dump();
}
}  // namespace

Command show_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "show", "Show a recovery point: metadata, components, sizes",
      [o](CLI::App& c) { c.add_option("ID", o->id, "number, latest or latest:KIND")->required(); },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        auto p = (*sys)->get_recovery_point(o->id);
        if (!p) return report_error(gl, p.error());
        // Automatic rollbacks to this point (`run`, rewindd): what fired and how it ended.
        auto autos = (*sys)->list_auto_rollbacks();
        if (!autos) return report_error(gl, autos.error());
        std::erase_if(*autos, [&](const AutoRollbackRecord& a) { return a.point != p->id; });
        if (gl.out.json) {
          json j = point_json(*p);
          json arr = json::array();
          for (const auto& a : *autos)
            arr.push_back(json{{"id", a.id},
                               {"time", format_time(a.time_ns)},
                               {"trigger", a.trigger},
                               {"scope", a.scope},
                               {"components", a.components},
                               {"result", a.result},
                               {"reason", a.reason},
                               {"operations", a.operations}});
          j["auto_rollbacks"] = arr;
          print_json(j);
          return 0;
        }
        std::printf(
            "recovery point %lld\n  name:        %s\n  description: %s\n  kind:        %s (%s)\n"
            "  time:        %s\n  user:        %s\n  host:        %s\n  kernel:      %s\n  "
            "pinned:      %s\n",
            static_cast<long long>(p->id), p->name.c_str(), p->description.c_str(), p->kind.c_str(),
            p->cause.c_str(), format_time(p->time_ns).c_str(), p->user.c_str(), p->host.c_str(),
            p->kernel.c_str(), p->pinned ? "yes" : "no");
        if (p->pre_id != 0) std::printf("  pre point:   %lld\n", static_cast<long long>(p->pre_id));
        if (!p->health.empty()) std::printf("  health:      %s\n", p->health.c_str());
        for (const auto& a : *autos)
          std::printf("  automatic rollback %lld to this point at %s: trigger %s, %s (%s)\n",
                      static_cast<long long>(a.id), format_time(a.time_ns).c_str(),
                      a.trigger.c_str(), a.result.c_str(), a.reason.c_str());
        uint64_t size = 0, stored = 0, added = 0;
        std::printf("  components:\n");
        for (const auto& c : p->components) {
          std::printf("    %-24s %-6s %-14s %8llu entries  total %s, stored %s, added %s\n",
                      c.name.c_str(), c.adapter.c_str(), c.category.c_str(),
                      static_cast<unsigned long long>(c.entries), human_bytes(c.size).c_str(),
                      human_bytes(c.stored).c_str(), human_bytes(c.added).c_str());
          // The adapter's own account: one line per key.
          json d = c.details.empty() ? json() : json::parse(c.details, nullptr, false);
          if (d.is_object())
            for (const auto& [k, v] : d.items())
              std::printf("        %-20s %s\n", (k + ":").c_str(), detail_text(v).c_str());
          size += c.size;
          stored += c.stored;
          added += c.added;
        }
        std::printf("  total %s, stored %s, added by this point %s\n", human_bytes(size).c_str(),
                    human_bytes(stored).c_str(), human_bytes(added).c_str());
        return 0;
      }};
}

}  // namespace rwd::cli
