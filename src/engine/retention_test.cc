// SPDX-License-Identifier: Apache-2.0
// The retention policy (engine/retention.h) on a synthetic catalog of points
// across two years, rule by rule against a table, and the keep_* rules
// against restic 0.14 (`forget --dry-run --json` on snapshots made with
// `backup --time` at the same times).
#include "engine/retention.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "io/process.h"
#include "support/test_support.h"

namespace rwd::engine {
namespace {

using Ids = std::set<int64_t>;

int64_t at(int y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s = 0) {
  using namespace std::chrono;
  const sys_days date{year{y} / month{mo} / day{d}};
  return duration_cast<nanoseconds>(date.time_since_epoch() + hours(h) + minutes(mi) + seconds(s))
      .count();
}

RetentionDecision point(int64_t id, int64_t time_ns, std::string kind, bool pinned = false,
                        int64_t pre = 0) {
  RetentionDecision p;
  p.id = id;
  p.time_ns = time_ns;
  p.kind = std::move(kind);
  p.pinned = pinned;
  p.pre_id = pre;
  return p;
}

// The catalog: two years of points of every kind, with a pinned point, two
// pre/post pairs and a lone pre point, two points in one hour, one day with
// several points, and the ISO week that spans New Year (2024-12-30 and
// 2025-01-01 are both in 2025-W01). The newest is 22. All in the past:
// restic's keep-within passes over points later than the clock.
std::vector<RetentionDecision> catalog() {
  return {
      point(1, at(2024, 1, 1, 9, 0), "single"),
      point(2, at(2024, 1, 1, 18, 0), "single"),
      point(3, at(2024, 3, 15, 12, 0), "timeline"),
      point(4, at(2024, 6, 27, 23, 30), "single", /*pinned=*/true),
      point(5, at(2024, 6, 28, 0, 30), "auto"),
      point(6, at(2024, 12, 30, 10, 0), "single"),
      point(7, at(2025, 1, 1, 10, 0), "single"),
      point(8, at(2025, 2, 10, 8, 0), "pre"),
      point(9, at(2025, 2, 10, 8, 20), "post", false, 8),
      point(10, at(2025, 5, 5, 12, 0), "safety"),
      point(11, at(2025, 9, 1, 6, 0), "timeline"),
      point(12, at(2025, 11, 20, 10, 0), "pre"),
      point(13, at(2025, 11, 20, 10, 30), "post", false, 12),
      point(14, at(2025, 11, 24, 8, 0), "auto"),
      point(15, at(2025, 11, 24, 8, 40), "auto"),
      point(16, at(2025, 11, 24, 9, 10), "auto"),
      point(17, at(2025, 11, 24, 20, 0), "single"),
      point(18, at(2025, 11, 25, 1, 0), "timeline"),
      point(19, at(2025, 11, 25, 6, 0), "pre"),  // its run has no post point yet
      point(20, at(2025, 11, 25, 7, 0), "safety"),
      point(21, at(2025, 11, 25, 8, 0), "timeline"),
      point(22, at(2025, 11, 25, 9, 0), "single"),
  };
}

// Every rule off: only what is always kept remains.
RetentionPolicy nothing() {
  RetentionPolicy p;
  p.keep_last = 0;
  p.keep_within_ns = 0;
  p.max_per_kind = 0;
  return p;
}

Ids kept(const RetentionReport& r) {
  Ids out;
  for (const auto& d : r.points)
    if (d.keep) out.insert(d.id);
  return out;
}

const RetentionDecision& of(const RetentionReport& r, int64_t id) {
  for (const auto& d : r.points)
    if (d.id == id) return d;
  ADD_FAILURE() << "no point " << id;
  return r.points.front();
}

struct Row {
  const char* rule;
  RetentionPolicy policy;
  Ids want;
};

// Each rule alone (every other rule off), then combined. Pinned 4 and the
// newest point 22 are in every row; a kept post brings its pre.
TEST(Retention, SyntheticCatalogKeepsExactlyWhatTheTableSays) {
  auto with = [](auto set) {
    RetentionPolicy p = nothing();
    set(p);
    return p;
  };
  constexpr int64_t kHour = 3600'000'000'000;
  const std::vector<Row> table = {
      {"nothing: pinned and the newest", nothing(), {4, 22}},
      {"keep_last 3", with([](auto& p) { p.keep_last = 3; }), {4, 20, 21, 22}},
      // Strictly after 2025-11-24 09:00: 16 (09:10) is in, 15 (08:40) not.
      {"keep_within 24h",
       with([&](auto& p) { p.keep_within_ns = 24 * kHour; }),
       {4, 16, 17, 18, 19, 20, 21, 22}},
      // 14 and 15 share 2025-11-24T08: 15, the newer, is that hour's.
      {"keep_hourly 8",
       with([](auto& p) { p.keep_hourly = 8; }),
       {4, 15, 16, 17, 18, 19, 20, 21, 22}},
      // 13 (a post) brings its pre 12.
      {"keep_daily 3", with([](auto& p) { p.keep_daily = 3; }), {4, 12, 13, 17, 22}},
      // ISO weeks: 6 (2024-12-30) and 7 (2025-01-01) are both 2025-W01, 4
      // and 5 both 2024-W26, 14 to 22 all 2025-W48.
      {"keep_weekly 9",
       with([](auto& p) { p.keep_weekly = 9; }),
       {2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 22}},
      {"keep_monthly 4", with([](auto& p) { p.keep_monthly = 4; }), {4, 8, 9, 10, 11, 22}},
      // 6 (2024-12-30) is 2024's newest, whatever its ISO week.
      {"keep_yearly 3", with([](auto& p) { p.keep_yearly = 3; }), {4, 6, 22}},
      // The defaults: last 10 (13..22) with within 24h (16..22); no kind
      // reaches 5; 12 as the pre of 13.
      {"defaults", RetentionPolicy{}, {4, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}},
      // max_per_kind 2: auto 16, 15 stay and 14 goes; timeline 21, 18;
      // pre/post 19 (lone) and the pair 12/13 count two.
      {"defaults, max_per_kind 2",
       with([&](auto& p) {
         p = RetentionPolicy{};
         p.max_per_kind = 2;
       }),
       {4, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22}},
      // max_per_kind 1: auto 16, timeline 21, safety 20, pre/post 19; the
      // pair 12/13 goes whole. single (17, 22) is not capped.
      {"defaults, max_per_kind 1",
       with([&](auto& p) {
         p = RetentionPolicy{};
         p.max_per_kind = 1;
       }),
       {4, 16, 17, 19, 20, 21, 22}},
  };
  for (const Row& row : table) {
    RetentionReport r = decide_retention(catalog(), row.policy, {}, std::nullopt);
    EXPECT_EQ(kept(r), row.want) << row.rule;
    Ids removed(r.removed.begin(), r.removed.end());
    EXPECT_EQ(removed.size() + row.want.size(), 22u) << row.rule;
    for (int64_t id : row.want) EXPECT_FALSE(removed.contains(id)) << row.rule << ": " << id;
  }
}

// The reasons name the rules, as `forget` prints them.
TEST(Retention, ReasonsNameTheRulesThatKeepOrRemove) {
  RetentionPolicy p;
  p.max_per_kind = 2;
  p.keep_daily = 2;
  RetentionReport r = decide_retention(catalog(), p, {}, std::nullopt);
  EXPECT_THAT(of(r, 22).reasons, ::testing::ElementsAre("within 1d", "last 1", "daily 2025-11-25",
                                                        "newest that verifies"));
  EXPECT_THAT(of(r, 17).reasons, ::testing::ElementsAre("within 1d", "last 6", "daily 2025-11-24"));
  EXPECT_THAT(of(r, 14).reasons, ::testing::ElementsAre("max_per_kind: more than 2 auto kept"));
  EXPECT_THAT(of(r, 12).reasons, ::testing::ElementsAre("pre of kept 13"));
  EXPECT_THAT(of(r, 4).reasons, ::testing::ElementsAre("pinned"));
  EXPECT_TRUE(of(r, 1).reasons.empty());
  EXPECT_FALSE(of(r, 1).keep);
  // Oldest first, as listed.
  EXPECT_EQ(r.points.front().id, 1);
  EXPECT_EQ(r.removed, (std::vector<int64_t>{1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 14}));
}

// A pinned pair does not count against max_per_kind, and a pinned post
// keeps its pre.
TEST(Retention, PinnedPostKeepsItsPreAndIsNotCounted) {
  auto pts = catalog();
  pts[8].pinned = true;  // post 9
  RetentionPolicy p;
  p.max_per_kind = 1;
  RetentionReport r = decide_retention(pts, p, {}, std::nullopt);
  EXPECT_EQ(kept(r), (Ids{4, 8, 9, 16, 17, 19, 20, 21, 22}));
  EXPECT_THAT(of(r, 8).reasons, ::testing::ElementsAre("pre of kept 9"));
}

// The newest point that verifies is kept; a damaged newer one is reported
// and the policy still applies to it.
TEST(Retention, NewestThatVerifiesIsKeptAndDamagedPointsAreReported) {
  auto pts = catalog();
  pts[21].damaged = "component etc: needs chunk ab12, which is missing";
  pts[20].damaged = "component etc: manifest page: bad checksum";
  RetentionReport r = decide_retention(pts, nothing(), {}, std::nullopt);
  EXPECT_EQ(kept(r), (Ids{4, 20}));
  EXPECT_THAT(of(r, 20).reasons, ::testing::ElementsAre("newest that verifies"));
  EXPECT_THAT(r.notes, ::testing::Contains(::testing::HasSubstr(
                           "damaged: recovery point 22: component etc: needs chunk ab12")));
  EXPECT_THAT(r.notes, ::testing::Contains(::testing::HasSubstr("damaged: recovery point 21")));
}

// Points an unfinished operation needs stay.
TEST(Retention, PointsOfAnUnfinishedOperationAreKept) {
  RetentionReport r = decide_retention(catalog(), nothing(), {{8, 3}, {10, 3}}, std::nullopt);
  EXPECT_EQ(kept(r), (Ids{4, 8, 10, 22}));
  EXPECT_THAT(of(r, 8).reasons, ::testing::ElementsAre("in use by operation 3"));
}

// A point held for a reason (the pre point of an unconfirmed change) stays
// whatever the rules say, min_free included, and says why.
TEST(Retention, HeldPointsAreKeptEvenBelowMinFree) {
  auto pts = catalog();
  for (auto& p : pts) p.unique = 50;
  RetentionPolicy p = nothing();
  p.min_free = FreeSpaceFloor{100000, 0};
  RetentionReport r = decide_retention(pts, p, {}, FileSystemSpace{100, 10000},
                                       {{8, "pre of unconfirmed change (confirmation 1)"}});
  EXPECT_EQ(kept(r), (Ids{4, 8, 22}));
  EXPECT_THAT(of(r, 8).reasons,
              ::testing::ElementsAre("pre of unconfirmed change (confirmation 1)"));
}

// min_free: below the floor, the oldest units go (the pair 12/13 together)
// until the free space plus the unique bytes of everything removed reaches
// it; pinned 4 and the newest stay. Above it, min_free changes nothing.
TEST(Retention, MinFreeRemovesTheOldestUnpinnedPointsUntilTheEstimateReachesTheFloor) {
  auto pts = catalog();
  for (auto& p : pts) p.unique = 50;
  RetentionPolicy p;  // the defaults remove 10 points: 500 bytes
  p.min_free = FreeSpaceFloor{1000, 0};
  RetentionReport r = decide_retention(pts, p, {}, FileSystemSpace{100, 10000});
  EXPECT_TRUE(r.min_free_applied);
  EXPECT_EQ(kept(r), (Ids{4, 20, 21, 22}));
  EXPECT_THAT(of(r, 12).reasons, ::testing::ElementsAre("min_free"));
  EXPECT_THAT(of(r, 13).reasons, ::testing::ElementsAre("min_free"));
  EXPECT_EQ(r.estimated_freed, 18u * 50);
  EXPECT_EQ(r.floor_bytes, 1000u);
  EXPECT_THAT(r.notes, ::testing::Contains(::testing::HasSubstr("below min_free")));

  p.min_free = FreeSpaceFloor{0, 10};  // 10% of 10000
  EXPECT_EQ(kept(decide_retention(pts, p, {}, FileSystemSpace{100, 10000})), (Ids{4, 20, 21, 22}));

  p.min_free = FreeSpaceFloor{1000, 0};
  RetentionReport above = decide_retention(pts, p, {}, FileSystemSpace{5000, 10000});
  EXPECT_FALSE(above.min_free_applied);
  EXPECT_EQ(kept(above), (Ids{4, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}));

  // Nothing but pinned and the newest left: still below, and it says so.
  p.min_free = FreeSpaceFloor{2000, 0};
  RetentionReport floor_only = decide_retention(pts, p, {}, FileSystemSpace{0, 10000});
  EXPECT_EQ(kept(floor_only), (Ids{4, 22}));
  EXPECT_THAT(floor_only.notes, ::testing::Contains(::testing::HasSubstr("still below min_free")));
}

TEST(Retention, FormatsDurationsInSystemdUnits) {
  EXPECT_EQ(format_duration(24ll * 3600'000'000'000), "1d");
  EXPECT_EQ(format_duration(5400'000'000'000), "1h 30min");
  EXPECT_EQ(format_duration(0), "0");
}

// --- restic 0.14 as the peer, for the keep_* rules ---

std::string restic_time(int64_t ns) {
  using namespace std::chrono;
  const sys_seconds t{duration_cast<seconds>(nanoseconds(ns))};
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  const hh_mm_ss hms{t - d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld:%02lld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

// restic's JSON form of a time (UTC, whole seconds).
std::string rfc3339(int64_t ns) {
  std::string t = restic_time(ns);
  t[10] = 'T';
  return t + "Z";
}

class ResticPeer {
 public:
  explicit ResticPeer(const std::vector<int64_t>& times) {
    std::filesystem::create_directories(dir_.sub("src"));
    testing::write_file(dir_.sub("src/file"), "tiny source");
    // restic works in local time: UTC here, as rewind.
    env_ = {"RESTIC_PASSWORD=rewind-test", "TZ=UTC", "RESTIC_CACHE_DIR=" + dir_.sub("cache")};
    run({"restic", "-q", "-r", dir_.sub("repo"), "init"});
    // A few backups at a time (backups share restic's lock; one at a time
    // would make this test slow); one that loses a lock race is retried.
    std::string times_text;
    for (int64_t t : times) times_text += restic_time(t) + "\n";
    testing::write_file(dir_.sub("times"), times_text);
    const std::string backup = "restic -q -r '" + dir_.sub("repo") +
                               "' backup --host rewind-test --time \"$1\" '" + dir_.sub("src") +
                               "'";
    testing::write_file(dir_.sub("backup.sh"), backup + " || { sleep 1; " + backup + "; }\n");
    run({"sh", "-c",
         "xargs -d '\\n' -P 4 -n 1 sh '" + dir_.sub("backup.sh") + "' < '" + dir_.sub("times") +
             "'"});
    // Every time is there, once.
    auto snaps = nlohmann::json::parse(
        run({"restic", "-q", "-r", dir_.sub("repo"), "snapshots", "--json"}), nullptr, false);
    std::multiset<std::string> have;
    if (snaps.is_array())
      for (const auto& sn : snaps) have.insert(sn.at("time").get<std::string>());
    std::multiset<std::string> want;
    for (int64_t t : times) want.insert(rfc3339(t));
    EXPECT_EQ(have, want) << "restic did not make every snapshot";
  }

  // The times (restic's RFC 3339) restic keeps under `flags`.
  std::set<std::string> kept(const std::vector<std::string>& flags) {
    std::vector<std::string> argv{"restic", "-r",        dir_.sub("repo"),
                                  "forget", "--dry-run", "--json"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto j = nlohmann::json::parse(run(argv), nullptr, false);
    std::set<std::string> out;
    EXPECT_TRUE(j.is_array() && j.size() == 1) << j.dump();
    if (j.is_array() && !j.empty())
      for (const auto& s : j[0].value("keep", nlohmann::json::array()))
        out.insert(s.at("time").get<std::string>());
    return out;
  }

 private:
  std::string run(const std::vector<std::string>& argv) {
    io::ProcessOptions o;
    o.env = env_;
    o.timeout = std::chrono::seconds(300);
    o.stdout_path = dir_.sub("out");
    auto r = io::run_process(argv, o);
    std::string cmd;
    for (const auto& a : argv) cmd += " " + a.substr(0, 60);
    EXPECT_TRUE(r && r->exit_code == 0) << cmd << ": " << (r ? r->output : r.error().message());
    return testing::read_file(dir_.sub("out"));
  }
  testing::TempDir dir_{"rewind-restic"};
  std::vector<std::string> env_;
};

std::set<std::string> rewind_kept(const std::vector<int64_t>& times, const RetentionPolicy& p) {
  std::vector<RetentionDecision> pts;
  for (size_t i = 0; i < times.size(); ++i)
    pts.push_back(point(static_cast<int64_t>(i + 1), times[i], "single"));
  std::set<std::string> out;
  for (const auto& d : decide_retention(pts, p, {}, std::nullopt).points)
    if (d.keep) out.insert(rfc3339(d.time_ns));
  return out;
}

struct PeerCase {
  std::vector<std::string> restic;
  RetentionPolicy rewind;
};

std::vector<PeerCase> peer_cases() {
  auto with = [](auto set) {
    RetentionPolicy p = nothing();
    set(p);
    return p;
  };
  return {
      {{"--keep-last", "3"}, with([](auto& p) { p.keep_last = 3; })},
      {{"--keep-within", "24h"}, with([](auto& p) { p.keep_within_ns = 24 * 3600'000'000'000; })},
      {{"--keep-within", "30d"},
       with([](auto& p) { p.keep_within_ns = 30 * 24 * 3600'000'000'000; })},
      {{"--keep-hourly", "8"}, with([](auto& p) { p.keep_hourly = 8; })},
      {{"--keep-daily", "5"}, with([](auto& p) { p.keep_daily = 5; })},
      {{"--keep-weekly", "9"}, with([](auto& p) { p.keep_weekly = 9; })},
      {{"--keep-monthly", "6"}, with([](auto& p) { p.keep_monthly = 6; })},
      {{"--keep-yearly", "3"}, with([](auto& p) { p.keep_yearly = 3; })},
      {{"--keep-last", "2", "--keep-daily", "4", "--keep-weekly", "3", "--keep-monthly", "5",
        "--keep-yearly", "2"},
       with([](auto& p) {
         p.keep_last = 2;
         p.keep_daily = 4;
         p.keep_weekly = 3;
         p.keep_monthly = 5;
         p.keep_yearly = 2;
       })},
      {{"--keep-hourly", "30", "--keep-within", "48h"}, with([](auto& p) {
         p.keep_hourly = 30;
         p.keep_within_ns = 48 * 3600'000'000'000;
       })},
  };
}

// The synthetic catalog's times plus a seeded random two years, through
// restic and through rewind: the same points are kept, rule by rule.
TEST(Retention, KeepRulesAgreeWithRestic014) {
  if (!std::filesystem::exists("/usr/bin/restic")) GTEST_SKIP() << "restic is not installed";
  std::vector<int64_t> times;
  for (const auto& p : catalog()) times.push_back(p.time_ns);
  const uint64_t seed = 6;
  std::mt19937_64 rng(seed);
  const int64_t start = at(2024, 1, 1, 0, 0);
  const int64_t span_s = (at(2025, 11, 20, 0, 0) - start) / 1'000'000'000;
  // Mostly spread over the two years, some bunched in the days after the
  // catalog's newest (hours and days with several points).
  for (int i = 0; i < 12; ++i) {
    const int64_t s = i < 7 ? static_cast<int64_t>(rng() % span_s)
                            : static_cast<int64_t>(rng() % (3 * 86400)) +
                                  (at(2025, 11, 26, 0, 0) - start) / 1'000'000'000;
    times.push_back(start + s * 1'000'000'000);
  }
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  ResticPeer peer(times);
  for (const auto& c : peer_cases()) {
    std::string flags;
    for (const auto& f : c.restic) flags += " " + f;
    EXPECT_EQ(rewind_kept(times, c.rewind), peer.kept(c.restic)) << "seed " << seed << ":" << flags;
  }
}

}  // namespace
}  // namespace rwd::engine
