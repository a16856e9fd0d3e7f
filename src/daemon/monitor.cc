// SPDX-License-Identifier: Apache-2.0
#include "daemon/monitor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "config/config.h"
#include "daemon/guard.h"
#include "daemon/log.h"
#include "daemon/watch.h"
#include "io/fs.h"
#include "rewind/rollback_system.h"

namespace rwd::daemon {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(int64_t ns) {
  time_t t = static_cast<time_t>(ns / 1000000000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The services components of the configuration: name and settings.
std::vector<std::pair<std::string, nlohmann::json>> services_components(const MonitorEnv& env) {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  auto cfg = config::load(io::default_fs(), env.root, env.config);
  if (!cfg || !*cfg) return out;
  for (const auto& c : (*cfg)->components)
    if (c.adapter == "services") out.emplace_back(c.name, c.settings);
  return out;
}

// What the checks say now: the level and the triggers.
struct Facts {
  std::string level = "good";
  std::vector<Trigger> triggers;
  std::vector<std::string> failures;  // for the attention reason
};

Facts gather(const MonitorEnv& env, const LoadedConfig& cfg) {
  Facts f;
  (void)cfg;
  for (const auto& s : failed_services(io::default_fs(), env.root, services_components(env))) {
    std::string what = s.unit.empty() ? fmt::format("component {}: {}", s.component, s.reason)
                                      : fmt::format("service {} (component {}) is {}", s.unit,
                                                    s.component, s.reason);
    f.triggers.push_back({"service-failure", what});
    f.failures.push_back(what);
  }
  if (!f.failures.empty() && f.level == "good") f.level = "degraded";
  return f;
}

}  // namespace

RoundReport Monitor::round(const MonitorEnv& env, const LoadedConfig& cfg, StateStore& store,
                           CancelToken* cancel, bool boot) {
  (void)boot;
  RoundReport rep;
  Facts facts = gather(env, cfg);
  rep.health_level = facts.level;
  rep.triggers = facts.triggers;
  store.update([&](DaemonState& s) {
    s.health_level = facts.level;
    s.health_ns = now_ns();
  });
  if (facts.triggers.empty()) return rep;

  const Trigger& t = facts.triggers.front();
  auto decide = [&](const std::string& d) {
    rep.decisions.push_back(d);
    log_info(d);
  };
  DaemonState st = store.snapshot();
  Verdict v = guard(st, cfg.daemon, now_ns());
  if (!v.act) {
    std::string msg =
        fmt::format("{} fired ({}), not rolling back: {}", t.name, t.reason, v.reason);
    // The same refusal is reported once, not at every round.
    if (st.last_refusal != msg) {
      log_event(kMsgGuardLimit, msg);
      store.update([&](DaemonState& s) { s.last_refusal = msg; });
    }
    rep.decisions.push_back(msg);
    return rep;
  }

  SystemOptions so;
  so.system_root = env.root;
  so.repository = env.repo;
  so.config_file = env.config;
  so.wait_for_lock = false;  // a person's operation wins
  auto sys = RollbackSystem::open(so);
  if (!sys) {
    decide(fmt::format("{} fired ({}), cannot roll back: {}", t.name, t.reason,
                       sys.error().message()));
    return rep;
  }
  auto points = (*sys)->list_recovery_points();
  auto ops = (*sys)->list_operations(50);
  if (!points || !ops) {
    decide(fmt::format("{} fired ({}), cannot read the repository: {}", t.name, t.reason,
                       (!points ? points.error() : ops.error()).message()));
    return rep;
  }
  std::set<int64_t> damaged;
  TargetChoice target = choose_target(*points, *ops, st, damaged,
                                      [](const RecoveryPointInfo&) { return std::string(); });
  if (target.candidates.empty()) {
    std::string msg =
        fmt::format("{} fired ({}), not rolling back: {}", t.name, t.reason, target.why);
    if (st.last_refusal != msg) {
      log_event(kMsgGuardLimit, msg);
      store.update([&](DaemonState& s) { s.last_refusal = msg; });
    }
    rep.decisions.push_back(msg);
    return rep;
  }

  for (int64_t point : target.candidates) {
    decide(fmt::format("{} fired ({}): rolling back to recovery point {}, {}", t.name, t.reason,
                       point, target.why));
    RollbackRequest rr;
    rr.point = std::to_string(point);
    rr.scope = RollbackScope::kFull;
    rr.cancel = cancel;
    auto r = (*sys)->execute_rollback(rr);
    if (!r) {
      if (r.error().code() == ErrorCode::kCorruptedData) {
        decide(fmt::format("recovery point {} is damaged ({}); trying an older one", point,
                           r.error().message()));
        continue;
      }
      if (r.error().code() == ErrorCode::kBusy) {
        decide("a person's operation holds the repository lock; the daemon does not act");
        return rep;
      }
      decide(fmt::format("automatic rollback to {} failed before changing anything: {}", point,
                         r.error().message()));
      return rep;
    }
    AutoRollbackRecord rec{now_ns(), t.name, t.reason, point, r->operation, r->safety, r->state};
    store.update([&](DaemonState& s) {
      s.rollbacks.push_back(rec);
      s.last_refusal.clear();
    });
    rep.rolled_back = true;
    std::string what = fmt::format(
        "automatic rollback to recovery point {} ({}): trigger {} ({}); operation {}, safety "
        "point {}; `rewind undo` returns to the state before",
        point, r->state, t.name, t.reason, r->operation, r->safety);
    log_event(kMsgAutoRollback, what);
    if (!cfg.daemon.motd_dir.empty()) {
      std::string notice = fmt::format(
          "rewind: {} automatic rollback to recovery point {} ({}).\n"
          "  Why: {} - {}.\n"
          "  Safety point {} holds the state before it; `rewind undo` returns there.\n"
          "  `rewind daemon status` shows the daemon's state.\n",
          rfc3339(rec.time_ns), point, r->state, t.name, t.reason, r->safety);
      auto w = write_login_notice(io::default_fs(), env.root, cfg.daemon.motd_dir, notice);
      if (!w) log_warn("writing the login notice: " + w.error().message());
    }
    // The checks once more: still failing means a person must look.
    Facts after = gather(env, cfg);
    store.update([&](DaemonState& s) {
      s.health_level = after.level;
      s.health_ns = now_ns();
    });
    if (r->state != "completed" || !after.triggers.empty()) {
      std::string why = r->state != "completed"
                            ? fmt::format("the automatic rollback to {} ended {}", point, r->state)
                            : fmt::format("still failing after the automatic rollback to {}: {}",
                                          point, fmt::join(after.failures, "; "));
      store.update([&](DaemonState& s) {
        s.attention = true;
        s.attention_reason = why;
      });
      log_event(kMsgAttention, "attention: " + why +
                                   "; nothing further is done automatically until `rewind "
                                   "daemon resume`");
    }
    return rep;
  }
  return rep;
}

}  // namespace rwd::daemon
