// SPDX-License-Identifier: Apache-2.0
// Crash safety of `rewind rollback` (issue 3, "Crash" and "Faults"), on the
// multi-component fixture (a <- b <- c, and d on its own): the rollback is
// stopped at sampled mutating io calls, killed with SIGKILL at random
// moments, and has its power cut at sampled calls, for the full and the
// incremental scope; and EIO / ENOSPC are injected at writes, fsyncs,
// syncfs and renames. Each time `rewind recover` follows, and then
//   - every component equals, byte for byte and attribute for attribute
//     (rsync is the oracle), its state before the rollback or the point;
//   - a component is never at the point while one it depends on is not, and
//     a dependent stays before the point while its dependency moved only
//     when the report says it was not restored (skipped, failed, reverted);
//   - a component the report calls restored is at the point, one it calls
//     reverted, skipped or pending is as before;
//   - every service that was stopped was started again;
//   - `rewind verify` passes and a second `recover` finds nothing to do.
// The tests print how many runs ended in each state; both must occur. The
// sweeps over every call are in rollback_exhaustive_test.cc (label
// `exhaustive`), which includes this file for its helpers.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crash/crash_common.h"
#include "integration/rollback_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::kCrashExit;
using rwd::testing::read_file;
using rwd::testing::spread;

// Where a component is after an interrupted rollback.
enum class Side { kBefore, kPoint, kNeither };

const char* side_name(Side s) {
  switch (s) {
    case Side::kBefore:
      return "before";
    case Side::kPoint:
      return "point";
    case Side::kNeither:
      return "NEITHER";
  }
  return "?";
}

// (dependent, dependency) pairs of the fixture.
const std::vector<std::pair<std::string, std::string>>& dependency_edges() {
  static const std::vector<std::pair<std::string, std::string>> k = {{"b", "a"}, {"c", "b"}};
  return k;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The JSON document `text` holds, or else the last of its lines that parses
// as a JSON object (null when none).
json last_json(const std::string& text) {
  json whole = json::parse(text, nullptr, false);
  if (!whole.is_discarded() && whole.is_object()) return whole;
  std::istringstream in(text);
  json found;
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) found = std::move(j);
  }
  return found;
}

