// SPDX-License-Identifier: Apache-2.0
// `rewind hook apt-pre | apt-pkgs | apt-post` as apt calls it, without apt:
// stand-in scripts with apt's names run the three stages in apt's order and
// feed apt's hook protocol 3 to apt-pkgs (the real apt drives the hook file
// in tests/debootstrap/apt_hook_debootstrap_test.cc). The sandbox root's
// /proc is a symlink to /proc, so the hook reads the real process tree.
//  - one stand-in apt run makes a pre/post pair with the command line and
//    the package changes in the pre point's description;
//  - three runs under a parent named unattended-upgrade make one pair, whose
//    post point is the last;
//  - a held repository lock skips the point, a missing repository is
//    logged, both exit 0; [hooks] apt_refuse_on_error = true makes the
//    failure stop apt (exit 1); a bad protocol is logged.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::HasSubstr;

std::string protocol(const std::string& command_line, const std::string& packages) {
  return "VERSION 3\nAPT::Architecture=amd64\nCommandLine::AsString=" + command_line + "\n\n" +
         packages;
}

class AptHookCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory_symlink("/proc", box.root + "/proc");
    write_file(box.at("/etc/app.conf"), "v1\n");
    write_file(box.at("/etc/rewind/rewind.toml"),
               "[[component]]\nname = \"etc\"\ncategory = \"configuration\"\n"
               "paths = [\"/etc\"]\n");
    // The stand-in for apt: the three stages in apt's order; the
    // protocol text for apt-pkgs is the file named by its first argument.
    const std::string rw =
        rwd::testing::rewind_binary() + " --repo " + box.repo + " --root " + box.root;
    apt = box.dir.sub("bin/apt-get");
    write_file(apt, "#!/bin/sh\n" + rw + " hook apt-pre || exit 1\n" + rw +
                        " hook apt-pkgs <\"$1\" || exit 1\n"
                        "echo \"$2\" > " +
                        box.at("/etc/app.conf") + "\n" + rw + " hook apt-post\n");
    std::filesystem::permissions(apt, std::filesystem::perms::owner_all);
  }

  RunResult run_apt(const std::string& command_line, const std::string& packages,
                    const std::string& conf) {
    const std::string info = box.dir.sub("info." + std::to_string(++runs));
    write_file(info, protocol(command_line, packages));
    return rwd::testing::run({apt, info, conf}, {}, 120);
  }

  std::vector<json> points() {
    RunResult r = box.rw({"--json", "list"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    std::vector<json> out;
    for (const auto& p : json::parse(r.out, nullptr, false)) out.push_back(p);
    return out;
  }

  std::string log() { return read_file(box.at("/var/log/rewind/apt-hook.log")); }

  Sandbox box{"rewind-apthook"};
  std::string apt;
  int runs = 0;
};

TEST_F(AptHookCli, OneAptRunMakesALinkedPairWithTheChanges) {
  ASSERT_EQ(box.init().exit_code, 0);
  RunResult r = run_apt("apt-get install -y hello",
                        "hello - - none < 2.10-3 amd64 same /var/cache/apt/archives/h.deb\n"
                        "hello - - none < 2.10-3 amd64 same **CONFIGURE**\n",
                        "v2");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto p = points();
  ASSERT_EQ(p.size(), 2u) << log();
  EXPECT_EQ(p[0]["kind"], "pre");
  EXPECT_EQ(p[0]["cause"], "update");
  EXPECT_EQ(p[0]["name"], "apt");
  EXPECT_EQ(p[0]["tags"], json::array({"apt"}));
  EXPECT_EQ(p[0]["description"],
            "apt: apt-get install -y hello\ninstall hello:amd64 - -> 2.10-3\n");
  EXPECT_EQ(p[1]["kind"], "post");
  EXPECT_EQ(p[1]["pre_id"], p[0]["id"]);
  // The pre point has the state before dpkg ran, the post point after.
  RunResult d1 = box.rw({"dump", "1", "/etc/app.conf"});
  EXPECT_EQ(d1.out, "v1\n");
  RunResult d2 = box.rw({"dump", "2", "/etc/app.conf"});
  EXPECT_EQ(d2.out, "v2\n");
  EXPECT_THAT(log(), HasSubstr("recovery point 1 (pre) before dpkg runs, for apt-get"));
  EXPECT_THAT(log(), HasSubstr("recovery point 2 (post) after dpkg ran, linked to pre point 1"));
  EXPECT_FALSE(std::filesystem::exists(box.at("/run/rewind/apt-hook.json")));
  // A second apt run is a new pair.
  r = run_apt("apt-get remove -y hello", "hello 2.10-3 amd64 same > - - none **REMOVE**\n", "v3");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  p = points();
  ASSERT_EQ(p.size(), 4u) << log();
  EXPECT_EQ(p[3]["pre_id"], p[2]["id"]);
  EXPECT_EQ(p[2]["description"], "apt: apt-get remove -y hello\nremove hello:amd64 2.10-3 -> -\n");
}

TEST_F(AptHookCli, OneUnattendedUpgradesRunIsOnePairEndingInTheLastState) {
  ASSERT_EQ(box.init().exit_code, 0);
  std::string script = "#!/bin/sh\nset -e\n";
  for (int i = 1; i <= 3; ++i) {
    const std::string info = box.dir.sub("uu." + std::to_string(i));
    write_file(info,
               protocol("unattended-upgrade step " + std::to_string(i),
                        "pkg" + std::to_string(i) +
                            " 1.0 amd64 same < 1.1 amd64 same /var/cache/apt/archives/p.deb\n"));
    script += apt + " " + info + " step" + std::to_string(i) + "\n";
  }
  const std::string uu = box.dir.sub("bin/unattended-upgrade");
  write_file(uu, script);
  std::filesystem::permissions(uu, std::filesystem::perms::owner_all);
  RunResult r = rwd::testing::run({uu}, {}, 300);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto p = points();
  ASSERT_EQ(p.size(), 2u) << log();
  EXPECT_EQ(p[0]["kind"], "pre");
  EXPECT_EQ(p[0]["name"], "unattended-upgrades");
  EXPECT_EQ(p[0]["description"],
            "apt: unattended-upgrade step 1\nupgrade pkg1:amd64 1.0 -> 1.1\n"
            "apt: unattended-upgrade step 2\nupgrade pkg2:amd64 1.0 -> 1.1\n"
            "apt: unattended-upgrade step 3\nupgrade pkg3:amd64 1.0 -> 1.1\n");
  EXPECT_EQ(p[1]["kind"], "post");
  EXPECT_EQ(p[1]["pre_id"], p[0]["id"]);
  // Posts 2 and 3 of the earlier steps were forgotten; numbers are not reused.
  EXPECT_EQ(p[1]["id"], 4);
  EXPECT_EQ(box.rw({"dump", "1", "/etc/app.conf"}).out, "v1\n");
  EXPECT_EQ(box.rw({"dump", "4", "/etc/app.conf"}).out, "step3\n");
  EXPECT_EQ(box.rw({"dump", "3", "/etc/app.conf"}).exit_code, 14);
  EXPECT_THAT(log(), HasSubstr("dpkg runs again in unattended-upgrade"));
  EXPECT_THAT(log(), HasSubstr("replaces post point 3 of an earlier step"));
  RunResult v = box.rw({"verify"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
  // A repair brings back exactly the live points (the forgotten ones stay
  // forgotten).
  RunResult rep = box.rw({"repair"});
  ASSERT_EQ(rep.exit_code, 0) << describe(rep);
  EXPECT_EQ(points().size(), 2u);
}

TEST_F(AptHookCli, AHeldLockSkipsThePointAndAptGoesOn) {
  ASSERT_EQ(box.init().exit_code, 0);
  int fd = ::open((box.repo + "/lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string who = "pid 4242 (prune)\n";
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  ASSERT_EQ(::pwrite(fd, who.data(), who.size(), 0), static_cast<ssize_t>(who.size()));
  RunResult r = run_apt("apt-get install -y x", "", "v2");
  ::close(fd);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("skipped: the repository is busy"));
  EXPECT_THAT(log(), HasSubstr("the pre point before dpkg runs skipped: the repository is busy"));
  EXPECT_THAT(log(), HasSubstr("pid 4242 (prune)"));
  EXPECT_THAT(log(), HasSubstr("no post point is taken"));
  EXPECT_TRUE(points().empty());
}

TEST_F(AptHookCli, AFailureIsLoggedAndAptGoesOnUnlessTheConfigurationRefuses) {
  // No repository.
  RunResult r = run_apt("apt-get install -y x", "", "v2");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(log(), HasSubstr("the pre point before dpkg runs failed"));
  EXPECT_THAT(log(), HasSubstr("apt goes on"));
  EXPECT_EQ(read_file(box.at("/etc/app.conf")), "v2\n");

  write_file(box.at("/etc/rewind/conf.d/hooks.toml"), "[hooks]\napt_refuse_on_error = true\n");
  r = run_apt("apt-get install -y x", "", "v3");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(read_file(box.at("/etc/app.conf")), "v2\n") << "apt went on";
  EXPECT_THAT(log(), HasSubstr("apt_refuse_on_error: apt stops"));

  // A wrong key in [hooks] is a failure too, reported with the key.
  write_file(box.at("/etc/rewind/conf.d/hooks.toml"), "[hooks]\napt_refuse = true\n");
  RunResult bad = box.rw({"--json", "hook", "apt-pre"});
  EXPECT_EQ(bad.exit_code, 0) << describe(bad);
  json j = json::parse(bad.out);
  EXPECT_EQ(j["action"], "failed");
  EXPECT_THAT(j["message"].get<std::string>(), HasSubstr("unknown key \"apt_refuse\""));
}

TEST_F(AptHookCli, ABadProtocolIsLoggedAndTheJsonSaysWhatHappened) {
  ASSERT_EQ(box.init().exit_code, 0);
  RunResult pre = box.rw({"--json", "hook", "apt-pre"});
  ASSERT_EQ(pre.exit_code, 0) << describe(pre);
  json j = json::parse(pre.out);
  EXPECT_EQ(j["stage"], "apt-pre");
  EXPECT_EQ(j["action"], "created");
  EXPECT_EQ(j["pre_id"], 1);
  EXPECT_TRUE(j["post_id"].is_null());
  // Protocol version 1 (the Version option missing): only file names.
  RunResult v1 = rwd::testing::run({rwd::testing::rewind_binary(), "--repo", box.repo, "--root",
                                    box.root, "--json", "hook", "apt-pkgs"},
                                   {}, 60, "/var/cache/apt/archives/x.deb\n");
  ASSERT_EQ(v1.exit_code, 0) << describe(v1);
  EXPECT_EQ(json::parse(v1.out)["action"], "failed");
  EXPECT_THAT(log(), HasSubstr("does not start with \"VERSION N\""));
  RunResult ok = rwd::testing::run(
      {rwd::testing::rewind_binary(), "--repo", box.repo, "--root", box.root, "--json", "hook",
       "apt-pkgs"},
      {}, 60,
      protocol("apt-get install y", "y - - none < 1 amd64 same /var/cache/apt/archives/y.deb\n"));
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  json k = json::parse(ok.out);
  EXPECT_EQ(k["action"], "annotated");
  ASSERT_EQ(k["changes"].size(), 1u);
  EXPECT_EQ(k["changes"][0], (json{{"name", "y"},
                                   {"arch", "amd64"},
                                   {"old_version", nullptr},
                                   {"new_version", "1"},
                                   {"action", "install"}}));
  RunResult post = box.rw({"--json", "hook", "apt-post"});
  ASSERT_EQ(post.exit_code, 0) << describe(post);
  EXPECT_EQ(json::parse(post.out)["post_id"], 2);
}

}  // namespace
}  // namespace rwd::itest
