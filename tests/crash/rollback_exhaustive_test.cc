// SPDX-License-Identifier: Apache-2.0
// The full crash sweeps of `rewind rollback` (label `exhaustive`, run by
// hand: ctest -L exhaustive): the rollback stopped before every one of its
// N mutating io calls, and with power lost before every one, for the full
// and the incremental scope, each followed by `rewind recover` and the
// checks of rollback_crash_test.cc (which samples the same sweeps for CI and
// whose helpers this file includes); and EIO and ENOSPC at every write,
// fsync, syncfs and rename of the rollback, for both scopes.
#define REWIND_ROLLBACK_CRASH_HELPERS_ONLY
#include "crash/rollback_crash_test.cc"

namespace rwd::itest {
namespace {

void sweep(bool incremental, const std::string& mode, uint64_t seed) {
  RollbackCrash t(seed);
  const uint64_t n = t.count_calls(incremental);
  ASSERT_GT(n, 50u);
  auto t0 = std::chrono::steady_clock::now();
  Tally tally = interrupt_at(t, incremental, mode, spread(n, n));
  tally.print(std::string(scope_name(incremental)) + " " + mode + " sweep over " +
                  std::to_string(n) + " calls",
              seconds_since(t0));
  EXPECT_EQ(tally["MIXED"], 0);
  EXPECT_GT(tally["before"], 0) << "no run ended in the state before the rollback";
  EXPECT_GT(tally["point"], 0) << "no run ended at the recovery point";
}

TEST(RollbackCrashExhaustive, FullScopeStoppedAtEveryCallEndsBeforeOrAtThePoint) {
  sweep(false, "crash", 3);
}

TEST(RollbackCrashExhaustive, IncrementalScopeStoppedAtEveryCallEndsBeforeOrAtThePoint) {
  sweep(true, "crash", 4);
}

TEST(RollbackPowerLossExhaustive, FullScopeLosingUnsyncedDataAtEveryCallEndsBeforeOrAtThePoint) {
  sweep(false, "powerloss", 5);
}

TEST(RollbackPowerLossExhaustive,
     IncrementalScopeLosingUnsyncedDataAtEveryCallEndsBeforeOrAtThePoint) {
  sweep(true, "powerloss", 6);
}

// Every write, fsync, syncfs and rename of the rollback fails in turn, with
// EIO and with ENOSPC (issue 3: "at each write, fsync and rename").
void every_fault(bool incremental, uint64_t seed) {
  RollbackCrash t(seed);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<FaultRun> runs;
  for (std::string op : {"write", "fsync", "syncfs", "rename"}) {
    const uint64_t calls = t.count_op_calls(incremental, op);
    std::printf("%s scope: %llu %s calls\n", scope_name(incremental),
                static_cast<unsigned long long>(calls), op.c_str());
    for (uint64_t n = 1; n <= calls; ++n)
      for (std::string err : {"EIO", "ENOSPC"})
        runs.push_back(fault_at(t, incremental, op, n, err));
  }
  print_faults(std::string(scope_name(incremental)) + "-scope faults", runs);
  std::printf("%zu fault runs, %.0f s\n", runs.size(), seconds_since(t0));
}

TEST(RollbackFaultsExhaustive, FullScopeEveryCallFailingEndsInItsOwnErrorAndNeverInAMix) {
  every_fault(false, 13);
}

TEST(RollbackFaultsExhaustive, IncrementalScopeEveryCallFailingEndsInItsOwnErrorAndNeverInAMix) {
  every_fault(true, 14);
}

}  // namespace
}  // namespace rwd::itest
