// SPDX-License-Identifier: Apache-2.0
#include "daemon/server.h"

#include <signal.h>
#include <unistd.h>

#include <thread>

#include "cli/command.h"
#include "cli/exit_codes.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/protocol.h"
#include "daemon/scheduled.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string state_name(const DaemonState& s) {
  if (s.attention) return "attention";
  if (s.paused) return "paused";
  return "running";
}

std::vector<std::string> strings(const json& req, const char* key) {
  std::vector<std::string> out;
  if (req.contains(key) && req[key].is_array())
    for (const auto& e : req[key])
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// The server's StateStore: the monitor's changes go through the server's
// mutex and are saved at once.
class ServerStore final : public StateStore {
 public:
  ServerStore(std::mutex& mu, DaemonState& state, std::function<void()> save)
      : mu_(mu), state_(state), save_(std::move(save)) {}
  DaemonState snapshot() override {
    std::lock_guard<std::mutex> l(mu_);
    return state_;
  }
  void update(const std::function<void(DaemonState&)>& change) override {
    std::lock_guard<std::mutex> l(mu_);
    change(state_);
    save_();
  }

 private:
  std::mutex& mu_;
  DaemonState& state_;
  std::function<void()> save_;
};

}  // namespace

Server::Server(ServerOptions options) : opt_(std::move(options)), fs_(io::default_fs()) {}

Status Server::load_config(bool initial) {
  auto loaded = load_daemon_config(fs_, opt_.root, opt_.config);
  if (!loaded) return fail(loaded.error());
  auto policy = AccessPolicy::build(fs_, opt_.root, loaded->daemon);
  if (!policy) return fail(policy.error());
  std::lock_guard<std::mutex> l(mu_);
  if (!initial && loaded->daemon.socket != cfg_.daemon.socket)
    log_warn(fmt::format("the socket moves from {} to {} only at a restart; it stays for now",
                         cfg_.daemon.socket, loaded->daemon.socket));
  std::string socket = initial ? loaded->daemon.socket : cfg_.daemon.socket;
  cfg_ = std::move(*loaded);
  cfg_.daemon.socket = socket;
  policy_ = std::move(*policy);
  state_dir_ = at_root(opt_.root, cfg_.daemon.state_dir);
  ++generation_;
  return ok();
}

void Server::save_locked() {
  auto st = save_state(fs_, state_dir_, state_);
  if (!st) log_error("saving the daemon's state: " + st.error().message());
}

void Server::publish_status() {
  std::string line;
  {
    std::lock_guard<std::mutex> l(mu_);
    line =
        fmt::format("STATUS={}; health {}; {}", state_name(state_), state_.health_level, activity_);
  }
  io::notify(line);
}

void Server::sleep_until(Clock::time_point deadline) {
  std::unique_lock<std::mutex> l(mu_);
  uint64_t gen = generation_;
  wake_.wait_until(l, deadline, [&] { return stop_.load() || generation_ != gen; });
}

