// SPDX-License-Identifier: Apache-2.0
// The rewind command line: one table of subcommands, each a small function
// that calls the RollbackSystem facade and prints text or JSON.
#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/run_report.h"
#include "io/tty.h"
#include "rewind/rollback_system.h"

namespace rwd::cli {

namespace {
std::string last_error;
}  // namespace

const std::string& last_error_message() { return last_error; }

int report_error(const Globals& g, const Error& e) {
  last_error = e.message();
  int code = exit_code_for(e.code());
  if (g.out.json) {
    json j{{"error",
            {{"kind", std::string(error_code_name(e.code()))},
             {"message", e.message()},
             {"exit_code", code}}}};
    std::printf("%s\n", j.dump().c_str());
  }
  std::fprintf(stderr, "rewind: %s\n", e.message().c_str());
  return code;
}

SystemOptions system_options(const Globals& g) {
  SystemOptions o;
  o.system_root = g.root;
  o.repository = g.repo;  // empty: the configuration's, else ROOT/var/lib/rewind
  if (!g.config.empty()) o.config_file = g.config;
  o.wait_for_lock = g.wait;
  o.threads = g.threads;
  o.password_file = g.password_file;
  // Asked only on a terminal: a script without a passphrase fails (exit 12)
  // instead of waiting for input that never comes.
  if (io::interactive())
    o.ask_password = [](const std::string& prompt, bool confirm) -> Result<std::string> {
      REWIND_ASSIGN_OR_RETURN(std::string pass, io::read_secret(fmt::format("Enter {}", prompt)));
      if (!confirm) return pass;
      REWIND_ASSIGN_OR_RETURN(std::string again, io::read_secret("Enter it again"));
      if (again != pass) return fail(Error::usage("the passphrases do not match"));
      return pass;
    };
  return o;
}

json component_json(const ComponentInfo& c) {
  json j{{"name", c.name},     {"adapter", c.adapter}, {"category", c.category},
         {"paths", c.paths},   {"entries", c.entries}, {"size", c.size},
         {"stored", c.stored}, {"added", c.added}};
  if (!c.details.empty()) j["details"] = json::parse(c.details, nullptr, false);
  return j;
}

json point_json(const RecoveryPointInfo& p) {
  json comps = json::array();
  for (const auto& c : p.components) comps.push_back(component_json(c));
  return json{{"id", p.id},
              {"name", p.name},
              {"description", p.description},
              {"kind", p.kind},
              {"cause", p.cause},
              {"time", format_time(p.time_ns)},
              {"user", p.user},
              {"host", p.host},
              {"kernel", p.kernel},
              {"tags", p.tags},
              {"pinned", p.pinned},
              {"pre_id", p.pre_id == 0 ? json(nullptr) : json(p.pre_id)},
              {"health", p.health},
              {"components", comps}};
}

void print_json(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

int run_cli(int argc, char** argv) {
  Globals g;
  CLI::App app{"rewind: recovery points and rollback for Linux systems"};
  app.footer(kExitCodeHelp);
  app.require_subcommand(0, 1);
  app.fallthrough(true);
  app.set_version_flag(
      "--version",
      fmt::format("rewind {} (repository format {}; pack 1, manifest 1, root record 1)", version(),
                  repository_format_version()));
  app.add_option("--repo", g.repo, "Repository directory (default: ROOT/var/lib/rewind)");
  app.add_option("--root", g.root, "System root every path is resolved against (default: /)");
  app.add_option("--config", g.config,
                 "Configuration file (default: ROOT/etc/rewind/rewind.toml and its conf.d/*.toml)");
  app.add_flag("--json", g.out.json,
               "Print one JSON document on stdout; progress as JSON Lines on stderr");
  app.add_flag("-q,--quiet", g.out.quiet, "No progress output");
  app.add_flag("-v,--verbose", g.out.verbose, "More output");
  app.add_flag("--wait", g.wait,
               "Wait for the repository lock instead of failing with exit code 11");
  app.add_option("--threads", g.threads, "Worker threads for compression and restore (default: 2)")
      ->check(CLI::Range(1, 64));
  app.add_option("--password-file", g.password_file,
                 "An encrypted repository's passphrase: the first line of this file (default: "
                 "$REWIND_PASSWORD_FILE, else asked on a terminal)");

  std::vector<Command> commands = {
      init_command(),   create_command(),   list_command(),   show_command(),    diff_command(),
      modify_command(), rollback_command(), undo_command(),   recover_command(), status_command(),
      cancel_command(), restore_command(),  verify_command(), dump_command(),    repair_command(),
      config_command(), forget_command()};
  commands.push_back(hook_command());
  commands.push_back(key_command());
  commands.push_back(run_command());
  commands.push_back(health_command());
  commands.push_back(confirm_command());
  commands.push_back(daemon_command());
  commands.push_back(boot_check_command());
  commands.push_back(audit_command());
  commands.push_back(prune_command());
  std::vector<std::pair<CLI::App*, Command*>> subs;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    sub->footer(kExitCodeHelp);
    c.setup(*sub);
    subs.emplace_back(sub, &c);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (!g.root.empty() && g.root.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd))) g.root = std::string(cwd) + "/" + g.root;
  }
  if (!g.config.empty() && g.config.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd))) g.config = std::string(cwd) + "/" + g.config;
  }
  if (!g.repo.empty() && g.repo.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd))) g.repo = std::string(cwd) + "/" + g.repo;
  }
  while (g.root.size() > 1 && g.root.back() == '/') g.root.pop_back();
  for (auto& [sub, cmd] : subs)
    if (sub->parsed()) {
      int code = cmd->run(g);
      if (cmd->mutating && cmd->mutating())
        code = append_audit_entry(g, *cmd, std::vector<std::string>(argv + 1, argv + argc), code);
      return code;
    }
  std::fprintf(stderr, "%s", app.help().c_str());
  return kExitUsage;
}

}  // namespace rwd::cli
