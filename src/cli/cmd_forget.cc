// SPDX-License-Identifier: Apache-2.0
// rewind forget
#include "cli/command.h"

namespace rwd::cli {

Command forget_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "forget", "Forget recovery points (their data stays until `rewind prune`)",
      [o](CLI::App& c) {
        c.add_option("ID", o->paths, "Points to forget: numbers, latest or latest:KIND")
            ->required();
        c.footer(
            "Pinned points, the pre point of a post point that stays, and the points of an\n"
            "unfinished operation are refused. Numbers are never reused.");
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        auto done = (*sys)->forget_recovery_points(o->paths);
        if (!done) return report_error(gl, done.error());
        if (gl.out.json)
          print_json(json{{"forgotten", *done}});
        else if (!gl.out.quiet)
          for (int64_t id : *done)
            std::printf("forgot recovery point %lld\n", static_cast<long long>(id));
        return 0;
      }};
}

}  // namespace rwd::cli
