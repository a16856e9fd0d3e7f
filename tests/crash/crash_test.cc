// SPDX-License-Identifier: Apache-2.0
// Crash safety of `rewind create`: stopped at sampled mutating io calls, killed
// with SIGKILL at random moments, and with power lost at sampled calls. Each
// time the repository verifies, no partial point is listed, and a listed
// point restores byte for byte. The full sweeps (every k) are in
// crash_exhaustive_test.cc, under the `exhaustive` label.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "crash/crash_common.h"

namespace rwd::testing {
namespace {

TEST(CreateCrash, StoppedAtSampledCallsLeavesNoPartialPoint) {
  // create is stopped at 50 values of k over its N mutating calls; afterwards
  // the repository verifies and point 2 is either wholly there or absent.
  CrashFixture f;
  f.set_up(42);
  uint64_t n = f.count_calls(f.create_args());
  ASSERT_GT(n, 10u);
  int present = 0, absent = 0;
  for (uint64_t k : spread(n, 50)) {
    f.fresh_work_repo();
    RunResult r = f.faulty(f.create_args(), "crash:" + std::to_string(k));
    ASSERT_EQ(r.exit_code, kCrashExit) << "k=" << k << ": " << r.err;
    ASSERT_EQ(read_file(f.report).rfind("crashed at " + std::to_string(k) + " ", 0), 0u)
        << read_file(f.report);
    (f.check_consistent("k=" + std::to_string(k)) ? present : absent)++;
  }
  EXPECT_GT(present, 0);
  EXPECT_GT(absent, 0);
}

TEST(CreateCrash, KilledAtRandomMomentsLeavesNoPartialPoint) {
  // create gets SIGKILL after a random delay (seeded); the repository verifies.
  CrashFixture f;
  f.set_up(7);
  std::mt19937 rng(1234);
  std::printf("seed 1234\n");
  // How long an uninterrupted create takes, to spread the kills over it.
  f.fresh_work_repo();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(rewind(f.create_args()).exit_code, 0);
  auto full =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  for (int i = 0; i < 10; ++i) {
    f.fresh_work_repo();
    std::vector<std::string> args{rewind_binary()};
    for (auto& a : f.create_args()) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
    std::this_thread::sleep_for(
        std::chrono::microseconds(rng() % static_cast<unsigned>(std::max<long>(full, 1))));
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    f.check_consistent("kill " + std::to_string(i));
  }
}

TEST(CreatePowerLoss, LosingUnsyncedDataLeavesNoPartialPoint) {
  // Power is lost at 40 sampled calls of create (unsynced data and directory
  // entries are dropped); afterwards the repository verifies and point 2 is
  // whole or absent.
  CrashFixture f;
  f.set_up(99);
  uint64_t n = f.count_calls(f.create_args());
  int present = 0, absent = 0;
  for (uint64_t k : spread(n, 40)) {
    f.fresh_work_repo();
    RunResult r = f.faulty(f.create_args(), "powerloss:" + std::to_string(k));
    ASSERT_EQ(r.exit_code, kCrashExit) << "k=" << k << ": " << r.err;
    (f.check_consistent("power loss at k=" + std::to_string(k)) ? present : absent)++;
  }
  EXPECT_GT(present, 0);
  EXPECT_GT(absent, 0);
}

}  // namespace
}  // namespace rwd::testing
