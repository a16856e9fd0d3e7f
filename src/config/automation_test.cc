// SPDX-License-Identifier: Apache-2.0
#include "config/automation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace rwd::config {
namespace {

Result<Config> parse_one(const std::string& text) { return parse({{"rewind.toml", text}}); }

TEST(Automation, DefaultsWithoutTables) {
  // No [health], [[check]] or [auto_rollback]: every trigger armed, 5min,
  // no partial rollback, 1 rollback per hour, no checks.
  auto c = parse_one("");
  ASSERT_TRUE(c) << c.error().message();
  auto a = auto_rollback_config(*c);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->enabled);
  EXPECT_EQ(a->triggers.size(), 6u);
  EXPECT_TRUE(a->armed("timeout"));
  EXPECT_FALSE(a->armed("unconfirmed")) << "not a configurable trigger";
  EXPECT_EQ(a->max_rollback_time, std::chrono::minutes(5));
  EXPECT_FALSE(a->partial);
  EXPECT_EQ(a->max_rollbacks, 1);
  EXPECT_EQ(a->window, std::chrono::hours(1));
  auto h = health_config(*c);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->checks.empty());
}

TEST(Automation, ChecksAndSettingsAreRead) {
  // Every kind with its keys; durations in systemd.time syntax.
  auto c = parse_one(
      "[[component]]\nname = \"etc\"\npaths = [\"/etc\"]\n"
      "[auto_rollback]\nenabled = false\ntriggers = [\"timeout\"]\nmax_rollback_time = \"1h "
      "30min\"\n"
      "partial = true\npriority_components = [\"etc\"]\nmax_rollbacks = 3\nwindow = \"1d\"\n"
      "[health]\ntimeout = \"7s\"\n"
      "[[check]]\nname = \"c\"\ncommand = \"exit 0\"\n"
      "[[check]]\nname = \"s\"\nkind = \"service\"\nunit = \"app\"\nmanager = \"runit\"\n"
      "[[check]]\nname = \"f\"\nkind = \"free_space\"\nmin_free = \"2G\"\ncritical = true\n"
      "[[check]]\nname = \"k\"\nkind = \"kernel_log\"\n");
  ASSERT_TRUE(c) << c.error().message();
  auto a = auto_rollback_config(*c);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->armed("timeout")) << "disabled";
  EXPECT_EQ(a->max_rollback_time, std::chrono::minutes(90));
  EXPECT_EQ(a->priority_components, std::vector<std::string>{"etc"});
  EXPECT_EQ(a->window, std::chrono::hours(24));
  auto h = health_config(*c);
  ASSERT_TRUE(h);
  ASSERT_EQ(h->checks.size(), 4u);
  EXPECT_EQ(h->checks[0].kind, "command");
  EXPECT_EQ(h->checks[0].command, (std::vector<std::string>{"/bin/sh", "-c", "exit 0"}));
  EXPECT_EQ(h->checks[0].timeout, std::chrono::seconds(7)) << "[health] timeout is the default";
  EXPECT_EQ(h->checks[1].units, std::vector<std::string>{"app"});
  EXPECT_EQ(h->checks[1].manager["manager"], "runit");
  EXPECT_EQ(h->checks[2].min_free_bytes, 2ull << 30);
  EXPECT_TRUE(h->checks[2].critical);
  EXPECT_EQ(h->checks[3].source, "kmsg");
  EXPECT_EQ(h->checks[3].patterns, default_kernel_patterns());
}

TEST(Automation, MistakesFailTheLoadNamingTheKey) {
  for (const auto& [text, word] : std::vector<std::pair<std::string, std::string>>{
           {"[[check]]\nname = \"a\"\ncommand = [\"true\"]\nunit = \"x\"\n", "\"unit\""},
           {"[[check]]\nname = \"a\"\ncommand = [\"true\"]\n[[check]]\nname = \"a\"\n"
            "command = [\"true\"]\n",
            "twice"},
           {"[[check]]\ncommand = [\"true\"]\n", "no name"},
           {"[[check]]\nname = \"a\"\nkind = \"kernel_log\"\npatterns = [\"(\"]\n", "regex"},
           {"[[check]]\nname = \"a\"\nkind = \"free_space\"\nmin_free = \"lots\"\n", "lots"},
           {"[auto_rollback]\npartial = \"yes\"\n", "partial"},
           {"[auto_rollback]\nmax_rollbacks = -1\n", "max_rollbacks"},
       }) {
    auto c = parse_one(text);
    ASSERT_FALSE(c) << text;
    EXPECT_EQ(c.error().code(), ErrorCode::kUsage) << text;
    EXPECT_THAT(c.error().message(), ::testing::HasSubstr(word)) << text;
  }
}

TEST(Automation, MinFreeSizes) {
  uint64_t b = 0;
  double p = 0;
  ASSERT_TRUE(parse_min_free("10%", b, p));
  EXPECT_EQ(p, 10);
  EXPECT_EQ(b, 0u);
  ASSERT_TRUE(parse_min_free("500M", b, p));
  EXPECT_EQ(b, 500ull << 20);
  ASSERT_TRUE(parse_min_free("1048576", b, p));
  EXPECT_EQ(b, 1048576u);
  EXPECT_FALSE(parse_min_free("101%", b, p));
  EXPECT_FALSE(parse_min_free("", b, p));
  EXPECT_FALSE(parse_min_free("5X", b, p));
}

}  // namespace
}  // namespace rwd::config
