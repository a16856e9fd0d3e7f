// SPDX-License-Identifier: Apache-2.0
// rewind forget: explicit points (forget ID...), or the retention policy
// (forget --policy, or any policy flag), with --dry-run to only show the
// decisions. The two modes do not mix: a point named by hand is not subject
// to a policy's reasons, and a policy run must not hide a typed ID.
#include "cli/command.h"

namespace rwd::cli {

namespace {

// The policy flags; unset ones leave the configuration's rule.
struct PolicyFlags {
  bool policy = false;
  std::optional<int64_t> keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly,
      max_per_kind;
  std::optional<std::string> keep_within, min_free;

  bool any() const {
    return policy || keep_last || keep_hourly || keep_daily || keep_weekly || keep_monthly ||
           keep_yearly || max_per_kind || keep_within || min_free;
  }
};

Result<RetentionPolicy> merged_policy(RetentionPolicy p, const PolicyFlags& f) {
  for (auto [flag, rule] :
       {std::pair{&f.keep_last, &p.keep_last}, std::pair{&f.keep_hourly, &p.keep_hourly},
        std::pair{&f.keep_daily, &p.keep_daily}, std::pair{&f.keep_weekly, &p.keep_weekly},
        std::pair{&f.keep_monthly, &p.keep_monthly}, std::pair{&f.keep_yearly, &p.keep_yearly},
        std::pair{&f.max_per_kind, &p.max_per_kind}})
    if (*flag) *rule = **flag;
  // Durations and sizes through the configuration's parser, so that the
  // flags and [retention] accept the same values.
  for (auto [key, flag] :
       {std::pair{"keep_within", &f.keep_within}, std::pair{"min_free", &f.min_free}})
    if (*flag) {
      REWIND_ASSIGN_OR_RETURN(p, with_retention_rule(std::move(p), key, **flag));
    }
  return p;
}

json policy_json(const RetentionPolicy& p) {
  json j{{"keep_last", p.keep_last},     {"keep_within_ns", p.keep_within_ns},
         {"keep_hourly", p.keep_hourly}, {"keep_daily", p.keep_daily},
         {"keep_weekly", p.keep_weekly}, {"keep_monthly", p.keep_monthly},
         {"keep_yearly", p.keep_yearly}, {"max_per_kind", p.max_per_kind},
         {"min_free", nullptr}};
  if (p.min_free)
    j["min_free"] = p.min_free->percent > 0 ? json{{"percent", p.min_free->percent}}
                                            : json{{"bytes", p.min_free->bytes}};
  return j;
}

int print_retention(const Globals& gl, const RetentionPolicy& policy, const RetentionReport& r) {
  if (gl.out.json) {
    json pts = json::array();
    for (const auto& d : r.points)
      pts.push_back(json{{"id", d.id},
                         {"time", format_time(d.time_ns)},
                         {"kind", d.kind},
                         {"pinned", d.pinned},
                         {"pre_id", d.pre_id == 0 ? json(nullptr) : json(d.pre_id)},
                         {"unique", d.unique},
                         {"keep", d.keep},
                         {"reasons", d.reasons},
                         {"damaged", d.damaged.empty() ? json(nullptr) : json(d.damaged)}});
    json min_free = nullptr;
    if (r.min_free_applied || r.floor_bytes != 0)
      min_free = json{{"applied", r.min_free_applied},
                      {"free_bytes", r.free_bytes},
                      {"total_bytes", r.total_bytes},
                      {"floor_bytes", r.floor_bytes}};
    print_json(json{{"dry_run", r.dry_run},
                    {"policy", policy_json(policy)},
                    {"points", pts},
                    {"removed", r.removed},
                    {"estimated_freed", r.estimated_freed},
                    {"min_free", min_free},
                    {"notes", r.notes}});
    return 0;
  }
  if (gl.out.quiet) return 0;
  std::printf("%5s  %-20s  %-8s  %10s  %s\n", "ID", "TIME", "KIND", "UNIQUE", "DECISION");
  for (const auto& d : r.points) {
    std::string why;
    for (const auto& s : d.reasons) why += (why.empty() ? "" : ", ") + s;
    std::string decision = d.keep ? "keep: " + why : why.empty() ? "remove" : "remove: " + why;
    if (!d.damaged.empty()) decision += " (damaged)";
    std::printf("%5lld  %-20s  %-8s  %10s  %s\n", static_cast<long long>(d.id),
                format_time(d.time_ns).c_str(), d.kind.c_str(), human_bytes(d.unique).c_str(),
                decision.c_str());
  }
  for (const auto& n : r.notes) std::printf("%s\n", n.c_str());
  std::string ids;
  for (int64_t id : r.removed) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
  std::printf("%s %zu recovery point%s%s%s; about %s to reclaim with `rewind prune`\n",
              r.dry_run ? "would forget" : "forgot", r.removed.size(),
              r.removed.size() == 1 ? "" : "s", ids.empty() ? "" : ": ", ids.c_str(),
              human_bytes(r.estimated_freed).c_str());
  return 0;
}

}  // namespace

Command forget_command() {
  auto o = std::make_shared<CommandOptions>();
  auto f = std::make_shared<PolicyFlags>();
  return Command{
      "forget",
      "Forget recovery points by ID or by the retention policy (their data stays until `rewind "
      "prune`)",
      [o, f](CLI::App& c) {
        c.add_option("ID", o->paths, "Points to forget: numbers, latest or latest:KIND");
        c.add_flag("--dry-run", o->dry_run,
                   "Show what the policy keeps and removes, and why; change nothing");
        c.add_flag(
            "--policy", f->policy,
            "Apply the configured retention policy ([retention]; implied by any flag below)");
        c.add_option("--keep-last", f->keep_last, "Keep the N newest points")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--keep-within", f->keep_within,
                     "Keep every point within DURATION of the newest (24h, 7d, 1h 30min)");
        c.add_option("--keep-hourly", f->keep_hourly, "Keep the newest point of each of N hours")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--keep-daily", f->keep_daily, "Keep the newest point of each of N days")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--keep-weekly", f->keep_weekly,
                     "Keep the newest point of each of N ISO weeks")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--keep-monthly", f->keep_monthly, "Keep the newest point of each of N months")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--keep-yearly", f->keep_yearly, "Keep the newest point of each of N years")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--max-per-kind", f->max_per_kind,
                     "At most N kept points of each machine-made kind (a pre/post pair counts "
                     "once)")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--min-free", f->min_free,
                     "Below this much free space (2G, 500M, 5%), forget the oldest unpinned "
                     "points too");
        c.footer(
            "With IDs: forgets those points. Pinned points, the pre point of a post point\n"
            "that stays, and the points of an unfinished operation are refused.\n"
            "With --policy or policy flags (not with IDs): every point is printed with the\n"
            "rules that keep it, or \"remove\". Flags override the configuration's\n"
            "[retention] rule by rule; 0 turns a rule off. Defaults: --keep-last 10\n"
            "--keep-within 24h --max-per-kind 5. Times are UTC. Pinned points, the newest\n"
            "point that verifies, points an unfinished operation uses, and the pre point\n"
            "of a kept post point are always kept. Damaged points are reported and the\n"
            "policy still applies. Numbers are never reused.");
      },
      [o, f](const Globals& gl) {
        const bool by_policy = f->any() || o->dry_run;
        if (by_policy && !o->paths.empty())
          return report_error(
              gl, Error::usage("give point IDs or a retention policy (--policy, --dry-run, "
                               "--keep-*, --max-per-kind, --min-free), not both"));
        if (!by_policy && o->paths.empty())
          return report_error(
              gl, Error::usage("nothing to forget: give point IDs, or --policy (try --dry-run "
                               "--policy first)"));
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        if (by_policy) {
          auto policy = merged_policy((*sys)->retention_policy(), *f);
          if (!policy) return report_error(gl, policy.error());
          auto rep = (*sys)->apply_retention(*policy, o->dry_run);
          if (!rep) return report_error(gl, rep.error());
          return print_retention(gl, *policy, *rep);
        }
        auto done = (*sys)->forget_recovery_points(o->paths);
        if (!done) return report_error(gl, done.error());
        if (gl.out.json)
          print_json(json{{"forgotten", *done}});
        else if (!gl.out.quiet)
          for (int64_t id : *done)
            std::printf("forgot recovery point %lld\n", static_cast<long long>(id));
        return 0;
      },
      [o] { return !o->dry_run; }};
}

}  // namespace rwd::cli
