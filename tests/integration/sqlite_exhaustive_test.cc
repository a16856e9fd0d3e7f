// SPDX-License-Identifier: Apache-2.0
// The sqlite adapter's page deduplication at full size (label exhaustive: it
// writes a 100 MiB database and two points of it).
#include <gtest/gtest.h>

#include "integration/sqlite_fixture.h"

namespace rwd::itest {
namespace {

TEST(SqliteExhaustive, SecondPointOf100MiBWithOnePercentOfPagesChangedAddsUnder5MiB) {
  // Chunks aligned to pages: 1% of the pages of a 100 MiB database,
  // scattered, changed between two points costs the second point less than
  // 5 MiB.
  EXPECT_LT(added_after_one_percent(100), uint64_t{5} << 20);
}

}  // namespace
}  // namespace rwd::itest
