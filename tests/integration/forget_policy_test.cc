// SPDX-License-Identifier: Apache-2.0
// `rewind forget` by policy and `list`'s cost column (issue 6), through the
// real binary: every point printed with the rule that keeps it or "remove",
// --dry-run changes nothing, flags override [retention], a damaged point is
// reported and the policy still applies, and min_free on a small
// loop-mounted ext4 file system removes the oldest unpinned points and says
// so. (The policy's rules one by one: src/engine/retention_test.cc.)
#include <sys/statvfs.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::random_bytes;
using rwd::testing::run;
using rwd::testing::write_file;
using ::testing::HasSubstr;

json run_json(const Sandbox& box, const std::vector<std::string>& args, int want_exit = 0) {
  std::vector<std::string> a{"--json"};
  a.insert(a.end(), args.begin(), args.end());
  RunResult r = box.rw(a);
  EXPECT_EQ(r.exit_code, want_exit) << describe(r);
  return json::parse(r.out, nullptr, false);
}

const json& decision(const json& report, int64_t id) {
  for (const auto& p : report.at("points"))
    if (p.at("id") == id) return p;
  ADD_FAILURE() << "no point " << id << " in " << report.dump();
  static const json none = json::object();
  return none;
}

// Six points of /srv, each with 64 KiB of its own random data: a pinned one,
// a pre/post pair, two timeline points and a manual one (the newest).
class ForgetPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box.init().exit_code, 0);
    std::filesystem::create_directories(box.at("/srv"));
    auto next = [&](std::vector<std::string> extra) {
      write_file(box.at("/srv/blob"), random_bytes(64 << 10, 100 + ids.size()));
      ids.push_back(box.create({"/srv"}, extra));
    };
    next({"--pin"});
    next({"--kind", "timeline"});
    next({"--kind", "pre"});
    next({"--kind", "post", "--pre", std::to_string(ids[2])});
    next({"--kind", "timeline"});
    next({});
  }
  Sandbox box{"rewind-retention"};
  std::vector<int64_t> ids;
};

TEST_F(ForgetPolicy, DryRunPrintsEachPointsRuleAndChangesNothing) {
  // keep_last 1, nothing else: the newest; pinned always; the pair and the
  // timeline points go.
  RunResult text = box.rw({"forget", "--dry-run", "--keep-last", "1", "--keep-within", "0"});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("keep: pinned"));
  EXPECT_THAT(text.out, HasSubstr("keep: last 1, newest that verifies"));
  EXPECT_THAT(text.out, HasSubstr("remove"));
  EXPECT_THAT(text.out, HasSubstr("would forget 4 recovery points: " + std::to_string(ids[1])));
  EXPECT_EQ(listed(box), ids);

  json j = run_json(box, {"forget", "--dry-run", "--keep-last", "1", "--keep-within", "0"});
  EXPECT_EQ(j.at("dry_run"), true);
  EXPECT_EQ(j.at("removed"), json(std::vector<int64_t>{ids[1], ids[2], ids[3], ids[4]}));
  EXPECT_EQ(decision(j, ids[0]).at("reasons"), json::array({"pinned"}));
  EXPECT_EQ(decision(j, ids[5]).at("keep"), true);
  EXPECT_EQ(decision(j, ids[3]).at("keep"), false);
  // Every point's unique data (its own 64 KiB blob, stored) is counted.
  for (const auto& p : j.at("points")) EXPECT_GE(p.at("unique").get<uint64_t>(), 60000u) << p;
  EXPECT_EQ(listed(box), ids);
}

TEST_F(ForgetPolicy, ForgetsWhatThePolicyRemovesAndKeepsThePreOfAKeptPost) {
  // max_per_kind 1 with the defaults: the newest timeline point and the
  // pair stay, the older timeline point goes; the post keeps its pre.
  json j = run_json(box, {"forget", "--max-per-kind", "1"});
  EXPECT_EQ(j.at("dry_run"), false);
  EXPECT_EQ(j.at("removed"), json::array({ids[1]}));
  EXPECT_THAT(decision(j, ids[1]).at("reasons")[0].get<std::string>(),
              HasSubstr("max_per_kind: more than 1 timeline kept"));
  EXPECT_EQ(listed(box), (std::vector<int64_t>{ids[0], ids[2], ids[3], ids[4], ids[5]}));

  // keep_last 1 only: the pair goes whole (the post is not kept, so its pre
  // is not either); pinned and the newest stay.
  json k = run_json(box, {"forget", "--keep-last", "1", "--keep-within", "0"});
  EXPECT_EQ(k.at("removed"), json(std::vector<int64_t>{ids[2], ids[3], ids[4]}));
  EXPECT_EQ(listed(box), (std::vector<int64_t>{ids[0], ids[5]}));
  // Numbers are not reused.
  EXPECT_EQ(box.create({"/srv"}), ids[5] + 1);
}

