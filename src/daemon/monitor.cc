// SPDX-License-Identifier: Apache-2.0
#include "daemon/monitor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "cli/exit_codes.h"
#include "daemon/decisions.h"
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

// What the checks and the services say now.
struct Facts {
  std::string level = "good";
  std::vector<Trigger> triggers;        // in the order they are acted on
  std::vector<std::string> failures;    // for the attention reason
  std::vector<std::string> repository;  // repository problems: reported, never a trigger
};

Facts gather(RollbackSystem& sys, const MonitorEnv& env, const LoadedConfig& cfg) {
  Facts f;
  bool critical = false;
  auto add = [&](const std::string& trigger, const std::string& what) {
    f.failures.push_back(what);
    for (const auto& t : f.triggers)
      if (t.name == trigger) return;  // the first reason of each trigger
    f.triggers.push_back({trigger, what});
  };
  // The checks look without moving the kernel log's read position twice
  // in a round: the re-check after a rollback must see new lines only.
  auto health = sys.check_health();
  if (!health) {
    f.level = "critical";
    add("health-critical", "the health checks cannot run: " + health.error().message());
  } else {
    f.level = std::string(health_level_name(health->level));
    for (const auto& c : health->checks) {
      if (c.ok) continue;
      std::string what = fmt::format("check {} ({}): {}", c.name, c.kind, c.message);
      if (c.kind == "verify") {
        // Repository corruption blocks, it never triggers (DESIGN.md).
        f.repository.push_back(what);
        continue;
      }
      if (c.kind == "kernel_log")
        add("critical-error", what);
      else if (c.kind == "sqlite")
        add("corruption", what);
      else if (c.kind == "service")
        add("service-failure", what);
      else
        f.failures.push_back(what);
      critical = critical || c.critical;
    }
  }
  for (const auto& s : failed_services(io::default_fs(), env.root, cfg.services)) {
    std::string what = s.unit.empty() ? fmt::format("component {}: {}", s.component, s.reason)
                                      : fmt::format("service {} (component {}) is {}", s.unit,
                                                    s.component, s.reason);
    add("service-failure", what);
    if (f.level == "good") f.level = "degraded";
  }
  // health-critical only for failures other than the repository's.
  if (critical) add("health-critical", fmt::format("health is critical: {}", f.failures.front()));
  return f;
}

SystemOptions system_options(const MonitorEnv& env) {
  SystemOptions so;
  so.system_root = env.root;
  so.repository = env.repo;
  so.config_file = env.config;
  so.wait_for_lock = false;  // a person's operation wins
  return so;
}

// The login notice: what happened and how to undo it.
void leave_notice(const MonitorEnv& env, const LoadedConfig& cfg, const DaemonRollback& r) {
  if (cfg.daemon.motd_dir.empty()) return;
  std::string notice = fmt::format(
      "rewind: {} automatic rollback to recovery point {} ({}).\n"
      "  Why: {} - {}.\n"
      "  Safety point {} holds the state before it; `rewind undo` returns there.\n"
      "  `rewind daemon status` shows the daemon's state.\n",
      rfc3339(r.time_ns), r.point, r.result, r.trigger, r.reason, r.safety);
  auto w = write_login_notice(io::default_fs(), env.root, cfg.daemon.motd_dir, notice);
  if (!w) log_warn("writing the login notice: " + w.error().message());
}

DaemonRollback record_of(const AutoRollbackReport& r) {
  DaemonRollback d;
  d.time_ns = now_ns();
  d.trigger = r.trigger;
  d.reason = r.reason;
  d.point = r.point;
  d.result = r.result;
  d.record = r.record;
  if (!r.operations.empty()) {
    d.operation = r.operations.front().operation;
    d.safety = r.operations.front().safety;
  }
  return d;
}

}  // namespace

