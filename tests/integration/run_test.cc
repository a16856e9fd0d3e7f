// SPDX-License-Identifier: Apache-2.0
// rewind run: a command between a pre and a post point, rolled back by
// itself when it exits non-zero, runs past --timeout or breaks a check.
// Everything happens under a sandbox root: a configured tree /etc/app and a
// real SQLite database /var/lib/app/app.db.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/integration_helpers.h"
#include "integration/sqlite_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

class RunFixture {
 public:
  explicit RunFixture(const std::string& extra = "") : box("rewind-run") {
    rwd::testing::write_file(box.at("/etc/app/app.conf"), "port = 80\n");
    rwd::testing::write_file(box.at("/etc/app/conf.d/a.conf"), "a = 1\n");
    std::filesystem::create_directories(box.at("/var/lib/app"));
    {
      Conn c(box.at(kDb));
      c.exec(
          "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES('one'),"
          "('two');");
    }
    rwd::testing::write_file(box.at("/etc/rewind/rewind.toml"),
                             "[[component]]\nname = \"etc\"\nadapter = \"files\"\npaths = "
                             "[\"/etc/app\"]\n\n"
                             "[[component]]\nname = \"appdb\"\nadapter = \"sqlite\"\npath = \"" +
                                 kDb + "\"\n\n" + extra);
    EXPECT_EQ(box.init().exit_code, 0);
    copy_tree(box.at("/etc/app"), box.dir.sub("etc-before"));
    db_before = Conn(box.at(kDb)).dump();
  }

  // A shell script that changes the tree and the database, then runs `tail`.
  std::string change_then(const std::string& tail) const {
    return "echo 'port = 8080' > " + box.at("/etc/app/app.conf") + " && rm " +
           box.at("/etc/app/conf.d/a.conf") + " && echo new > " + box.at("/etc/app/new.conf") +
           " && sqlite3 " + box.at(kDb) +
           " \"UPDATE t SET v='changed'; INSERT INTO t(v) VALUES('three');\" && " + tail;
  }

  void expect_restored() const {
    EXPECT_EQ(rwd::testing::tree_diff(box.dir.sub("etc-before"), box.at("/etc/app")), "");
    EXPECT_EQ(Conn(box.at(kDb)).dump(), db_before);
  }

  // The JSON report `run --json` writes as its last stderr line.
  static json report(const RunResult& r) {
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    const size_t nl = err.rfind('\n');
    json j = json::parse(nl == std::string::npos ? err : err.substr(nl + 1), nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "no JSON report on stderr: " << describe(r);
    return j;
  }

  json rw_json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    RunResult r = box.rw(args);
    json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << describe(r);
    return j;
  }

  Sandbox box;
  std::string db_before;
};

TEST(Run, FailedCommandIsRolledBackAndTheRecordNamesTheTrigger) {
  // The command changes the tree and the database, then exits 1: rewind
  // rolls both back to the pre point and exits 4; its output passes through.
  RunFixture f;
  RunResult r = f.box.rw(
      {"--json", "run", "-n", "upgrade", "--", "sh", "-c", f.change_then("echo out; exit 1")});
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.out, "out\n") << "the command's stdout passes through untouched";
  f.expect_restored();
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["trigger"], "update-failure") << rep.dump(1);
  EXPECT_EQ(rep["exit_status"], 1);
  EXPECT_EQ(rep["rollback"]["result"], "completed") << rep.dump(1);
  EXPECT_EQ(rep["rollback"]["trigger"], "update-failure");
  EXPECT_TRUE(rep["post"].is_null());
  const int64_t pre = rep["pre"].get<int64_t>();
  // The catalog's record, as `show` reports it.
  json show = f.rw_json({"show", std::to_string(pre)});
  EXPECT_EQ(show["kind"], "pre");
  ASSERT_EQ(show["auto_rollbacks"].size(), 1u) << show.dump(1);
  EXPECT_EQ(show["auto_rollbacks"][0]["trigger"], "update-failure");
  EXPECT_EQ(show["auto_rollbacks"][0]["result"], "completed");
  EXPECT_EQ(show["auto_rollbacks"][0]["components"], json::array({"etc", "appdb"}));
}

TEST(Run, CommandPastTheTimeoutIsStoppedAndRolledBack) {
  // The command changes things and sleeps past --timeout: its process group
  // is stopped (also the sleeping child) and everything is rolled back.
  RunFixture f;
  const std::string marker = f.box.dir.sub("late");
  const auto start = std::chrono::steady_clock::now();
  RunResult r = f.box.rw({"--json", "run", "--timeout", "1s", "--", "sh", "-c",
                          f.change_then("sleep 30; touch " + marker)});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_LT(took, std::chrono::seconds(20)) << "the command was not stopped";
  f.expect_restored();
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["trigger"], "timeout") << rep.dump(1);
  EXPECT_EQ(rep["timed_out"], true);
  EXPECT_EQ(rep["rollback"]["result"], "completed");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

