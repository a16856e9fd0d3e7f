// SPDX-License-Identifier: Apache-2.0
// apt's Pre-Install-Pkgs hook protocol (versions 2 and 3) as apt writes it,
// and the [hooks] table.
#include "system/apt_hook.h"

#include <gtest/gtest.h>

namespace rwd::system {
namespace {

// What apt 2.6 sends for `apt-get install -y hello` that also upgrades
// libc6, removes less and reinstalls tzdata, then configures: a
// configuration dump (some values %-encoded), a blank line, one line per
// action. A .deb's file name may hold %-escapes, never blanks.
const char* kVersion3 =
    "VERSION 3\n"
    "APT::Architecture=amd64\n"
    "APT::Architectures::=amd64\n"
    "CommandLine::AsString=apt-get install -y hello\n"
    "Dir::Etc::SourceList=/etc/apt/sources.list\n"
    "DPkg::Pre-Install-Pkgs::=/usr/bin/rewind hook apt-pkgs\n"
    "Key%3dWith%25Escapes=value with %0a newline\n"
    "\n"
    "hello - - none < 2.10-3 amd64 same /var/cache/apt/archives/hello_2.10-3_amd64.deb\n"
    "libc6 2.36-9 amd64 same < 2.36-9+deb12u4 amd64 same "
    "/var/cache/apt/archives/libc6_2.36-9+deb12u4_amd64.deb\n"
    "less 590-2 amd64 foreign > - - none **REMOVE**\n"
    "tzdata 2024a-0+deb12u1 all foreign = 2024a-0+deb12u1 all foreign "
    "/var/cache/apt/archives/tzdata_2024a-0+deb12u1_all.deb\n"
    "hello - - none < 2.10-3 amd64 same **CONFIGURE**\n"
    "libc6 2.36-9 amd64 same < 2.36-9+deb12u4 amd64 same **CONFIGURE**\n"
    "base-files 12.4 amd64 foreign = 12.4 amd64 foreign **CONFIGURE**\n";

TEST(AptHookInfo, Version3GivesTheCommandLineAndOneChangePerPackage) {
  auto info = parse_apt_hook_info(kVersion3);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->version, 3);
  EXPECT_EQ(info->command_line, "apt-get install -y hello");
  std::vector<std::string> got;
  for (const auto& c : info->changes) got.push_back(describe_change(c));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "install hello:amd64 - -> 2.10-3",
                     "upgrade libc6:amd64 2.36-9 -> 2.36-9+deb12u4",
                     "remove less:amd64 590-2 -> -",
                     "reinstall tzdata:all 2024a-0+deb12u1 -> 2024a-0+deb12u1",
                     // Configured only (a pending configuration, no unpack).
                     "configure base-files:amd64 12.4 -> 12.4",
                 }));
  EXPECT_EQ(info->changes[0].old_version, "");
  EXPECT_EQ(info->changes[2].new_version, "");
}

TEST(AptHookInfo, Version2HasNoArchitectures) {
  auto info = parse_apt_hook_info(
      "VERSION 2\nCommandLine::AsString=apt-get upgrade\n\n"
      "libc6 2.36-9 < 2.36-9+deb12u4 /var/cache/apt/archives/libc6.deb\n"
      "old 1.0 > 0.9 /var/cache/apt/archives/old.deb\n");
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->version, 2);
  ASSERT_EQ(info->changes.size(), 2u);
  EXPECT_EQ(describe_change(info->changes[0]), "upgrade libc6 2.36-9 -> 2.36-9+deb12u4");
  EXPECT_EQ(describe_change(info->changes[1]), "downgrade old 1.0 -> 0.9");
}

TEST(AptHookInfo, CommandLineIsPercentDecoded) {
  auto info =
      parse_apt_hook_info("VERSION 3\nCommandLine::AsString=apt-get install -o Foo%3d1 x\n\n");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->command_line, "apt-get install -o Foo=1 x");
  EXPECT_TRUE(info->changes.empty());
}

TEST(AptHookInfo, OtherInputIsRefusedWithTheReason) {
  // Version 1: only file names (the Version option is missing).
  auto v1 = parse_apt_hook_info("/var/cache/apt/archives/hello_2.10-3_amd64.deb\n");
  ASSERT_FALSE(v1);
  EXPECT_EQ(v1.error().code(), ErrorCode::kCorruptedData);
  EXPECT_NE(v1.error().message().find("Version"), std::string::npos) << v1.error().message();
  auto v4 = parse_apt_hook_info("VERSION 4\n\n");
  ASSERT_FALSE(v4);
  EXPECT_NE(v4.error().message().find("version 4"), std::string::npos);
  auto short_line = parse_apt_hook_info("VERSION 3\n\nhello - - none <\n");
  ASSERT_FALSE(short_line);
  EXPECT_NE(short_line.error().message().find("hello - - none <"), std::string::npos);
}

TEST(HookSettings, DefaultsAndKeys) {
  auto d = parse_hook_settings(nlohmann::json());
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->apt_refuse_on_error);
  EXPECT_EQ(d->apt_coalesce, (std::vector<std::string>{"unattended-upgrade"}));
  EXPECT_TRUE(d->apt_components.empty());
  auto s =
      parse_hook_settings(nlohmann::json{{"apt_refuse_on_error", true},
                                         {"apt_coalesce", {"unattended-upgrade", "my-updater"}},
                                         {"apt_components", {"packages"}}});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->apt_refuse_on_error);
  EXPECT_EQ(s->apt_coalesce.size(), 2u);
  EXPECT_EQ(s->apt_components, (std::vector<std::string>{"packages"}));
  auto unknown = parse_hook_settings(nlohmann::json{{"apt_refuse", true}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kUsage);
  EXPECT_NE(unknown.error().message().find("apt_refuse_on_error"), std::string::npos);
  auto wrong = parse_hook_settings(nlohmann::json{{"apt_refuse_on_error", "yes"}});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUsage);
}

}  // namespace
}  // namespace rwd::system