RoundReport Monitor::round(const MonitorEnv& env, const LoadedConfig& cfg, StateStore& store,
                           bool boot) {
  RoundReport rep;
  auto decide = [&](const std::string& d) {
    rep.decisions.push_back(d);
    log_info(d);
  };
  auto sys = RollbackSystem::open(system_options(env));
  if (!sys) {
    rep.health_level = "unknown";
    decide("cannot open the repository: " + sys.error().message());
    return rep;
  }
  const AutoRollbackConfig& ar = cfg.auto_rollback;
  // A refusal is reported once (log line with its message id, audit
  // entry), not at every round.
  auto refuse = [&](const std::string& trigger, const std::string& why, const std::string& msg) {
    rep.decisions.push_back(msg);
    if (store.snapshot().last_refusal != msg) {
      log_event(kMsgGuardLimit, msg);
      store.update([&](DaemonState& s) { s.last_refusal = msg; });
      audit_decision(**sys, boot, kDecisionRefuse, {"trigger=" + trigger, "reason=" + why}, 0, msg);
    }
  };
  // A person's operation (or any other writer) holds the repository lock:
  // the daemon does not act, and says so once per holder rather than
  // recording a rollback that started and did not at every round. Checked
  // before the decision; the rollback's own open still catches a writer
  // that comes in between. One message whatever fired, so that two
  // triggers in one round do not make it new at every round.
  auto lock_held = [&](const std::string& trigger) {
    auto holder = (*sys)->repository_lock_holder();
    if (!holder || !*holder) return false;
    refuse(trigger, "the repository is locked by " + **holder,
           fmt::format("{} holds the repository lock: the daemon does not roll back while it "
                       "runs",
                       **holder));
    return true;
  };
  // The decision to roll back, recorded before the rollback runs, so that
  // the log shows it even when the daemon dies during it.
  auto starting = [&](const std::string& trigger, const std::string& points, const std::string& why,
                      const std::string& msg) {
    decide(msg);
    audit_decision(**sys, boot, kDecisionRollback,
                   {"started", "trigger=" + trigger, "point=" + points,
                    std::string("scope=") + (ar.partial ? "partial" : "full"), "reason=" + why},
                   0, msg);
  };
  // What `starting` recorded did not happen: the record says so.
  auto not_started = [&](const std::string& trigger, const std::string& points, int code,
                         const std::string& why) {
    audit_decision(**sys, boot, kDecisionRollback,
                   {"finished", "trigger=" + trigger, "point=" + points, "result=not-started",
                    "reason=" + why},
                   code, why);
  };
  // The automatic rollbacks of the catalog within the guard's window, and
  // every point an automatic rollback ever went to.
  auto recent_count = [&]() -> Result<int> {
    REWIND_ASSIGN_OR_RETURN(auto recs, (*sys)->list_auto_rollbacks(now_ns() - ar.window.count()));
    return static_cast<int>(std::count_if(
        recs.begin(), recs.end(), [](const auto& r) { return r.result != "nothing-to-do"; }));
  };
  auto guarded = [&]() -> Verdict {
    auto n = recent_count();
    if (!n) return {false, "cannot read the automatic rollbacks: " + n.error().message()};
    return guard(store.snapshot(), ar, *n);
  };
  auto after_rollback = [&](const AutoRollbackReport& r, std::string_view message_id) {
    DaemonRollback d = record_of(r);
    store.update([&](DaemonState& s) {
      s.rollbacks.push_back(d);
      s.last_refusal.clear();
    });
    rep.rolled_back = true;
    std::string line = fmt::format(
        "automatic rollback to recovery point {} ({}): trigger {} ({}); operation {}, safety "
        "point {}; `rewind undo` returns to the state before",
        d.point, d.result, d.trigger, d.reason, d.operation, d.safety);
    log_event(message_id, line);
    audit_decision(**sys, boot, kDecisionRollback, rollback_arguments(r), rollback_result_code(r),
                   r.succeeded() ? line : line + ": " + r.message);
    leave_notice(env, cfg, d);
    // The checks once more: still failing means a person must look.
    Facts after = gather(**sys, env, cfg);
    store.update([&](DaemonState& s) {
      s.health_level = after.level;
      s.health_ns = now_ns();
    });
    rep.health_level = after.level;
    if (!r.succeeded() || !after.triggers.empty()) {
      std::string why = !r.succeeded()
                            ? fmt::format("the automatic rollback to {} ended {}: {}", d.point,
                                          r.result, r.message)
                            : fmt::format("still failing after the automatic rollback to {}: {}",
                                          d.point, fmt::join(after.failures, "; "));
      store.update([&](DaemonState& s) {
        s.attention = true;
        s.attention_reason = why;
      });
      log_event(kMsgAttention, "attention: " + why +
                                   "; nothing further is done automatically until `rewind daemon "
                                   "resume`");
      audit_decision(**sys, boot, kDecisionAttention,
                     {"trigger=" + d.trigger, fmt::format("point={}", d.point), "reason=" + why}, 0,
                     "attention: " + why);
    }
  };

  // 1. --confirm-within deadlines that passed (within the guards).
  if (auto pending = (*sys)->list_confirmations()) {
    int64_t now = now_ns();
    std::vector<int64_t> expired;
    for (const Confirmation& c : *pending)
      if (c.state == "pending" && c.deadline_ns <= now) expired.push_back(c.pre_id);
    if (!expired.empty()) {
      Verdict v = guarded();
      if (!v.act) {
        refuse("unconfirmed", v.reason,
               "a --confirm-within deadline passed, not rolling back: " + v.reason);
      } else if (!lock_held("unconfirmed")) {
        std::string why = boot ? "a --confirm-within deadline passed while the system was down"
                               : "a --confirm-within deadline passed";
        starting("unconfirmed", fmt::format("{}", fmt::join(expired, ",")), why,
                 why + ": rolling back");
        auto done = enforce_confirmations(**sys, now);
        if (!done) {
          decide("enforcing confirmations failed: " + done.error().message());
          not_started("unconfirmed", fmt::format("{}", fmt::join(expired, ",")),
                      cli::exit_code_for(done.error().code()), done.error().message());
        } else
          for (const auto& r : *done) after_rollback(r, kMsgConfirmRollback);
        if (rep.rolled_back) return rep;
      }
    }
  }

  // 2. The checks and the services.
  Facts facts = gather(**sys, env, cfg);
  rep.health_level = facts.level;
  rep.triggers = facts.triggers;
  rep.repository_problems = facts.repository;
  store.update([&](DaemonState& s) {
    s.health_level = facts.level;
    s.health_ns = now_ns();
  });
  for (const auto& p : facts.repository) log_warn("repository: " + p);
  if (facts.triggers.empty()) return rep;

  // 3. The first armed trigger, under the guards.
  auto armed = std::find_if(facts.triggers.begin(), facts.triggers.end(),
                            [&](const Trigger& t) { return ar.armed(t.name); });
  if (armed == facts.triggers.end()) {
    decide(fmt::format("{} fired ({}); not armed in [auto_rollback]{}, nothing is done",
                       facts.triggers.front().name, facts.triggers.front().reason,
                       ar.enabled ? " triggers" : " (enabled = false)"));
    return rep;
  }
  const Trigger t = *armed;
  Verdict v = guarded();
  if (!v.act) {
    refuse(t.name, v.reason,
           fmt::format("{} fired ({}), not rolling back: {}", t.name, t.reason, v.reason));
    return rep;
  }
  if (lock_held(t.name)) return rep;
  auto points = (*sys)->list_recovery_points();
  auto ops = (*sys)->list_operations(50);
  auto recs = (*sys)->list_auto_rollbacks(0);
  if (!points || !ops || !recs) {
    decide(fmt::format("{} fired ({}), cannot read the repository: {}", t.name, t.reason,
                       (!points ? points.error()
                        : !ops  ? ops.error()
                                : recs.error())
                           .message()));
    return rep;
  }
  std::set<int64_t> targeted;
  for (const auto& r : *recs) targeted.insert(r.point);
  TargetChoice target = choose_target(*points, *ops, targeted, {});
  if (target.candidates.empty()) {
    refuse(t.name, target.why,
           fmt::format("{} fired ({}), not rolling back: {}", t.name, t.reason, target.why));
    return rep;
  }
  for (int64_t point : target.candidates) {
    starting(t.name, std::to_string(point), t.reason,
             fmt::format("{} fired ({}): rolling back to recovery point {}, {}{}", t.name, t.reason,
                         point, target.why, boot ? " (boot check)" : ""));
    AutoRollbackRequest req;
    req.point = std::to_string(point);
    req.trigger = t.name;
    req.reason = t.reason;
    auto r = (*sys)->auto_rollback(req);
    if (!r) {
      not_started(t.name, std::to_string(point), cli::exit_code_for(r.error().code()),
                  r.error().message());
      if (r.error().code() == ErrorCode::kBusy)
        decide("a person's operation holds the repository lock; the daemon does not act: " +
               r.error().message());
      else
        decide(fmt::format("automatic rollback to {} failed before changing anything: {}", point,
                           r.error().message()));
      return rep;
    }
    // Failed before any operation ran (a damaged point fails its check
    // before anything changes): the next candidate.
    if (r->result == "failed" && r->operations.empty()) {
      not_started(t.name, std::to_string(point), rollback_result_code(*r), r->message);
      decide(
          fmt::format("rollback to recovery point {} did not start ({}); trying the next "
                      "candidate",
                      point, r->message));
      if (r->message.find("busy") != std::string::npos ||
          r->message.find("lock") != std::string::npos) {
        decide("a person's operation holds the repository lock; the daemon does not act");
        return rep;
      }
      continue;
    }
    after_rollback(*r, kMsgAutoRollback);
    return rep;
  }
  refuse(
      t.name, "no candidate point could be rolled back to",
      fmt::format("{} fired ({}), no candidate point could be rolled back to", t.name, t.reason));
  return rep;
}

}  // namespace rwd::daemon
