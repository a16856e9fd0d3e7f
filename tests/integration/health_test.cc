// SPDX-License-Identifier: Apache-2.0
// rewind health: real checks under a sandbox root (a command, a runit
// service supervised by a real runsvdir, a SQLite file that gets corrupted,
// a kernel log file, a journal read by the real journalctl), the levels and
// the exit codes 0 / 6 / 7.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"
#include "integration/runit_tree.h"
#include "integration/sqlite_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

void write_config(const Sandbox& box, const std::string& text) {
  rwd::testing::write_file(box.at("/etc/rewind/rewind.toml"), text);
}

json health_json(const Sandbox& box, RunResult* out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--json", "health"};
  args.insert(args.end(), extra.begin(), extra.end());
  *out = box.rw(args);
  json j = json::parse(out->out, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << describe(*out);
  return j;
}

// The result of the check `name` in a health report.
json check(const json& report, const std::string& name) {
  for (const auto& c : report["checks"])
    if (c["name"] == name) return c;
  ADD_FAILURE() << "no check " << name << " in " << report.dump(1);
  return json::object();
}

TEST(Health, CommandChecksGiveGoodOrDegradedOrCritical) {
  // A passing command check: good (0). A failing non-critical one:
  // degraded (6). A failing critical one: critical (7).
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  write_config(box,
               "[[check]]\nname = \"yes\"\ncommand = [\"true\"]\n\n"
               "[[check]]\nname = \"soft\"\ncommand = \"echo soft failure; exit 2\"\n\n"
               "[[check]]\nname = \"hard\"\ncommand = [\"false\"]\ncritical = true\n\n"
               "[[check]]\nname = \"slow\"\ncommand = [\"sleep\", \"30\"]\ntimeout = \"1s\"\n");
  RunResult r;
  json j = health_json(box, &r, {"--check", "yes"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(j["level"], "good");
  EXPECT_EQ(j["checks"].size(), 1u);
  EXPECT_EQ(check(j, "yes")["kind"], "command");
  EXPECT_EQ(check(j, "yes")["ok"], true);

  j = health_json(box, &r, {"--check", "yes", "--check", "soft", "--check", "slow"});
  EXPECT_EQ(r.exit_code, 6) << describe(r);
  EXPECT_EQ(j["level"], "degraded");
  EXPECT_EQ(check(j, "soft")["ok"], false);
  EXPECT_NE(check(j, "soft")["message"].get<std::string>().find("soft failure"), std::string::npos);
  EXPECT_EQ(check(j, "slow")["ok"], false) << "ran past its timeout";

  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_EQ(j["level"], "critical");
  EXPECT_EQ(check(j, "hard")["critical"], true);
  EXPECT_EQ(j["checks"].size(), 4u);

  // Text: one line per check and the level.
  r = box.rw({"health", "--check", "hard"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("health: critical"), std::string::npos) << r.out;
  // A name that is not configured.
  r = box.rw({"health", "--check", "nope"});
  EXPECT_EQ(r.exit_code, 14) << describe(r);
}

TEST(Health, RunitServiceThatStopsMakesHealthCritical) {
  // A real runit service must be active; once it is brought down the
  // critical check fails.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  RunitTree runit(box);
  runit.add("app", "#!/bin/sh\nexec sleep 1000\n");
  runit.start();
  ASSERT_TRUE(runit.wait_running("app", true));
  write_config(box,
               "[[check]]\nname = \"app-up\"\nkind = \"service\"\nmanager = \"runit\"\n"
               "service_dir = \"/etc/service\"\nsv_dir = \"/etc/sv\"\nunits = [\"app\"]\n"
               "critical = true\n");
  RunResult r;
  json j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(check(j, "app-up")["ok"], true) << j.dump(1);
  runit.sv("down", "app");
  ASSERT_TRUE(runit.wait_running("app", false));
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_EQ(check(j, "app-up")["kind"], "service");
  EXPECT_NE(check(j, "app-up")["message"].get<std::string>().find("app"), std::string::npos);
}

TEST(Health, CorruptedSqliteFileFailsItsCheck) {
  // quick_check passes on the database, then fails once a b-tree page is
  // overwritten with garbage.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  std::filesystem::create_directories(box.at("/var/lib/app"));
  {
    Conn c(box.at(kDb));
    c.exec("PRAGMA page_size=4096; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);");
    for (int i = 0; i < 200; ++i)
      c.exec("INSERT INTO t(v) VALUES('" + std::string(100, static_cast<char>('a' + i % 26)) +
             "')");
  }
  write_config(box, "[[check]]\nname = \"db\"\nkind = \"sqlite\"\npath = \"" + kDb +
                        "\"\ncritical = true\n\n[[check]]\nname = \"db-full\"\nkind = "
                        "\"sqlite\"\npath = \"" +
                        kDb + "\"\nmode = \"full\"\n");
  RunResult r;
  json j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(check(j, "db")["ok"], true);
  {
    std::fstream f(box.at(kDb), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2 + 100);
    const std::string junk = rwd::testing::random_bytes(2000, 7);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_EQ(check(j, "db")["ok"], false) << j.dump(1);
  EXPECT_EQ(check(j, "db-full")["ok"], false) << j.dump(1);
}

TEST(Health, KernelLogLineFiresOnceAndTheNextOneAgain) {
  // An I/O error line in the configured log file makes the check fail; the
  // read position is remembered, so the next run is good; a new OOM line
  // fails it again. Plain lines never do.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  const std::string log = box.at("/var/log/kern.log");
  rwd::testing::write_file(log, "kernel: eth0: link up\n");
  write_config(box,
               "[[check]]\nname = \"kernel\"\nkind = \"kernel_log\"\nsource = \"file\"\n"
               "path = \"/var/log/kern.log\"\ncritical = true\n");
  RunResult r;
  json j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  {
    std::ofstream f(log, std::ios::app);
    f << "kernel: blk_update_request: I/O error, dev sda, sector 2048 op 0x1:(WRITE)\n";
  }
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_NE(check(j, "kernel")["message"].get<std::string>().find("I/O error"), std::string::npos)
      << j.dump(1);
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << "the same line fired again: " << describe(r);
  {
    std::ofstream f(log, std::ios::app);
    f << "kernel: Out of memory: Killed process 4242 (app) total-vm:100kB\n"
         "kernel: all fine\n";
  }
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  // <root>/dev/kmsg as a plain file (a test's stand-in) and the default patterns.
  rwd::testing::write_file(box.at("/dev/kmsg"), "3,100,5000,-;EXT4-fs error (device sda1): bad\n");
  write_config(box, "[[check]]\nname = \"kmsg\"\nkind = \"kernel_log\"\n");
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 6) << describe(r);
  EXPECT_EQ(check(j, "kmsg")["ok"], false);
}

// Appends one kernel message to a journal file under `dir`, written by the
// real systemd-journal-remote from journal export format (the way journald
// would store it: _TRANSPORT=kernel), `secs` seconds after `base`.
void journal_kernel_line(const std::string& dir, const std::string& message, int64_t base,
                         int secs) {
  static const std::string kRemote = "/lib/systemd/systemd-journal-remote";
  ASSERT_TRUE(std::filesystem::exists(kRemote))
      << kRemote << " is missing (scripts/setup.sh installs systemd-journal-remote)";
  std::filesystem::create_directories(dir);
  const std::string entry = dir + "/entry.export";
  rwd::testing::write_file(entry,
                           "__REALTIME_TIMESTAMP=" + std::to_string((base + secs) * 1000000) +
                               "\n__MONOTONIC_TIMESTAMP=" + std::to_string((secs + 1) * 1000000) +
                               "\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                               "_TRANSPORT=kernel\nPRIORITY=3\nMESSAGE=" +
                               message + "\n\n");
  RunResult r = rwd::testing::run({kRemote, "--output=" + dir + "/remote.journal", entry}, {}, 60);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::filesystem::remove(entry);
}

TEST(Health, KernelJournalLinesFireOnceThroughTheRealJournalctl) {
  // source = "journal": the real journalctl reads the kernel messages of
  // the journal under <root>/var/log/journal and keeps its cursor in the
  // repository, so a line fires once and a newer one fires again.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  const std::string journal = box.at("/var/log/journal");
  const int64_t base = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       600;
  journal_kernel_line(journal, "eth0: link up", base, 0);
  write_config(box,
               "[[check]]\nname = \"kernel\"\nkind = \"kernel_log\"\nsource = \"journal\"\n"
               "critical = true\n");
  RunResult r;
  json j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  journal_kernel_line(journal, "EXT4-fs error (device sda1): ext4_find_entry:1455: comm ls", base,
                      1);
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_THAT(check(j, "kernel")["message"].get<std::string>(),
              ::testing::HasSubstr("EXT4-fs error"))
      << j.dump(1);
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 0) << "the same line fired again: " << describe(r);
  journal_kernel_line(journal, "Out of memory: Killed process 4242 (app)", base, 2);
  j = health_json(box, &r);
  EXPECT_EQ(r.exit_code, 7) << describe(r);
  EXPECT_THAT(check(j, "kernel")["message"].get<std::string>(),
              ::testing::HasSubstr("Out of memory"));
}

TEST(Health, VerifyAndFreeSpaceChecks) {
  // The verify check needs a passing `rewind verify` on record; free space
  // is measured where the repository is.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  write_config(box,
               "[[check]]\nname = \"verified\"\nkind = \"verify\"\n\n"
               "[[check]]\nname = \"room\"\nkind = \"free_space\"\nmin_free = \"1K\"\n\n"
               "[[check]]\nname = \"no-room\"\nkind = \"free_space\"\nmin_free = \"100%\"\n");
  RunResult r;
  json j = health_json(box, &r);
  EXPECT_EQ(check(j, "verified")["ok"], false) << j.dump(1);
  EXPECT_EQ(check(j, "room")["ok"], true) << j.dump(1);
  EXPECT_EQ(check(j, "no-room")["ok"], false) << j.dump(1);
  EXPECT_EQ(r.exit_code, 6);
  ASSERT_EQ(box.rw({"verify"}).exit_code, 0);
  j = health_json(box, &r, {"--check", "verified"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(check(j, "verified")["message"].get<std::string>().find("passed"), std::string::npos);
}

TEST(Health, RecoveryPointRecordsTheHealthLevel) {
  // With checks configured a point records the level when it was taken;
  // without, it records nothing.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  rwd::testing::write_file(box.at("/data/f"), "x");
  int64_t plain = box.create({"/data"});
  write_config(box, "[[check]]\nname = \"soft\"\ncommand = [\"false\"]\n");
  int64_t checked = box.create({"/data"});
  RunResult r = box.rw({"--json", "show", std::to_string(checked)});
  EXPECT_EQ(json::parse(r.out)["health"], "degraded") << r.out;
  r = box.rw({"--json", "show", std::to_string(plain)});
  EXPECT_EQ(json::parse(r.out)["health"], "") << r.out;
  r = box.rw({"list"});
  EXPECT_NE(r.out.find("(health degraded)"), std::string::npos) << r.out;
  // The root record holds it too: a rebuilt catalog keeps it.
  ASSERT_EQ(box.rw({"repair"}).exit_code, 0);
  r = box.rw({"--json", "show", std::to_string(checked)});
  EXPECT_EQ(json::parse(r.out)["health"], "degraded") << r.out;
}

TEST(Health, ConfigurationErrorsNameTheKey) {
  // Unknown keys in [[check]], [health] and [auto_rollback] are refused at
  // load (exit 2), naming the key; so are bad durations and triggers.
  Sandbox box("rewind-health");
  ASSERT_EQ(box.init().exit_code, 0);
  struct Case {
    std::string toml, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"[[check]]\nname = \"a\"\ncommand = [\"true\"]\ncritcal = true\n", "critcal"},
           {"[[check]]\nname = \"a\"\nkind = \"sqlite\"\n", "needs path"},
           {"[[check]]\nname = \"a\"\nkind = \"bogus\"\n", "bogus"},
           {"[[check]]\nname = \"a\"\ncommand = [\"true\"]\ntimeout = \"5 parsecs\"\n", "parsecs"},
           {"[health]\nintervall = \"5min\"\n", "intervall"},
           {"[auto_rollback]\nmax_rollback_tme = \"5min\"\n", "max_rollback_tme"},
           {"[auto_rollback]\ntriggers = [\"update-failure\", \"moon-phase\"]\n", "moon-phase"},
           {"[auto_rollback]\nmax_rollback_time = \"soon\"\n", "soon"},
           {"[auto_rollback]\npriority_components = \"etc\"\n", "priority_components"},
       }) {
    write_config(box, c.toml);
    RunResult r = box.rw({"health"});
    EXPECT_EQ(r.exit_code, 2) << c.toml << describe(r);
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.toml << describe(r);
  }
}

}  // namespace
}  // namespace rwd::itest
