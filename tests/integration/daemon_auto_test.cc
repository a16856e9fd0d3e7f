// SPDX-License-Identifier: Apache-2.0
// rewindd's automatic rollback against a real runit supervision tree: a
// supervised service is broken (its run script replaced and the service
// stopped, as a bad update would), the daemon notices within its interval
// and rolls the services component back; broken again within the guard's
// window, it reports instead of rolling back a second time. Also: pause
// stops automatic action, and resume re-arms it; a person's rollback that
// holds the repository lock wins.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/daemon_fixture.h"
#include "integration/integration_helpers.h"
#include "integration/runit_tree.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

const char kSleeper[] = "#!/bin/sh\nexec sleep 1000\n";
const char kBroken[] = "#!/bin/sh\necho broken by an update >&2\nexit 1\n";

std::string config(const RunitTree& t, const std::string& extra_daemon = "") {
  return "[[component]]\nname = \"svc\"\nadapter = \"services\"\ncategory = "
         "\"system_services\"\nmanager = \"runit\"\nunits = [\"app\"]\nsv = [\"" +
         t.wrapper() +
         "\"]\ntimeout = \"10s\"\n\n"
         "[auto_rollback]\nenabled = true\ntriggers = [\"service-failure\"]\n\n"
         "[health]\ninterval = \"200ms\"\n\n"
         "[daemon]\nverify_interval = \"off\"\n"
         "verify_read_data_interval = \"off\"\nretention_interval = \"off\"\n"
         "metrics_dir = \"/metrics\"\n" +
         extra_daemon;
}

class DaemonAutoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree.add("app", kSleeper);
    ASSERT_EQ(box.init().exit_code, 0);
    std::filesystem::create_directories(box.at("/metrics"));
    tree.start();
    ASSERT_TRUE(tree.wait_running("app", true));
  }

  // What a failed update does to the service.
  void break_service() {
    std::filesystem::remove(tree.sv_dir() + "/app/run");
    rwd::testing::write_file(tree.sv_dir() + "/app/run", kBroken, 0755);
    tree.sv("down", "app");
    ASSERT_TRUE(tree.wait_running("app", false));
  }

  size_t points_of_kind(const std::string& kind) const {
    json pts = json::parse(box.rw({"--json", "list"}).out);
    size_t n = 0;
    for (const auto& p : pts) n += p["kind"] == kind;
    return n;
  }

  Sandbox box{"rewind-dauto"};
  RunitTree tree{box};
};

