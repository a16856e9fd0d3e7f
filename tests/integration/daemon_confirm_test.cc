// SPDX-License-Identifier: Apache-2.0
// `rewind run --confirm-within` under a real rewindd: not confirmed, the
// daemon rolls the change back after its deadline; confirmed, it stays.
// And `rewind boot-check` after the daemon was killed past a deadline
// (standing in for a reboot) rolls back in its place.
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/daemon_fixture.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

const char kConfig[] =
    "[[component]]\nname = \"app\"\nadapter = \"files\"\npaths = [\"/etc/app\"]\n\n"
    "[health]\ninterval = \"200ms\"\n\n"
    "[daemon]\nverify_interval = \"off\"\nverify_read_data_interval = \"off\"\n"
    "retention_interval = \"off\"\nmetrics_dir = \"\"\n";

class DaemonConfirmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rwd::testing::write_file(box.at("/etc/app/app.conf"), "version = 1\n");
    ASSERT_EQ(box.init().exit_code, 0);
  }
  RunResult run_setting(const std::string& version, const std::string& within) const {
    return box.rw({"--config", d.config(), "run", "--confirm-within", within, "--", "sh", "-c",
                   "echo 'version = " + version + "' > " + box.at("/etc/app/app.conf")});
  }
  std::string conf() const { return rwd::testing::read_file(box.at("/etc/app/app.conf")); }
  json confirmations() const {
    return json::parse(box.rw({"--config", d.config(), "--json", "confirm", "--list"}).out, nullptr,
                       false);
  }

  Sandbox box{"rewind-dconfirm"};
  TestDaemon d{box, kConfig};
};

TEST_F(DaemonConfirmTest, UnconfirmedChangeIsRolledBackByTheDaemon) {
  d.start();
  RunResult r = run_setting("2", "1s");
  ASSERT_EQ(r.exit_code, 0) << describe(r) << d.log();
  EXPECT_EQ(conf(), "version = 2\n");
  // The file comes back during the rollback; the records follow when it ends.
  ASSERT_TRUE(eventually([&] { return d.status()["rollbacks"].size() == 1; }, 20)) << d.log();
  EXPECT_EQ(conf(), "version = 1\n");
  json c = confirmations();
  ASSERT_EQ(c.size(), 1u) << c.dump();
  EXPECT_EQ(c[0]["state"], "rolled-back");
  json st = d.status();
  ASSERT_EQ(st["rollbacks"].size(), 1u) << st.dump();
  EXPECT_EQ(st["rollbacks"][0]["trigger"], "unconfirmed");
  EXPECT_EQ(st["state"], "running");
  EXPECT_NE(d.log().find("[MESSAGE_ID=5b9c3e1f7a2d4c68a0e4b2f9d6c1e327] automatic rollback"),
            std::string::npos)
      << d.log();
}

TEST_F(DaemonConfirmTest, ConfirmedChangeStays) {
  d.start();
  RunResult r = run_setting("2", "1s");
  ASSERT_EQ(r.exit_code, 0) << describe(r) << d.log();
  ASSERT_EQ(box.rw({"--config", d.config(), "confirm"}).exit_code, 0);
  // Well past the deadline, several rounds later.
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  EXPECT_EQ(conf(), "version = 2\n");
  EXPECT_EQ(confirmations()[0]["state"], "confirmed");
  EXPECT_EQ(d.status()["rollbacks"].size(), 0u) << d.log();
}

// The daemon dies (SIGKILL) before the deadline; the machine "reboots" past
// it; the boot unit's `rewind boot-check` rolls the change back.
TEST_F(DaemonConfirmTest, BootCheckEnforcesADeadlinePassedWhileDown) {
  d.start();
  RunResult r = run_setting("2", "1s");
  ASSERT_EQ(r.exit_code, 0) << describe(r) << d.log();
  d.kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_EQ(conf(), "version = 2\n") << "nothing enforced it while the daemon was down";
  RunResult b = box.rw({"--config", d.config(), "--json", "boot-check"});
  EXPECT_EQ(b.exit_code, 4) << describe(b);
  json j = json::parse(b.out, nullptr, false);
  EXPECT_EQ(j["rolled_back"], true) << describe(b);
  EXPECT_EQ(conf(), "version = 1\n");
  EXPECT_EQ(confirmations()[0]["state"], "rolled-back");
  // The audit log names boot-check as the one that decided.
  json entries = audit_entries(box, "boot-check rollback");
  ASSERT_EQ(entries.size(), 2u) << entries.dump(2);
  EXPECT_TRUE(has_argument(entries[0], "trigger=unconfirmed")) << entries[0];
  EXPECT_TRUE(has_argument(entries[1], "result=completed")) << entries[1];
  EXPECT_TRUE(audit_entries(box, "daemon rollback").empty());
  // The daemon's state knows: a restarted daemon sees the rollback.
  d.start();
  EXPECT_EQ(d.status()["rollbacks"].size(), 1u);
  // A second boot-check finds nothing to do.
  RunResult again = box.rw({"--config", d.config(), "boot-check"});
  EXPECT_EQ(again.exit_code, 0) << describe(again);
}

}  // namespace
}  // namespace rwd::itest
