// SPDX-License-Identifier: Apache-2.0
// rewindd: the long-running daemon (doc/daemon.md). Three threads:
// - the main thread waits on the signals (SIGTERM: stop; SIGHUP: reload)
//   and the socket, hands each connection to a thread of its own, and
//   pets systemd's watchdog;
// - the monitor runs the health checks on schedule, enforces
//   `--confirm-within` deadlines and decides on automatic rollbacks
//   (monitor.h), at normal priority so that it reacts in time;
// - the idle worker runs the scheduled maintenance (verify, verify
//   --read-data, retention, timeline points) at idle CPU and I/O priority.
// The daemon's memory (pause, attention, guard history) is DaemonState,
// guarded by one mutex and saved at every change.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "daemon/access.h"
#include "daemon/daemon_config.h"
#include "daemon/monitor.h"
#include "daemon/state.h"
#include "io/daemon_io.h"

namespace rwd::daemon {

struct ServerOptions {
  std::string root = "/";
  std::string repo;                   // empty: the configuration's, else ROOT/var/lib/rewind
  std::optional<std::string> config;  // --config
};

class Server {
 public:
  explicit Server(ServerOptions options);
  // Runs until SIGTERM or SIGINT; returns the exit code (0 after a clean
  // shutdown, 2 when the configuration is invalid at start, 1 otherwise).
  int run();

 private:
  Status load_config(bool initial);
  void serve(io::Fd fd);
  nlohmann::json dispatch(const std::string& action, const nlohmann::json& req,
                          const io::PeerCredentials& peer);
  nlohmann::json status_json();
  void monitor_loop();
  void idle_loop();
  void run_scheduled(const std::string& job);
  void publish_status();
  void save_locked();
  // Sleeps until `deadline` or a wake-up (stop, reload, pause change).
  void sleep_until(std::chrono::steady_clock::time_point deadline);

  ServerOptions opt_;
  io::Fs& fs_;

  std::mutex mu_;
  std::condition_variable wake_;
  // Guarded by mu_:
  LoadedConfig cfg_;
  std::optional<AccessPolicy> policy_;
  DaemonState state_;
  std::string state_dir_;
  std::string activity_ = "starting";
  uint64_t generation_ = 0;  // bumped by reloads and pause/resume: sleepers re-read

  std::atomic<bool> stop_{false};
  std::atomic<int> clients_{0};
  CancelToken cancel_;  // cancels a rollback in progress at shutdown
  Monitor monitor_;
};

}  // namespace rwd::daemon
