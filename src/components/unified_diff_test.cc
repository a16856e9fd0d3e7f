// SPDX-License-Identifier: Apache-2.0
#include "components/unified_diff.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "support/test_support.h"

namespace rwd::components::text {
namespace {

using ::rwd::testing::read_file;
using ::rwd::testing::run;
using ::rwd::testing::RunResult;
using ::rwd::testing::TempDir;
using ::rwd::testing::write_file;

std::string numbers(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += std::to_string(i) + "\n";
  return s;
}

TEST(UnifiedDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "f", "f"), "");
  EXPECT_EQ(unified_diff("", "", "f", "f"), "");
}

TEST(UnifiedDiff, OneChangedLineWithThreeLinesOfContext) {
  std::string b = numbers(1, 9);
  b.replace(b.find("5\n"), 2, "five\n");
  EXPECT_EQ(unified_diff(numbers(1, 9), b, "etc/x", "etc/x"),
            "--- a/etc/x\n+++ b/etc/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, AddedToAnEmptyFileAndEmptied) {
  EXPECT_EQ(unified_diff("", "x\ny\n", "f", "f"), "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(unified_diff("x\n", "", "f", "f"), "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-x\n");
}

TEST(UnifiedDiff, MissingNewlineAtTheEndIsMarked) {
  EXPECT_EQ(unified_diff("x\n", "x", "f", "f"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n+x\n\\ No newline at end of file\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunksCloseOnesOne) {
  std::string a = numbers(1, 30);
  std::string far = a;
  far.replace(far.find("\n2\n"), 3, "\nTWO\n");
  far.replace(far.find("\n25\n"), 4, "\nTWENTYFIVE\n");
  EXPECT_EQ(unified_diff(a, far, "f", "f"),
            "--- a/f\n+++ b/f\n"
            "@@ -1,5 +1,5 @@\n 1\n-2\n+TWO\n 3\n 4\n 5\n"
            "@@ -22,7 +22,7 @@\n 22\n 23\n 24\n-25\n+TWENTYFIVE\n 26\n 27\n 28\n");
  // Six equal lines between two changes: the contexts touch, one hunk.
  std::string near = a;
  near.replace(near.find("\n10\n"), 4, "\nTEN\n");
  near.replace(near.find("\n17\n"), 4, "\nSEVENTEEN\n");
  EXPECT_EQ(unified_diff(a, near, "f", "f"),
            "--- a/f\n+++ b/f\n@@ -7,14 +7,14 @@\n 7\n 8\n 9\n-10\n+TEN\n 11\n 12\n 13\n 14\n"
            " 15\n 16\n-17\n+SEVENTEEN\n 18\n 19\n 20\n");
}

TEST(UnifiedDiff, TextIsSmallAndHasNoNulInItsHead) {
  EXPECT_TRUE(is_text("plain\n"));
  EXPECT_TRUE(is_text(""));
  EXPECT_FALSE(is_text(std::string("a\0b", 3)));
  std::string late(9000, 'a');
  late += '\0';
  EXPECT_TRUE(is_text(late));  // only the first 8 KiB are looked at
  EXPECT_FALSE(is_text(std::string(kMaxDiffText + 1, 'a')));
}

// `patch` (the Debian tool) applies the diff to the old text and must give
// the new one exactly, without fuzz.
class PatchOracle {
 public:
  void check(const std::string& a, const std::string& b) {
    const std::string d = unified_diff(a, b, "f", "f");
    if (a == b) {
      EXPECT_EQ(d, "");
      return;
    }
    write_file(dir_.sub("old"), a);
    write_file(dir_.sub("diff"), d);
    RunResult r = run({"patch", "-s", "-F0", "--no-backup-if-mismatch", "-o", dir_.sub("new"),
                       dir_.sub("old"), dir_.sub("diff")});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << "\n--- diff ---\n" << d;
    ASSERT_EQ(read_file(dir_.sub("new")), b) << d;
  }

 private:
  TempDir dir_{"rewind-udiff"};
};

// Random texts over a few distinct lines (many repeats, so that the edit
// script has real choices to make), with and without a final newline.
std::string random_text(std::mt19937_64& rng, size_t max_lines) {
  static const char* kLines[] = {"a", "b", "c", "x = 1", "", "# comment", "}"};
  std::string s;
  size_t n = rng() % (max_lines + 1);
  for (size_t i = 0; i < n; ++i) s += std::string(kLines[rng() % 7]) + "\n";
  if (!s.empty() && rng() % 4 == 0) s.pop_back();
  return s;
}

TEST(UnifiedDiff, PatchTurnsTheOldTextIntoTheNew) {
  PatchOracle oracle;
  std::mt19937_64 rng(20261126);
  for (int i = 0; i < 300; ++i) {
    std::string a = random_text(rng, 40);
    std::string b;
    if (i % 2 == 0) {
      b = random_text(rng, 40);
    } else {
      // A few edits of a, as configuration files change.
      b = a;
      for (int k = 0; k < 3; ++k) {
        size_t at = b.empty() ? 0 : rng() % b.size();
        b.insert(at, rng() % 2 ? "new line\n" : "");
        if (!b.empty() && rng() % 2) b.erase(rng() % b.size(), 5);
      }
    }
    SCOPED_TRACE("case " + std::to_string(i));
    oracle.check(a, b);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(UnifiedDiff, VeryDifferentTextsStillPatchExactly) {
  // More than 2000 differing lines: one hunk replaces everything.
  std::string a, b;
  for (int i = 0; i < 1500; ++i) {
    a += "old " + std::to_string(i) + "\n";
    b += "new " + std::to_string(i) + "\n";
  }
  a = "same head\n" + a + "same tail\n";
  b = "same head\n" + b + "same tail\n";
  PatchOracle oracle;
  oracle.check(a, b);
}

}  // namespace
}  // namespace rwd::components::text
