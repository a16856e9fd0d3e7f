// SPDX-License-Identifier: Apache-2.0
// [retention]: its keys, their values, and errors that name the file, the
// line and the key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/retention.h"
#include "support/test_support.h"

namespace rwd::config {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;
using ::testing::HasSubstr;

constexpr int64_t kHour = 3600'000'000'000;

template <typename T>
std::string error_of(const Result<T>& r) {
  return r ? std::string("<no error>") : r.error().message();
}

TEST(RetentionConfig, DefaultsAreLast10Within24hAnd5PerKind) {
  auto p = parse_retention(nlohmann::json::object());
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->keep_last, 10);
  EXPECT_EQ(p->keep_within_ns, 24 * kHour);
  EXPECT_EQ(p->max_per_kind, 5);
  EXPECT_EQ(p->keep_daily, 0);
  EXPECT_FALSE(p->min_free.has_value());
}

TEST(RetentionConfig, EveryKeyIsRead) {
  auto c = parse({{"/r/rewind.toml",
                   "[retention]\nkeep_last = 3\nkeep_within = \"2d 12h\"\nkeep_hourly = 4\n"
                   "keep_daily = 7\nkeep_weekly = 5\nkeep_monthly = 12\nkeep_yearly = 2\n"
                   "max_per_kind = 0\nmin_free = \"5%\"\n"}});
  ASSERT_THAT(c, IsOk());
  auto p = parse_retention(c->sections["retention"]);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->keep_last, 3);
  EXPECT_EQ(p->keep_within_ns, 60 * kHour);
  EXPECT_EQ(p->keep_hourly, 4);
  EXPECT_EQ(p->keep_daily, 7);
  EXPECT_EQ(p->keep_weekly, 5);
  EXPECT_EQ(p->keep_monthly, 12);
  EXPECT_EQ(p->keep_yearly, 2);
  EXPECT_EQ(p->max_per_kind, 0);
  ASSERT_TRUE(p->min_free.has_value());
  EXPECT_EQ(p->min_free->percent, 5);
}

// The loader checks [retention] as it reads each file: the error names the
// file, the key's line and the key.
TEST(RetentionConfig, BadKeysAreNamedWithFileAndLine) {
  auto unknown = parse({{"/r/rewind.toml", "[retention]\nkeep_last = 3\nkeep_dayly = 7\n"}});
  EXPECT_THAT(unknown, HasError(ErrorCode::kUsage));
  EXPECT_THAT(error_of(unknown), HasSubstr("/r/rewind.toml:3"));
  EXPECT_THAT(error_of(unknown), HasSubstr("unknown key \"keep_dayly\""));
  auto negative = parse({{"/r/rewind.toml", "[retention]\nkeep_last = -1\n"}});
  EXPECT_THAT(error_of(negative), HasSubstr("/r/rewind.toml:2"));
  EXPECT_THAT(error_of(negative), HasSubstr("keep_last must be a whole number"));
  auto duration = parse({{"/r/rewind.toml", "[retention]\nkeep_within = \"3 fortnights\"\n"}});
  EXPECT_THAT(error_of(duration), HasSubstr("keep_within: invalid duration \"3 fortnights\""));
  auto size = parse({{"/r/rewind.toml", "[retention]\nmin_free = \"lots\"\n"}});
  EXPECT_THAT(error_of(size), HasSubstr("min_free: invalid size \"lots\""));
}

TEST(RetentionConfig, FreeSpaceFloorsInBytesSuffixesAndPercent) {
  struct Case {
    const char* text;
    uint64_t bytes;
    double percent;
  };
  for (const Case& c : {Case{"4096", 4096, 0}, Case{"2G", 2ull << 30, 0},
                        Case{"500M", 500ull << 20, 0}, Case{"1.5KiB", 1536, 0},
                        Case{"10MB", 10ull << 20, 0}, Case{"5%", 0, 5}, Case{"0.5%", 0, 0.5}}) {
    auto f = parse_free_space(c.text);
    ASSERT_THAT(f, IsOk()) << c.text;
    EXPECT_EQ(f->bytes, c.bytes) << c.text;
    EXPECT_EQ(f->percent, c.percent) << c.text;
  }
  for (const char* bad : {"", "-1G", "2X", "G", "100%", "0%", " 5G", "5 G"})
    EXPECT_THAT(parse_free_space(bad), HasError(ErrorCode::kUsage)) << bad;
}

}  // namespace
}  // namespace rwd::config
