// SPDX-License-Identifier: Apache-2.0
// The apt hook file itself, under the real apt of a Debian 12 tree
// (debootstrap --variant=minbase bookworm, see debootstrap_tree.h): rewind
// is installed into the tree with `cmake --install` (DESTDIR=tree, prefix
// /usr: the binary, /etc/apt/apt.conf.d/99rewind as a package build
// installs them; the shared libraries the binary needs are copied in), and
// apt runs in the tree under its own PID namespace with /proc mounted, as on
// a booted system.
//  - `apt-get install -y hello` makes a pre point (apt's command line and
//    "install hello:ARCH - -> VERSION" in its description) and a post point
//    linked to it, whose packages component has hello;
//  - three apt-get runs under one parent named unattended-upgrade make one
//    pre/post pair: every command line and change in the pre point, the
//    post point is the final state;
//  - while a prune holds the repository lock, apt goes on and the log says
//    why the point was skipped;
//  - with the repository read-only, apt still installs and the hook logs
//    the failure, unless [hooks] apt_refuse_on_error = true: then apt stops
//    before dpkg runs.
// Needs root and the Debian mirror. Takes a few minutes.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "debootstrap/debootstrap_tree.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::HasSubstr;

// Runs `script` (sh) inside the tree, in new mount and PID namespaces with
// the tree's /proc mounted; `outside` runs first, outside the chroot but in
// the new mount namespace (for mounts that must not reach the host).
RunResult in_tree(const std::string& root, const std::string& script,
                  const std::string& outside = "", int timeout = 900) {
  const std::string inner = outside + (outside.empty() ? "" : " && ") + "exec chroot '" + root +
                            "' /bin/sh -c '" + script + "'";
  return rwd::testing::run(
      {"unshare", "--mount", "--pid", "--fork", "--mount-proc=" + root + "/proc", "sh", "-c",
       inner},
      {{"DEBIAN_FRONTEND", "noninteractive"}, {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}}, timeout);
}

// rewind from the build, installed into the tree as a package would
// install it, plus the shared libraries the tree lacks.
void install_rewind(const std::string& root) {
  RunResult r =
      rwd::testing::run({REWIND_CMAKE_COMMAND, "--install", REWIND_BUILD_DIR, "--prefix", "/usr"},
                        {{"DESTDIR", root}}, 600);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_TRUE(std::filesystem::exists(root + "/usr/bin/rewind"));
  ASSERT_TRUE(std::filesystem::exists(root + "/etc/apt/apt.conf.d/99rewind"));
  r = rwd::testing::run({"ldd", root + "/usr/bin/rewind"}, {}, 60);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::regex lib(R"((/\S+) \(0x)");
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, lib)) continue;
    const std::string host = m[1];
    const std::string inside = root + host;
    if (std::filesystem::exists(inside)) continue;
    std::filesystem::create_directories(std::filesystem::path(inside).parent_path());
    std::filesystem::copy_file(std::filesystem::canonical(host), inside);
  }
  r = in_tree(root, "rewind --version");
  ASSERT_EQ(r.exit_code, 0) << "rewind does not run inside the tree: " << describe(r);
}

struct Points {
  std::vector<json> all;
};

class AptHook : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "debootstrap, chroot and unshare need root";
    if (!std::filesystem::exists("/usr/sbin/debootstrap")) GTEST_SKIP() << "no debootstrap";
    make_tree(root);
    if (HasFatalFailure()) return;
    install_rewind(root);
    if (HasFatalFailure()) return;
    // The package state and /etc: small points, quickly taken.
    write_file(root + "/etc/rewind/rewind.toml",
               "[[component]]\nname = \"packages\"\nadapter = \"packages\"\n\n"
               "[[component]]\nname = \"etc\"\ncategory = \"configuration\"\npaths = [\"/etc\"]\n");
    RunResult r = in_tree(root, "rewind init && apt-get update");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  Points points() {
    RunResult r = in_tree(root, "rewind --json list");
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    Points p;
    for (const auto& j : json::parse(r.out, nullptr, false)) p.all.push_back(j);
    return p;
  }

  json show(int64_t id) {
    RunResult r = in_tree(root, "rewind --json show " + std::to_string(id));
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json::parse(r.out, nullptr, false);
  }

  std::string log() { return read_file(root + "/var/log/rewind/apt-hook.log"); }

  bool installed(const std::string& pkg) {
    return in_tree(root, "dpkg -s " + pkg + " >/dev/null 2>&1").exit_code == 0;
  }

  TempDir dir{"rewind-apthook"};
  std::string root = dir.sub("root");
};

