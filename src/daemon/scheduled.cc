// SPDX-License-Identifier: Apache-2.0
#include "daemon/scheduled.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "cli/exit_codes.h"
#include "daemon/decisions.h"

namespace rwd::daemon {

std::vector<std::pair<std::string, Duration>> scheduled_jobs(const DaemonConfig& c) {
  return {{"verify", c.verify_interval},
          {"verify-read-data", c.verify_read_data_interval},
          {"retention", c.retention_interval},
          {"timeline", c.timeline_interval}};
}

JobResult run_retention(RollbackSystem& sys) {
  JobResult out;
  auto r = sys.apply_retention(sys.retention_policy(), /*dry_run=*/false);
  if (!r) {
    out.error = r.error();
    // Busy: nothing was done, the job runs again at the next round. Any
    // other error may have come after some points were forgotten (the
    // message names them): that is recorded.
    if (r.error().code() != ErrorCode::kBusy)
      audit_decision(sys, false, kDecisionRetention, {}, cli::exit_code_for(r.error().code()),
                     r.error().message());
    return out;
  }
  std::vector<std::string> why;
  for (const auto& d : r->points)
    if (std::find(r->removed.begin(), r->removed.end(), d.id) != r->removed.end())
      why.push_back(fmt::format("{}: {}", d.id,
                                d.reasons.empty() ? std::string("no rule keeps it")
                                                  : fmt::format("{}", fmt::join(d.reasons, ", "))));
  if (r->min_free_applied)
    why.push_back(fmt::format("min_free: {} of {} bytes free, below the floor of {}", r->free_bytes,
                              r->total_bytes, r->floor_bytes));
  if (r->removed.empty()) {
    out.summary =
        fmt::format("nothing to forget: the policy keeps all {} recovery points", r->points.size());
  } else {
    out.summary = fmt::format(
        "forgot {} of {} recovery points ({}); about {} bytes to reclaim with `rewind prune`",
        r->removed.size(), r->points.size(), fmt::join(why, "; "), r->estimated_freed);
    audit_decision(sys, false, kDecisionRetention, why, cli::kExitOk, out.summary);
  }
  for (const auto& n : r->notes) out.summary += "; " + n;
  return out;
}

JobResult run_job(const std::string& job, const SystemOptions& options) {
  JobResult out;
  auto sys = RollbackSystem::open(options);
  if (!sys) {
    out.error = sys.error();
    return out;
  }
  NullObserver obs;
  if (job == "verify" || job == "verify-read-data") {
    bool read_data = job == "verify-read-data";
    auto r = (*sys)->verify(read_data, obs);
    if (!r) {
      out.error = r.error();
      return out;
    }
    out.verified = true;
    out.problems = r->problems;
    out.summary = r->problems.empty()
                      ? fmt::format("{} points, {} packs checked, no problem", r->points, r->packs)
                      : fmt::format(
                            "{} problems in the repository (automatic rollback from "
                            "damaged points is blocked); first: {}",
                            r->problems.size(), r->problems.front());
    return out;
  }
  if (job == "retention") return run_retention(**sys);
  if (job == "timeline") {
    CreateOptions co;
    co.kind = "timeline";
    co.cause = "timeline";
    co.name = "timeline";
    auto r = (*sys)->create_recovery_point(co, obs);
    if (!r) {
      out.error = r.error();
      if (r.error().code() != ErrorCode::kBusy)
        audit_decision(**sys, false, kDecisionTimeline, {}, cli::exit_code_for(r.error().code()),
                       r.error().message());
      return out;
    }
    out.summary = fmt::format("timeline recovery point {} ({} entries)", r->id, r->entries);
    audit_decision(**sys, false, kDecisionTimeline, {fmt::format("point={}", r->id)}, cli::kExitOk,
                   out.summary);
    return out;
  }
  out.error = Error::usage("unknown scheduled job \"{}\"", job);
  return out;
}

}  // namespace rwd::daemon
