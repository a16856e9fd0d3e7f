// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "daemon/daemon_config.h"
#include "daemon/guard.h"

namespace rwd::daemon {
namespace {

constexpr int64_t kSec = 1000000000;

RecoveryPointInfo point(int64_t id, const std::string& kind, int64_t time_s,
                        const std::string& health = "good") {
  RecoveryPointInfo p;
  p.id = id;
  p.kind = kind;
  p.time_ns = time_s * kSec;
  p.health = health;
  return p;
}

// At most max_rollbacks within the window (the caller counts the catalog's
// records in the window); the reason names the setting.
TEST(Guard, AtMostNWithinTheWindow) {
  AutoRollbackConfig c;
  DaemonState s;
  EXPECT_TRUE(guard(s, c, 0).act);
  Verdict v = guard(s, c, 1);
  EXPECT_FALSE(v.act);
  EXPECT_NE(v.reason.find("max_rollbacks = 1"), std::string::npos) << v.reason;
  c.max_rollbacks = 2;
  EXPECT_TRUE(guard(s, c, 1).act);
}

// Pause and attention stop automatic action whatever the window says.
TEST(Guard, PauseAndAttentionStopIt) {
  AutoRollbackConfig c;
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
  TargetChoice t = choose_target(pts, {}, {}, {});
  ASSERT_EQ(t.candidates, std::vector<int64_t>{2});
  EXPECT_TRUE(t.from_update);
}

// One automatic rollback per update: its pre point once.
TEST(ChooseTarget, SamePrePointIsNotATargetTwice) {
  std::vector<RecoveryPointInfo> pts{point(1, "pre", 10), point(2, "post", 20)};
  TargetChoice t = choose_target(pts, {}, {1}, {});
  EXPECT_TRUE(t.candidates.empty());
  EXPECT_NE(t.why.find("already the target"), std::string::npos) << t.why;
}

// Without an update: newest first, skipping safety and post points, points
// taken while health was not good, and damaged ones; a point taken when no
// check was configured (health "") qualifies.
TEST(ChooseTarget, NewestGoodPointWithoutUpdate) {
  std::vector<RecoveryPointInfo> pts{point(1, "single", 10, ""), point(2, "timeline", 20),
                                     point(3, "safety", 30), point(4, "single", 40, "critical"),
                                     point(5, "timeline", 50)};
  TargetChoice t = choose_target(pts, {}, {}, {5});
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
  TargetChoice t = choose_target(pts, {op}, {}, {});
  EXPECT_EQ(t.candidates, (std::vector<int64_t>{4, 1}));
}

}  // namespace
}  // namespace rwd::daemon

namespace rwd::daemon {
namespace {

// The newest good point was an automatic rollback's target already: no
// cascade further back.
TEST(ChooseTarget, NoCascadePastAPointAlreadyRestored) {
  std::vector<RecoveryPointInfo> pts{point(1, "single", 10), point(2, "single", 20)};
  TargetChoice t = choose_target(pts, {}, {2}, {});
  EXPECT_TRUE(t.candidates.empty());
  EXPECT_NE(t.why.find("already the target"), std::string::npos) << t.why;
}

}  // namespace
}  // namespace rwd::daemon
