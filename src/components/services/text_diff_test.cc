// SPDX-License-Identifier: Apache-2.0
#include "components/services/text_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace rwd::components::services {
namespace {

TEST(UnifiedDiff, OneChangedLineWithContext) {
  // One line of eight changes: one hunk with three lines of context on each
  // side, the removal before the addition, as diff -u prints it.
  std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n", b = "1\n2\n3\n4\nfive\n6\n7\n8\n";
  EXPECT_EQ(unified_diff(a, b, "/f"),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  // Changes more than six lines apart are separate hunks, each with its own
  // line numbers.
  std::string a, b;
  for (int i = 1; i <= 20; ++i) a += std::to_string(i) + "\n";
  b = "0\n" + a + "21\n";
  EXPECT_EQ(unified_diff(a, b, "/f"),
            "--- a/f\n+++ b/f\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n@@ -18,3 +19,4 @@\n 18\n 19\n "
            "20\n+21\n");
}

TEST(UnifiedDiff, NothingForEqualOrBinaryTexts) {
  // Equal texts and texts with a NUL byte have no line diff.
  EXPECT_EQ(unified_diff("x\n", "x\n", "/f"), "");
  EXPECT_EQ(unified_diff(std::string("a\0b", 3), "ab", "/f"), "");
}

TEST(UnifiedDiff, MissingNewlineAtEndIsMarked) {
  EXPECT_EQ(unified_diff("a\n", "a\nb", "/f"),
            "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n");
}

}  // namespace
}  // namespace rwd::components::services
