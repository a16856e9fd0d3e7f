// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "daemon/daemon_config.h"
#include "daemon/guard.h"

namespace rwd::daemon {
namespace {

constexpr int64_t kSec = 1000000000;

RecoveryPointInfo point(int64_t id, const std::string& kind, int64_t time_s) {
  RecoveryPointInfo p;
  p.id = id;
  p.kind = kind;
  p.time_ns = time_s * kSec;
  return p;
}

std::string good(const RecoveryPointInfo&) { return "good"; }

// The window counts automatic rollbacks: one allowed per hour by default,
// an old one no longer counts.
TEST(Guard, AtMostNWithinTheWindow) {
  DaemonConfig c;
  DaemonState s;
  int64_t now = 10000 * kSec;
  EXPECT_TRUE(guard(s, c, now).act);
  s.rollbacks.push_back({now - 60 * kSec, "service-failure", "", 1, 2, 3, "completed"});
  Verdict v = guard(s, c, now);
  EXPECT_FALSE(v.act);
  EXPECT_NE(v.reason.find("max_auto_rollbacks = 1"), std::string::npos) << v.reason;
  EXPECT_TRUE(guard(s, c, now + 3600 * kSec).act);
  c.max_auto_rollbacks = 2;
  EXPECT_TRUE(guard(s, c, now).act);
}

// Pause and attention stop automatic action whatever the window says.
TEST(Guard, PauseAndAttentionStopIt) {
  DaemonConfig c;
  DaemonState s;
  s.paused = true;
  EXPECT_FALSE(guard(s, c, 0).act);
  s.paused = false;
  s.attention = true;
  EXPECT_FALSE(guard(s, c, 0).act);
}

// With an update, its pre point and only it (never the post point).
TEST(ChooseTarget, LatestUpdatesPrePointNeverItsPost) {
  std::vector<RecoveryPointInfo> pts{point(1, "single", 10), point(2, "pre", 20),
                                     point(3, "post", 30), point(4, "timeline", 40)};
  TargetChoice t = choose_target(pts, {}, {}, {}, good);
  ASSERT_EQ(t.candidates, std::vector<int64_t>{2});
  EXPECT_TRUE(t.from_update);
}

// One automatic rollback per update: its pre point once.
TEST(ChooseTarget, SamePrePointIsNotATargetTwice) {
  std::vector<RecoveryPointInfo> pts{point(1, "pre", 10), point(2, "post", 20)};
  DaemonState s;
  s.rollbacks.push_back({30 * kSec, "service-failure", "", 1, 5, 4, "completed"});
  TargetChoice t = choose_target(pts, {}, s, {}, good);
  EXPECT_TRUE(t.candidates.empty());
  EXPECT_NE(t.why.find("already the target"), std::string::npos) << t.why;
}

// Without an update: newest first, skipping safety and post points, points
// taken while health was not good, and damaged ones.
TEST(ChooseTarget, NewestGoodPointWithoutUpdate) {
  std::vector<RecoveryPointInfo> pts{point(1, "single", 10), point(2, "timeline", 20),
                                     point(3, "safety", 30), point(4, "single", 40),
                                     point(5, "timeline", 50)};
  auto health = [](const RecoveryPointInfo& p) {
    return p.id == 4 ? std::string("critical") : std::string("good");
  };
  TargetChoice t = choose_target(pts, {}, {}, {5}, health);
  EXPECT_EQ(t.candidates, (std::vector<int64_t>{2, 1}));
  EXPECT_FALSE(t.from_update);
}

// Points a rollback undid (newer than its target, older than it) are not
// targets: going there would roll the rollback back.
TEST(ChooseTarget, PointsUndoneByARollbackAreSkipped) {
  std::vector<RecoveryPointInfo> pts{point(1, "single", 10), point(2, "single", 20),
                                     point(3, "safety", 30), point(4, "single", 50)};
  RollbackProgress op;
  op.kind = "rollback";
  op.state = "completed";
  op.point = 1;
  op.started_ns = 30 * kSec;
  TargetChoice t = choose_target(pts, {op}, {}, {}, good);
  EXPECT_EQ(t.candidates, (std::vector<int64_t>{4, 1}));
}

}  // namespace
}  // namespace rwd::daemon