// How many processes of process group `pgid` are alive (zombies not
// counted: an orphan waits for PID 1 to reap it, which may take a while).
int live_in_group(pid_t pgid) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = rwd::testing::read_file(e.path() / "stat");
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') ++n;
  }
  return n;
}

TEST(Run, SignalSentToRewindReachesTheCommandAndItsChangeIsRolledBack) {
  // Ctrl-C (SIGINT to rewind alone: the command has its own process group,
  // which the terminal does not reach) or a supervisor's SIGTERM while the
  // command runs: rewind passes it on, the command ends, and rewind stays
  // to roll back what it left half done.
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sigabbrev_np(sig));
    RunFixture f;
    const std::string pgid_file = f.box.dir.sub("pgid"), late = f.box.dir.sub("late");
    const std::string err = f.box.dir.sub("stderr");
    std::vector<std::string> argv{
        "/bin/sh",
        "-c",
        "exec \"$@\" 2>" + err,
        "sh",
        rwd::testing::rewind_binary(),
        "--repo",
        f.box.repo,
        "--root",
        f.box.root,
        "--json",
        "run",
        "--",
        "sh",
        "-c",
        f.change_then("echo $$ > " + pgid_file + "; sleep 30; touch " + late)};
    const pid_t pid = spawn(argv);
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (rwd::testing::read_file(pgid_file).empty() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::string pgid_text = rwd::testing::read_file(pgid_file);
    ASSERT_FALSE(pgid_text.empty()) << "the command did not start";
    ASSERT_EQ(::kill(pid, sig), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    const std::string err_text = rwd::testing::read_file(err);
    ASSERT_TRUE(WIFEXITED(status)) << "rewind itself was ended by the signal: " << err_text;
    EXPECT_EQ(WEXITSTATUS(status), 4) << err_text;
    f.expect_restored();
    EXPECT_FALSE(std::filesystem::exists(late)) << "the command went on after the signal";
    const pid_t pgid = static_cast<pid_t>(std::stol(pgid_text));
    EXPECT_EQ(live_in_group(pgid), 0) << "processes of the command are still running";
    RunResult as_run;
    as_run.err = err_text;
    json rep = RunFixture::report(as_run);
    EXPECT_EQ(rep["interrupted_by"], sig) << rep.dump(1);
    EXPECT_EQ(rep["trigger"], "update-failure");
    EXPECT_EQ(rep["rollback"]["result"], "completed");
    EXPECT_THAT(rep["reason"].get<std::string>(),
                ::testing::HasSubstr(std::string("SIG") + sigabbrev_np(sig)));
  }
}

TEST(Run, TimeoutWithoutRollbackExits124) {
  // --no-rollback: the change stays, rewind reports and exits 124.
  RunFixture f;
  RunResult r =
      f.box.rw({"--json", "run", "--no-rollback", "--timeout", "1s", "--", "sleep", "30"});
  EXPECT_EQ(r.exit_code, 124) << describe(r);
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["trigger"], "timeout");
  EXPECT_TRUE(rep["rollback"].is_null());
  EXPECT_EQ(rep["rollback_skipped"], "--no-rollback");
}

TEST(Run, SucceedingCommandThatBreaksACriticalCheckIsRolledBack) {
  // The command exits 0 but removes the file a critical check needs; the
  // check passed before, so the rollback's trigger is health-critical.
  RunFixture f(
      "[[check]]\nname = \"conf\"\ncommand = [\"test\", \"-e\", \"ROOT/etc/app/"
      "conf.d/a.conf\"]\ncritical = true\n");
  // The check's command names the file under the sandbox root.
  std::string cfg = rwd::testing::read_file(f.box.at("/etc/rewind/rewind.toml"));
  cfg.replace(cfg.find("ROOT"), 4, f.box.root);
  rwd::testing::write_file(f.box.at("/etc/rewind/rewind.toml"), cfg);
  RunResult r = f.box.rw({"--json", "run", "--", "sh", "-c", f.change_then("exit 0")});
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  f.expect_restored();
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["trigger"], "health-critical") << rep.dump(1);
  EXPECT_EQ(rep["failed_checks"], json::array({"conf"}));
  EXPECT_EQ(rep["health_before"]["level"], "good");
  EXPECT_EQ(rep["health_after"]["level"], "critical");
  EXPECT_NE(rep["reason"].get<std::string>().find("check conf failed"), std::string::npos);
  json pre = f.rw_json({"show", std::to_string(rep["pre"].get<int64_t>())});
  EXPECT_EQ(pre["health"], "good") << "the pre point records the health level";
}

