// SPDX-License-Identifier: Apache-2.0
// rewind run: a command between a pre and a post recovery point, rolled
// back automatically when it fails, runs out of time or breaks a health check.
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "cli/run_report.h"
#include "config/config.h"
#include "io/probe.h"
#include "io/process.h"

namespace rwd::cli {

namespace {

// `run`'s own codes beside DESIGN.md's table.
constexpr int kExitRunFailed = 125;    // rewind failed before the command ran
constexpr int kExitCannotRun = 126;    // the command exists but cannot be run
constexpr int kExitCmdNotFound = 127;  // the command does not exist

// How long a timed-out command gets between SIGTERM and SIGKILL.
constexpr std::chrono::seconds kGrace{5};

struct RunOptions {
  std::string name;
  std::string timeout;
  std::vector<std::string> checks;
  std::vector<std::string> components;
  bool no_rollback = false;
  bool apply_packages = false;
  std::string confirm_within;
  int json_fd = -1;
  std::vector<std::string> command;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

// The report goes to --json-fd, or with --json as one line on stderr: stdout
// belongs to the command.
class Reporter {
 public:
  Reporter(const Globals& gl, const RunOptions& o) : gl_(gl), o_(o) {}
  json doc = json::object();

  int finish(int code) {
    doc["exit_code"] = code;
    const std::string line = doc.dump() + "\n";
    if (o_.json_fd >= 0) {
      // The descriptor is the caller's, not a file rewind manages.
      FILE* f = ::fdopen(::dup(o_.json_fd), "w");
      if (f) {
        std::fputs(line.c_str(), f);
        std::fclose(f);
      } else {
        std::fprintf(stderr, "rewind: cannot write the report to descriptor %d: %s\n", o_.json_fd,
                     std::strerror(errno));
      }
    } else if (gl_.out.json) {
      std::fputs(line.c_str(), stderr);
    }
    return code;
  }
  int error(int code, const Error& e) {
    doc["error"] = json{{"kind", std::string(error_code_name(e.code()))}, {"message", e.message()}};
    std::fprintf(stderr, "rewind: %s\n", e.message().c_str());
    return finish(code);
  }
  void say(const std::string& s) const {
    if (!gl_.out.quiet) std::fprintf(stderr, "rewind: %s\n", s.c_str());
  }

 private:
  const Globals& gl_;
  const RunOptions& o_;
};

// The critical checks that fail after the command but passed before it: a
// check failing already before the command is not the command's doing.
std::vector<const HealthCheckResult*> newly_failed(const HealthReport& before,
                                                   const HealthReport& after) {
  std::vector<const HealthCheckResult*> out;
  for (const auto& c : after.checks) {
    if (c.ok || !c.critical) continue;
    bool failed_before = false;
    for (const auto& b : before.checks)
      if (b.name == c.name && !b.ok) failed_before = true;
    if (!failed_before) out.push_back(&c);
  }
  return out;
}

int run(const Globals& gl, const RunOptions& o) {
  Reporter rep(gl, o);
  rep.doc["command"] = o.command;
  std::optional<std::chrono::nanoseconds> timeout, confirm_within;
  if (!o.timeout.empty()) {
    auto d = config::parse_duration(o.timeout);
    if (!d || d->count() == 0)
      return rep.error(kExitUsage, Error::usage("--timeout: {}",
                                                d ? "must be more than 0" : d.error().message()));
    timeout = *d;
  }
  if (!o.confirm_within.empty()) {
    auto d = config::parse_duration(o.confirm_within);
    if (!d || d->count() == 0)
      return rep.error(kExitUsage, Error::usage("--confirm-within: {}",
                                                d ? "must be more than 0" : d.error().message()));
    confirm_within = *d;
  }
  auto sys = RollbackSystem::open(system_options(gl));
  if (!sys) return rep.error(kExitRunFailed, sys.error());
  RollbackSystem& s = **sys;
  if (confirm_within) {
    // Only rewindd enforces the deadline (and `rewind boot-check` after a
    // reboot): without it a provisional change would simply stay.
    const std::string sock = s.daemon_socket();
    if (!io::unix_socket_answers(sock))
      return rep.error(
          kExitRunFailed,
          Error::invalid_state("--confirm-within needs rewindd to roll back by itself, but nothing "
                               "answers on {} (start rewindd, e.g. `systemctl start rewindd`, or "
                               "run without --confirm-within)",
                               sock));
  }

  // Health before: recorded in the pre point, and the baseline that tells
  // the command's breakage from what was broken already.
  HealthOptions ho;
  ho.only = o.checks;
  auto before = s.check_health(ho);
  if (!before) return rep.error(kExitRunFailed, before.error());
  const bool have_checks = !before->checks.empty();
  if (have_checks) rep.doc["health_before"] = health_json(*before);

  CliObserver obs(gl.out.json ? OutputMode{false, true, 0} : gl.out);
  CreateOptions pre;
  pre.kind = "pre";
  pre.cause = "run";
  pre.name = o.name.empty() ? "run " + o.command.front() : o.name;
  pre.description = command_line(o.command);
  pre.components = o.components;
  pre.health = have_checks ? std::string(health_level_name(before->level)) : "";
  auto pre_point = s.create_recovery_point(pre, obs);
  obs.finish();
  if (!pre_point) return rep.error(kExitRunFailed, pre_point.error().with_context("pre point"));
  const int64_t pre_id = pre_point->id;
  rep.doc["pre"] = pre_id;
  rep.say(fmt::format("pre recovery point {}; running {}", pre_id, command_line(o.command)));

  io::ProcessOptions po;
  po.inherit_output = true;
  po.timeout = timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*timeout)
                       : std::chrono::milliseconds(std::chrono::hours(24 * 365 * 100));
  po.grace = kGrace;
  // Standard input passes through unless it is a terminal: the command runs
  // in its own process group, which a terminal would stop when it reads.
  if (::isatty(0)) po.stdin_path = "/dev/null";
  // Package-manager hooks within the command see that `run` took the pre point.
  po.env.push_back(fmt::format("REWIND_RUN_PRE={}", pre_id));
  // A Ctrl-C or a supervisor's SIGTERM reaches the command, and rewind stays
  // to roll back what the interrupted command left half done.
  po.forward_signals = true;
  auto res = io::run_process(o.command, po);
  if (!res) {
    // Nothing ran: the pre point stays, nothing to roll back.
    const int code = res.error().code() == ErrorCode::kNotFound
                         ? kExitCmdNotFound
                         : (res.error().code() == ErrorCode::kPermissionDenied ? kExitCannotRun
                                                                               : kExitRunFailed);
    return rep.error(code, res.error());
  }
  rep.doc["timed_out"] = res->timed_out;
  rep.doc["exit_status"] = res->signal != 0 ? json(nullptr) : json(res->exit_code);
  if (res->signal != 0) rep.doc["signal"] = res->signal;
  if (res->interrupted_by != 0) rep.doc["interrupted_by"] = res->interrupted_by;
  const int own = res->signal != 0 ? 128 + res->signal : res->exit_code;