json Server::status_json() {
  std::lock_guard<std::mutex> l(mu_);
  json j = to_json(state_);
  j.erase("version");
  j["state"] = state_name(state_);
  j["pid"] = static_cast<int64_t>(::getpid());
  j["activity"] = activity_;
  j["socket"] = at_root(opt_.root, cfg_.daemon.socket);
  j["configuration_files"] = cfg_.files;
  j["health_interval_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.health.interval).count();
  return j;
}

json Server::dispatch(const std::string& action, const json& req, const io::PeerCredentials& peer) {
  auto error = [](const Error& e) { return error_response(e, cli::exit_code_for(e.code())); };
  SystemOptions so;
  so.system_root = opt_.root;
  so.repository = opt_.repo;
  so.config_file = opt_.config;

  if (action == "status") return ok_response(status_json());
  if (action == "pause" || action == "resume") {
    std::string reason = req.value("reason", "");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (action == "pause") {
        state_.paused = true;
        state_.pause_reason = reason.empty() ? fmt::format("paused by uid {}", peer.uid) : reason;
      } else {
        // A person has looked: the attention state ends here too.
        state_.paused = false;
        state_.pause_reason.clear();
        state_.attention = false;
        state_.attention_reason.clear();
        state_.last_refusal.clear();
      }
      save_locked();
      ++generation_;
    }
    wake_.notify_all();
    log_info(fmt::format("{} by uid {} (pid {}){}", action == "pause" ? "paused" : "resumed",
                         peer.uid, peer.pid, reason.empty() ? "" : ": " + reason));
    publish_status();
    return ok_response(status_json());
  }
  if (action == "health") {
    // The last round's view; `rewind health` runs the checks itself.
    std::lock_guard<std::mutex> l(mu_);
    return ok_response(json{{"level", state_.health_level},
                            {"checked_ns", state_.health_ns},
                            {"state", state_name(state_)}});
  }

  auto sys = RollbackSystem::open(so);
  if (!sys) return error(sys.error());
  // A create or rollback done for a caller is recorded as the CLI records
  // its own (same operation name), with the caller's uid and "via=rewindd"
  // first among the arguments.
  auto audited = [&](const std::vector<std::string>& args, int code, const std::string& message) {
    AuditEntry e;
    e.operation = action;
    e.arguments = {"via=rewindd"};
    e.arguments.insert(e.arguments.end(), args.begin(), args.end());
    e.result = code;
    e.message = message;
    e.uid = peer.uid;
    if (Status st = (*sys)->audit(e); !st)
      log_warn(fmt::format("the audit log was not appended ({} for uid {}): {}", action, peer.uid,
                           st.error().message()));
  };
  if (action == "list") {
    auto pts = (*sys)->list_recovery_points();
    if (!pts) return error(pts.error());
    json arr = json::array();
    for (const auto& p : *pts) arr.push_back(cli::point_json(p));
    return ok_response(arr);
  }
  if (action == "create") {
    CreateOptions co;
    co.name = req.value("name", "");
    co.description = req.value("description", "");
    co.components = strings(req, "components");
    co.tags = strings(req, "tags");
    // The point says who asked: the daemon itself runs as root.
    co.tags.push_back(fmt::format("requested-by-uid-{}", peer.uid));
    NullObserver obs;
    auto r = (*sys)->create_recovery_point(co, obs);
    if (!r) {
      audited({"name=" + co.name}, cli::exit_code_for(r.error().code()), r.error().message());
      return error(r.error());
    }
    audited({"name=" + co.name, fmt::format("id={}", r->id)}, cli::kExitOk, "");
    log_info(
        fmt::format("recovery point {} created for uid {} (pid {})", r->id, peer.uid, peer.pid));
    return ok_response(json{{"id", r->id},
                            {"entries", r->entries},
                            {"size", r->size},
                            {"added", r->added},
                            {"warnings", r->warnings}});
  }
  if (action == "rollback") {
    RollbackRequest rr;
    rr.point = req.value("point", "");
    if (rr.point.empty())
      return error(
          Error::usage("which recovery point? give \"point\" (number, latest or "
                       "latest:KIND)"));
    auto scope = parse_scope(req.value("scope", "full"));
    if (!scope) return error(Error::usage("scope must be full, component, partial or incremental"));
    rr.scope = *scope;
    rr.components = strings(req, "components");
    rr.dry_run = req.value("dry_run", false);
    rr.cancel = &cancel_;
    log_info(
        fmt::format("rollback to {} requested by uid {} (pid {})", rr.point, peer.uid, peer.pid));
    auto r = (*sys)->execute_rollback(rr);
    std::vector<std::string> args{"point=" + rr.point,
                                  "scope=" + req.value("scope", std::string("full"))};
    if (!r) {
      if (!rr.dry_run) audited(args, cli::exit_code_for(r.error().code()), r.error().message());
      return error(r.error());
    }
    if (!rr.dry_run) {
      // The client's exit code (cmd_daemon.cc) for the report's state.
      const int code = cli::exit_code_for_rollback_state(r->state);
      args.push_back(fmt::format("operation={}", r->operation));
      audited(args, code, r->error ? r->error->message() : "");
    }
    log_info(fmt::format("rollback for uid {}: operation {} {}", peer.uid, r->operation, r->state));
    return ok_response(cli::rollback_json(*r));
  }
  return error(Error::usage("unknown action \"{}\"", action));
}