TEST_F(AptHook, AptGetInstallMakesALinkedPairWithThePackageChanges) {
  if (IsSkipped() || HasFatalFailure()) return;
  ASSERT_FALSE(installed("hello"));
  RunResult r = in_tree(root, "apt-get install -y hello");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(installed("hello"));
  EXPECT_THAT(r.err + r.out, HasSubstr("rewind: recovery point"));

  Points p = points();
  ASSERT_EQ(p.all.size(), 2u) << r.out << r.err << log();
  const json& pre = p.all[0];
  const json& post = p.all[1];
  EXPECT_EQ(pre["kind"], "pre");
  EXPECT_EQ(pre["cause"], "update");
  EXPECT_EQ(post["kind"], "post");
  EXPECT_EQ(post["pre_id"], pre["id"]);
  const std::string desc = pre["description"].get<std::string>();
  EXPECT_THAT(desc, HasSubstr("apt: apt-get install -y hello\n"));
  EXPECT_TRUE(std::regex_search(desc, std::regex(R"(\ninstall hello:\w+ - -> \S+\n)"))) << desc;
  // show --json prints the same.
  EXPECT_EQ(show(pre["id"].get<int64_t>())["description"], pre["description"]);

  // The pre point has no hello, the post point has it.
  RunResult d = in_tree(root, "rewind --json diff " + std::to_string(pre["id"].get<int64_t>()) +
                                  " " + std::to_string(post["id"].get<int64_t>()) + " -c packages");
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  bool hello = false;
  const json diff = json::parse(d.out);
  for (const auto& c : diff["changes"])
    if (c["path"] == "hello" && c["change"] == "installed") hello = true;
  EXPECT_TRUE(hello) << d.out;
  EXPECT_THAT(log(), HasSubstr("(pre) before dpkg runs"));
  EXPECT_THAT(log(), HasSubstr("(post) after dpkg ran, linked to pre point"));
  // Nothing of the run is left pending.
  EXPECT_FALSE(std::filesystem::exists(root + "/run/rewind/apt-hook.json"));
}

TEST_F(AptHook, OneUnattendedUpgradesRunIsOnePair) {
  if (IsSkipped() || HasFatalFailure()) return;
  // unattended-upgrades calls dpkg in several small steps from one process;
  // a parent named unattended-upgrade running apt-get three times has the
  // same shape of process tree.
  write_file(root + "/usr/local/bin/unattended-upgrade",
             "#!/bin/sh\nset -e\napt-get install -y hello\napt-get install -y figlet\n"
             "apt-get remove -y hello\n");
  std::filesystem::permissions(root + "/usr/local/bin/unattended-upgrade",
                               std::filesystem::perms::owner_all);
  RunResult r = in_tree(root, "/usr/local/bin/unattended-upgrade");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(installed("hello"));
  EXPECT_TRUE(installed("figlet"));

  Points p = points();
  ASSERT_EQ(p.all.size(), 2u) << "not one pair: " << log();
  const json& pre = p.all[0];
  const json& post = p.all[1];
  EXPECT_EQ(pre["kind"], "pre");
  EXPECT_EQ(pre["name"], "unattended-upgrades");
  EXPECT_EQ(post["kind"], "post");
  EXPECT_EQ(post["pre_id"], pre["id"]);
  const std::string desc = pre["description"].get<std::string>();
  EXPECT_THAT(desc, HasSubstr("apt: apt-get install -y hello\n"));
  EXPECT_THAT(desc, HasSubstr("apt: apt-get install -y figlet\n"));
  EXPECT_THAT(desc, HasSubstr("apt: apt-get remove -y hello\n"));
  EXPECT_TRUE(std::regex_search(desc, std::regex(R"(\ninstall figlet:\w+ - -> \S+\n)"))) << desc;
  EXPECT_TRUE(std::regex_search(desc, std::regex(R"(\nremove hello:\w+ \S+ -> -\n)"))) << desc;
  // The post point is the state after the last step: figlet, no hello.
  RunResult d = in_tree(root, "rewind --json diff " + std::to_string(pre["id"].get<int64_t>()) +
                                  " " + std::to_string(post["id"].get<int64_t>()) + " -c packages");
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  std::set<std::string> changed;
  const json diff = json::parse(d.out);
  for (const auto& c : diff["changes"])
    changed.insert(c["path"].get<std::string>() + " " + c["change"].get<std::string>());
  EXPECT_EQ(changed, (std::set<std::string>{"figlet installed"})) << d.out;
  EXPECT_THAT(log(), HasSubstr("stays its pre point"));
  EXPECT_THAT(log(), HasSubstr("replaces post point"));
}

TEST_F(AptHook, APruneHoldingTheLockNeverBlocksApt) {
  if (IsSkipped() || HasFatalFailure()) return;
  // A long operation holds the repository's lock (this test stands in for
  // a prune).
  const std::string lock = root + "/var/lib/rewind/lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  const std::string who = "pid 4242 (prune)\n";
  ASSERT_EQ(::pwrite(fd, who.data(), who.size(), 0), static_cast<ssize_t>(who.size()));
  RunResult r = in_tree(root, "apt-get install -y hello", "", 300);
  ::close(fd);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(installed("hello"));
  EXPECT_THAT(log(), HasSubstr("skipped: the repository is busy"));
  EXPECT_THAT(log(), HasSubstr("prune"));
  EXPECT_TRUE(points().all.empty());
}

TEST_F(AptHook, AnUnwritableRepositoryIsLoggedAndAptGoesOnUnlessTheConfigurationRefuses) {
  if (IsSkipped() || HasFatalFailure()) return;
  const std::string repo = root + "/var/lib/rewind";
  const std::string ro = "mount --bind '" + repo + "' '" + repo +
                         "' && mount -o remount,bind,ro '" + repo + "' '" + repo + "'";
  RunResult r = in_tree(root, "apt-get install -y hello", ro);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(installed("hello"));
  EXPECT_THAT(log(), HasSubstr("the pre point before dpkg runs failed"));
  EXPECT_THAT(log(), HasSubstr("apt goes on"));
  EXPECT_TRUE(points().all.empty());

  // Told to refuse: apt stops before dpkg changes anything.
  write_file(root + "/etc/rewind/conf.d/refuse.toml", "[hooks]\napt_refuse_on_error = true\n");
  r = in_tree(root, "apt-get install -y figlet", ro);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(installed("figlet"));
  EXPECT_THAT(log(), HasSubstr("apt_refuse_on_error: apt stops"));
}

}  // namespace
}  // namespace rwd::itest
