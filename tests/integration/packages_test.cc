// SPDX-License-Identifier: Apache-2.0
// The packages adapter through the real binary: capture of a dpkg status
// file under a temporary root, diff and show, and rollback with and without
// --apply-packages (apt-get is a stand-in script that records its argv and
// installs a prepared status file, as apt would change dpkg's database), and
// with a files component of /var/lib/dpkg restored first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

std::string pkg(const std::string& name, const std::string& version, const std::string& arch,
                const std::string& state = "install ok installed") {
  return "Package: " + name + "\nStatus: " + state + "\nPriority: optional\nArchitecture: " + arch +
         "\nVersion: " + version + "\nDescription: " + name + "\n a test package\n\n";
}

// dpkg 1.21.22, libfoo 1.0-1, bar 2:2.0-1 (held), tzdata (all).
const std::string kBefore = pkg("dpkg", "1.21.22", "amd64") + pkg("libfoo", "1.0-1", "amd64") +
                            pkg("bar", "2:2.0-1", "amd64", "hold ok installed") +
                            pkg("tzdata", "2024a-0+deb12u1", "all");
// libfoo upgraded to 1.0-1+b1, bar downgraded to 2:2.0~rc1-1 and unheld,
// tzdata removed, less (and its i386 library) installed.
const std::string kAfter = pkg("dpkg", "1.21.22", "amd64") + pkg("libfoo", "1.0-1+b1", "amd64") +
                           pkg("bar", "2:2.0~rc1-1", "amd64") + pkg("less", "590-2", "amd64") +
                           pkg("libless", "590-2", "i386");

using rwd::testing::read_file;
using rwd::testing::write_file;

class PackagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(s.init().exit_code, 0);
    status = s.at("/var/lib/dpkg/status");
    write_file(status, kBefore);
    // The stand-in for apt-get: records its argv, then leaves dpkg's
    // database as the prepared file says (or fails when told to).
    apt = s.dir.sub("apt-get");
    write_file(apt, "#!/bin/sh\necho \"$*\" >> " + s.dir.sub("apt.log") + "\n[ -f " +
                        s.dir.sub("apt.fail") + " ] && exit 100\n[ -f " + s.dir.sub("apt.result") +
                        " ] && cp " + s.dir.sub("apt.result") + " " + status + "\nexit 0\n");
    std::filesystem::permissions(apt, std::filesystem::perms::owner_all);
  }

  void configure(const std::string& extra_components = "", const std::string& packages_extra = "") {
    write_file(s.at("/etc/rewind/rewind.toml"), extra_components +
                                                    "[[component]]\nname = \"packages\"\n"
                                                    "adapter = \"packages\"\napt_get = [\"" +
                                                    apt + "\"]\n" + packages_extra);
  }

  json rw_json(const std::vector<std::string>& args, int want_exit = 0) {
    std::vector<std::string> a{"--json"};
    a.insert(a.end(), args.begin(), args.end());
    RunResult r = s.rw(a);
    EXPECT_EQ(r.exit_code, want_exit) << describe(r);
    return json::parse(r.out, nullptr, false);
  }

  Sandbox s{"rewind-pkg"};
  std::string status, apt;
};

std::vector<std::string> changes_of(const json& diff) {
  std::vector<std::string> out;
  for (const auto& c : diff["changes"])
    out.push_back(c["path"].get<std::string>() + " " + c["change"].get<std::string>() + " " +
                  c["detail"].get<std::string>());
  return out;
}

TEST_F(PackagesTest, DiffShowsInstalledRemovedUpgradedDowngradedAndHolds) {
  // Two points around an "upgrade": diff between them and from the first to
  // the live system name each package with its versions, by Debian's order
  // (2:2.0~rc1-1 is older than 2:2.0-1); show counts the first point.
  configure();
  int64_t p1 = s.create({});
  write_file(status, kAfter);
  int64_t p2 = s.create({});
  const std::vector<std::string> want{"bar downgraded 2:2.0-1 -> 2:2.0~rc1-1",
                                      "bar held held -> not held",
                                      "less installed 590-2",
                                      "libfoo upgraded 1.0-1 -> 1.0-1+b1",
                                      "libless:i386 installed 590-2",
                                      "tzdata removed 2024a-0+deb12u1"};
  EXPECT_EQ(changes_of(rw_json({"diff", std::to_string(p1), std::to_string(p2)})), want);
  EXPECT_EQ(changes_of(rw_json({"diff", std::to_string(p1)})), want);
  // The text summary counts the package kinds too.
  RunResult text = s.rw({"diff", std::to_string(p1)});
  EXPECT_THAT(text.out, ::testing::HasSubstr("+ less\n    590-2\n")) << describe(text);
  EXPECT_THAT(text.out, ::testing::HasSubstr(", 1 downgraded, 1 held, 2 installed, 1 upgraded\n"))
      << describe(text);
  json show = rw_json({"show", std::to_string(p1)});
  const json& d = show["components"][0]["details"];
  EXPECT_EQ(d["installed"], 4);
  EXPECT_EQ(d["held"], 1);
  EXPECT_EQ(d["architecture"], "amd64");
  EXPECT_EQ(d["restorable"], json::array({"installed packages"}));
}

