// SPDX-License-Identifier: Apache-2.0
#include "daemon/guard.h"

#include <fmt/format.h>

#include <algorithm>

namespace rwd::daemon {

Verdict guard(const DaemonState& state, const AutoRollbackConfig& config, int recent) {
  if (state.paused)
    return {false, fmt::format("paused ({}); `rewind daemon resume` re-arms automatic action",
                               state.pause_reason)};
  if (state.attention)
    return {false, fmt::format("in the attention state ({}); a person must look, then `rewind "
                               "daemon resume`",
                               state.attention_reason)};
  if (recent >= config.max_rollbacks)
    return {
        false,
        fmt::format("{} automatic rollback(s) in the last {}s already, the most allowed "
                    "([auto_rollback] max_rollbacks = {}); not acting again",
                    recent, std::chrono::duration_cast<std::chrono::seconds>(config.window).count(),
                    config.max_rollbacks)};
  return {true, "the guards allow it"};
}

TargetChoice choose_target(const std::vector<RecoveryPointInfo>& points,
                           const std::vector<RollbackProgress>& operations,
                           const std::set<int64_t>& targeted, const std::set<int64_t>& damaged) {
  // Points a rollback undid: newer than its target, taken before it ran.
  auto undone = [&](const RecoveryPointInfo& p) {
    for (const auto& op : operations) {
      if (op.point == 0) continue;  // an undo: its target is a safety point
      if (op.state != "completed" && op.state != "partial") continue;
      if (p.id > op.point && p.time_ns < op.started_ns) return true;
    }
    return false;
  };
  auto already_target = [&](int64_t id) { return targeted.count(id) > 0; };
  TargetChoice out;
  std::vector<RecoveryPointInfo> sorted = points;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
  for (const auto& p : sorted) {
    if (p.kind != "pre" || undone(p)) continue;
    out.from_update = true;
    if (already_target(p.id)) {
      out.why = fmt::format(
          "the latest update's pre point {} was already the target of an automatic rollback; "
          "another would roll back a rollback",
          p.id);
      return out;
    }
    if (damaged.count(p.id)) {
      out.why = fmt::format(
          "the latest update's pre point {} is damaged in the repository (verify); automatic "
          "rollback from it is blocked",
          p.id);
      return out;
    }
    out.candidates.push_back(p.id);
    out.why = fmt::format("the pre point of the latest update ({})", p.id);
    return out;
  }
  for (const auto& p : sorted) {
    if (p.kind == "safety" || p.kind == "post" || undone(p) || damaged.count(p.id)) continue;
    if (!p.health.empty() && p.health != "good") continue;
    // The newest good state was restored automatically once already: going
    // further back by itself would be a cascade a person must decide on.
    if (out.candidates.empty() && already_target(p.id)) {
      out.why = fmt::format(
          "point {} was already the target of an automatic rollback; another would roll back "
          "a rollback",
          p.id);
      return out;
    }
    out.candidates.push_back(p.id);
  }
  out.why = out.candidates.empty()
                ? "no recovery point qualifies (none taken while health was good, outside "
                  "safety and post points, undamaged and not already a target)"
                : fmt::format("the newest point taken while health was good ({})",
                              out.candidates.front());
  return out;
}

}  // namespace rwd::daemon
