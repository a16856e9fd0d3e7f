// SPDX-License-Identifier: Apache-2.0
// rewind boot-check: the boot unit's command. One round of rewindd's
// monitor (doc/daemon.md "Automatic rollback"), without a daemon: the
// health checks after boot, `--confirm-within` deadlines that passed while
// the machine was down, and a rollback when a trigger fires, bounded by the
// daemon's guards and its state file.
#include "cli/command.h"
#include "daemon/daemon_config.h"
#include "daemon/monitor.h"
#include "daemon/state.h"
#include "io/fs.h"

namespace rwd::cli {

namespace {

// The daemon's state file, read once and saved at each change.
class FileStore final : public daemon::StateStore {
 public:
  FileStore(std::string dir, daemon::DaemonState s) : dir_(std::move(dir)), state_(std::move(s)) {}
  daemon::DaemonState snapshot() override { return state_; }
  void update(const std::function<void(daemon::DaemonState&)>& change) override {
    change(state_);
    auto st = daemon::save_state(io::default_fs(), dir_, state_);
    if (!st)
      std::fprintf(stderr, "rewind: saving the daemon's state: %s\n", st.error().message().c_str());
  }

 private:
  std::string dir_;
  daemon::DaemonState state_;
};

}  // namespace

Command boot_check_command() {
  return Command{
      "boot-check",
      "After boot: run the health checks, enforce --confirm-within deadlines that passed, and "
      "roll back (within rewindd's guards) when the last update left the system failing",
      [](CLI::App&) {},
      [](const Globals& g) {
        std::optional<std::string> cfg;
        if (!g.config.empty()) cfg = g.config;
        auto loaded = daemon::load_daemon_config(io::default_fs(), g.root, cfg);
        if (!loaded) return report_error(g, loaded.error());
        std::string dir = daemon::at_root(g.root, loaded->daemon.state_dir);
        auto state = daemon::load_state(io::default_fs(), dir);
        if (!state) return report_error(g, state.error());
        FileStore store(dir, *state);
        daemon::Monitor monitor;
        daemon::MonitorEnv env{g.root, g.repo, cfg};
        daemon::RoundReport rep = monitor.round(env, *loaded, store, true);
        daemon::DaemonState after = store.snapshot();
        int code = kExitOk;
        bool failed_rollback = rep.rolled_back && !after.rollbacks.empty() &&
                               after.rollbacks.back().result != "completed" &&
                               after.rollbacks.back().result != "nothing-to-do";
        if (failed_rollback)
          code = kExitNeedsRecover;
        else if (rep.rolled_back)
          code = kExitRolledBack;
        else if (rep.health_level == "critical" || !rep.triggers.empty())
          code = kExitHealthCritical;
        else if (rep.health_level == "degraded")
          code = kExitHealthDegraded;
        if (g.out.json) {
          json triggers = json::array();
          for (const auto& t : rep.triggers)
            triggers.push_back(json{{"trigger", t.name}, {"reason", t.reason}});
          print_json(
              json{{"health", rep.health_level},
                   {"triggers", triggers},
                   {"decisions", rep.decisions},
                   {"rolled_back", rep.rolled_back},
                   {"state", after.attention ? "attention" : (after.paused ? "paused" : "running")},
                   {"exit_code", code}});
        } else {
          std::printf("health: %s\n", rep.health_level.c_str());
          for (const auto& t : rep.triggers)
            std::printf("trigger %s: %s\n", t.name.c_str(), t.reason.c_str());
          for (const auto& d : rep.decisions) std::printf("%s\n", d.c_str());
        }
        return code;
      }};
}

}  // namespace rwd::cli