TEST(Run, SucceedingCommandGetsALinkedPostPointAndNoRollback) {
  // Exit 0 and healthy: a post point linked to the pre point, the change
  // stays, rewind exits with the command's status; the report goes to --json-fd.
  RunFixture f;
  const std::string report_file = f.box.dir.sub("report.json");
  RunResult r = rwd::testing::run(
      {"sh", "-c",
       "exec \"$0\" --repo \"$1\" --root \"$2\" run --json-fd 3 -n deploy -- sh -c 'echo ok' "
       "3>\"$3\"",
       rwd::testing::rewind_binary(), f.box.repo, f.box.root, report_file});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "ok\n");
  json rep = json::parse(rwd::testing::read_file(report_file), nullptr, false);
  ASSERT_TRUE(rep.is_object()) << rwd::testing::read_file(report_file);
  EXPECT_TRUE(rep["trigger"].is_null());
  EXPECT_TRUE(rep["rollback"].is_null() || !rep.contains("rollback"));
  const int64_t pre = rep["pre"].get<int64_t>(), post = rep["post"].get<int64_t>();
  json points = f.rw_json({"list"});
  ASSERT_EQ(points.size(), 2u) << points.dump(1);
  EXPECT_EQ(points[0]["id"], pre);
  EXPECT_EQ(points[0]["kind"], "pre");
  EXPECT_EQ(points[0]["name"], "deploy");
  EXPECT_EQ(points[1]["id"], post);
  EXPECT_EQ(points[1]["kind"], "post");
  EXPECT_EQ(points[1]["pre_id"], pre);
  EXPECT_EQ(f.rw_json({"show", std::to_string(pre)})["auto_rollbacks"], json::array());
}

TEST(Run, ExitStatusPassesThroughWithoutRollback) {
  // --no-rollback: a failing command's own status, and the change stays.
  RunFixture f;
  RunResult r = f.box.rw({"run", "--no-rollback", "--", "sh", "-c", f.change_then("exit 3")});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_EQ(rwd::testing::read_file(f.box.at("/etc/app/app.conf")), "port = 8080\n");
}

TEST(Run, MissingCommandExits127AndUnrunnableExits126) {
  RunFixture f;
  RunResult r = f.box.rw({"run", "--", "/nonexistent/program"});
  EXPECT_EQ(r.exit_code, 127) << describe(r);
  rwd::testing::write_file(f.box.dir.sub("noexec"), "#!/bin/sh\n", 0644);
  r = f.box.rw({"run", "--", f.box.dir.sub("noexec")});
  EXPECT_EQ(r.exit_code, 126) << describe(r);
}

TEST(Run, FailureBeforeTheCommandExits125) {
  // No repository: nothing runs, exit 125.
  RunFixture f;
  const std::string marker = f.box.dir.sub("ran");
  RunResult r =
      rwd::testing::run({rwd::testing::rewind_binary(), "--repo", f.box.dir.sub("no-repo"),
                         "--root", f.box.root, "run", "--", "touch", marker});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(Run, PartialRollbackRestoresOnlyWhatDiffers) {
  // partial = true: the command changes only the tree, so only "etc" is
  // rolled back; the database, equal to the pre point, is left alone (the
  // priority component appdb is not in scope at all).
  RunFixture f("[auto_rollback]\npartial = true\npriority_components = [\"appdb\"]\n");
  RunResult r = f.box.rw({"--json", "run", "--", "sh", "-c",
                          "echo changed > " + f.box.at("/etc/app/app.conf") + "; exit 1"});
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["rollback"]["scope"], "partial");
  EXPECT_EQ(rep["rollback"]["components"], json::array({"etc"})) << rep.dump(1);
  f.expect_restored();
}

TEST(Run, RollbackPastMaxRollbackTimeIsStoppedAndReported) {
  // max_rollback_time = 1ms: the watchdog stops the automatic rollback
  // before it changes anything; the record says timed-out, rewind exits 5
  // and the command's change is still there for a person to look at.
  RunFixture f("[auto_rollback]\nmax_rollback_time = \"1ms\"\n");
  RunResult r = f.box.rw({"--json", "run", "--", "sh", "-c", f.change_then("exit 1")});
  EXPECT_EQ(r.exit_code, 5) << describe(r);
  json rep = RunFixture::report(r);
  EXPECT_EQ(rep["rollback"]["result"], "timed-out") << rep.dump(1);
  EXPECT_NE(rep["rollback"]["message"].get<std::string>().find("max_rollback_time"),
            std::string::npos);
  json show = f.rw_json({"show", std::to_string(rep["pre"].get<int64_t>())});
  ASSERT_EQ(show["auto_rollbacks"].size(), 1u);
  EXPECT_EQ(show["auto_rollbacks"][0]["result"], "timed-out");
  EXPECT_EQ(rwd::testing::read_file(f.box.at("/etc/app/app.conf")), "port = 8080\n");
}

TEST(Run, ConfirmWithinIsRefusedWithoutADaemon) {
  // Nothing listens on [daemon] socket: run refuses before the command.
  RunFixture f;
  const std::string marker = f.box.dir.sub("ran");
  RunResult r = f.box.rw({"run", "--confirm-within", "5min", "--", "touch", marker});
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_NE(r.err.find("rewindd"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_EQ(f.rw_json({"list"}), json::array()) << "no pre point either";
}

}  // namespace
}  // namespace rwd::itest