  std::string trigger, reason;
  std::vector<std::string> failed_checks;
  std::optional<HealthReport> after;
  if (res->timed_out) {
    trigger = "timeout";
    reason = fmt::format("the command ran past --timeout {}", o.timeout);
  } else if (own != 0) {
    trigger = "update-failure";
    reason = res->interrupted_by != 0
                 ? fmt::format("rewind was sent SIG{} and passed it on; the command {}",
                               sigabbrev_np(res->interrupted_by), io::describe(*res))
                 : fmt::format("the command {}", io::describe(*res));
  } else {
    auto a = s.check_health(ho);
    if (!a)
      return rep.error(kExitRunFailed, a.error().with_context("health checks after the command"));
    after = std::move(*a);
    if (have_checks) rep.doc["health_after"] = health_json(*after);
    auto broken = newly_failed(*before, *after);
    if (!broken.empty()) {
      trigger = "health-critical";
      std::vector<std::string> parts;
      for (const auto* c : broken) {
        failed_checks.push_back(c->name);
        parts.push_back(fmt::format("check {} failed: {}", c->name, c->message));
      }
      reason = fmt::format("{}", fmt::join(parts, "; "));
    }
  }
  rep.doc["trigger"] = trigger.empty() ? json(nullptr) : json(trigger);
  if (!failed_checks.empty()) rep.doc["failed_checks"] = failed_checks;
  if (!reason.empty()) rep.doc["reason"] = reason;

  if (!trigger.empty()) {
    const AutoRollbackConfig& cfg = s.auto_rollback_config();
    std::string why_not;
    if (o.no_rollback)
      why_not = "--no-rollback";
    else if (!cfg.enabled)
      why_not = "[auto_rollback] enabled = false";
    else if (!cfg.armed(trigger))
      why_not = fmt::format("the trigger {} is not armed ([auto_rollback] triggers)", trigger);
    if (!why_not.empty()) {
      rep.doc["rollback"] = nullptr;
      rep.doc["rollback_skipped"] = why_not;
      rep.say(fmt::format("{}; not rolled back ({}); recovery point {} holds the state before",
                          reason, why_not, pre_id));
      // A command that succeeded keeps its post point even with a check
      // broken; a failed one gets none.
      if (trigger != "health-critical") return rep.finish(res->timed_out ? kExitTimeout : own);
    } else {
      rep.say(fmt::format("{}; rolling back to recovery point {}", reason, pre_id));
      AutoRollbackRequest ar;
      ar.point = std::to_string(pre_id);
      ar.trigger = trigger;
      ar.reason = reason;
      ar.apply_packages = o.apply_packages;
      CliObserver robs(gl.out.json ? OutputMode{false, true, 0} : gl.out);
      ar.observer = &robs;
      auto r = s.auto_rollback(ar);
      robs.finish();
      if (!r) return rep.error(kExitNeedsRecover, r.error().with_context("automatic rollback"));
      rep.doc["rollback"] = auto_rollback_json(*r);
      if (r->succeeded()) {
        rep.say(fmt::format("rolled back ({}): {}", r->result, r->message));
        return rep.finish(kExitRolledBack);
      }
      std::fprintf(stderr, "rewind: the automatic rollback %s: %s (see `rewind status`)\n",
                   r->result.c_str(), r->message.c_str());
      return rep.finish(kExitNeedsRecover);
    }
  }