void Server::serve(io::Fd fd) {
  auto reply = [&](const json& j) {
    auto st = io::send_all(fd.get(), j.dump() + "\n");
    if (!st) log_warn("answering a client: " + st.error().message());
  };
  auto refuse = [&](const Error& e) { reply(error_response(e, cli::exit_code_for(e.code()))); };
  auto peer = io::peer_credentials(fd.get());
  if (!peer) return refuse(peer.error());
  auto line = io::read_line(fd.get(), std::chrono::seconds(10), kMaxRequestBytes);
  if (!line) return refuse(line.error().with_context("reading the request"));
  json req = json::parse(*line, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("action") ||
      !req["action"].is_string())
    return refuse(Error::usage("a request is one JSON object with a string \"action\""));
  std::string action = req["action"].get<std::string>();
  if (std::find(actions().begin(), actions().end(), action) == actions().end())
    return refuse(
        Error::usage("unknown action \"{}\" (known: status, list, health, create, "
                     "rollback, pause, resume)",
                     action));
  bool allowed;
  {
    std::lock_guard<std::mutex> l(mu_);
    allowed = policy_->allows(action, *peer);
  }
  if (!allowed) {
    log_warn(
        fmt::format("refused {} to uid {} gid {} (pid {}): no [daemon.access.{}] rule allows "
                    "it",
                    action, peer->uid, peer->gid, peer->pid, action));
    return refuse(Error::permission_denied(
        "rewindd refuses {} to uid {}: no [daemon.access.{}] rule allows it (ask an "
        "administrator to add your user or group)",
        action, peer->uid, action));
  }
  reply(dispatch(action, req, *peer));
}

void Server::monitor_loop() {
  ServerStore store(mu_, state_, [this] { save_locked(); });
  while (!stop_) {
    LoadedConfig cfg;
    {
      std::lock_guard<std::mutex> l(mu_);
      cfg = cfg_;
      activity_ = "checking";
    }
    publish_status();
    MonitorEnv env{opt_.root, opt_.repo, opt_.config};
    RoundReport rep = monitor_.round(env, cfg, store);
    {
      std::lock_guard<std::mutex> l(mu_);
      activity_ = fmt::format("last check: {}", rep.health_level);
    }
    publish_status();
    // Metrics after every round.
    Metrics m;
    {
      std::lock_guard<std::mutex> l(mu_);
      m.health_level = state_.health_level;
      m.last_verify_ns = state_.last_verify_ns;
      m.last_verify_ok = state_.last_verify_ok;
      m.state = state_name(state_);
    }
    if (!cfg.daemon.metrics_dir.empty()) {
      SystemOptions so{opt_.repo, opt_.root, opt_.config};
      if (auto sys = RollbackSystem::open(so)) {
        // Every automatic rollback counts: the daemon's, `rewind run`'s,
        // expired confirmations'.
        if (auto recs = (*sys)->list_auto_rollbacks(0))
          for (const auto& r : *recs)
            if (r.result != "nothing-to-do") ++m.rollbacks_by_trigger[r.trigger];
        if (auto pts = (*sys)->list_recovery_points()) {
          m.points = pts->size();
          for (const auto& p : *pts) m.last_point_ns = std::max(m.last_point_ns, p.time_ns);
        }
        if (auto size = repository_size(fs_, (*sys)->options().repository))
          m.repository_bytes = *size;
      }
      std::string dir = at_root(opt_.root, cfg.daemon.metrics_dir);
      auto st = write_metrics(fs_, dir, m);
      if (!st && st.error().code() != ErrorCode::kNotFound)
        log_warn(fmt::format("writing metrics to {}: {}", dir, st.error().message()));
    }
    sleep_until(Clock::now() + cfg.health.interval);
  }
}

void Server::idle_loop() {
  auto st = io::set_thread_idle_priority();
  if (!st) log_warn("scheduled work runs at normal priority: " + st.error().message());
  // A job that never ran is first due one interval after the start, not at
  // once: a fresh daemon does not begin with a full verify.
  const int64_t started = now_ns();
  while (!stop_) {
    DaemonConfig d;
    std::map<std::string, int64_t> last;
    {
      std::lock_guard<std::mutex> l(mu_);
      d = cfg_.daemon;
      last = state_.last_run_ns;
    }
    int64_t now = now_ns();
    int64_t next = now + std::chrono::nanoseconds(std::chrono::minutes(1)).count();
    for (const auto& [job, interval] : scheduled_jobs(d)) {
      if (interval.count() <= 0) continue;
      int64_t due = (last.count(job) ? last[job] : started) + interval.count();
      if (due <= now) {
        if (stop_) return;
        run_scheduled(job);
        due = now_ns() + interval.count();
      }
      next = std::min(next, due);
    }
    sleep_until(Clock::now() + std::chrono::nanoseconds(std::max<int64_t>(0, next - now_ns())));
  }
}

