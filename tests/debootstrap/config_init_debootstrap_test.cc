// SPDX-License-Identifier: Apache-2.0
// rewind config init against a real Debian 12 tree: debootstrap
// --variant=minbase bookworm (cached as a tarball under
// /var/cache/rewind-test/ between runs), a generated configuration that
// validates, a recovery point, `apt-get install` of a package inside the
// tree (chroot), and a rollback that removes the package again and leaves
// dpkg consistent (`dpkg --audit` is silent). Needs root and the Debian
// mirror (for the first debootstrap and apt-get). Takes about two minutes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "debootstrap/debootstrap_tree.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

TEST(ConfigInitDebootstrap, RollbackOfAnAptInstallRemovesThePackageAndKeepsDpkgConsistent) {
  // The generated configuration of a Debian 12 tree validates; after a
  // recovery point, `apt-get install less` shows in the packages diff as
  // "installed"; a full rollback removes it (dpkg -s fails, /usr/bin/less is
  // gone), the packages component finds nothing left for apt to do (the
  // files of /usr and /var/lib/dpkg came back together), and dpkg --audit
  // reports nothing.
  if (::geteuid() != 0) GTEST_SKIP() << "debootstrap and chroot need root";
  if (!std::filesystem::exists("/usr/sbin/debootstrap")) GTEST_SKIP() << "no debootstrap";
  TempDir dir("rewind-dbs");
  const std::string root = dir.sub("root");
  make_tree(root);
  if (HasFatalFailure()) return;
  auto rw = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {rwd::testing::rewind_binary(), "--root", root});
    return rwd::testing::run(args, {}, 600);
  };
  RunResult r = in_chroot(root, {"apt-get", "update"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_NE(in_chroot(root, {"dpkg", "-s", "less"}).exit_code, 0) << "less is in minbase";

  r = rw({"config", "init"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = rw({"config", "validate"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = rw({"init"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = rw({"-q", "create"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::string point = std::to_string(std::stoll(r.out));

  r = in_chroot(root, {"apt-get", "install", "-y", "less"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(in_chroot(root, {"dpkg", "-s", "less"}).exit_code, 0);

  r = rw({"--json", "diff", point, "-c", "packages"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  bool installed = false;
  const json diff = json::parse(r.out);
  for (const auto& c : diff["changes"])
    if (c["path"] == "less" && c["change"] == "installed") installed = true;
  EXPECT_TRUE(installed) << r.out;

  r = rw({"--json", "rollback", point, "-y"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json report = json::parse(r.out);
  EXPECT_EQ(report["state"], "completed") << r.out;
  EXPECT_EQ(report["warnings"].dump().find("apt-get"), std::string::npos) << r.out;

  EXPECT_NE(in_chroot(root, {"dpkg", "-s", "less"}).exit_code, 0);
  EXPECT_FALSE(exists_nofollow(root + "/usr/bin/less"));
  r = in_chroot(root, {"dpkg", "--audit"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out + r.err, "") << describe(r);
}

}  // namespace
}  // namespace rwd::itest
