// SPDX-License-Identifier: Apache-2.0
// The [retention] table and the values its keys take: counts, a
// systemd.time duration (keep_within) and a free-space floor (min_free:
// "2G", "500M", "4096", "5%"). The loader checks each file's table with
// parse_retention (errors then carry the file and line); the facade reads
// the merged table with it, and the CLI's flags use the value parsers.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "rewind/result.h"
#include "rewind/retention.h"

namespace rwd::config {

// The policy of a [retention] table (as JSON), starting from `base` (by
// default RetentionPolicy's defaults); a key the table sets replaces that rule. Keys: keep_last,
// keep_within, keep_hourly, keep_daily, keep_weekly, keep_monthly,
// keep_yearly, max_per_kind, min_free. Errors: kUsage naming the key (an
// unknown key, a negative count, a bad duration or size).
Result<RetentionPolicy> parse_retention(const nlohmann::json& table, RetentionPolicy base = {});

// A free-space floor: bytes with an optional binary suffix (K, M, G, T,
// optionally followed by "B" or "iB"; "2G" = 2 GiB), or a percentage of the
// file system ("5%", more than 0 and less than 100). Errors: kUsage.
Result<FreeSpaceFloor> parse_free_space(std::string_view text);

}  // namespace rwd::config
