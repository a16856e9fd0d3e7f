// SPDX-License-Identifier: Apache-2.0
// rewind verify
#include "cli/command.h"

namespace rwd::cli {

Command verify_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"verify", "Check the repository: catalog against packs and root records",
                 [o](CLI::App& c) {
                   c.add_flag("--read-data", o->read_data, "read and hash-check every chunk");
                 },
                 [o](const Globals& gl) {
                   auto sys = RollbackSystem::open(system_options(gl));
                   if (!sys) return report_error(gl, sys.error());
                   CliObserver obs(gl.out);
                   auto r = (*sys)->verify(o->read_data, obs);
                   obs.finish();
                   if (!r) return report_error(gl, r.error());
                   if (gl.out.json) {
                     print_json(json{{"ok", r->problems.empty()},
                                     {"packs", r->packs},
                                     {"chunks", r->chunks},
                                     {"points", r->points},
                                     {"bytes_read", r->bytes_read},
                                     {"problems", r->problems},
                                     {"notes", r->notes}});
                   } else {
                     for (const auto& p : r->problems) std::printf("problem: %s\n", p.c_str());
                     for (const auto& n : r->notes) std::printf("note: %s\n", n.c_str());
                     std::printf(
                         "%s: %llu packs, %llu chunks, %llu recovery points%s; %zu problems\n",
                         r->problems.empty() ? "ok" : "FAILED",
                         static_cast<unsigned long long>(r->packs),
                         static_cast<unsigned long long>(r->chunks),
                         static_cast<unsigned long long>(r->points),
                         o->read_data ? ", all data read" : "", r->problems.size());
                   }
                   return r->problems.empty() ? 0 : kExitCorrupted;
                 }};
}

}  // namespace rwd::cli
