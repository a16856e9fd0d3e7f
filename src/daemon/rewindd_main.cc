// SPDX-License-Identifier: Apache-2.0
// rewindd: the rewind daemon (doc/daemon.md). Runs in the foreground (for
// systemd's Type=notify); stops on SIGTERM, reloads on SIGHUP.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/exit_codes.h"
#include "daemon/server.h"
#include "rewind/rollback_system.h"

namespace {

std::string absolute(std::string p) {
  if (p.empty() || p.front() == '/') return p;
  char cwd[4096];
  if (::getcwd(cwd, sizeof(cwd))) return std::string(cwd) + "/" + p;
  return p;
}

int run(int argc, char** argv) {
  rwd::daemon::ServerOptions o;
  std::string config;
  CLI::App app{
      "rewindd: the rewind daemon. Serves `rewind daemon ...` over a UNIX socket, runs the health "
      "checks, verify, retention and timeline points on the [daemon] schedule, enforces "
      "`rewind run --confirm-within` deadlines, and rolls back automatically under the guards of "
      "doc/daemon.md. Runs in the foreground; SIGTERM stops it, SIGHUP reloads the "
      "configuration."};
  app.set_version_flag("--version", std::string("rewindd ") + rwd::version());
  app.add_option("--repo", o.repo, "Repository directory (default: ROOT/var/lib/rewind)");
  app.add_option("--root", o.root, "System root every path is resolved against (default: /)");
  app.add_option("--config", config,
                 "Configuration file (default: ROOT/etc/rewind/rewind.toml and its conf.d/*.toml)");
  app.footer(
      "Exit codes: 0 stopped cleanly; 1 error; 2 invalid configuration; 11 another rewindd "
      "answers at the socket; 13 the daemon's state file is damaged; 15 permission denied.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : rwd::cli::kExitUsage;
  }
  o.root = absolute(o.root);
  while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  o.repo = absolute(o.repo);
  if (!config.empty()) o.config = absolute(config);
  rwd::daemon::Server server(o);
  return server.run();
}

}  // namespace

int main(int argc, char** argv) {
  // Modes are set explicitly; the umask must not change them.
  umask(022);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rewindd: internal error: %s\n", e.what());
    return rwd::cli::kExitError;
  } catch (...) {
    std::fprintf(stderr, "rewindd: internal error\n");
    return rwd::cli::kExitError;
  }
}
