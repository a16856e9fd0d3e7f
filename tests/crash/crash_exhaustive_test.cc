// SPDX-License-Identifier: Apache-2.0
// The full crash sweeps (label `exhaustive`, run by hand before an issue is
// resolved: ctest -L exhaustive): `create` stopped at every one of its N
// mutating io calls and with power lost at every one, and an in-place
// `restore` stopped at every one of its mutating calls. crash_test.cc samples
// the same sweeps for the normal suite. The tree is the size of
// CrashFixture::set_up's (120 small files, multi-chunk files), with a
// symlink, nested directories and deletions added; all three sweeps take a
// few minutes.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "crash/crash_common.h"

namespace rwd::testing {
namespace {

namespace fs = std::filesystem;

std::string file_path(const std::string& root, int i) {
  return root + "/data/d" + std::to_string(i % 7) + "/s" + std::to_string(i % 2) + "/f" +
         std::to_string(i);
}

// The tree; point 1 of it in base_repo; then the tree is changed (contents,
// a deleted file, a new file, a retargeted symlink, a mode).
void set_up_tree(CrashFixture& f, uint64_t seed) {
  for (int i = 0; i < 120; ++i)
    write_file(file_path(f.root, i), random_bytes(static_cast<size_t>((i * 977) % 20000),
                                                  seed + static_cast<uint64_t>(i)));
  write_file(f.root + "/data/big1", random_bytes(3 << 20, seed + 1000));
  write_file(f.root + "/data/empty", "");
  fs::create_symlink("d0/s0/f0", f.root + "/data/link");
  RunResult r = rewind({"--repo", f.base_repo, "--root", f.root, "init", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = rewind({"--repo", f.base_repo, "--root", f.root, "create", "--path", "/data", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int i = 0; i < 120; i += 9)
    write_file(file_path(f.root, i), random_bytes(5000, seed + 5000 + static_cast<uint64_t>(i)));
  // big1 keeps its first chunk and changes its tail.
  std::string big = read_file(f.root + "/data/big1");
  write_file(f.root + "/data/big1", big.substr(0, 1 << 20) + random_bytes(1 << 20, seed + 3000),
             0600);
  fs::remove(file_path(f.root, 7));
  write_file(f.root + "/data/empty", "no longer empty");
  fs::remove(f.root + "/data/link");
  fs::create_symlink("d1/s1/f1", f.root + "/data/link");
  write_file(f.root + "/data/big2", random_bytes(2 << 20, seed + 2000));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(CreateCrashExhaustive, StoppedAtEveryCallLeavesNoPartialPoint) {
  // create is stopped before each of its N mutating calls, k = 1..N; each
  // time the repository verifies, point 1 is intact and point 2 is wholly
  // there or absent.
  CrashFixture f;
  set_up_tree(f, 42);
  uint64_t n = f.count_calls(f.create_args());
  ASSERT_GT(n, 10u);
  auto t0 = std::chrono::steady_clock::now();
  int present = 0, absent = 0;
  for (uint64_t k = 1; k <= n; ++k) {
    f.fresh_work_repo();
    RunResult r = f.faulty(f.create_args(), "crash:" + std::to_string(k));
    ASSERT_EQ(r.exit_code, kCrashExit) << "k=" << k << ": " << r.err;
    ASSERT_EQ(read_file(f.report).rfind("crashed at " + std::to_string(k) + " ", 0), 0u)
        << read_file(f.report);
    (f.check_consistent("k=" + std::to_string(k)) ? present : absent)++;
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("create crash sweep: %llu calls, point survived %d, absent %d, %.0f s\n",
              static_cast<unsigned long long>(n), present, absent, seconds_since(t0));
  EXPECT_GT(present, 0);
  EXPECT_GT(absent, 0);
}

TEST(CreatePowerLossExhaustive, LosingUnsyncedDataAtEveryCallLeavesNoPartialPoint) {
  // Power is lost before each of create's N mutating calls (unsynced data
  // and directory entries dropped); each time the repository verifies and
  // point 2 is whole or absent.
  CrashFixture f;
  set_up_tree(f, 99);
  uint64_t n = f.count_calls(f.create_args());
  ASSERT_GT(n, 10u);
  auto t0 = std::chrono::steady_clock::now();
  int present = 0, absent = 0;
  for (uint64_t k = 1; k <= n; ++k) {
    f.fresh_work_repo();
    RunResult r = f.faulty(f.create_args(), "powerloss:" + std::to_string(k));
    ASSERT_EQ(r.exit_code, kCrashExit) << "k=" << k << ": " << r.err;
    (f.check_consistent("power loss at k=" + std::to_string(k)) ? present : absent)++;
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("create power-loss sweep: %llu calls, point survived %d, absent %d, %.0f s\n",
              static_cast<unsigned long long>(n), present, absent, seconds_since(t0));
  EXPECT_GT(present, 0);
  EXPECT_GT(absent, 0);
}

// What is at each path beneath `dir`: "D" for a directory, "L:target" for a
// symlink, "F:bytes" for a file, "?" for anything else. Temporary files
// (".rw-tmp-*") are counted, not listed.
std::map<std::string, std::string> snapshot(const std::string& dir, int* temps = nullptr) {
  std::map<std::string, std::string> out;
  if (temps) *temps = 0;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->path().filename().string().rfind(".rw-tmp-", 0) == 0) {
      if (temps) ++*temps;
      continue;
    }
    fs::file_status st = it->symlink_status();
    if (fs::is_symlink(st))
      out[rel] = "L:" + fs::read_symlink(it->path()).string();
    else if (fs::is_directory(st))
      out[rel] = "D";
    else if (fs::is_regular_file(st))
      out[rel] = "F:" + read_file(it->path().string());
    else
      out[rel] = "?";
  }
  return out;
}

// rsync's itemized differences, without the lines about temporary files.
std::string diff_without_temps(const std::string& a, const std::string& b) {
  std::string diff = tree_diff(a, b), out;
  size_t pos = 0;
  while (pos < diff.size()) {
    size_t nl = diff.find('\n', pos);
    if (nl == std::string::npos) nl = diff.size();
    std::string line = diff.substr(pos, nl - pos);
    if (line.find(".rw-tmp-") == std::string::npos) out += line + "\n";
    pos = nl + 1;
  }
  return out;
}

TEST(RestoreCrashExhaustive, StoppedAtEveryCallLeavesEachFileOldOrNew) {
  // An in-place restore of point 1 over the changed tree is stopped before
  // each of its N mutating calls; afterwards every path holds either what it
  // held before the restore or the point's version (no third state, no
  // half-written file), and a second, uninterrupted restore makes the tree
  // equal to the point. Temporary files left behind are counted and printed.
  CrashFixture f;
  set_up_tree(f, 7);
  const std::string changed = f.tmp.sub("changed");
  const std::string point = f.tmp.sub("point");
  ASSERT_EQ(run({"cp", "-a", f.root, changed}).exit_code, 0);
  RunResult r =
      rewind({"--repo", f.base_repo, "--root", f.root, "restore", "1", "--to", point, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto before = snapshot(changed + "/data");
  const auto after = snapshot(point + "/data");
  ASSERT_NE(before, after);

  // One worker thread, so that the k-th call is the same call on every run.
  const std::vector<std::string> args{"--repo", f.work_repo, "--root", f.root, "--threads",
                                      "1",      "restore",   "1",      "-q"};
  auto reset_tree = [&] {
    ASSERT_EQ(run({"rm", "-rf", f.root}).exit_code, 0);
    ASSERT_EQ(run({"cp", "-a", changed, f.root}).exit_code, 0);
    f.fresh_work_repo();
  };
  // Restore never deletes what the point lacks: big2 stays as it was, and
  // is taken out before the tree is compared with the point.
  auto same_after_restore = [&](const std::string& label) {
    EXPECT_EQ(read_file(f.root + "/data/big2"), read_file(changed + "/data/big2")) << label;
    fs::remove(f.root + "/data/big2");
    std::string diff = diff_without_temps(f.root + "/data", point + "/data");
    EXPECT_EQ(diff, "") << label;
    return diff.empty();
  };
  reset_tree();
  r = f.faulty(args, "count");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t n = std::stoull(read_file(f.report));
  ASSERT_GT(n, 10u);
  ASSERT_TRUE(same_after_restore("uninterrupted"));

  auto t0 = std::chrono::steady_clock::now();
  uint64_t runs_with_temps = 0, temps_total = 0, temps_after_second = 0, mixed = 0;
  for (uint64_t k = 1; k <= n; ++k) {
    const std::string label = "restore k=" + std::to_string(k);
    reset_tree();
    r = f.faulty(args, "crash:" + std::to_string(k));
    ASSERT_EQ(r.exit_code, kCrashExit) << label << ": " << r.err;
    int temps = 0;
    const auto now = snapshot(f.root + "/data", &temps);
    if (temps > 0) ++runs_with_temps;
    temps_total += static_cast<uint64_t>(temps);
    bool all_old = true, all_new = true;
    std::set<std::string> paths;
    for (const auto* m : {&before, &after, &now})
      for (const auto& [p, v] : *m) paths.insert(p);
    for (const std::string& p : paths) {
      auto get = [&](const std::map<std::string, std::string>& m) -> std::optional<std::string> {
        auto it = m.find(p);
        if (it == m.end()) return std::nullopt;
        return it->second;
      };
      std::optional<std::string> cur = get(now), old_v = get(before), new_v = get(after);
      all_old = all_old && cur == old_v;
      all_new = all_new && cur == new_v;
      EXPECT_TRUE(cur == old_v || cur == new_v)
          << label << ": '" << p << "' is neither its state before the restore nor the point's"
          << (cur ? " (" + std::to_string(cur->size()) + " bytes of state)" : " (absent)");
    }
    if (!all_old && !all_new) ++mixed;

    // An in-place restore is an engine operation: the interrupted one is
    // finished (or found to have changed nothing) by `recover` first, and
    // every other writer refuses until then.
    r = rewind({"--repo", f.work_repo, "--root", f.root, "restore", "1", "-q"});
    if (r.exit_code == 5) {
      r = rewind({"--repo", f.work_repo, "--root", f.root, "recover", "-q"});
      ASSERT_EQ(r.exit_code, 0) << label << ": recover: " << r.err;
      r = rewind({"--repo", f.work_repo, "--root", f.root, "restore", "1", "-q"});
    }
    ASSERT_EQ(r.exit_code, 0) << label << ": second restore: " << r.err;
    EXPECT_TRUE(same_after_restore(label));
    int left = 0;
    snapshot(f.root + "/data", &left);
    temps_after_second += static_cast<uint64_t>(left);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf(
      "restore crash sweep: %llu calls, %.0f s; %llu runs stopped between old and new tree; "
      "%llu runs left temporary files (%llu in all), %llu still there after the second restore\n",
      static_cast<unsigned long long>(n), seconds_since(t0), static_cast<unsigned long long>(mixed),
      static_cast<unsigned long long>(runs_with_temps),
      static_cast<unsigned long long>(temps_total),
      static_cast<unsigned long long>(temps_after_second));
}

}  // namespace
}  // namespace rwd::testing