TEST_F(ForgetPolicy, ConfigurationPolicyAppliesAndFlagsOverrideItRuleByRule) {
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[retention]\nkeep_last = 2\nkeep_within = \"0\"\nmax_per_kind = 0\n");
  json cfg = run_json(box, {"forget", "--dry-run", "--policy"});
  EXPECT_EQ(cfg.at("policy").at("keep_last"), 2);
  EXPECT_EQ(cfg.at("removed"), json(std::vector<int64_t>{ids[1], ids[2], ids[3]}));
  // --keep-last overrides keep_last only; keep_within stays off.
  json flag = run_json(box, {"forget", "--dry-run", "--keep-last", "3"});
  EXPECT_EQ(flag.at("policy").at("keep_last"), 3);
  EXPECT_EQ(flag.at("policy").at("keep_within_ns"), 0);
  EXPECT_EQ(flag.at("removed"), json(std::vector<int64_t>{ids[1]}));

  write_file(box.at("/etc/rewind/rewind.toml"), "[retention]\nkeep_lats = 2\n");
  RunResult bad = box.rw({"forget", "--dry-run", "--policy"});
  EXPECT_EQ(bad.exit_code, 2) << describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("rewind.toml:2"));
  EXPECT_THAT(bad.err, HasSubstr("unknown key \"keep_lats\""));
}

TEST_F(ForgetPolicy, UsageErrors) {
  RunResult both = box.rw({"forget", "--keep-last", "2", std::to_string(ids[1])});
  EXPECT_EQ(both.exit_code, 2) << describe(both);
  EXPECT_THAT(both.err, HasSubstr("not both"));
  RunResult none = box.rw({"forget"});
  EXPECT_EQ(none.exit_code, 2) << describe(none);
  EXPECT_THAT(none.err, HasSubstr("--policy"));
  RunResult within = box.rw({"forget", "--dry-run", "--keep-within", "3 fortnights"});
  EXPECT_EQ(within.exit_code, 2) << describe(within);
  EXPECT_THAT(within.err, HasSubstr("invalid duration \"3 fortnights\""));
  RunResult size = box.rw({"forget", "--dry-run", "--min-free", "lots"});
  EXPECT_EQ(size.exit_code, 2) << describe(size);
  EXPECT_THAT(size.err, HasSubstr("invalid size \"lots\""));
  EXPECT_EQ(box.rw({"forget", "--keep-last", "-1"}).exit_code, 2);
  EXPECT_EQ(listed(box), ids);
}

// The newest point's data chunks dropped from the index: it is reported as
// damaged, the one before it is the newest that verifies, and the policy
// still runs (the damaged point, no longer kept by any rule, goes).
TEST_F(ForgetPolicy, DamagedPointIsReportedAndThePolicyStillApplies) {
  RunResult del = sh("sqlite3 '" + box.repo +
                     "/catalog.db' 'DELETE FROM chunks WHERE pack = (SELECT max(id) FROM packs)'");
  ASSERT_EQ(del.exit_code, 0) << describe(del);
  json j = run_json(box, {"forget", "--keep-last", "0", "--keep-within", "0"});
  EXPECT_TRUE(decision(j, ids[5]).at("damaged").is_string()) << j.dump();
  EXPECT_EQ(decision(j, ids[4]).at("reasons"), json::array({"newest that verifies"}));
  EXPECT_EQ(decision(j, ids[5]).at("keep"), false);
  EXPECT_THAT(j.at("notes").dump(), HasSubstr("damaged: recovery point " + std::to_string(ids[5])));
  EXPECT_EQ(listed(box), (std::vector<int64_t>{ids[0], ids[4]}));
}

