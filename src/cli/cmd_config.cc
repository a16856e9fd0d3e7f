// SPDX-License-Identifier: Apache-2.0
// rewind config validate, rewind config init
#include <fmt/ranges.h>

#include "cli/command.h"
#include "io/fs.h"
#include "system/config_init.h"

namespace rwd::cli {

namespace {

// rewind config init: a commented configuration for the system under --root.
int run_init(const Globals& gl, const CommandOptions& o) {
  io::Fs& fs = io::default_fs();
  auto text = system::generate_config(fs, system::ConfigInitOptions{gl.root, gl.repo});
  if (!text) return report_error(gl, text.error());
  if (o.to_stdout) {
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  auto written = system::write_config(fs, gl.root, *text, o.overwrite);
  if (!written) return report_error(gl, written.error());
  if (gl.out.json)
    print_json(json{{"written", *written}});
  else if (!gl.out.quiet)
    std::printf("wrote %s; read it, trim it, then run rewind config validate\n", written->c_str());
  return 0;
}

}  // namespace

Command config_command() {
  auto o = std::make_shared<CommandOptions>();
  auto validate = std::make_shared<CLI::App*>(nullptr);
  auto init = std::make_shared<CLI::App*>(nullptr);
  return Command{
      "config", "Check the configuration, or write a first one",
      [o, validate, init](CLI::App& c) {
        c.require_subcommand(1);
        CLI::App* v = c.add_subcommand(
            "validate",
            "Load the configuration (or FILE), report the first error with its file, line and "
            "key, and print the components in dependency order");
        v->add_option("FILE", o->path,
                      "Configuration file (default: --config, or ROOT/etc/rewind/rewind.toml)");
        *validate = v;
        CLI::App* i = c.add_subcommand(
            "init",
            "Write a commented configuration for the system under --root to "
            "ROOT/etc/rewind/rewind.toml: /etc, the system files with the package database, "
            "kernel state, packages, enabled services, a running PostgreSQL, and SQLite "
            "databases under /var/lib as suggestions");
        i->add_flag("--force", o->overwrite, "Replace an existing rewind.toml");
        i->add_flag("--stdout", o->to_stdout, "Print the configuration instead of writing it");
        *init = i;
      },
      [o, init](const Globals& gl) {
        if ((*init)->parsed()) return run_init(gl, *o);
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