  CreateOptions post;
  post.kind = "post";
  post.cause = "run";
  post.name = pre.name;
  post.description = pre.description;
  post.components = o.components;
  post.pre_id = pre_id;
  post.health = after && have_checks ? std::string(health_level_name(after->level)) : "";
  CliObserver pobs(gl.out.json ? OutputMode{false, true, 0} : gl.out);
  auto post_point = s.create_recovery_point(post, pobs);
  pobs.finish();
  if (!post_point) {
    // The command's change stays; only its record failed.
    std::fprintf(stderr, "rewind: the command succeeded but the post point failed: %s\n",
                 post_point.error().message().c_str());
    rep.doc["post_error"] = post_point.error().message();
    return rep.finish(exit_code_for(post_point.error().code()));
  }
  rep.doc["post"] = post_point->id;
  if (confirm_within) {
    const int64_t deadline = now_ns() + confirm_within->count();
    auto c = s.add_confirmation(pre_id, post_point->id, deadline);
    if (!c) return rep.error(exit_code_for(c.error().code()), c.error());
    rep.doc["confirmation"] = json{{"id", *c}, {"deadline", format_time(deadline)}};
    rep.say(
        fmt::format("provisional: run `rewind confirm {}` before {}, or rewindd rolls back to "
                    "recovery point {}",
                    *c, format_time(deadline), pre_id));
  }
  rep.say(fmt::format("post recovery point {} (pre {})", post_point->id, pre_id));
  return rep.finish(res->timed_out ? kExitTimeout : own);
}

}  // namespace

json auto_rollback_json(const AutoRollbackReport& r) {
  json ops = json::array();
  for (const auto& op : r.operations)
    ops.push_back(json{{"operation", op.operation},
                       {"state", op.state},
                       {"safety", op.safety},
                       {"message", op.message}});
  return json{{"record", r.record}, {"point", r.point},     {"trigger", r.trigger},
              {"reason", r.reason}, {"scope", r.scope},     {"components", r.components},
              {"result", r.result}, {"message", r.message}, {"operations", ops}};
}

Command run_command() {
  auto o = std::make_shared<RunOptions>();
  return Command{
      "run",
      "Run a command between a pre and a post recovery point; roll back by itself when it fails",
      [o](CLI::App& c) {
        c.add_option("-n,--name", o->name, "name of the recovery points (default: run CMD)");
        c.add_option("--timeout", o->timeout,
                     "time limit (30s, 5min, 1h): then SIGTERM to the command's process group, "
                     "SIGKILL 5s later, and a rollback");
        c.add_option("--check", o->checks, "run only this health check (repeatable; default all)");
        c.add_option("-c,--component", o->components,
                     "configured component to capture and roll back (repeatable; default all)");
        c.add_flag("--no-rollback", o->no_rollback,
                   "on failure keep the change and only report (exit with the command's status)");
        c.add_flag("--apply-packages", o->apply_packages,
                   "let a rollback run apt-get to bring the package set back");
        c.add_option("--confirm-within", o->confirm_within,
                     "keep the change provisional: unless `rewind confirm` runs within this "
                     "time, rewindd rolls it back (needs a running rewindd)");
        c.add_option("--json-fd", o->json_fd,
                     "write rewind's JSON report to this descriptor (default with --json: one "
                     "line on stderr)")
            ->check(CLI::NonNegativeNumber);
        c.add_option("command", o->command, "the command and its arguments, after --")->required();
        c.footer(
            std::string(
                "Example: rewind run --timeout 30min -- apt-get -y dist-upgrade\n\n"
                "The command's own output passes through untouched. Triggers: update-failure\n"
                "(non-zero exit), timeout, health-critical (a critical check that passed\n"
                "before the command fails after it). With [auto_rollback] partial = true only\n"
                "the components that differ from the pre point are rolled back.\n"
                "SIGINT (Ctrl-C), SIGTERM, SIGHUP or SIGQUIT sent to rewind is passed on to\n"
                "the command's process group; rewind waits for it and rolls back.\n\n"
                "Exit codes of run: the command's own status when nothing was rolled back\n"
                "  4 the command failed (exit status, timeout or checks) and was rolled back\n"
                "  5 the rollback failed (see `rewind status`, `rewind recover`)\n"
                "124 the command ran past --timeout and was not rolled back\n"
                "125 rewind failed before running the command (no repository, pre point,\n"
                "    --confirm-within without rewindd)\n"
                "126 the command cannot be run   127 the command was not found\n"
                "  2 usage (bad option or duration)\n\n") +
            kExitCodeHelp);
      },
      [o](const Globals& gl) { return run(gl, *o); }, kMutating};
}

}  // namespace rwd::cli
