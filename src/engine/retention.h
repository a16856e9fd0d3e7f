// SPDX-License-Identifier: Apache-2.0
// The retention policy as a pure function: points in, decisions with reasons
// out. No repository, no clock, no time zone but UTC; the caller
// (RecoveryPointManager::apply_retention) gathers the points, their unique
// bytes, their structural check and the file system's free space, and
// forgets what this says to remove.
//
// How the rules combine (DESIGN.md, decision "Retention."):
//  1. keep_last, keep_within and keep_hourly..keep_yearly are a union, each
//     computed as restic 0.14 does (newest first; a bucket rule keeps the
//     newest point of each of its N newest periods that hold points;
//     keep_within counts back from the newest point, strictly).
//  2. max_per_kind then caps each machine-made kind among the points step 1
//     keeps: `pre`/`post` (a pair counted once), `timeline`, `auto`,
//     `safety`. `single` (and any other kind a person chose) answers to
//     step 1 alone. Pinned units do not count against the cap.
//  3. Always kept: pinned points, points an unfinished operation uses,
//     points held for another reason (the `pre` of an unconfirmed
//     `--confirm-within` change), the newest point that verifies, and the
//     `pre` of a kept `post`.
//  4. min_free last: when the file system's free space is below the floor,
//     the oldest units (a pre/post pair together) go first until the free
//     space plus the unique bytes of everything removed reaches the floor;
//     the points of step 3 never go.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rewind/retention.h"

namespace rwd::engine {

struct FileSystemSpace {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

// `points`: id, time_ns, kind, pinned, pre_id, unique and damaged filled in,
// any order. `in_use`: point -> the unfinished operation that needs it.
// `space`: the repository's file system (only min_free reads it).
// `held`: point -> why it must stay whatever the rules say (kept like a
// point in use, min_free included).
// Returns every point, oldest first, with keep and reasons set.
RetentionReport decide_retention(std::vector<RetentionDecision> points,
                                 const RetentionPolicy& policy,
                                 const std::map<int64_t, int64_t>& in_use,
                                 std::optional<FileSystemSpace> space,
                                 const std::map<int64_t, std::string>& held = {});

// "24h", "7d", "1h 30min", "0" for a keep_within as systemd.time would
// print it (the largest units that divide it).
std::string format_duration(int64_t ns);

}  // namespace rwd::engine
