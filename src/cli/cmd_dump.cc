// SPDX-License-Identifier: Apache-2.0
// rewind dump
#include "cli/command.h"

namespace rwd::cli {

Command dump_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"dump", "Write one file of a recovery point to standard output",
                 [o](CLI::App& c) {
                   c.add_option("ID", o->id, "number, latest or latest:KIND")->required();
                   c.add_option("PATH", o->path, "absolute path of the file")->required();
                 },
                 [o](const Globals& gl) {
                   auto sys = RollbackSystem::open(system_options(gl));
                   if (!sys) return report_error(gl, sys.error());
                   Status st = (*sys)->dump(o->id, o->path, 1);
                   if (!st) return report_error(gl, st.error());
                   return 0;
                 }};
}

}  // namespace rwd::cli