TEST_F(PackagesTest, RollbackWithoutTheFlagPrintsAptLinesAndChangesNothing) {
  // No files component restores /var/lib/dpkg: the rollback reports the
  // apt-get lines (install at the point's versions, with --allow-downgrades
  // for the upgrade that goes back; remove what was added) and runs nothing.
  configure();
  int64_t p1 = s.create({});
  write_file(status, kAfter);
  json r = rw_json({"rollback", std::to_string(p1), "-y"});
  std::string warnings = r["warnings"].dump();
  EXPECT_NE(warnings.find("--apply-packages"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("old versions may be gone from the mirrors"), std::string::npos);
  EXPECT_NE(
      warnings.find(
          apt + " install -y --allow-downgrades bar=2:2.0-1 libfoo=1.0-1 tzdata=2024a-0+deb12u1"),
      std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find(apt + " remove -y less libless:i386"), std::string::npos) << warnings;
  EXPECT_EQ(read_file(status), kAfter);
  EXPECT_FALSE(exists_nofollow(s.dir.sub("apt.log")));
}

TEST_F(PackagesTest, ApplyPackagesRunsAptGetAndChecksTheResult) {
  // With --apply-packages the same lines run (through the stand-in, which
  // leaves the point's database behind), and the rollback completes.
  configure();
  int64_t p1 = s.create({});
  write_file(status, kAfter);
  write_file(s.dir.sub("apt.result"), kBefore);
  json r = rw_json({"rollback", std::to_string(p1), "-y", "--apply-packages"});
  EXPECT_EQ(r["state"], "completed") << r.dump();
  EXPECT_EQ(read_file(s.dir.sub("apt.log")),
            "install -y --allow-downgrades bar=2:2.0-1 libfoo=1.0-1 tzdata=2024a-0+deb12u1\n"
            "remove -y less libless:i386\n");
  EXPECT_EQ(read_file(status), kBefore);
  EXPECT_EQ(changes_of(rw_json({"diff", std::to_string(p1)})), std::vector<std::string>{});
}

TEST_F(PackagesTest, ApplyPackagesFailsWhenAptGetFailsOrLeavesADifference) {
  // apt-get exiting 100 (a version gone from the mirror) fails the component
  // and says why; so does an apt-get that "succeeds" but leaves the set
  // different. The component is not critical: the rollback is partial (3).
  configure();
  int64_t p1 = s.create({});
  write_file(status, kAfter);
  write_file(s.dir.sub("apt.fail"), "");
  RunResult r = s.rw({"rollback", std::to_string(p1), "-y", "--apply-packages"});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.err.find("exited with status 100"), std::string::npos) << describe(r);
  std::filesystem::remove(s.dir.sub("apt.fail"));
  r = s.rw({"rollback", std::to_string(p1), "-y", "--apply-packages"});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_NE(r.err.find("still differ"), std::string::npos) << describe(r);
}

TEST_F(PackagesTest, FilesComponentOfDpkgRestoresFirstAndLeavesNothingToDo) {
  // A files component of /var/lib/dpkg that packages depends on: it brings
  // the status file back byte for byte, so the packages component finds
  // nothing to do (no apt-get lines, even with --apply-packages).
  configure("[[component]]\nname = \"dpkg\"\nadapter = \"files\"\npaths = [\"/var/lib/dpkg\"]\n\n",
            "depends_on = [\"dpkg\"]\n");
  int64_t p1 = s.create({});
  write_file(status, kAfter);
  json r = rw_json({"rollback", std::to_string(p1), "-y", "--apply-packages"});
  EXPECT_EQ(r["state"], "completed") << r.dump();
  EXPECT_EQ(r["warnings"], json::array()) << r.dump();
  EXPECT_EQ(read_file(status), kBefore);
  EXPECT_FALSE(exists_nofollow(s.dir.sub("apt.log")));
}

TEST_F(PackagesTest, SettingsAreChecked) {
  // Unknown keys name themselves and the known ones; wrong types name the
  // expected type; a bad duration is refused. All are configuration errors (2).
  configure("", "colour = \"blue\"\n");
  RunResult r = s.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("no key \"colour\" (known: status_file, apt_get, timeout)"),
            std::string::npos)
      << describe(r);
  write_file(s.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"packages\"\nadapter = \"packages\"\napt_get = \"apt-get\"\n");
  r = s.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("apt_get must be an array of strings"), std::string::npos) << describe(r);
  configure("", "timeout = \"soon\"\n");
  r = s.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("timeout"), std::string::npos) << describe(r);
  configure("", "status_file = \"/var/lib/dpkg/status\"\ntimeout = \"30m\"\n");
  r = s.rw({"config", "validate"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST_F(PackagesTest, MissingStatusFileIsNotFound) {
  // A root without dpkg: create fails naming the file and what to do (14).
  configure();
  std::filesystem::remove(status);
  RunResult r = s.rw({"create"});
  EXPECT_EQ(r.exit_code, 14) << describe(r);
  EXPECT_NE(r.err.find("/var/lib/dpkg/status does not exist"), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace rwd::itest
