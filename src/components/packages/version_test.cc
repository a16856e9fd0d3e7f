// SPDX-License-Identifier: Apache-2.0
#include "components/packages/version.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "support/test_support.h"

namespace rwd::components::packages {
namespace {

int sign(int v) { return (v > 0) - (v < 0); }

// A valid Debian version: [epoch:]upstream[-revision], upstream starting
// with a digit, from a small alphabet so that equal parts, '~' and letters
// against non-letters come up often.
rc::Gen<std::string> gen_version() {
  return rc::gen::exec([] {
    const std::string alphabet = "0123456789.+~ab";
    std::string v;
    if (*rc::gen::inRange(0, 4) == 0) v = std::to_string(*rc::gen::inRange(0, 3)) + ":";
    v += static_cast<char>('0' + *rc::gen::inRange(0, 10));
    auto part = [&](int max) {
      int n = *rc::gen::inRange(0, max);
      std::string s;
      for (int i = 0; i < n; ++i)
        s += alphabet[static_cast<size_t>(*rc::gen::inRange<int>(0, int(alphabet.size())))];
      return s;
    };
    v += part(6);
    if (*rc::gen::inRange(0, 2) == 0) {
      std::string rev = part(5);
      v += "-" + (rev.empty() ? std::string("1") : rev);
    }
    return v;
  });
}

TEST(DebianVersion, KnownOrderFromPolicyAndDpkg) {
  // Pairs (older, newer) from Debian Policy 5.6.12 and dpkg's t-version.c.
  const std::pair<const char*, const char*> older_newer[] = {
      {"1.0-1", "1.0-2"},
      {"1.0~rc1", "1.0"},
      {"1.0", "1.0+b1"},
      {"1.0", "1:0.9"},
      {"9.9", "1:1.0"},
      {"1.0", "1.0a"},
      {"1.0~~", "1.0~"},
      {"1.0~~", "1.0~~a"},
      {"1.0~", "1.0"},
      {"1.2.3", "1.2.10"},
      {"1.0", "1.0."},
      {"1.0a", "1.0+"},  // letters sort before non-letters
      {"2.36-9", "2.36-9+deb12u4"},
      {"1.0-1~bpo1", "1.0-1"},
      {"~~", "~~a"},  // Policy: ~~ < ~~a < ~ < (empty) < a
      {"~~a", "~"},
      {"~", "0"},
      {"0", "a"},
      {"1.0-1", "1.0-1.1"},
      {"1:1.0-1", "2:0.1"},
      {"0.9", "1.0"},
      {"1.0", "10.0"},
  };
  for (const auto& [o, n] : older_newer) {
    EXPECT_LT(compare_versions(o, n), 0) << o << " < " << n;
    EXPECT_GT(compare_versions(n, o), 0) << n << " > " << o;
  }
}

TEST(DebianVersion, EqualVersionsThatAreWrittenDifferently) {
  // A missing epoch is 0, a missing revision equals "0", leading zeros of
  // digit runs do not count.
  EXPECT_EQ(compare_versions("1.0", "1.0"), 0);
  EXPECT_EQ(compare_versions("0:1.0", "1.0"), 0);
  EXPECT_EQ(compare_versions("00:1.0", "1.0"), 0);
  EXPECT_EQ(compare_versions("1.0-0", "1.0"), 0);
  EXPECT_EQ(compare_versions("1.001", "1.1"), 0);
  EXPECT_EQ(compare_versions("1:2.0-01", "1:2.0-1"), 0);
}

TEST(DebianVersion, HugeEpochsAndNumbersCompareWithoutOverflow) {
  // Digit runs longer than any integer compare by length, then digits.
  EXPECT_LT(compare_versions("99999999999999999999:1", "100000000000000000000:0"), 0);
  EXPECT_LT(compare_versions("1.99999999999999999999", "1.100000000000000000000"), 0);
}

RC_GTEST_PROP(DebianVersion, ComparisonIsReflexiveAndAntisymmetric, ()) {
  // Any two versions: a == a, and a<b exactly when b>a.
  std::string a = *gen_version(), b = *gen_version();
  RC_ASSERT(compare_versions(a, a) == 0);
  RC_ASSERT(sign(compare_versions(a, b)) == -sign(compare_versions(b, a)));
}

RC_GTEST_PROP(DebianVersion, ComparisonIsTransitive, ()) {
  // Any three versions: a <= b and b <= c imply a <= c (and strictly when
  // either step is strict).
  std::string a = *gen_version(), b = *gen_version(), c = *gen_version();
  int ab = compare_versions(a, b), bc = compare_versions(b, c), ac = compare_versions(a, c);
  if (ab <= 0 && bc <= 0) RC_ASSERT(ac <= 0);
  if (ab <= 0 && bc <= 0 && (ab < 0 || bc < 0)) RC_ASSERT(ac < 0);
  if (ab == 0 && bc == 0) RC_ASSERT(ac == 0);
}

RC_GTEST_PROP(DebianVersion, AgreesWithDpkgCompareVersions, ()) {
  // dpkg itself is the oracle: for random valid versions, lt / eq / gt as
  // dpkg --compare-versions says.
  std::string a = *gen_version(), b = *gen_version();
  auto dpkg = [&](const char* op) {
    auto r = rwd::testing::run({"dpkg", "--compare-versions", a, op, b});
    RC_ASSERT(r.exit_code == 0 || r.exit_code == 1);
    return r.exit_code == 0;
  };
  int want = dpkg("lt") ? -1 : dpkg("gt") ? 1 : 0;
  RC_ASSERT(sign(compare_versions(a, b)) == want);
}

}  // namespace
}  // namespace rwd::components::packages
