// SPDX-License-Identifier: Apache-2.0
// Crash safety of `rewind prune`, shared by the quick test (prune_crash_test)
// and the full sweep (prune_exhaustive_test): prune is stopped before its
// k-th mutating io call (rewind-faulty, through the io seam) or killed with
// SIGKILL at a seeded random moment, on a fresh copy of a repository whose
// points were half forgotten. Each time afterwards the repository verifies
// with every byte read and every kept point restores byte for byte; then a
// normal prune finishes the work, and `repair` brings back exactly the kept
// points (nothing half-deleted is resurrected).
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <random>
#include <thread>

#include "crash/crash_common.h"
#include "integration/prune_fixture.h"

namespace rwd::itest {

struct PruneCrash {
  PruneFixture f;
  std::string base;  // the half-forgotten repository, never pruned
  std::string work;
  std::string report;
  uint64_t clean_after = 0;  // pack bytes after an uninterrupted prune

  void set_up(uint64_t seed) {
    ASSERT_NO_FATAL_FAILURE(f.set_up(seed));
    base = f.box.repo;
    work = f.box.dir.sub("work-repo");
    report = f.box.dir.sub("report");
    fresh();
    RunResult r = rwd::testing::rewind({"--repo", work, "-q", "prune"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    clean_after = pack_bytes(work);
  }

  void fresh() {
    std::filesystem::remove_all(work);
    RunResult r = rwd::testing::run({"cp", "-a", base, work});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  std::vector<std::string> prune_args(bool shred) const {
    std::vector<std::string> a{"--repo", work, "-q", "prune"};
    if (shred) a.push_back("--shred");
    return a;
  }

  RunResult faulty(const std::vector<std::string>& args, const std::string& fault) {
    std::vector<std::string> argv{rwd::testing::rewind_faulty_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::filesystem::remove(report);
    return rwd::testing::run(argv, {{"REWIND_FAULT", fault}, {"REWIND_FAULT_REPORT", report}});
  }

  uint64_t count_calls(bool shred) {
    fresh();
    RunResult r = faulty(prune_args(shred), "count");
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return std::stoull(read_file(report));
  }

  // After an interruption (see the header comment).
  void check(const std::string& label) {
    f.expect_intact(work, label);
    RunResult p = rwd::testing::rewind({"--repo", work, "-q", "prune"});
    EXPECT_EQ(p.exit_code, 0) << label << ": " << describe(p);
    // The second prune reclaims all that a clean one does (its own
    // leftovers included).
    EXPECT_LE(pack_bytes(work), clean_after + clean_after / 100) << label;
    RunResult rep = rwd::testing::rewind({"--repo", work, "-q", "repair"});
    EXPECT_EQ(rep.exit_code, 0) << label << ": " << describe(rep);
    f.expect_intact(work, label + ", pruned again and repaired");
  }

  // Stopped before the k-th mutating call, for each k in `ks`.
  void stop_at(const std::vector<uint64_t>& ks, bool shred) {
    for (uint64_t k : ks) {
      std::string label = (shred ? "shred k=" : "k=") + std::to_string(k);
      fresh();
      RunResult r = faulty(prune_args(shred), "crash:" + std::to_string(k));
      ASSERT_EQ(r.exit_code, rwd::testing::kCrashExit) << label << ": " << describe(r);
      check(label);
      if (::testing::Test::HasFailure()) return;
    }
  }

  // SIGKILL after a seeded random delay within an uninterrupted run's time.
  void kill_at_random(int times, uint64_t seed) {
    std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    fresh();
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(rwd::testing::rewind(prune_args(false)).exit_code, 0);
    auto full =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    for (int i = 0; i < times; ++i) {
      bool shred = i % 2 == 1;
      fresh();
      std::vector<std::string> all{rwd::testing::rewind_binary()};
      for (auto& a : prune_args(shred)) all.push_back(a);
      const pid_t pid = spawn(all);
      ASSERT_GT(pid, 0);
      std::this_thread::sleep_for(
          std::chrono::microseconds(rng() % static_cast<uint64_t>(std::max<long>(full, 1))));
      ::kill(pid, SIGKILL);
      int status;
      ::waitpid(pid, &status, 0);
      check("kill " + std::to_string(i));
      if (::testing::Test::HasFailure()) return;
    }
  }
};

}  // namespace rwd::itest
