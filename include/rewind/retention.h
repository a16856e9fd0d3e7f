// SPDX-License-Identifier: Apache-2.0
// The retention policy and what applying it decided (DESIGN.md "Recovery
// points over time" and the decision "Retention."). Plain values: the
// configuration fills a policy from [retention], the CLI overrides single
// rules from flags, RollbackSystem::apply_retention returns the report.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/result.h"

namespace rwd {

// The free-space floor: bytes, or a percentage of the file system's size.
struct FreeSpaceFloor {
  uint64_t bytes = 0;
  double percent = 0;  // used when > 0
};

// Every rule: 0 turns it off. The defaults are the issue's: keep the last
// 10, everything within 24 hours of the newest point, at most 5 of each
// machine-made kind; no free-space floor.
struct RetentionPolicy {
  int64_t keep_last = 10;
  int64_t keep_within_ns = 24ll * 3600 * 1000000000;
  int64_t keep_hourly = 0;
  int64_t keep_daily = 0;
  int64_t keep_weekly = 0;
  int64_t keep_monthly = 0;
  int64_t keep_yearly = 0;
  // Caps each machine-made kind (pre/post pairs counted once, timeline,
  // auto, safety) among the points the keep_* rules keep.
  int64_t max_per_kind = 5;
  std::optional<FreeSpaceFloor> min_free;
};

// One point and what the policy decided for it.
struct RetentionDecision {
  int64_t id = 0;
  int64_t time_ns = 0;
  std::string kind;
  bool pinned = false;
  int64_t pre_id = 0;
  uint64_t unique = 0;  // stored bytes only this point references
  bool keep = false;
  // Why: the rules that keep it ("last 3", "daily 2026-11-25", "within 24h",
  // "pinned", "newest that verifies", "pre of kept 12", "in use by
  // operation 4"), or for a removed point why it goes ("max_per_kind",
  // "min_free"); empty for a point that no rule keeps.
  std::vector<std::string> reasons;
  std::string damaged;  // why the point fails its structural check; "" when it passes
  std::string error;    // the point was to be removed and could not be
};

struct RetentionReport {
  bool dry_run = false;
  std::vector<RetentionDecision> points;  // oldest first
  std::vector<int64_t> removed;           // forgotten (or, with dry_run, that would be)
  // min_free: the file system's state and what the removals are estimated
  // to free once `prune` runs (the unique bytes of the removed points).
  bool min_free_applied = false;
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
  uint64_t floor_bytes = 0;
  uint64_t estimated_freed = 0;
  std::vector<std::string> notes;  // what rewind says about min_free, damaged points
};

// `base` with one rule set from its text, as the [retention] key `key`
// takes it: a count ("7"), keep_within a systemd.time duration ("24h"),
// min_free a size ("2G", "5%"). For the CLI's flags, so that they and the
// configuration accept the same values. Errors: kUsage naming the key.
Result<RetentionPolicy> with_retention_rule(RetentionPolicy base, std::string_view key,
                                            std::string_view value);

}  // namespace rwd
