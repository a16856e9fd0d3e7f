// SPDX-License-Identifier: Apache-2.0
#include "components/packages/status.h"

#include <gtest/gtest.h>

#include <string>

namespace rwd::components::packages {
namespace {

const char* kStatus =
    "Package: dpkg\n"
    "Status: install ok installed\n"
    "Architecture: amd64\n"
    "Version: 1.21.22\n"
    "Description: Debian package management system\n"
    " This package provides the low-level infrastructure.\n"
    "\n"
    "Package: libc6\n"
    "Status: hold ok installed\n"
    "Architecture: amd64\n"
    "Version: 2.36-9\n"
    "\n"
    "Package: libc6\n"
    "Status: install ok installed\n"
    "Architecture: i386\n"
    "Version: 2.36-9\n"
    "\n"
    "Package: tzdata\n"
    "Status: install ok unpacked\n"
    "Architecture: all\n"
    "Version: 2024a-0+deb12u1\n"
    "\n"
    "Package: oldpkg\n"
    "Status: deinstall ok config-files\n"
    "Architecture: amd64\n"
    "Version: 1.0-1\n";

PackageSet parsed(const std::string& text) {
  auto s = parse_status(text);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
  return s ? *s : PackageSet{};
}

TEST(DpkgStatus, ParsesPackagesWithTheirStateAndArchitecture) {
  // Five paragraphs, one package twice (two architectures), continuation
  // lines skipped; config-files is not installed, unpacked is.
  PackageSet s = parsed(kStatus);
  ASSERT_EQ(s.size(), 5u);
  const Package& libc = s.at({"libc6", "amd64"});
  EXPECT_EQ(libc.version, "2.36-9");
  EXPECT_TRUE(libc.held());
  EXPECT_TRUE(libc.installed());
  EXPECT_TRUE(s.at({"tzdata", "all"}).installed());
  EXPECT_FALSE(s.at({"oldpkg", "amd64"}).installed());
  EXPECT_EQ(s.at({"oldpkg", "amd64"}).want, "deinstall");
  EXPECT_EQ(native_arch(s), "amd64");
}

TEST(DpkgStatus, MalformedStatusFieldIsCorruptedData) {
  // "Status: install installed" lacks the flag word.
  auto s = parse_status("Package: a\nStatus: install installed\nVersion: 1\n");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kCorruptedData);
  EXPECT_NE(s.error().message().find("package a"), std::string::npos);
}

TEST(DpkgStatus, SnapshotFormRoundTripsAndRejectsDamage) {
  // format_set -> parse_set gives the same set; a short line is refused.
  PackageSet s = parsed(kStatus);
  auto back = parse_set(format_set(s));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(format_set(*back), format_set(s));
  auto bad = parse_set("a\tamd64\t1.0\n");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruptedData);
}

TEST(DpkgStatus, DiffNamesEveryKindWithVersionsAsDetail) {
  // From old to new: dpkg upgraded, libc6:i386 downgraded (foreign arch
  // shown), tzdata removed, less installed, libc6 unheld, oldpkg purged
  // (selection only: it was not installed).
  PackageSet a = parsed(kStatus);
  PackageSet b = a;
  b[{"dpkg", "amd64"}].version = "1.21.22+b1";
  b[{"libc6", "i386"}].version = "2.36-8";
  b.erase({"tzdata", "all"});
  b[{"less", "amd64"}] = Package{"less", "amd64", "590-2", "install", "ok", "installed"};
  b[{"libc6", "amd64"}].want = "install";
  b[{"oldpkg", "amd64"}].want = "purge";
  auto d = diff_sets(a, b, "amd64");
  std::vector<std::string> got;
  for (const auto& c : d) got.push_back(c.path + " " + c.kind + " " + c.detail);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "dpkg upgraded 1.21.22 -> 1.21.22+b1",
                     "less installed 590-2",
                     "libc6 held held -> not held",
                     "libc6:i386 downgraded 2.36-9 -> 2.36-8",
                     "oldpkg selection deinstall -> purge",
                     "tzdata removed 2024a-0+deb12u1",
                 }));
}

TEST(DpkgStatus, AptWorkBringsTheTargetSetBack) {
  // Live has less (not in the target) and an older libc6:i386 and a newer
  // dpkg: install the target versions (a downgrade among them), remove less.
  PackageSet target = parsed(kStatus);
  PackageSet live = target;
  live[{"less", "amd64"}] = Package{"less", "amd64", "590-2", "install", "ok", "installed"};
  live[{"libc6", "i386"}].version = "2.36-8";
  live[{"dpkg", "amd64"}].version = "1.22";
  AptWork w = apt_work(live, target, "amd64");
  EXPECT_EQ(w.install, (std::vector<std::string>{"dpkg=1.21.22", "libc6:i386=2.36-9"}));
  EXPECT_EQ(w.remove, (std::vector<std::string>{"less"}));
  EXPECT_TRUE(w.downgrade);
  EXPECT_TRUE(apt_work(target, target, "amd64").empty());
}

}  // namespace
}  // namespace rwd::components::packages
