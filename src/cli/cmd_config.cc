// SPDX-License-Identifier: Apache-2.0
// rewind config validate
#include <fmt/ranges.h>

#include "cli/command.h"

namespace rwd::cli {

Command config_command() {
  auto o = std::make_shared<CommandOptions>();
  auto validate = std::make_shared<CLI::App*>(nullptr);
  return Command{
      "config", "Check the configuration",
      [o, validate](CLI::App& c) {
        c.require_subcommand(1);
        CLI::App* v = c.add_subcommand(
            "validate",
            "Load the configuration (or FILE), report the first error with its file, line and "
            "key, and print the components in dependency order");
        v->add_option("FILE", o->path,
                      "Configuration file (default: --config, or ROOT/etc/rewind/rewind.toml)");
        *validate = v;
      },
      [o](const Globals& gl) {
        Globals g = gl;
        if (!o->path.empty()) g.config = o->path;
        SystemOptions so = system_options(g);
        auto sys = RollbackSystem::open(so);
        if (!sys) return report_error(gl, sys.error());
        const auto& files = (*sys)->configuration_files();
        const auto& comps = (*sys)->configured_components();
        if (files.empty())
          return report_error(
              gl, Error::not_found("no configuration: {}/etc/rewind/rewind.toml does not exist",
                                   g.root == "/" ? "" : g.root));
        if (gl.out.json) {
          json arr = json::array();
          for (const auto& c : comps)
            arr.push_back(json{{"name", c.name},
                               {"adapter", c.adapter},
                               {"category", c.category},
                               {"paths", c.paths},
                               {"exclude", c.exclude},
                               {"depends_on", c.depends_on},
                               {"services", c.services},
                               {"critical", c.critical},
                               {"origin", c.origin}});
          print_json(json{{"valid", true},
                          {"files", files},
                          {"repository", (*sys)->options().repository},
                          {"components", arr}});
          return 0;
        }
        std::printf("configuration is valid (%s)\n",
                    fmt::format("{}", fmt::join(files, ", ")).c_str());
        std::printf("repository: %s\n", (*sys)->options().repository.c_str());
        std::printf("components, in dependency order:\n");
        int n = 0;
        for (const auto& c : comps) {
          std::printf("  %d. %s (%s, %s%s) %s", ++n, c.name.c_str(), c.adapter.c_str(),
                      c.category.c_str(), c.critical ? ", critical" : "",
                      fmt::format("{}", fmt::join(c.paths, " ")).c_str());
          if (!c.depends_on.empty())
            std::printf("  after: %s", fmt::format("{}", fmt::join(c.depends_on, ", ")).c_str());
          if (!c.services.empty())
            std::printf("  stops: %s", fmt::format("{}", fmt::join(c.services, ", ")).c_str());
          std::printf("\n");
        }
        if (comps.empty()) std::printf("  (none)\n");
        return 0;
      }};
}

}  // namespace rwd::cli