// `list` shows what each point costs: its own blob is unique, shared data
// is not counted.
TEST_F(ForgetPolicy, ListShowsEachPointsUniqueBytes) {
  // Two more points of the same content: their data is shared, so unique
  // is only their manifests (a few hundred bytes).
  int64_t same1 = box.create({"/srv"});
  int64_t same2 = box.create({"/srv"});
  json l = run_json(box, {"list"});
  ASSERT_TRUE(l.is_array());
  std::map<int64_t, uint64_t> unique;
  for (const auto& p : l) unique[p.at("id")] = p.at("unique");
  for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_GE(unique[ids[i]], 60000u) << ids[i];
  // The newest blob is now shared by three points.
  EXPECT_LT(unique[ids[5]], 4096u);
  EXPECT_LT(unique[same1], 4096u);
  EXPECT_LT(unique[same2], 4096u);
  RunResult text = box.rw({"list"});
  EXPECT_THAT(text.out, HasSubstr("UNIQUE"));
  EXPECT_THAT(text.out, HasSubstr("KiB"));
}

// min_free on a real small file system: a 64 MiB ext4 image holds the
// repository; five points of 2 MiB of their own data; a file fills the
// image until 15 MiB are free, 5 below the 20 MiB floor. The oldest
// unpinned points go until their unique data (what prune frees) covers the
// 5 MiB: the second, third and fourth point; the pinned first and the
// newest stay. rewind says so.
class MinFree : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount an ext4 image";
    image = box.dir.sub("fs.img");
    mnt = box.dir.sub("mnt");
    std::filesystem::create_directories(mnt);
    ASSERT_EQ(run({"truncate", "-s", "64M", image}).exit_code, 0);
    RunResult mk = run({"mkfs.ext4", "-q", "-F", image}, {}, 120);
    ASSERT_EQ(mk.exit_code, 0) << describe(mk);
    RunResult m = run({"mount", "-o", "loop", image, mnt});
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    mounted = true;
    box.repo = mnt + "/repo";
  }
  void TearDown() override {
    if (mounted && run({"umount", mnt}).exit_code != 0) run({"umount", "-l", mnt});
  }
  uint64_t free_bytes() const {
    struct statvfs sv {};
    EXPECT_EQ(::statvfs(mnt.c_str(), &sv), 0);
    return static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  }
  Sandbox box{"rewind-minfree"};
  std::string image, mnt;
  bool mounted = false;
};

TEST_F(MinFree, OldestUnpinnedPointsGoAndRewindSaysSo) {
  ASSERT_EQ(box.init().exit_code, 0);
  std::filesystem::create_directories(box.at("/srv"));
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    write_file(box.at("/srv/blob"), random_bytes(2 << 20, 700 + i));
    ids.push_back(box.create(
        {"/srv"}, i == 0 ? std::vector<std::string>{"--pin"} : std::vector<std::string>{}));
  }
  constexpr uint64_t kMiB = 1 << 20;
  const uint64_t free_now = free_bytes();
  ASSERT_GT(free_now, 20 * kMiB) << "the image is too small for the test";
  RunResult fill = run({"fallocate", "-l", std::to_string(free_now - 15 * kMiB), mnt + "/filler"});
  ASSERT_EQ(fill.exit_code, 0) << describe(fill);
  const uint64_t before = free_bytes();
  EXPECT_NEAR(static_cast<double>(before), 15.0 * kMiB, 256.0 * 1024) << "filled too far";

  // Above the floor nothing goes: the defaults keep all five (within 24h).
  json calm = run_json(box, {"forget", "--dry-run", "--min-free", "10M"});
  EXPECT_EQ(calm.at("removed"), json::array());
  EXPECT_EQ(calm.at("min_free").at("applied"), false);

  RunResult text = box.rw({"forget", "--dry-run", "--min-free", "20M"});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("below min_free"));
  EXPECT_THAT(text.out, HasSubstr("remove: min_free"));
  EXPECT_THAT(text.out, HasSubstr("once `rewind prune` runs"));

  json j = run_json(box, {"forget", "--min-free", "20M"});
  EXPECT_EQ(j.at("removed"), json(std::vector<int64_t>{ids[1], ids[2], ids[3]}));
  EXPECT_EQ(j.at("min_free").at("applied"), true);
  EXPECT_EQ(j.at("min_free").at("floor_bytes"), 20 * kMiB);
  EXPECT_GE(j.at("estimated_freed").get<uint64_t>(), 6 * kMiB);
  for (int64_t id : {ids[1], ids[2], ids[3]})
    EXPECT_EQ(decision(j, id).at("reasons"), json::array({"min_free"}));
  EXPECT_EQ(listed(box), (std::vector<int64_t>{ids[0], ids[4]}));
}

}  // namespace
}  // namespace rwd::itest
