// SPDX-License-Identifier: Apache-2.0
// Crash safety of `rewind prune`, the full sweep (label exhaustive): stopped
// before every one of its mutating io calls, with and without --shred, and
// killed with SIGKILL at 50 seeded random moments.
#include "integration/prune_crash.h"

namespace rwd::itest {
namespace {

TEST(PruneExhaustive, StoppedAtEveryMutatingCallLosesNoKeptPoint) {
  PruneCrash c;
  ASSERT_NO_FATAL_FAILURE(c.set_up(31));
  uint64_t n = c.count_calls(false);
  c.stop_at(rwd::testing::spread(n, n), false);
  uint64_t ns = c.count_calls(true);
  c.stop_at(rwd::testing::spread(ns, ns), true);
}

TEST(PruneExhaustive, KilledAt50RandomMomentsLosesNoKeptPoint) {
  PruneCrash c;
  ASSERT_NO_FATAL_FAILURE(c.set_up(32));
  c.kill_at_random(50, 6);
}

}  // namespace
}  // namespace rwd::itest
