// SPDX-License-Identifier: Apache-2.0
#include "config/retention.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cmath>
#include <string>

#include "config/config.h"

namespace rwd::config {

namespace {

constexpr std::array<std::string_view, 9> kKeys{"keep_last",   "keep_within",  "keep_hourly",
                                                "keep_daily",  "keep_weekly",  "keep_monthly",
                                                "keep_yearly", "max_per_kind", "min_free"};

}  // namespace

Result<FreeSpaceFloor> parse_free_space(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Error::usage("invalid size \"{}\": {} (examples: 2G, 500M, 5%)", text, why));
  };
  std::string t(text);
  size_t used = 0;
  long double value = 0;
  try {
    value = std::stold(t, &used);
  } catch (...) {
    return bad("expected a number");
  }
  if (!std::isfinite(value) || value < 0 || t[0] == '-' || t[0] == '+' || std::isspace(t[0]))
    return bad("expected a non-negative number");
  std::string unit = t.substr(used);
  FreeSpaceFloor f;
  if (unit == "%") {
    if (value <= 0 || value >= 100) return bad("a percentage is more than 0 and less than 100");
    f.percent = static_cast<double>(value);
    return f;
  }
  long double scale = 1;
  if (!unit.empty()) {
    static constexpr std::string_view kPrefixes = "KMGT";
    size_t k = kPrefixes.find(unit[0]);
    std::string rest = unit.substr(1);
    if (unit == "B") {
      rest.clear();
    } else if (k == std::string_view::npos || !(rest.empty() || rest == "B" || rest == "iB")) {
      return bad(fmt::format("unknown unit \"{}\" (B, K, M, G, T)", unit));
    } else {
      scale = std::pow(1024.0L, static_cast<long double>(k + 1));
    }
  }
  const long double bytes = value * scale;
  if (bytes >= 1.8e19L) return bad("too large");
  f.bytes = static_cast<uint64_t>(bytes);
  return f;
}

Result<RetentionPolicy> parse_retention(const nlohmann::json& table, RetentionPolicy base) {
  RetentionPolicy p = std::move(base);
  if (table.is_null()) return p;
  if (!table.is_object()) return fail(Error::usage("retention must be a table ([retention])"));
  for (const auto& item : table.items()) {
    const std::string& k = item.key();
    const nlohmann::json& v = item.value();
    if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end())
      return fail(
          Error::usage("retention: unknown key \"{}\" (known: {})", k, fmt::join(kKeys, ", ")));
    if (k == "keep_within" || k == "min_free") {
      if (!v.is_string())
        return fail(Error::usage("retention: {} must be a string, such as \"{}\"", k,
                                 k == "keep_within" ? "24h" : "2G"));
      const std::string s = v.get<std::string>();
      if (k == "keep_within") {
        auto d = parse_duration(s);
        if (!d) return fail(Error::usage("retention: keep_within: {}", d.error().message()));
        p.keep_within_ns = d->count();
      } else {
        auto f = parse_free_space(s);
        if (!f) return fail(Error::usage("retention: min_free: {}", f.error().message()));
        p.min_free = *f;
      }
      continue;
    }
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      return fail(
          Error::usage("retention: {} must be a whole number, 0 or more (0 turns it off)", k));
    const int64_t n = v.get<int64_t>();
    if (k == "keep_last") p.keep_last = n;
    if (k == "keep_hourly") p.keep_hourly = n;
    if (k == "keep_daily") p.keep_daily = n;
    if (k == "keep_weekly") p.keep_weekly = n;
    if (k == "keep_monthly") p.keep_monthly = n;
    if (k == "keep_yearly") p.keep_yearly = n;
    if (k == "max_per_kind") p.max_per_kind = n;
  }
  return p;
}

}  // namespace rwd::config