// A test property's name (an XML attribute name: no spaces).
std::string property_name(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// How many runs ended how, printed and recorded as test properties.
class Tally {
 public:
  void add(const std::string& what) { ++counts_[what]; }
  int operator[](const std::string& what) const {
    auto it = counts_.find(what);
    return it == counts_.end() ? 0 : it->second;
  }
  void print(const std::string& title, double seconds) const {
    std::string line = title + ":";
    for (const auto& [k, v] : counts_) line += " " + k + "=" + std::to_string(v);
    std::printf("%s (%.0f s)\n", line.c_str(), seconds);
    std::fflush(stdout);
    for (const auto& [k, v] : counts_)
      ::testing::Test::RecordProperty(property_name(title + " " + k), std::to_string(v));
  }

 private:
  std::map<std::string, int> counts_;
};

// One fixture: the four components populated, point `id` taken of them
// (copied to `point_copy`), then every component changed (copied to
// `before_copy`), and the repository as it then is (copied to `base_repo`).
// reset() brings the system root and the repository back to that state.
class RollbackCrash {
 public:
  explicit RollbackCrash(uint64_t seed, size_t big = 40 * 1024) {
    f.populate(seed, big);
    id = f.create();
    EXPECT_GT(id, 0);
    f.copy_all(point_copy);
    f.mutate();
    f.copy_all(before_copy);
    copy_tree(f.box.repo, base_repo);
    f.take_log();
  }

  // Old trees are renamed into a trash directory (cheap) and removed in
  // bulk now and then.
  void reset() {
    const std::string trash = f.box.dir.sub("trash");
    std::error_code ec;
    if (trashed_ >= 200) {
      std::filesystem::remove_all(trash, ec);
      trashed_ = 0;
    }
    std::filesystem::create_directories(trash);
    // Everything under /srv, including what a rollback may have left
    // beside the components.
    std::vector<std::filesystem::path> old;
    for (const auto& e : std::filesystem::directory_iterator(f.box.root + "/srv"))
      old.push_back(e.path());
    for (const auto& p : old)
      std::filesystem::rename(
          p, trash + "/" + std::to_string(++trashed_) + "-" + p.filename().string(), ec);
    std::filesystem::rename(f.box.repo, trash + "/" + std::to_string(++trashed_) + "repo", ec);
    std::filesystem::remove(f.log, ec);
    std::string script = "set -e; cp -a";
    for (const auto& c : fixture_components()) script += " '" + before_copy + "/" + c + "'";
    script += " '" + f.box.root + "/srv/'; cp -a '" + base_repo + "' '" + f.box.repo + "'";
    RunResult r = sh(script);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  // The rollback under test. One worker thread, so that the k-th call is
  // nearly always the same call (progress is written at most every 200 ms,
  // so those writes shift a little from run to run).
  std::vector<std::string> rollback_args(bool incremental, bool json_out = false) const {
    std::vector<std::string> a{"--repo", f.box.repo, "--root", f.box.root, "--threads", "1"};
    if (json_out) a.push_back("--json");
    a.insert(a.end(), {"rollback", std::to_string(id), "--yes"});
    if (incremental) a.insert(a.end(), {"--scope", "incremental"});
    return a;
  }

  RunResult faulty(const std::vector<std::string>& args, const std::string& spec) const {
    std::vector<std::string> argv{rwd::testing::rewind_faulty_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::filesystem::remove(report);
    return rwd::testing::run(argv, {{"REWIND_FAULT", spec}, {"REWIND_FAULT_REPORT", report}});
  }

  bool fired() const { return std::filesystem::exists(report); }
  std::string report_text() const {
    std::string s = read_file(report);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  // The mutating io calls of an uninterrupted rollback; afterwards every
  // component is at the point.
  uint64_t count_calls(bool incremental) {
    reset();
    RunResult r = faulty(rollback_args(incremental), "count");
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    for (const auto& c : fixture_components())
      EXPECT_EQ(f.diff_component(c, point_copy), "") << "uninterrupted rollback, component " << c;
    return std::stoull(read_file(report));
  }

  // How many calls of `op` an uninterrupted rollback makes: the n-th call
  // fails only if there is one, so search for the largest n that fires.
  uint64_t count_op_calls(bool incremental, const std::string& op) {
    auto fires = [&](uint64_t n) {
      reset();
      faulty(rollback_args(incremental), "fail:" + op + ":" + std::to_string(n) + ":EIO");
      return fired();
    };
    uint64_t lo = 0, hi = 1;  // fires(lo) (or lo == 0), !fires(hi)
    while (fires(hi)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1) {
      uint64_t mid = lo + (hi - lo) / 2;
      (fires(mid) ? lo : hi) = mid;
    }
    return lo;
  }

  Side side_of(const std::string& comp, std::string* why) const {
    std::string to_point = f.diff_component(comp, point_copy);
    if (to_point.empty()) return Side::kPoint;
    std::string to_before = f.diff_component(comp, before_copy);
    if (to_before.empty()) return Side::kBefore;
    *why = "differs from the point:\n" + to_point + "differs from its state before:\n" + to_before;
    return Side::kNeither;
  }

  // Checks the live components against the rules above; `results` are the
  // components' results from the report that ended the operation (empty
  // when no report names them). Returns "before", "point" or "split:..."
  // (independent components on different sides), or "MIXED" on a failure.
  std::string check_sides(const std::string& label,
                          const std::map<std::string, std::string>& results) const {
    // One rsync (or two) per component, the components in parallel.
    std::map<std::string, Side> side;
    std::map<std::string, std::string> whys;
    for (const auto& c : fixture_components()) {
      side[c] = Side::kNeither;
      whys[c] = "";
    }
    {
      std::vector<std::thread> workers;
      for (const auto& c : fixture_components())
        workers.emplace_back([&, c] { side.at(c) = side_of(c, &whys.at(c)); });
      for (auto& w : workers) w.join();
    }
    bool bad = false;
    // Nothing but the components beside them (no staging or temporary
    // directory left over).
    for (const auto& e : std::filesystem::directory_iterator(f.box.root + "/srv")) {
      const std::string name = e.path().filename().string();
      if (std::find(fixture_components().begin(), fixture_components().end(), name) ==
          fixture_components().end()) {
        bad = true;
        ADD_FAILURE() << label << ": left beside the components: /srv/" << name;
      }
    }
    for (const auto& c : fixture_components()) {
      const std::string& why = whys[c];
      if (side[c] == Side::kNeither) {
        bad = true;
        ADD_FAILURE() << label << ": component " << c
                      << " is neither its state before the rollback nor the point\n"
                      << why;
      }
    }
    auto result_of = [&](const std::string& c) {
      auto it = results.find(c);
      return it == results.end() ? std::string() : it->second;
    };
    std::string sides;
    for (const auto& c : fixture_components())
      sides +=
          c + "=" + side_name(side[c]) + (result_of(c).empty() ? "" : "/" + result_of(c)) + " ";
    for (const auto& [dependent, dependency] : dependency_edges()) {
      if (side[dependent] == side[dependency] || side[dependent] == Side::kNeither ||
          side[dependency] == Side::kNeither)
        continue;
      const std::string r = result_of(dependent);
      bool not_restored = r == "skipped" || r == "failed" || r == "reverted";
      if (side[dependency] == Side::kPoint && side[dependent] == Side::kBefore && not_restored)
        continue;
      bad = true;
      ADD_FAILURE() << label << ": " << dependent << " depends on " << dependency
                    << " but they disagree: " << sides;
    }
    for (const auto& [c, r] : results) {
      if (side[c] == Side::kNeither) continue;
      Side want = r == "restored" ? Side::kPoint : Side::kBefore;
      if (r != "restored" && r != "reverted" && r != "skipped" && r != "pending") continue;
      if (side[c] != want) {
        bad = true;
        ADD_FAILURE() << label << ": the report says " << c << " " << r << ", but it is "
                      << side_name(side[c]) << ": " << sides;
      }
    }
    if (bad) return "MIXED";
    std::set<Side> seen;
    for (const auto& [c, s] : side) seen.insert(s);
    if (seen.size() == 1) return side_name(*seen.begin());
    return "split:" + sides.substr(0, sides.size() - 1);
  }

  // Every service stopped in the log is started again after its last stop.
  void check_services(const std::string& label) const {
    std::map<std::string, bool> running;
    for (const auto& line : f.take_log()) {
      if (line.rfind("stop ", 0) == 0) running[line.substr(5)] = false;
      if (line.rfind("start ", 0) == 0) running[line.substr(6)] = true;
    }
    for (const auto& [svc, up] : running)
      EXPECT_TRUE(up) << label << ": service " << svc << " was stopped and not started again";
  }

  // The newest operation's state and phase as `rewind status` shows them
  // from another process ("no operation" when none was recorded).
  std::string status_line() const {
    RunResult r = f.rw({"--json", "status"});
    if (r.exit_code != 0) return "status failed (exit " + std::to_string(r.exit_code) + ")";
    json arr = json::parse(r.out, nullptr, false);  // newest first
    if (!arr.is_array()) return "status unreadable";
    if (arr.empty()) return "no operation";
    const json& j = arr.at(0);
    return j.value("state", "?") + " in " + j.value("phase", "?");
  }

  // `rewind recover`, then the checks; returns check_sides' verdict. The
  // components' results are those of the operation recover finished or
  // reverted, or, when there was none, `earlier` (those of the report that
  // ended the operation).
  std::string recover_and_check(const std::string& label,
                                const std::map<std::string, std::string>& earlier = {}) const {
    RunResult r = f.rw({"--json", "recover"});
    EXPECT_EQ(r.exit_code, 0) << label << ": recover: " << describe(r);
    std::map<std::string, std::string> results = earlier;
    json j = last_json(r.out);
    if (j.contains("recovered") && j["recovered"].is_array()) {
      EXPECT_LE(j["recovered"].size(), 1u) << label << ": " << r.out;
      if (!j["recovered"].empty()) results.clear();
      for (const auto& op : j["recovered"])
        for (const auto& c : op.value("components", json::array()))
          results[c.value("name", "")] = c.value("result", "");
    } else {
      ADD_FAILURE() << label << ": recover printed no report: " << describe(r);
    }
    std::string verdict = check_sides(label + " (after recover)", results);
    if (verdict == "MIXED") ADD_FAILURE() << label << ": the recover that left it so:\n" << r.out;
    check_services(label);
    RunResult v = f.rw({"verify"});
    EXPECT_EQ(v.exit_code, 0) << label << ": verify: " << describe(v);
    RunResult again = f.rw({"--json", "recover"});
    EXPECT_EQ(again.exit_code, 0) << label << ": second recover: " << describe(again);
    json j2 = last_json(again.out);
    EXPECT_TRUE(j2.contains("recovered") && j2["recovered"].is_array() && j2["recovered"].empty())
        << label << ": the second recover did something: " << again.out;
    return verdict;
  }

  MultiFixture f{"rewind-rbcrash"};
  const std::string point_copy = f.box.dir.sub("at-point");
  const std::string before_copy = f.box.dir.sub("changed");
  const std::string base_repo = f.box.dir.sub("base-repo");
  const std::string report = f.box.dir.sub("fault-report");
  int64_t id = 0;
  uint64_t trashed_ = 0;
};

const char* scope_name(bool incremental) { return incremental ? "incremental" : "full"; }

// The rollback is stopped (REWIND_FAULT=crash:K) or loses power
// (powerloss:K) before each k in `ks`; then recover and the checks. Returns
// the tally of outcomes.
Tally interrupt_at(RollbackCrash& t, bool incremental, const std::string& mode,
                   const std::vector<uint64_t>& ks) {
  Tally tally;
  for (uint64_t k : ks) {
    const std::string label =
        std::string(scope_name(incremental)) + " " + mode + ":" + std::to_string(k);
    t.reset();
    RunResult r = t.faulty(t.rollback_args(incremental), mode + ":" + std::to_string(k));
    std::string where;
    if (r.exit_code == 0 && !t.fired()) {
      // The number of calls varies a little from run to run (progress is
      // written at most every 200 ms): this run finished before call k.
      where = "finished before call " + std::to_string(k);
      tally.add("not-reached");
    } else {
      EXPECT_EQ(r.exit_code, kCrashExit) << label << ": " << describe(r);
      if (r.exit_code != kCrashExit) continue;
      where = t.report_text();  // "crashed at K OP" / "power lost at K OP"
    }
    std::string status = t.status_line();
    std::string verdict = t.recover_and_check(label + " (" + where + ", " + status + ")");
    tally.add(verdict.rfind("split", 0) == 0 ? "split" : verdict);
    if (verdict == "MIXED")
      std::printf("%s: %s; %s -> %s\n", label.c_str(), where.c_str(), status.c_str(),
                  verdict.c_str());
  }
  return tally;
}

// SIGKILL after a random delay in [0, T], T the length of an uninterrupted
// rollback, `runs` times; then recover and the checks.
[[maybe_unused]] Tally kill_at_random(RollbackCrash& t, bool incremental, uint32_t seed, int runs) {
  std::vector<std::string> args{rwd::testing::rewind_binary()};
  for (auto& a : t.rollback_args(incremental)) args.push_back(a);
  t.reset();
  auto t0 = std::chrono::steady_clock::now();
  RunResult full = rwd::testing::run(args);
  const auto span =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(full.exit_code, 0) << describe(full);
  std::printf("%s: seed %u, an uninterrupted rollback takes %lld us\n", scope_name(incremental),
              seed, static_cast<long long>(span));
  ::testing::Test::RecordProperty(std::string(scope_name(incremental)) + "_kill_seed",
                                  std::to_string(seed));
  std::mt19937 rng(seed);
  Tally tally;
  for (int i = 0; i < runs; ++i) {
    t.reset();
    const auto delay = static_cast<long long>(rng() % static_cast<uint32_t>(span + 1));
    const std::string label = std::string(scope_name(incremental)) + " kill " + std::to_string(i) +
                              " after " + std::to_string(delay) + " us";
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << label;
    if (rc != 0) continue;
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const bool killed = WIFSIGNALED(status);
    std::string st = t.status_line();
    std::string verdict = t.recover_and_check(label + " (" + st + ")");
    tally.add(verdict.rfind("split", 0) == 0 ? "split" : verdict);
    tally.add(killed ? "killed" : "finished-first");
    std::printf("%s: %s; %s -> %s\n", label.c_str(), killed ? "killed" : "had finished", st.c_str(),
                verdict.c_str());
  }
  return tally;
}

// The faults: the n-th call of `op` fails with `err`.
struct FaultRun {
  std::string spec;
  int exit_code = -1;
  std::string kind;         // the error kind the command reported
  std::string state;        // the operation's state in its report ("" when none)
  std::string right_after;  // check_sides' verdict right after the command
  std::string after_recover;
};

int specific_exit(const std::string& err) { return err == "ENOSPC" ? 8 : 9; }
std::string specific_kind(const std::string& err) { return err == "ENOSPC" ? "NoSpace" : "Io"; }

// The command exits with the error's own code (8 ENOSPC, 9 EIO), or 5 when
// it says `recover` is needed, or 3 (partial: a non-critical component
// failed with this very error, was reverted, its dependents skipped, as
// DESIGN.md's consistency groups say). The state is checked right after
// the command (the report's results apply) and after `recover`.
[[maybe_unused]] FaultRun fault_at(RollbackCrash& t, bool incremental, const std::string& op,
                                   uint64_t n, const std::string& err) {
  FaultRun fr;
  fr.spec = "fail:" + op + ":" + std::to_string(n) + ":" + err;
  const std::string label = std::string(scope_name(incremental)) + " " + fr.spec;
  t.reset();
  RunResult r = t.faulty(t.rollback_args(incremental, /*json_out=*/true), fr.spec);
  fr.exit_code = r.exit_code;
  json j = last_json(r.out);
  if (!t.fired() && r.exit_code == 0) {
    // The number of calls varies a little from run to run (progress is
    // written at most every 200 ms): this run made fewer than n.
    fr.state = "not reached";
    fr.right_after = fr.after_recover = t.recover_and_check(label);
    return fr;
  }
  EXPECT_TRUE(t.fired()) << label << ": the fault did not fire\n" << describe(r);
  if (r.exit_code == 0 && r.err.find("the audit log was not appended") != std::string::npos) {
    // The fault hit the audit log's append, after the rollback had completed:
    // the command reports its own result and warns; the system is at the point.
    fr.state = "audit";
    EXPECT_EQ(j.value("state", ""), "completed") << label << ": " << describe(r);
    fr.right_after = t.check_sides(label + " (audit append failed)", {});
    EXPECT_EQ(fr.right_after, "point") << label;
    fr.after_recover = t.recover_and_check(label);
    return fr;
  }
  std::map<std::string, std::string> results;
  if (j.contains("error") && j["error"].is_object()) fr.kind = j["error"].value("kind", "");
  if (j.contains("state") && j["state"].is_string()) fr.state = j["state"].get<std::string>();
  if (j.contains("components") && j["components"].is_array())
    for (const auto& c : j["components"]) results[c.value("name", "")] = c.value("result", "");
  const int want = specific_exit(err);
  bool failed_component = false;
  for (const auto& [c, res] : results) failed_component |= res == "reverted" || res == "failed";
  const bool ok = r.exit_code == want || r.exit_code == 5 ||
                  (r.exit_code == 3 && fr.kind == specific_kind(err) && failed_component);
  EXPECT_TRUE(ok) << label << ": exit " << r.exit_code << " is not the error's own code (" << want
                  << "), 5 (recover needed) or 3 (partial, with this error)\n"
                  << describe(r);
  if (r.exit_code == want || r.exit_code == 3) {
    EXPECT_EQ(fr.kind, specific_kind(err)) << label << ": " << describe(r);
  }
  fr.right_after = t.check_sides(label + " (right after the failed command)", results);
  fr.after_recover = t.recover_and_check(label, results);
  return fr;
}

[[maybe_unused]] void print_faults(const std::string& title, const std::vector<FaultRun>& runs) {
  std::printf("%s:\n", title.c_str());
  std::map<std::string, int> codes;
  for (const auto& fr : runs) {
    std::printf("  %-24s exit %3d  %-14s %-10s right after: %-8s after recover: %s\n",
                fr.spec.c_str(), fr.exit_code, fr.kind.c_str(),
                fr.state.empty() ? "-" : fr.state.c_str(), fr.right_after.substr(0, 8).c_str(),
                fr.after_recover.substr(0, 8).c_str());
    ++codes["exit " + std::to_string(fr.exit_code)];
  }
  for (const auto& [k, v] : codes)
    ::testing::Test::RecordProperty(property_name(title + " " + k), v);
  std::fflush(stdout);
}

}  // namespace
}  // namespace rwd::itest

#ifndef REWIND_ROLLBACK_CRASH_HELPERS_ONLY
namespace rwd::itest {
namespace {

// Calls sampled per scope: 50 spread evenly over 1..N reach every phase
// (safety point, journal, each component's restore, finalization).
constexpr uint64_t kCrashSamples = 50;
constexpr uint64_t kPowerLossSamples = 20;
constexpr int kKills = 10;

void crash_sample(bool incremental, uint64_t seed) {
  RollbackCrash t(seed);
  const uint64_t n = t.count_calls(incremental);
  ASSERT_GT(n, 50u);
  auto t0 = std::chrono::steady_clock::now();
  Tally tally = interrupt_at(t, incremental, "crash", spread(n, kCrashSamples));
  tally.print(std::string(scope_name(incremental)) + " crash sample of " +
                  std::to_string(std::min(n, kCrashSamples)) + " over " + std::to_string(n) +
                  " calls",
              seconds_since(t0));
  EXPECT_GT(tally["before"], 0) << "no run ended in the state before the rollback";
  EXPECT_GT(tally["point"], 0) << "no run ended at the recovery point";
}

TEST(RollbackCrash, FullScopeStoppedAtSampledCallsEndsBeforeOrAtThePoint) {
  crash_sample(false, 3);
}

TEST(RollbackCrash, IncrementalScopeStoppedAtSampledCallsEndsBeforeOrAtThePoint) {
  crash_sample(true, 4);
}

void kill_sample(bool incremental, uint32_t default_seed) {
  uint32_t seed = default_seed;
  if (const char* s = std::getenv("REWIND_SEED")) seed = static_cast<uint32_t>(std::stoul(s));
  RollbackCrash t(seed);
  auto t0 = std::chrono::steady_clock::now();
  Tally tally = kill_at_random(t, incremental, seed, kKills);
  tally.print(std::string(scope_name(incremental)) + " SIGKILL", seconds_since(t0));
  EXPECT_EQ(tally["MIXED"], 0);
}

TEST(RollbackCrash, FullScopeKilledAtRandomMomentsEndsBeforeOrAtThePoint) {
  kill_sample(false, 1234);
}

TEST(RollbackCrash, IncrementalScopeKilledAtRandomMomentsEndsBeforeOrAtThePoint) {
  kill_sample(true, 5678);
}

void power_loss_sample(bool incremental, uint64_t seed) {
  RollbackCrash t(seed);
  const uint64_t n = t.count_calls(incremental);
  ASSERT_GT(n, 20u);
  auto t0 = std::chrono::steady_clock::now();
  Tally tally = interrupt_at(t, incremental, "powerloss", spread(n, kPowerLossSamples));
  tally.print(std::string(scope_name(incremental)) + " power-loss sample of " +
                  std::to_string(std::min(n, kPowerLossSamples)) + " over " + std::to_string(n) +
                  " calls",
              seconds_since(t0));
  EXPECT_GT(tally["before"], 0);
  EXPECT_GT(tally["point"], 0);
}

TEST(RollbackPowerLoss, FullScopeLosingUnsyncedDataEndsBeforeOrAtThePoint) {
  power_loss_sample(false, 5);
}

TEST(RollbackPowerLoss, IncrementalScopeLosingUnsyncedDataEndsBeforeOrAtThePoint) {
  power_loss_sample(true, 6);
}

// The first, a middle and the last `op` call of a full-scope rollback fails
// with EIO, then with ENOSPC.
void faults_at(const std::string& op, uint64_t seed) {
  RollbackCrash t(seed);
  auto t0 = std::chrono::steady_clock::now();
  const uint64_t calls = t.count_op_calls(false, op);
  std::printf("full scope: %llu %s calls\n", static_cast<unsigned long long>(calls), op.c_str());
  ::testing::Test::RecordProperty(op + "_calls", std::to_string(calls));
  ASSERT_GT(calls, 0u) << op;
  std::vector<FaultRun> runs;
  for (uint64_t n : spread(calls, 3))
    for (std::string err : {"EIO", "ENOSPC"}) runs.push_back(fault_at(t, false, op, n, err));
  print_faults("full-scope " + op + " faults", runs);
  std::printf("%s faults: %zu runs, %.0f s\n", op.c_str(), runs.size(), seconds_since(t0));
}

TEST(RollbackFaults, WriteFailingEndsInItsOwnErrorAndNeverInAMix) { faults_at("write", 9); }
TEST(RollbackFaults, FsyncFailingEndsInItsOwnErrorAndNeverInAMix) { faults_at("fsync", 10); }
TEST(RollbackFaults, SyncfsFailingEndsInItsOwnErrorAndNeverInAMix) { faults_at("syncfs", 11); }
TEST(RollbackFaults, RenameFailingEndsInItsOwnErrorAndNeverInAMix) { faults_at("rename", 12); }

}  // namespace
}  // namespace rwd::itest
#endif  // REWIND_ROLLBACK_CRASH_HELPERS_ONLY
