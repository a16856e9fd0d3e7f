// SPDX-License-Identifier: Apache-2.0
// rewind init
#include "cli/command.h"

namespace rwd::cli {

Command init_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"init", "Create a new, empty repository",
                 [o](CLI::App& c) {
                   c.add_option("--compression", o->compression,
                                "zstd level, 0 for none (default 3)")
                       ->check(CLI::Range(0, 19));
                 },
                 [o](const Globals& gl) {
                   SystemOptions so = system_options(gl);
                   Status st = RollbackSystem::init_repository(so, o->compression);
                   if (!st) return report_error(gl, st.error());
                   if (gl.out.json)
                     print_json(json{{"repository", so.repository}});
                   else if (!gl.out.quiet)
                     std::printf("created repository %s\n", so.repository.c_str());
                   return 0;
                 }};
}

}  // namespace rwd::cli
