// SPDX-License-Identifier: Apache-2.0
#include "daemon/scheduled.h"

#include <fmt/format.h>

namespace rwd::daemon {

std::vector<std::pair<std::string, Duration>> scheduled_jobs(const DaemonConfig& c) {
  return {{"verify", c.verify_interval},
          {"verify-read-data", c.verify_read_data_interval},
          {"retention", c.retention_interval},
          {"timeline", c.timeline_interval}};
}

JobResult run_retention(RollbackSystem& /*sys*/) {
  return JobResult{
      "skipped: this build has no retention entry point (hook "
      "rwd::daemon::run_retention)",
      std::nullopt,
      false,
      {}};
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
      return out;
    }
    out.summary = fmt::format("timeline recovery point {} ({} entries)", r->id, r->entries);
    return out;
  }
  out.error = Error::usage("unknown scheduled job \"{}\"", job);
  return out;
}

}  // namespace rwd::daemon