void Server::run_scheduled(const std::string& job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    activity_ = job;
  }
  publish_status();
  SystemOptions so{opt_.repo, opt_.root, opt_.config};
  // Scheduled work yields to a person: it does not wait for the lock.
  so.wait_for_lock = false;
  JobResult r = run_job(job, so);
  if (r.error)
    log_warn(fmt::format("{}: {}", job, r.error->message()));
  else
    log_info(fmt::format("{}: {}", job, r.summary));
  {
    std::lock_guard<std::mutex> l(mu_);
    // A busy repository is tried again at the next round, not after a
    // whole interval.
    if (!(r.error && r.error->code() == ErrorCode::kBusy)) state_.last_run_ns[job] = now_ns();
    if (r.verified) {
      state_.last_verify_ns = now_ns();
      state_.last_verify_ok = r.problems.empty();
      state_.last_verify_problems = r.problems;
    }
    activity_ = "idle";
    save_locked();
  }
  publish_status();
}

int Server::run() {
  // Signals first, so every thread inherits the blocked mask.
  auto sig = io::SignalFd::create();
  if (!sig) {
    log_error(sig.error().message());
    return cli::kExitError;
  }
  if (auto st = load_config(true); !st) {
    log_error(st.error().message());
    return cli::exit_code_for(st.error().code());
  }
  {
    auto s = load_state(fs_, state_dir_);
    if (!s) {
      log_error(s.error().message());
      return cli::exit_code_for(s.error().code());
    }
    state_ = std::move(*s);
  }
  std::string socket_path;
  mode_t mode = 0660;
  gid_t gid = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    socket_path = at_root(opt_.root, cfg_.daemon.socket);
    if (!cfg_.daemon.socket_group.empty())
      gid = *resolve_group(fs_, opt_.root, cfg_.daemon.socket_group);  // checked at load
  }
  auto listener = io::UnixListener::listen(socket_path, mode, gid);
  if (!listener) {
    log_error(listener.error().message());
    return cli::exit_code_for(listener.error().code());
  }
  log_info(fmt::format("listening on {} (state: {})", socket_path, state_name(state_)));
  std::thread monitor([this] { monitor_loop(); });
  std::thread idle([this] { idle_loop(); });
  io::notify("READY=1");
  publish_status();

  auto watchdog = io::watchdog_period();
  auto next_pet = Clock::now();
  while (!stop_) {
    auto timeout = std::chrono::milliseconds(1000);
    if (watchdog.count() > 0) {
      if (Clock::now() >= next_pet) {
        io::notify("WATCHDOG=1");
        next_pet = Clock::now() + watchdog;
      }
      timeout = std::min(
          timeout, std::chrono::duration_cast<std::chrono::milliseconds>(next_pet - Clock::now()));
    }
    auto ready = io::wait_readable({sig->fd(), listener->fd()}, timeout);
    for (size_t i : ready) {
      if (i == 0) {
        int s = sig->take();
        if (s == SIGHUP) {
          io::notify("RELOADING=1");
          auto st = load_config(false);
          if (st) {
            std::string group;
            {
              std::lock_guard<std::mutex> l(mu_);
              group = cfg_.daemon.socket_group;
            }
            gid_t g = group.empty() ? 0 : *resolve_group(fs_, opt_.root, group);
            auto a = io::set_socket_access(socket_path, mode, g);
            if (!a) log_warn("socket access after reload: " + a.error().message());
            log_info("configuration reloaded");
          } else {
            log_error("reload refused, the previous configuration stays: " + st.error().message());
          }
          wake_.notify_all();
          io::notify("READY=1");
          publish_status();
        } else if (s == SIGTERM || s == SIGINT) {
          log_info("stopping");
          io::notify("STOPPING=1");
          stop_ = true;
          cancel_.cancel();
          wake_.notify_all();
        }
      } else {
        while (auto c = listener->accept()) {
          ++clients_;
          std::thread([this, fd = std::move(*c)]() mutable {
            serve(std::move(fd));
            --clients_;
          }).detach();
        }
      }
    }
  }
  monitor.join();
  idle.join();
  // Connections in progress finish (a rollback reverts at its next step).
  for (int i = 0; i < 600 && clients_ > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log_info("stopped");
  return cli::kExitOk;
}

}  // namespace rwd::daemon
