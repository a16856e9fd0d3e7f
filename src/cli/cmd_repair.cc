// SPDX-License-Identifier: Apache-2.0
// rewind repair
#include "cli/command.h"

namespace rwd::cli {

Command repair_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "repair", "Rebuild the catalog's index and recovery points from packs and root records",
      [](CLI::App&) {},
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        CliObserver obs(gl.out);
        auto r = (*sys)->repair(obs);
        obs.finish();
        if (!r) return report_error(gl, r.error());
        if (gl.out.json) {
          print_json(json{{"packs", r->packs},
                          {"chunks", r->chunks},
                          {"points", r->points},
                          {"problems", r->problems}});
        } else {
          for (const auto& p : r->problems) std::printf("problem: %s\n", p.c_str());
          std::printf("rebuilt the catalog: %llu packs, %llu chunks, %llu recovery points\n",
                      static_cast<unsigned long long>(r->packs),
                      static_cast<unsigned long long>(r->chunks),
                      static_cast<unsigned long long>(r->points));
        }
        return 0;
      },
      kMutating};
}

}  // namespace rwd::cli
