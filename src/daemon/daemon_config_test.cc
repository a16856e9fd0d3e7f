// SPDX-License-Identifier: Apache-2.0
#include "daemon/daemon_config.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace rwd::daemon {
namespace {

Result<DaemonConfig> parse_text(const std::string& text) {
  auto c = config::parse({{"test.toml", text}});
  if (!c) return fail(c.error());
  return parse_daemon_config(c->sections.contains("daemon") ? c->sections["daemon"]
                                                            : nlohmann::json());
}

// Without a [daemon] table: the documented defaults.
TEST(DaemonConfig, Defaults) {
  auto d = parse_text("");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->socket, "/run/rewind/rewindd.sock");
  EXPECT_EQ(d->motd_dir, "/run/motd.d");
  EXPECT_EQ(d->timeline_interval.count(), 0);
  EXPECT_EQ(d->access.at("rollback").users, std::vector<std::string>{"root"});
  EXPECT_TRUE(d->access.at("list").groups.empty());
}

// The socket's group may read by default; create and rollback stay root's.
TEST(DaemonConfig, SocketGroupReadsByDefault) {
  auto d = parse_text(
      "[daemon]\nsocket_group = \"adm\"\n[daemon.access.create]\n"
      "users = [\"root\", 1000]\ngroups = [\"ops\"]\n");
  ASSERT_TRUE(d) << d.error().message();
  for (const char* a : {"status", "list", "health"})
    EXPECT_EQ(d->access.at(a).groups, std::vector<std::string>{"adm"}) << a;
  EXPECT_EQ(d->access.at("create").users, (std::vector<std::string>{"root", "1000"}));
  EXPECT_EQ(d->access.at("create").groups, std::vector<std::string>{"ops"});
  EXPECT_TRUE(d->access.at("rollback").groups.empty());
}

// Durations in systemd.time syntax; "off" turns a schedule off.
TEST(DaemonConfig, DurationsAndOff) {
  auto d = parse_text(
      "[daemon]\ntimeline_interval = \"1h 30min\"\n"
      "verify_interval = \"off\"\nretention_interval = \"200ms\"\n");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->timeline_interval, std::chrono::minutes(90));
  EXPECT_EQ(d->verify_interval.count(), 0);
  EXPECT_EQ(d->retention_interval, std::chrono::milliseconds(200));
}

// Every mistake is a usage error naming the key.
TEST(DaemonConfig, ErrorsNameTheKey) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"[daemon]\nsockt = \"/x\"\n", "unknown key \"sockt\""},
      {"[daemon]\ntimeline_interval = \"soon\"\n", "timeline_interval"},
      {"[daemon]\nhealth_interval = \"1s\"\n", "unknown key \"health_interval\""},
      {"[daemon]\nsocket = \"relative\"\n", "socket must be an absolute path"},
      {"[daemon.access.reboot]\nusers = [\"root\"]\n", "unknown action \"reboot\""},
      {"[daemon.access.list]\nuser = [\"root\"]\n", "unknown key \"user\""},
      {"[daemon]\nmetrics_dir = \"/a/../b\"\n", "metrics_dir"},
  };
  for (const auto& c : cases) {
    auto d = parse_text(c.text);
    ASSERT_FALSE(d) << c.text;
    EXPECT_EQ(d.error().code(), ErrorCode::kUsage);
    EXPECT_NE(d.error().message().find(c.says), std::string::npos) << d.error().message();
  }
}

}  // namespace
}  // namespace rwd::daemon
