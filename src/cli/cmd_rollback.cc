// SPDX-License-Identifier: Apache-2.0
// rewind rollback, rewind undo
#include <fmt/ranges.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "cli/command.h"

namespace rwd::cli {

json rollback_json(const RollbackReport& r) {
  json comps = json::array();
  for (const auto& c : r.components)
    comps.push_back(json{{"name", c.name},
                         {"result", c.result},
                         {"message", c.message},
                         {"files", c.files},
                         {"bytes", c.bytes},
                         {"removed", c.removed}});
  json j{{"operation", r.operation == 0 ? json(nullptr) : json(r.operation)},
         {"kind", r.kind},
         {"point", r.point},
         {"safety", r.safety == 0 ? json(nullptr) : json(r.safety)},
         {"state", r.state},
         {"components", comps},
         {"warnings", r.warnings},
         {"message", r.message}};
  if (r.error)
    j["error"] = json{{"kind", std::string(error_code_name(r.error->code()))},
                      {"message", r.error->message()}};
  return j;
}

namespace {

CancelToken* g_cancel = nullptr;

void on_signal(int) {
  if (g_cancel) g_cancel->cancel();
}

// Ctrl-C and SIGTERM cancel the operation at its next step boundary (it
// then reverts to the safety point) instead of killing it.
class SignalCancel {
 public:
  explicit SignalCancel(CancelToken& t) {
    g_cancel = &t;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalCancel() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_cancel = nullptr;
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

json plan_json(const RollbackPlan& p) {
  json comps = json::array();
  for (const auto& c : p.components)
    comps.push_back(json{{"name", c.name},
                         {"adapter", c.adapter},
                         {"category", c.category},
                         {"critical", c.critical},
                         {"depends_on", c.depends_on},
                         {"services", c.services},
                         {"replace", c.replace},
                         {"add", c.add},
                         {"remove", c.remove},
                         {"bytes", c.bytes},
                         {"files", c.files}});
  return json{{"point", p.point}, {"scope", p.scope}, {"components", comps},
              {"stop", p.stop},   {"start", p.start}, {"bytes", p.bytes}};
}

void print_plan(const RollbackPlan& p, bool verbose) {
  if (p.point != 0)
    std::printf("rollback to recovery point %lld, scope %s:\n", static_cast<long long>(p.point),
                p.scope.c_str());
  else
    std::printf("undo, scope %s:\n", p.scope.c_str());
  int n = 0;
  for (const auto& c : p.components) {
    std::printf("  %d. %s (%s, %s%s): replace %zu, add %zu, remove %zu, write %s\n", ++n,
                c.name.c_str(), c.adapter.c_str(), c.category.c_str(),
                c.critical ? ", critical" : "", c.replace.size(), c.add.size(), c.remove.size(),
                human_bytes(c.bytes).c_str());
    if (verbose) {
      for (const auto& x : c.replace) std::printf("       M %s\n", x.c_str());
      for (const auto& x : c.add) std::printf("       + %s\n", x.c_str());
      for (const auto& x : c.remove) std::printf("       - %s\n", x.c_str());
    }
  }
  if (!p.stop.empty())
    std::printf("  services stopped first: %s; started after: %s\n",
                fmt::format("{}", fmt::join(p.stop, ", ")).c_str(),
                fmt::format("{}", fmt::join(p.start, ", ")).c_str());
  std::printf("  %s to write in all\n", human_bytes(p.bytes).c_str());
}

bool ask(const RollbackPlan& p) {
  print_plan(p, false);
  std::fprintf(stderr, "Roll back now? A safety point is taken first. [y/N] ");
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == "y" || line == "Y" || line == "yes";
}

int run_rollback(const Globals& gl, const CommandOptions& o, bool undo) {
  auto scope = parse_scope(o.scope);
  if (!scope)
    return report_error(gl, Error::usage("--scope must be full, component, partial or "
                                         "incremental, not '{}'",
                                         o.scope));
  if (!undo && o.id.empty())
    return report_error(gl, Error::usage("which recovery point? give an ID (number, latest or "
                                         "latest:KIND)"));
  auto sys = RollbackSystem::open(system_options(gl));
  if (!sys) return report_error(gl, sys.error());
  CliObserver obs(gl.out);
  CancelToken cancel;
  SignalCancel sc(cancel);
  RollbackRequest req;
  req.point = o.id;
  req.scope = *scope;
  req.components = o.components;
  req.categories = o.categories;
  req.with_dependents = o.with_dependents;
  req.dry_run = o.dry_run;
  req.apply_packages = o.apply_packages;
  req.observer = &obs;
  req.cancel = &cancel;
  if (!o.yes && !o.dry_run && !gl.out.json && ::isatty(0) && ::isatty(2))
    req.confirm = [&obs](const RollbackPlan& p) {
      obs.finish();
      return ask(p);
    };
  auto r = undo ? (*sys)->undo(req) : (*sys)->execute_rollback(req);
  obs.finish();
  if (!r) return report_error(gl, r.error());
  return print_rollback_report(gl, *r);
}

void add_rollback_options(CLI::App& c, CommandOptions& o) {
  c.add_flag("--dry-run", o.dry_run, "Print the plan and change nothing");
  c.add_flag("-y,--yes", o.yes, "Do not ask for confirmation on a terminal");
}

}  // namespace

json progress_json(const RollbackProgress& p) {
  json comps = json::array();
  for (const auto& c : p.components)
    comps.push_back(json{{"name", c.name}, {"result", c.result}, {"message", c.message}});
  return json{{"operation", p.operation},
              {"kind", p.kind},
              {"state", p.state},
              {"phase", std::string(phase_name(p.phase))},
              {"percent", p.percent},
              {"point", p.point},
              {"safety", p.safety == 0 ? json(nullptr) : json(p.safety)},
              {"pid", p.pid},
              {"started", format_time(p.started_ns)},
              {"updated", format_time(p.updated_ns)},
              {"cancel_requested", p.cancel_requested},
              {"message", p.message},
              {"components", comps}};
}

int print_rollback_report(const Globals& gl, const RollbackReport& r) {
  int code = exit_code_for_rollback_state(r.state);
  // A reverted or failed rollback: the error's own code when there is one.
  if (code == kExitNeedsRecover && r.error) code = exit_code_for(r.error->code());
  if (gl.out.json) {
    json j = rollback_json(r);
    j["plan"] = plan_json(r.plan);
    j["exit_code"] = code;
    print_json(j);
    return code;
  }
  if (r.state == "planned") {
    print_plan(r.plan, gl.out.verbose > 0);
    std::printf("dry run: nothing was changed\n");
    return 0;
  }
  for (const auto& w : r.warnings) std::fprintf(stderr, "rewind: warning: %s\n", w.c_str());
  if (!gl.out.quiet || code != 0) {
    FILE* out = code == 0 ? stdout : stderr;
    std::string target =
        r.point != 0 ? fmt::format(" to recovery point {}", r.point) : std::string();
    std::fprintf(out, "operation %lld: %s%s %s", static_cast<long long>(r.operation),
                 r.kind.c_str(), target.c_str(), r.state.c_str());
    if (r.safety != 0 && (r.state == "completed" || r.state == "partial"))
      std::fprintf(out, " (safety point %lld; `rewind undo` returns to before)",
                   static_cast<long long>(r.safety));
    std::fprintf(out, "\n");
    for (const auto& c : r.components)
      std::fprintf(out, "  %-20s %-9s %s\n", c.name.c_str(), c.result.c_str(),
                   c.result == "restored" ? fmt::format("{} files, {}, {} removed", c.files,
                                                        human_bytes(c.bytes), c.removed)
                                                .c_str()
                                          : c.message.c_str());
    if (!r.message.empty()) std::fprintf(out, "%s\n", r.message.c_str());
    if (r.error && code != 0) std::fprintf(stderr, "rewind: %s\n", r.error->message().c_str());
  }
  return code;
}

Command rollback_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "rollback",
      "Return the system (or some components) to a recovery point; removes what was added since",
      [o](CLI::App& c) {
        c.add_option("ID", o->id, "number, latest or latest:KIND")->required();
        c.add_option("--scope", o->scope,
                     "full (every component of the point), component (one), partial (those "
                     "named), incremental (only what differs, by content hash)")
            ->check(CLI::IsMember({"full", "component", "partial", "incremental"}));
        c.add_option("-c,--component", o->components, "Component in scope; repeatable");
        c.add_option("--category", o->categories,
                     "Every component of this category is in scope; repeatable");
        c.add_flag("--with-dependents", o->with_dependents,
                   "Add the components that depend on those named");
        c.add_flag("--apply-packages", o->apply_packages,
                   "Run apt-get to bring the package set back when no files component of "
                   "/var/lib/dpkg did (default: print the apt-get lines)");
        add_rollback_options(c, *o);
      },
      [o](const Globals& gl) { return run_rollback(gl, *o, false); }, [o] { return !o->dry_run; }};
}

Command undo_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{"undo", "Undo the last rollback (roll back to its safety point)",
                 [o](CLI::App& c) { add_rollback_options(c, *o); },
                 [o](const Globals& gl) { return run_rollback(gl, *o, true); },
                 [o] { return !o->dry_run; }};
}

}  // namespace rwd::cli
