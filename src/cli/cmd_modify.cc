// SPDX-License-Identifier: Apache-2.0
// rewind modify
#include "cli/command.h"

namespace rwd::cli {

Command modify_command() {
  auto o = std::make_shared<CommandOptions>();
  auto name = std::make_shared<std::string>();
  auto desc = std::make_shared<std::string>();
  return Command{"modify", "Rename, describe, tag or pin a recovery point",
                 [o, name, desc](CLI::App& c) {
                   c.add_option("ID", o->id, "number, latest or latest:KIND")->required();
                   c.add_option("-n,--name", *name, "New name");
                   c.add_option("-d,--description", *desc, "New description");
                   c.add_option("--tag", o->changes.add_tags, "Add a tag; repeatable");
                   c.add_option("--untag", o->changes.remove_tags, "Remove a tag; repeatable");
                   auto* pin = c.add_flag("--pin", o->pin, "Never remove this point by retention");
                   c.add_flag("--unpin", o->unpin, "Let retention remove it again")->excludes(pin);
                 },
                 [o, name, desc](const Globals& gl) {
                   PointChanges ch = o->changes;
                   if (!name->empty()) ch.name = *name;
                   if (!desc->empty()) ch.description = *desc;
                   if (o->pin) ch.pinned = true;
                   if (o->unpin) ch.pinned = false;
                   if (!ch.name && !ch.description && !ch.pinned && ch.add_tags.empty() &&
                       ch.remove_tags.empty())
                     return report_error(
                         gl, Error::usage("nothing to change: give --name, --description, "
                                          "--tag, --untag, --pin or --unpin"));
                   auto sys = RollbackSystem::open(system_options(gl));
                   if (!sys) return report_error(gl, sys.error());
                   if (auto st = (*sys)->modify_recovery_point(o->id, ch); !st)
                     return report_error(gl, st.error());
                   auto p = (*sys)->get_recovery_point(o->id);
                   if (!p) return report_error(gl, p.error());
                   if (gl.out.json)
                     print_json(point_json(*p));
                   else if (!gl.out.quiet)
                     std::printf("recovery point %lld: name '%s', tags [%s]%s\n",
                                 static_cast<long long>(p->id), p->name.c_str(),
                                 fmt::format("{}", fmt::join(p->tags, ", ")).c_str(),
                                 p->pinned ? ", pinned" : "");
                   return 0;
                 },
                 kMutating};
}

}  // namespace rwd::cli
