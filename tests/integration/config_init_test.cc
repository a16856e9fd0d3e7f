// SPDX-License-Identifier: Apache-2.0
// rewind config init on a small fake system root: what it detects (/etc,
// the system files with the package database, dpkg, runit and systemd
// services, SQLite databases under /var/lib, a PostgreSQL socket), that the
// file it writes loads (`config validate`), that no two components overlap,
// that the repository is excluded, and that it never overwrites without
// --force.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

using rwd::testing::read_file;
using rwd::testing::write_file;

// A root with /etc, /usr, /boot, dpkg, one runit service, one enabled
// systemd unit, a SQLite database under /var/lib and a PostgreSQL socket
// name (a plain file: nothing listens, so its databases cannot be listed).
void make_root(const Sandbox& s) {
  write_file(s.at("/etc/hostname"), "test\n");
  write_file(s.at("/etc/sv/app/run"), "#!/bin/sh\nexec sleep 1000\n");
  std::filesystem::create_directories(s.at("/etc/service"));
  std::filesystem::create_directory_symlink("/etc/sv/app", s.at("/etc/service/app"));
  std::filesystem::create_directories(s.at("/etc/systemd/system/multi-user.target.wants"));
  std::filesystem::create_symlink("/lib/systemd/system/cron.service",
                                  s.at("/etc/systemd/system/multi-user.target.wants/cron.service"));
  write_file(s.at("/usr/bin/tool"), "binary\n");
  write_file(s.at("/boot/vmlinuz"), "kernel\n");
  write_file(
      s.at("/var/lib/dpkg/status"),
      "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n");
  std::filesystem::create_directories(s.at("/var/lib/app"));
  RunResult r = rwd::testing::run(
      {"sqlite3", s.at("/var/lib/app/app.db"), "CREATE TABLE t(x); INSERT INTO t VALUES (1);"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  write_file(s.at("/var/lib/app/notes.txt"), "not a database\n");
  write_file(s.at("/run/postgresql/.s.PGSQL.5433"), "");
}

TEST(ConfigInit, WritesAConfigurationThatLoadsWithoutOverlaps) {
  // The generated file validates; /etc, the system files and the packages
  // (after "system") are components; no two components' paths overlap; the
  // services, the database and the cluster are in the text (active when
  // this build has their adapter, else commented out with the reason).
  Sandbox s("rewind-cfginit");
  make_root(s);
  RunResult r = s.rw({"config", "init"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::string text = read_file(s.at("/etc/rewind/rewind.toml"));
  ASSERT_FALSE(text.empty());
  r = s.rw({"--json", "config", "validate"});
  ASSERT_EQ(r.exit_code, 0) << describe(r) << "\n" << text;
  json v = json::parse(r.out);
  std::map<std::string, json> comps;
  for (const auto& c : v["components"]) comps[c["name"].get<std::string>()] = c;
  ASSERT_TRUE(comps.contains("etc")) << r.out;
  EXPECT_EQ(comps["etc"]["paths"], json::array({"/etc"}));
  EXPECT_EQ(comps["etc"]["category"], "configuration");
  ASSERT_TRUE(comps.contains("system")) << r.out;
  EXPECT_EQ(comps["system"]["paths"], json::array({"/boot", "/usr", "/var/lib/dpkg"}));
  EXPECT_EQ(comps["system"]["category"], "other");
  ASSERT_TRUE(comps.contains("packages")) << r.out;
  EXPECT_EQ(comps["packages"]["depends_on"], json::array({"system"}));
  // Dependency order: packages after system.
  std::vector<std::string> order;
  for (const auto& c : v["components"]) order.push_back(c["name"]);
  EXPECT_LT(std::find(order.begin(), order.end(), "system") - order.begin(),
            std::find(order.begin(), order.end(), "packages") - order.begin());
  // No overlaps among every component's paths.
  std::vector<std::string> all;
  for (const auto& [n, c] : comps)
    for (const auto& p : c["paths"]) all.push_back(p);
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = 0; j < all.size(); ++j) {
      if (i == j) continue;
      EXPECT_FALSE(within(all[i], all[j])) << all[i] << " within " << all[j];
    }
  // Detected services, the database (always a commented suggestion) and the
  // cluster (commented: nothing answers on its socket).
  EXPECT_NE(text.find("manager = \"runit\""), std::string::npos) << text;
  EXPECT_NE(text.find("units = [\"app\"]"), std::string::npos) << text;
  EXPECT_NE(text.find("manager = \"systemd\""), std::string::npos) << text;
  EXPECT_NE(text.find("units = [\"cron.service\"]"), std::string::npos) << text;
  EXPECT_NE(text.find("# path = \"/var/lib/app/app.db\""), std::string::npos) << text;
  EXPECT_EQ(text.find("notes.txt"), std::string::npos) << text;
  EXPECT_NE(text.find("# port = 5433"), std::string::npos) << text;
  // Kernel state: no /proc under this root, so commented out with the reason.
  EXPECT_NE(text.find("# (this root has no /proc/sys)"), std::string::npos) << text;
  // Services are restored after the files they run from (when active).
  if (comps.contains("services")) {
    EXPECT_EQ(comps["services"]["depends_on"], json::array({"etc", "system"}));
  }
}

TEST(ConfigInit, RefusesToOverwriteWithoutForceAndPrintsWithStdout) {
  // A second init fails (invalid state, 16) and leaves the file as it was;
  // --stdout prints the text without writing; --force replaces the file.
  Sandbox s("rewind-cfginit");
  make_root(s);
  ASSERT_EQ(s.rw({"config", "init"}).exit_code, 0);
  const std::string path = s.at("/etc/rewind/rewind.toml");
  write_file(path, "# trimmed by a person\n");
  RunResult r = s.rw({"config", "init"});
  EXPECT_EQ(r.exit_code, 16) << describe(r);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << describe(r);
  EXPECT_EQ(read_file(path), "# trimmed by a person\n");
  r = s.rw({"config", "init", "--stdout"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("[[component]]"), std::string::npos);
  EXPECT_EQ(read_file(path), "# trimmed by a person\n");
  RunResult forced = s.rw({"config", "init", "--force"});
  EXPECT_EQ(forced.exit_code, 0) << describe(forced);
  EXPECT_EQ(read_file(path), r.out);
}

TEST(ConfigInit, ExcludesTheRepositoryAndSkipsItsCatalog) {
  // A repository inside the system files (/usr/rewind-repo) is named in
  // [repository] and excluded from "system"; its SQLite catalog is no
  // suggestion, and neither is one under /var/lib/dpkg.
  Sandbox s("rewind-cfginit");
  make_root(s);
  const std::string repo = s.at("/usr/rewind-repo");
  RunResult r = rwd::testing::run({"sqlite3", s.at("/var/lib/dpkg/x.db"), "CREATE TABLE t(x);"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = rwd::testing::run({rwd::testing::rewind_binary(), "--root", s.root, "--repo", repo, "config",
                         "init", "--stdout"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("path = \"/usr/rewind-repo\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exclude = [\"/usr/rewind-repo\"]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("x.db"), std::string::npos) << r.out;
  // The same with the repository under /var/lib: its catalog is skipped.
  const std::string repo2 = s.at("/var/lib/rewind");
  r = rwd::testing::run({rwd::testing::rewind_binary(), "--root", s.root, "--repo", repo2, "init"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = rwd::testing::run({rwd::testing::rewind_binary(), "--root", s.root, "--repo", repo2, "config",
                         "init", "--stdout"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.find("/var/lib/rewind/"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# path = \"/var/lib/app/app.db\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rwd::itest
