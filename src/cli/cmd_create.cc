// SPDX-License-Identifier: Apache-2.0
// rewind create
#include "cli/command.h"

namespace rwd::cli {

Command create_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "create", "Take a recovery point of the configured components (or -c NAME..., or --path)",
      [o](CLI::App& c) {
        c.add_option("-c,--component", o->create.components,
                     "Configured component to capture; repeatable (default: all)");
        c.add_option("--path", o->create.paths,
                     "Absolute path to capture as an ad-hoc files component "
                     "(resolved against --root); repeatable");
        c.add_option("--kind", o->create.kind,
                     "single, pre, post, auto or timeline (default: single)")
            ->check(CLI::IsMember({"single", "pre", "post", "auto", "timeline"}));
        c.add_option("--cause", o->create.cause,
                     "Why it is taken: manual, update or a trigger name (default: manual)");
        c.add_option("--pre", o->create.pre_id, "For a post point: the number of its pre point");
        c.add_option("-n,--name", o->create.name, "Name of the recovery point");
        c.add_option("-d,--description", o->create.description, "Description");
        c.add_option("--exclude", o->create.exclude,
                     "Glob to exclude (gitignore-like; /x is anchored); repeatable");
        c.add_option("--tag", o->create.tags, "Tag; repeatable");
        c.add_flag("--pin", o->create.pinned, "Never remove this point by retention");
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        CliObserver obs(gl.out);
        auto r = (*sys)->create_recovery_point(o->create, obs);
        obs.finish();
        if (!r) return report_error(gl, r.error());
        if (gl.out.json) {
          print_json(json{{"id", r->id},
                          {"entries", r->entries},
                          {"size", r->size},
                          {"files_read", r->files_read},
                          {"bytes_read", r->bytes_read},
                          {"added", r->added},
                          {"warnings", r->warnings}});
        } else if (gl.out.quiet) {
          std::printf("%lld\n", static_cast<long long>(r->id));
        } else {
          std::printf("%lld\n", static_cast<long long>(r->id));
          std::fprintf(stderr, "recovery point %lld: %llu entries, %s, %s added\n",
                       static_cast<long long>(r->id), static_cast<unsigned long long>(r->entries),
                       human_bytes(r->size).c_str(), human_bytes(r->added).c_str());
        }
        return 0;
      },
      kMutating};
}

}  // namespace rwd::cli
