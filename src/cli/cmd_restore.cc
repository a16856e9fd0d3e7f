// SPDX-License-Identifier: Apache-2.0
// rewind restore
#include "cli/command.h"

namespace rwd::cli {

Command restore_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "restore", "Restore a whole point or selected paths, in place or into --to DIR",
      [o](CLI::App& c) {
        c.add_option("ID", o->id, "number, latest or latest:KIND")->required();
        c.add_option("PATH", o->paths, "absolute paths to restore (default: everything)");
        c.add_option("--to", o->to,
                     "restore into DIR/<path> instead of in place (DIR new or empty)");
        c.add_flag("--overwrite", o->overwrite, "allow a non-empty --to directory");
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        RestoreRequest req;
        req.point = o->id;
        req.paths = o->paths;
        if (!o->to.empty()) req.to = o->to;
        req.overwrite = o->overwrite;
        CliObserver obs(gl.out);
        auto r = (*sys)->restore(req, obs);
        obs.finish();
        if (!r) return report_error(gl, r.error());
        if (gl.out.json)
          print_json(json{{"id", r->id},
                          {"entries", r->entries},
                          {"files", r->files},
                          {"bytes", r->bytes},
                          {"operation", r->operation == 0 ? json(nullptr) : json(r->operation)},
                          {"safety", r->safety == 0 ? json(nullptr) : json(r->safety)},
                          {"warnings", r->warnings}});
        else if (!gl.out.quiet)
          std::fprintf(stderr, "restored %llu entries (%llu files, %s) from recovery point %lld\n",
                       static_cast<unsigned long long>(r->entries),
                       static_cast<unsigned long long>(r->files), human_bytes(r->bytes).c_str(),
                       static_cast<long long>(r->id));
        if (!gl.out.json && !gl.out.quiet && r->safety != 0)
          std::fprintf(stderr,
                       "safety point %lld holds the state before (`rewind undo` returns to it)\n",
                       static_cast<long long>(r->safety));
        for (const auto& w : r->warnings)
          if (!gl.out.json) std::fprintf(stderr, "warning: %s\n", w.c_str());
        return 0;
      },
      kMutating};
}

}  // namespace rwd::cli
