// SPDX-License-Identifier: Apache-2.0
// with_retention_rule: the CLI's policy flags, read by the configuration's
// parser.
#include <charconv>
#include <nlohmann/json.hpp>

#include "config/retention.h"
#include "rewind/retention.h"

namespace rwd {

Result<RetentionPolicy> with_retention_rule(RetentionPolicy base, std::string_view key,
                                            std::string_view value) {
  nlohmann::json v = std::string(value);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (key != "keep_within" && key != "min_free" && ec == std::errc() &&
      end == value.data() + value.size())
    v = n;
  return config::parse_retention(nlohmann::json{{std::string(key), v}}, std::move(base));
}

}  // namespace rwd