TEST_F(DaemonAutoTest, FailedServiceIsRolledBackOnceThenReported) {
  TestDaemon d(box, config(tree));
  ASSERT_EQ(box.rw({"-q", "--config", d.config(), "create", "-n", "good"}).exit_code, 0);
  d.start();
  // Healthy: the daemon leaves it alone.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(d.status()["rollbacks"].size(), 0u) << d.log();

  break_service();
  ASSERT_TRUE(eventually([&] { return d.status()["rollbacks"].size() == 1; }, 30)) << d.log();
  ASSERT_TRUE(tree.wait_running("app", true)) << tree.status("app") << d.log();
  EXPECT_EQ(rwd::testing::read_file(tree.sv_dir() + "/app/run"), kSleeper);
  json rb = d.status()["rollbacks"][0];
  EXPECT_EQ(rb["trigger"], "service-failure");
  EXPECT_EQ(rb["point"], 1);
  EXPECT_EQ(rb["result"], "completed");
  EXPECT_GT(rb["safety"].get<int64_t>(), 1);
  EXPECT_EQ(points_of_kind("safety"), 1u);
  // The log line with its stable id, and the notice for the next login.
  EXPECT_NE(d.log().find("[MESSAGE_ID=3f5d2c8a9b1e4f07a6c2d9e8b7f1a042] automatic rollback to "
                         "recovery point 1"),
            std::string::npos)
      << d.log();
  std::string motd = rwd::testing::read_file(box.at("/run/motd.d/rewind"));
  EXPECT_NE(motd.find("automatic rollback to recovery point 1"), std::string::npos) << motd;
  EXPECT_NE(motd.find("service-failure"), std::string::npos) << motd;
  EXPECT_NE(motd.find("rewind undo"), std::string::npos) << motd;
  EXPECT_EQ(d.status()["state"], "running");

  // Broken again within the hour: no second rollback, a report instead.
  break_service();
  ASSERT_TRUE(eventually(
      [&] {
        return d.status().value("last_refusal", "").find("max_rollbacks") != std::string::npos;
      },
      20))
      << d.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(d.status()["rollbacks"].size(), 1u) << d.log();
  EXPECT_FALSE(tree.running("app"));
  EXPECT_EQ(points_of_kind("safety"), 1u);
  EXPECT_NE(d.log().find("[MESSAGE_ID=8a4e6f2b1c9d4d3eb5f7a0c2e6d1b958] service-failure fired"),
            std::string::npos)
      << d.log();
  // The metrics count the one rollback.
  EXPECT_NE(rwd::testing::read_file(box.at("/metrics/rewind.prom"))
                .find("rewind_auto_rollbacks_total{trigger=\"service-failure\"} 1\n"),
            std::string::npos);

  // Every decision is in the audit log (issue 6), as the daemon's own
  // (uid 0): the rollback when it started and when it finished, with its
  // trigger, target and result, then the refusal; and the log verifies.
  json rollbacks = audit_entries(box, "daemon rollback");
  ASSERT_EQ(rollbacks.size(), 2u) << rollbacks.dump(2);
  EXPECT_EQ(rollbacks[0]["arguments"][0], "started") << rollbacks[0];
  EXPECT_TRUE(has_argument(rollbacks[0], "trigger=service-failure")) << rollbacks[0];
  EXPECT_TRUE(has_argument(rollbacks[0], "point=1")) << rollbacks[0];
  EXPECT_EQ(rollbacks[1]["arguments"][0], "finished") << rollbacks[1];
  EXPECT_TRUE(has_argument(rollbacks[1], "trigger=service-failure")) << rollbacks[1];
  EXPECT_TRUE(has_argument(rollbacks[1], "point=1")) << rollbacks[1];
  EXPECT_TRUE(has_argument(rollbacks[1], "scope=full")) << rollbacks[1];
  EXPECT_TRUE(has_argument(rollbacks[1], "result=completed")) << rollbacks[1];
  EXPECT_EQ(rollbacks[1]["result"], 0);
  EXPECT_EQ(rollbacks[1]["uid"], 0);
  json refusals = audit_entries(box, "daemon refuse");
  ASSERT_GE(refusals.size(), 1u) << refusals.dump(2);
  EXPECT_TRUE(has_argument(refusals[0], "trigger=service-failure")) << refusals[0];
  EXPECT_NE(refusals[0]["message"].get<std::string>().find("max_rollbacks"), std::string::npos)
      << refusals[0];
  RunResult v = box.rw({"audit", "--verify"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
}

TEST_F(DaemonAutoTest, PauseStopsAutomaticActionUntilResume) {
  TestDaemon d(box, config(tree));
  ASSERT_EQ(box.rw({"-q", "--config", d.config(), "create", "-n", "good"}).exit_code, 0);
  d.start();
  ASSERT_EQ(d.client({"pause", "--reason", "test"}).exit_code, 0);
  break_service();
  // Several rounds pass without action.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(d.status()["rollbacks"].size(), 0u) << d.log();
  EXPECT_FALSE(tree.running("app"));
  EXPECT_EQ(points_of_kind("safety"), 0u);
  EXPECT_NE(d.status().value("last_refusal", "").find("paused"), std::string::npos);
  // The refusal is recorded once, not at every round.
  json refusals = audit_entries(box, "daemon refuse");
  ASSERT_EQ(refusals.size(), 1u) << refusals.dump(2);
  EXPECT_NE(refusals[0]["message"].get<std::string>().find("paused"), std::string::npos);

  ASSERT_EQ(d.client({"resume"}).exit_code, 0);
  ASSERT_TRUE(eventually([&] { return d.status()["rollbacks"].size() == 1; }, 30)) << d.log();
  EXPECT_TRUE(tree.wait_running("app", true)) << d.log();
}

// A person's `rewind rollback` always wins: while it holds the repository
// lock (held still through the io seam before its first rename), the
// service has failed and the trigger is armed, yet the daemon does not roll
// back and records that once, not at every round; the person's rollback
// then finishes and the daemon has nothing left to do.
TEST_F(DaemonAutoTest, PersonsRollbackHoldingTheLockWins) {
  TestDaemon d(box, config(tree));
  ASSERT_EQ(box.rw({"-q", "--config", d.config(), "create", "-n", "good"}).exit_code, 0);
  break_service();
  pid_t pid = spawn({rwd::testing::rewind_faulty_binary(), "--repo", box.repo, "--root", box.root,
                     "--config", d.config(), "-q", "rollback", "1"},
                    {"REWIND_FAULT=stop:rename:1"});
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << "the rollback ended before its first rename: " << status;
  const std::string holder = rwd::testing::read_file(box.repo + "/lock");
  ASSERT_NE(holder.find(fmt::format("pid {} (rollback)", pid)), std::string::npos) << holder;

  d.start();
  ASSERT_TRUE(eventually(
      [&] {
        return d.status().value("last_refusal", "").find("holds the repository lock") !=
               std::string::npos;
      },
      20))
      << d.log();
  // Several more rounds (200 ms each) while the lock stays held.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(d.status()["rollbacks"].size(), 0u) << d.log();
  EXPECT_FALSE(tree.running("app"));
  EXPECT_NE(d.status().value("last_refusal", "").find(fmt::format("pid {} (rollback)", pid)),
            std::string::npos)
      << d.status();

  ::kill(pid, SIGCONT);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  reaper.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(tree.wait_running("app", true)) << tree.status("app");
  EXPECT_EQ(rwd::testing::read_file(tree.sv_dir() + "/app/run"), kSleeper);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(d.status()["rollbacks"].size(), 0u) << d.log();

  // One refusal naming the holder; no rollback recorded as started.
  json refusals = audit_entries(box, "daemon refuse");
  ASSERT_EQ(refusals.size(), 1u) << refusals.dump(2);
  EXPECT_TRUE(has_argument(refusals[0], "trigger=service-failure")) << refusals[0];
  EXPECT_NE(refusals[0]["message"].get<std::string>().find("(rollback) holds the repository lock"),
            std::string::npos)
      << refusals[0];
  EXPECT_EQ(audit_entries(box, "daemon rollback").size(), 0u);
  RunResult v = box.rw({"audit", "--verify"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
}

// Still failing after the rollback (the only point holds the service
// enabled but stopped, so going back to it cannot help): the daemon goes to
// the `attention` state, keeps it across a restart, and stops acting until
// a person resumes it.
TEST_F(DaemonAutoTest, StillFailingAfterRollbackMeansAttention) {
  TestDaemon d(box, config(tree));
  // The point is taken while the service is down: rolling back to it
  // cannot bring the service up.
  tree.sv("down", "app");
  ASSERT_TRUE(tree.wait_running("app", false));
  ASSERT_EQ(box.rw({"-q", "--config", d.config(), "create", "-n", "down"}).exit_code, 0);
  d.start();
  ASSERT_TRUE(eventually([&] { return d.status()["state"] == "attention"; }, 30)) << d.log();
  EXPECT_EQ(d.status()["rollbacks"].size(), 1u);
  EXPECT_NE(d.log().find("[MESSAGE_ID=c71e0b6d4a2f4e59b8d3a1f6e2c9b713] attention"),
            std::string::npos)
      << d.log();
  json attention = audit_entries(box, "daemon attention");
  ASSERT_EQ(attention.size(), 1u) << attention.dump(2);
  EXPECT_TRUE(has_argument(attention[0], "point=1")) << attention[0];
  EXPECT_NE(attention[0]["message"].get<std::string>().find("still failing"), std::string::npos)
      << attention[0];
  // Persisted: a restart stays in attention.
  EXPECT_EQ(d.stop(), 0);
  d.start();
  EXPECT_EQ(d.status()["state"], "attention");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(d.status()["rollbacks"].size(), 1u);
  ASSERT_EQ(d.client({"resume"}).exit_code, 0);
  EXPECT_EQ(d.status()["attention"], false);
}

}  // namespace
}  // namespace rwd::itest
