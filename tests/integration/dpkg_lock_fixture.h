// SPDX-License-Identifier: Apache-2.0
// A root whose package state a rollback changes while the real dpkg is run
// against it (dpkg_lock_test.cc: `rewind rollback`; daemon_dpkg_lock_test.cc:
// rewindd's automatic rollback).
#pragma once

#include <filesystem>
#include <string>

#include "integration/integration_helpers.h"

namespace rwd::itest {

// A root with a dpkg database that the real dpkg accepts, one component of
// package state (`adapter`: "packages", or "files" over /var/lib/dpkg) whose
// service's stop command runs `dpkg --root=ROOT --clear-avail` (it needs
// dpkg's lock and changes nothing the test looks at) and writes its exit
// status to dpkg.rc and its output to dpkg.out. `extra` is appended to the
// configuration (ROOT/etc/rewind/rewind.toml, also kept in `config`), each
// "@ROOT@" in it replaced by the sandbox's root.
class DpkgLockFixture {
 public:
  explicit DpkgLockFixture(const std::string& adapter, const std::string& extra = "")
      : box("rewind-dpkglock") {
    dpkg = box.root + "/var/lib/dpkg";
    rc = box.dir.sub("dpkg.rc");
    out = box.dir.sub("dpkg.out");
    rwd::testing::write_file(dpkg + "/status", kStatus);
    rwd::testing::write_file(dpkg + "/available", "");
    std::filesystem::create_directories(dpkg + "/updates");
    std::filesystem::create_directories(dpkg + "/info");
    std::filesystem::create_directories(dpkg + "/triggers");
    const std::string stop =
        "dpkg --root=" + box.root + " --clear-avail >" + out + " 2>&1; echo $? >" + rc;
    config = "[service_manager]\nstop = [\"sh\", \"-c\", \"" + stop +
             "\"]\nstart = [\"true\"]\n\n[[component]]\nname = \"pkgstate\"\n";
    if (adapter == "packages")
      config += "adapter = \"packages\"\n";
    else
      config += "adapter = \"files\"\npaths = [\"/var/lib/dpkg\"]\n";
    config += "services = [\"pkg-svc\"]\n\n" + extra;
    for (size_t at = config.find("@ROOT@"); at != std::string::npos; at = config.find("@ROOT@"))
      config.replace(at, 6, box.root);
    rwd::testing::write_file(box.root + "/etc/rewind/rewind.toml", config);
    EXPECT_EQ(box.init().exit_code, 0);
  }

  // The real dpkg against the root, now.
  RunResult dpkg_now() const {
    return rwd::testing::run({"dpkg", "--root=" + box.root, "--clear-avail"}, {}, 60);
  }

  static constexpr const char* kStatus =
      "Package: foo\nStatus: install ok installed\nPriority: optional\nArchitecture: all\n"
      "Version: 1.0\nDescription: foo\n a test package\n\n";

  // The stop command's dpkg ran while the locks were held and was refused
  // (a lock error), after a rollback described by `what`.
  void expect_dpkg_was_refused(const std::string& what) const {
    ASSERT_TRUE(std::filesystem::exists(rc)) << "the service was never stopped: " << what;
    EXPECT_NE(rwd::testing::read_file(rc), "0\n") << rwd::testing::read_file(out);
    EXPECT_NE(rwd::testing::read_file(out).find("lock"), std::string::npos)
        << rwd::testing::read_file(out);
  }

  Sandbox box;
  std::string dpkg, rc, out, config;
};

inline bool have_dpkg() { return std::filesystem::exists("/usr/bin/dpkg"); }

}  // namespace rwd::itest
