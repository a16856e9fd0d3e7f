// SPDX-License-Identifier: Apache-2.0
// rewindd's scheduled retention (issue 5: "On a schedule ... retention"):
// the daemon applies the configured [retention] policy on its own, names
// the job and what it forgot in its log and the audit log, and never
// forgets what it still needs: pinned points and the pre point of a
// `run --confirm-within` change that is not confirmed yet.
#include <map>
#include <nlohmann/json.hpp>

#include "integration/daemon_fixture.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

// keep_last = 2 and nothing else (keep_within off), retention every 300 ms.
const char kConfig[] =
    "[[component]]\nname = \"data\"\nadapter = \"files\"\npaths = [\"/data\"]\n\n"
    "[retention]\nkeep_last = 2\nkeep_within = \"0\"\n\n"
    "[health]\ninterval = \"200ms\"\n\n"
    "[daemon]\nverify_interval = \"off\"\nverify_read_data_interval = \"off\"\n"
    "retention_interval = \"300ms\"\nmetrics_dir = \"\"\n";

class DaemonRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rwd::testing::write_file(box.at("/data/a"), "alpha\n");
    ASSERT_EQ(box.init().exit_code, 0);
  }
  // rewind --config CONFIG --wait ARGS (waits while the daemon's job holds
  // the repository's lock).
  RunResult rw(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--config", d.config(), "--wait"});
    return box.rw(args);
  }
  void create(const std::string& name, bool pin = false) const {
    std::vector<std::string> args{"-q", "create", "-n", name};
    if (pin) args.push_back("--pin");
    RunResult r = rw(args);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  Sandbox box{"rewind-dretention"};
  TestDaemon d{box, kConfig};
};

TEST_F(DaemonRetentionTest, ScheduledRetentionForgetsTheOldestPointsAndSaysSo) {
  // Situation: four points, keep_last = 2. Expectation: within the
  // deadline the daemon forgets 1 and 2, `list` shows exactly 3 and 4, the
  // log line names the job and each point with why it went, the audit log
  // holds a "daemon retention" entry saying the same, and it verifies.
  for (const char* n : {"one", "two", "three", "four"}) create(n);
  ASSERT_EQ(listed(box), (std::vector<int64_t>{1, 2, 3, 4}));
  d.start();
  ASSERT_TRUE(eventually([&] { return listed(box) == std::vector<int64_t>{3, 4}; }, 20)) << d.log();
  ASSERT_TRUE(eventually([&] { return d.log().find("retention: forgot") != std::string::npos; }))
      << d.log();
  EXPECT_NE(d.log().find("retention: forgot 2 of 4 recovery points (1: no rule keeps it; 2: no "
                         "rule keeps it)"),
            std::string::npos)
      << d.log();
  EXPECT_TRUE(d.status()["last_run_ns"].contains("retention")) << d.status().dump();

  json entries = audit_entries(box, "daemon retention");
  ASSERT_EQ(entries.size(), 1u) << entries.dump(2);
  EXPECT_EQ(entries[0]["result"], 0);
  EXPECT_EQ(entries[0]["uid"], 0);
  EXPECT_EQ(entries[0]["arguments"], json({"1: no rule keeps it", "2: no rule keeps it"}));
  // Later runs that forget nothing add no entry.
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  EXPECT_EQ(audit_entries(box, "daemon retention").size(), 1u);
  RunResult v = box.rw({"audit", "--verify"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
}

TEST_F(DaemonRetentionTest, PinnedPointsAndThePreOfAnUnconfirmedChangeSurvive) {
  // Situation: a pinned point 1; a `run --confirm-within 1h` change (pre 2,
  // post 3) that nobody confirmed yet; then points 4, 5, 6. keep_last = 2
  // keeps 5 and 6 alone. Expectation: the daemon forgets 3 and 4 and keeps
  // 1 (pinned) and 2 (where the deadline's rollback would go), and the
  // dry run says why.
  d.start();
  create("pinned", /*pin=*/true);
  RunResult run = rw({"-q", "run", "--confirm-within", "1h", "--", "true"});
  ASSERT_EQ(run.exit_code, 0) << describe(run) << d.log();
  for (const char* n : {"four", "five", "six"}) create(n);
  ASSERT_TRUE(eventually(
      [&] {
        return listed(box) == std::vector<int64_t>{1, 2, 5, 6};
      },
      20))
      << describe(box.rw({"list"})) << d.log();
  json dry = json::parse(rw({"--json", "forget", "--dry-run", "--policy"}).out, nullptr, false);
  ASSERT_TRUE(dry.is_object()) << dry;
  std::map<int64_t, json> reasons;
  for (const auto& p : dry["points"]) reasons[p["id"].get<int64_t>()] = p["reasons"];
  EXPECT_EQ(reasons[1], json({"pinned"})) << dry.dump(2);
  EXPECT_EQ(reasons[2], json({"pre of unconfirmed change (confirmation 1)"})) << dry.dump(2);
  // Confirmed, the pre point answers to the policy again.
  ASSERT_EQ(rw({"-q", "confirm"}).exit_code, 0);
  EXPECT_TRUE(eventually(
      [&] {
        return listed(box) == std::vector<int64_t>{1, 5, 6};
      },
      20))
      << d.log();
}

}  // namespace
}  // namespace rwd::itest
