// SPDX-License-Identifier: Apache-2.0
// rewind confirm: makes a `run --confirm-within` change permanent.
#include <chrono>

#include "cli/run_report.h"

namespace rwd::cli {

namespace {

struct ConfirmOptions {
  int64_t id = 0;
  bool list = false;
  bool enforce = false;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void print_confirmation(const Confirmation& c) {
  std::printf("%5lld  %-11s  pre %lld  post %lld  deadline %s\n", static_cast<long long>(c.id),
              c.state.c_str(), static_cast<long long>(c.pre_id), static_cast<long long>(c.post_id),
              format_time(c.deadline_ns).c_str());
}

// The hidden --enforce: what rewindd and `rewind boot-check` do at a
// deadline, for tests and scripts.
int enforce(const Globals& gl, RollbackSystem& sys) {
  CliObserver obs(gl.out.json ? OutputMode{false, true, 0} : gl.out);
  auto r = enforce_confirmations(sys, now_ns(), &obs);
  obs.finish();
  if (!r) return report_error(gl, r.error());
  bool all_ok = true;
  json arr = json::array();
  for (const auto& rep : *r) {
    all_ok = all_ok && rep.succeeded();
    arr.push_back(auto_rollback_json(rep));
    if (!gl.out.json)
      std::printf("%s: rolled back to recovery point %lld: %s (%s)\n", rep.trigger.c_str(),
                  static_cast<long long>(rep.point), rep.result.c_str(), rep.message.c_str());
  }
  if (gl.out.json) print_json(arr);
  if (!gl.out.json && r->empty()) std::printf("no confirmation has expired\n");
  return all_ok ? kExitOk : kExitNeedsRecover;
}

}  // namespace

json confirmation_json(const Confirmation& c) {
  return json{{"id", c.id},
              {"pre", c.pre_id},
              {"post", c.post_id},
              {"deadline", format_time(c.deadline_ns)},
              {"state", c.state}};
}

Command confirm_command() {
  auto o = std::make_shared<ConfirmOptions>();
  return Command{
      "confirm", "Confirm a change made with `run --confirm-within`, so that it is not rolled back",
      [o](CLI::App& c) {
        c.add_option("ID", o->id, "the confirmation (default: every pending one)");
        c.add_flag("--list", o->list, "list confirmations and their state instead");
        c.add_flag("--enforce", o->enforce,
                   "roll back every expired pending confirmation now (what rewindd does)")
            ->group("");
        c.footer(std::string("`rewind run --confirm-within 10min -- CMD` keeps the change "
                             "provisional: unless\n`rewind confirm` runs before the deadline, "
                             "rewindd (or `rewind boot-check` after a\nreboot) rolls back to the "
                             "run's pre point (trigger \"unconfirmed\").\n"
                             "Exit code 14: nothing pending to confirm.\n\n") +
                 kExitCodeHelp);
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        if (o->enforce) return enforce(gl, **sys);
        if (o->list) {
          auto all = (*sys)->list_confirmations();
          if (!all) return report_error(gl, all.error());
          json arr = json::array();
          for (const auto& c : *all) arr.push_back(confirmation_json(c));
          if (gl.out.json)
            print_json(arr);
          else
            for (const auto& c : *all) print_confirmation(c);
          return 0;
        }
        auto r = (*sys)->confirm(o->id > 0 ? std::optional<int64_t>(o->id) : std::nullopt);
        if (!r) return report_error(gl, r.error());
        if (r->empty())
          return report_error(gl, Error::not_found("no change is waiting for confirmation"));
        json arr = json::array();
        for (const auto& c : *r) arr.push_back(confirmation_json(c));
        if (gl.out.json) {
          print_json(arr);
        } else {
          for (const auto& c : *r)
            std::printf("confirmed %lld: the change after recovery point %lld stays (post %lld)\n",
                        static_cast<long long>(c.id), static_cast<long long>(c.pre_id),
                        static_cast<long long>(c.post_id));
        }
        return 0;
      },
      [o] { return !o->list; }};
}

}  // namespace rwd::cli
