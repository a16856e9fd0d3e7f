// SPDX-License-Identifier: Apache-2.0
// Crash safety of `rewind prune`, the quick version: stopped at 8 sampled
// mutating io calls (and 4 more with --shred), and killed with SIGKILL at 8
// seeded random moments. The full sweep is prune_exhaustive_test.cc.
#include "integration/prune_crash.h"

namespace rwd::itest {
namespace {

TEST(PruneCrash, StoppedAtSampledCallsLosesNoKeptPoint) {
  PruneCrash c;
  ASSERT_NO_FATAL_FAILURE(c.set_up(21));
  uint64_t n = c.count_calls(false);
  ASSERT_GT(n, 5u);
  c.stop_at(rwd::testing::spread(n, 8), false);
  uint64_t ns = c.count_calls(true);
  ASSERT_GT(ns, n);
  c.stop_at(rwd::testing::spread(ns, 4), true);
}

TEST(PruneCrash, KilledAtRandomMomentsLosesNoKeptPoint) {
  PruneCrash c;
  ASSERT_NO_FATAL_FAILURE(c.set_up(22));
  c.kill_at_random(8, 20261126);
}

}  // namespace
}  // namespace rwd::itest
