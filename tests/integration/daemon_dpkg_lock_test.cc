// SPDX-License-Identifier: Apache-2.0
// dpkg itself against a root whose package state rewindd is rolling back on
// its own (issue 5: "while the daemon rolls back package state, `dpkg`
// itself run against that root is refused its lock"). The set-up is
// dpkg_lock_test.cc's (dpkg_lock_fixture.h); here the rollback is not a
// person's `rewind rollback` but the daemon's answer to a critical health
// check that the changed package state fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "integration/daemon_fixture.h"
#include "integration/dpkg_lock_fixture.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

// The daemon's settings on top of the fixture's component: a critical check
// that fails once package "bar" appears in the status file, armed, checked
// every 200 ms; nothing scheduled.
const char kDaemonSettings[] =
    "[[check]]\nname = \"no-bar\"\ncommand = \"! grep -q '^Package: bar' "
    "@ROOT@/var/lib/dpkg/status\"\ntimeout = \"10s\"\ncritical = true\n\n"
    "[auto_rollback]\nenabled = true\ntriggers = [\"health-critical\"]\n\n"
    "[health]\ninterval = \"200ms\"\n\n"
    "[daemon]\nverify_interval = \"off\"\nverify_read_data_interval = \"off\"\n"
    "retention_interval = \"off\"\nmetrics_dir = \"\"\n";

class DaemonDpkgLock : public ::testing::TestWithParam<std::string> {};

TEST_P(DaemonDpkgLock, RealDpkgIsRefusedItsLockWhileTheDaemonRollsBack) {
  // Situation: a healthy point of the package state, then a package
  // appears and the check goes critical. Expectation: rewindd rolls the
  // component back (trigger health-critical); the service's stop command,
  // run during that rollback, finds dpkg refused its lock; afterwards dpkg
  // gets it again.
  if (!have_dpkg()) GTEST_SKIP() << "no dpkg on this machine";
  if (::geteuid() != 0) GTEST_SKIP() << "dpkg --clear-avail needs root";
  DpkgLockFixture f(GetParam(), kDaemonSettings);
  ASSERT_EQ(f.dpkg_now().exit_code, 0);
  RunResult cr = f.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);

  TestDaemon d(f.box, f.config);
  d.start();
  rwd::testing::write_file(f.dpkg + "/status", std::string(DpkgLockFixture::kStatus) +
                                                   "Package: bar\nStatus: install ok installed\n"
                                                   "Priority: optional\nArchitecture: all\n"
                                                   "Version: 2.0\nDescription: bar\n another\n\n");
  ASSERT_TRUE(eventually([&] { return d.status()["rollbacks"].size() == 1; }, 30)) << d.log();
  nlohmann::json rb = d.status()["rollbacks"][0];
  EXPECT_EQ(rb["trigger"], "health-critical") << rb.dump();
  EXPECT_EQ(rb["point"], 1) << rb.dump();
  EXPECT_EQ(rb["result"], "completed") << rb.dump() << d.log();
  if (GetParam() == "files") {
    EXPECT_EQ(rwd::testing::read_file(f.dpkg + "/status"), DpkgLockFixture::kStatus);
  }

  f.expect_dpkg_was_refused(d.log());
  RunResult after = f.dpkg_now();
  EXPECT_EQ(after.exit_code, 0) << describe(after);
}

INSTANTIATE_TEST_SUITE_P(PackageState, DaemonDpkgLock, ::testing::Values("files", "packages"));

}  // namespace
}  // namespace rwd::itest
