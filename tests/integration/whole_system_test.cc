// SPDX-License-Identifier: Apache-2.0
// Every kind of state in one recovery point: a configuration (/etc), a
// SQLite database, a PostgreSQL database (a real throwaway cluster), runit
// services (a real runsvdir) and kernel tunables. A broken "update" changes
// all of them; one full rollback brings every one back, with the services
// stopped dependents first and started in dependency order.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"
#include "integration/pg_cluster.h"
#include "integration/runit_tree.h"
#include "integration/sqlite_fixture.h"

namespace rwd::itest {
namespace {

using rwd::testing::read_file;
using rwd::testing::write_file;

const auto* const kCluster = ::testing::AddGlobalTestEnvironment(new Cluster);

const std::string kPgDb = "rw_whole";
const std::string kRun = "#!/bin/sh\nexec sleep 1000\n";

// Indexes of the lines of `log` that start with `verb` and name `service`.
std::vector<size_t> calls(const std::vector<std::string>& log, const std::string& verb,
                          const std::string& service) {
  std::vector<size_t> out;
  for (size_t i = 0; i < log.size(); ++i)
    if (log[i].starts_with(verb + " ") && log[i].ends_with("/" + service)) out.push_back(i);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class WholeSystem : public ::testing::Test {
 protected:
  void SetUp() override {
    // Kernel tunables as plain files.
    tunable("vm/swappiness", "60\n");
    tunable("net/ipv4/ip_forward", "0\n");
    tunable("kernel/sysrq", "176\n");
    // Configuration.
    write_file(box.at("/etc/app.conf"), "mode = safe\nworkers = 4\n");
    write_file(box.at("/etc/default/app"), "APP_OPTS=--quiet\n");
    write_file(box.at("/etc/environment"), "LANG=C.UTF-8\n");
    // The application's SQLite database.
    std::filesystem::create_directories(box.at("/var/lib/app"));
    {
      Conn c(box.at(kDb));
      c.exec(
          "PRAGMA journal_mode=WAL;"
          "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);"
          "INSERT INTO items VALUES (1, 'bolt', 10), (2, 'nut', 20), (3, 'gear', 3);");
    }
    // Its PostgreSQL database.
    psql_ok("postgres", "DROP DATABASE IF EXISTS " + kPgDb + " WITH (FORCE)");
    psql_ok("postgres", "CREATE DATABASE " + kPgDb);
    psql_ok(kPgDb,
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(10,2));"
            "CREATE TABLE history (id int PRIMARY KEY, account int REFERENCES accounts, note text);"
            "INSERT INTO accounts VALUES (1, 'ada', 100), (2, 'grace', 250.50);"
            "INSERT INTO history VALUES (1, 1, 'opened'), (2, 2, 'opened');");
    // Two supervised services: app uses the SQLite database, worker the
    // PostgreSQL one.
    runit.add("app", kRun);
    runit.add("worker", kRun);
    runit.start();
    ASSERT_TRUE(runit.wait_running("app", true));
    ASSERT_TRUE(runit.wait_running("worker", true));

    const std::string sv = "sv = [\"" + runit.wrapper() + "\"]\n";
    write_file(box.at("/etc/rewind/rewind.toml"),
               "[service_manager]\nkind = \"runit\"\nservice_dir = \"/srv/service\"\n"
               "sv_dir = \"/srv/sv\"\n" +
                   sv +
                   "timeout = \"30s\"\n\n"
                   "[[component]]\nname = \"tunables\"\nadapter = \"kernel\"\n"
                   "parts = [\"sysctl\"]\n\n"
                   "[[component]]\nname = \"etc\"\nadapter = \"config\"\n\n"
                   "[[component]]\nname = \"appdb\"\nadapter = \"sqlite\"\npath = \"" +
                   kDb +
                   "\"\ndepends_on = [\"etc\"]\nservices = [\"app\"]\n\n"
                   "[[component]]\nname = \"pg\"\nadapter = \"postgres\"\nhost = \"" +
                   Cluster::sock + "\"\nport = " + std::to_string(Cluster::port) +
                   "\nuser = \"postgres\"\ndatabases = [\"" + kPgDb +
                   "\"]\ndepends_on = [\"appdb\"]\nservices = [\"worker\"]\n\n"
                   "[[component]]\nname = \"runit\"\nadapter = \"services\"\n"
                   "manager = \"runit\"\nunits = [\"app\", \"worker\"]\n"
                   "service_dir = \"/srv/service\"\nsv_dir = \"/srv/sv\"\n" +
                   sv + "depends_on = [\"pg\"]\n");
    RunResult r = box.rw({"config", "validate"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    ASSERT_EQ(box.init().exit_code, 0);
  }

  void TearDown() override {
    runit.stop();
    psql("postgres", "DROP DATABASE IF EXISTS " + kPgDb + " WITH (FORCE)");
  }

  void tunable(const std::string& rel, const std::string& value) {
    write_file(box.at("/proc/sys/" + rel), value, 0644);
  }

  Sandbox box{"rewind-whole"};
  // Outside /etc: the services component owns the runit directories.
  RunitTree runit{box, "/srv/sv", "/srv/service"};
};

TEST_F(WholeSystem, OneFullRollbackBringsEveryKindOfStateBack) {
  RunResult r = box.rw({"-q", "create", "-n", "before-update"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::string point = std::to_string(std::stoll(r.out));

  // show says what each adapter holds, readably.
  r = box.rw({"show", point});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, ::testing::HasSubstr("        tables:              items 3\n")) << r.out;
  EXPECT_THAT(r.out, ::testing::HasSubstr("        restorable:          sysctl\n")) << r.out;

  // What the point holds, as the test sees it (no rewind code involved).
  const std::string etc_copy = box.dir.sub("etc-before");
  copy_tree(box.at("/etc"), etc_copy);
  const std::string sqlite_before = Conn(box.at(kDb)).dump();
  const std::string pg_schema_before = schema_of(kPgDb);
  const std::string pg_rows_before = contents_of(kPgDb);
  const std::string worker_run = read_file(box.at("/srv/sv/worker/run"));

  // The broken update touches everything.
  write_file(box.at("/etc/app.conf"), "mode = fast\nworkers = 64\n");
  write_file(box.at("/etc/default/app"), "APP_OPTS=--verbose --unsafe\n");
  write_file(box.at("/etc/app.d/extra.conf"), "extra = yes\n");
  {
    Conn c(box.at(kDb));
    c.exec(
        "ALTER TABLE items ADD COLUMN price REAL;"
        "DELETE FROM items WHERE id = 2;"
        "UPDATE items SET qty = 0;"
        "INSERT INTO items VALUES (9, 'spring', 1, 0.5);");
  }
  psql_ok(kPgDb,
          "CREATE TABLE audit (id serial PRIMARY KEY, what text);"
          "ALTER TABLE accounts ADD COLUMN frozen bool DEFAULT false;"
          "DROP TABLE history;"
          "UPDATE accounts SET balance = 0;");
  write_file(box.at("/srv/sv/worker/run"), "#!/bin/sh\nexec sleep 2000\n", 0755);
  tunable("vm/swappiness", "10\n");
  tunable("net/ipv4/ip_forward", "1\n");

  // diff sees every component's change.
  r = box.rw({"--json", "diff", point});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  nlohmann::json d = nlohmann::json::parse(r.out);
  std::set<std::string> changed;
  for (const auto& c : d["changes"]) changed.insert(c["component"].get<std::string>());
  EXPECT_EQ(changed, (std::set<std::string>{"etc", "appdb", "pg", "runit", "tunables"})) << r.out;

  runit.take_log();
  r = box.rw({"--json", "rollback", point, "--scope", "full", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  nlohmann::json rep = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded()) << describe(r);

  // Configuration: byte for byte, every attribute (rsync oracle).
  EXPECT_EQ(without_audit_dir(rwd::testing::tree_diff(etc_copy, box.at("/etc"))), "");
  // SQLite: schema and every row.
  EXPECT_EQ(Conn(box.at(kDb)).dump(), sqlite_before);
  // PostgreSQL: schema and every row.
  EXPECT_EQ(schema_of(kPgDb), pg_schema_before);
  EXPECT_EQ(contents_of(kPgDb), pg_rows_before);
  // Services: running again, with the point's run script.
  EXPECT_EQ(read_file(box.at("/srv/sv/worker/run")), worker_run);
  EXPECT_TRUE(runit.wait_running("worker", true));
  EXPECT_TRUE(runit.wait_running("app", true));
  // Tunables.
  EXPECT_EQ(read_file(box.at("/proc/sys/vm/swappiness")), "60\n");
  EXPECT_EQ(read_file(box.at("/proc/sys/net/ipv4/ip_forward")), "0\n");
  EXPECT_EQ(read_file(box.at("/proc/sys/kernel/sysrq")), "176\n");

  // Services stopped dependents first (worker's pg depends on app's
  // database), started in dependency order, and nothing started before
  // everything was stopped.
  const auto log = lines(runit.take_log());
  const auto down_app = calls(log, "down", "app"), down_worker = calls(log, "down", "worker");
  const auto up_app = calls(log, "up", "app"), up_worker = calls(log, "up", "worker");
  ASSERT_FALSE(down_app.empty()) << ::testing::PrintToString(log);
  ASSERT_FALSE(down_worker.empty()) << ::testing::PrintToString(log);
  ASSERT_FALSE(up_app.empty()) << ::testing::PrintToString(log);
  ASSERT_FALSE(up_worker.empty()) << ::testing::PrintToString(log);
  EXPECT_LT(down_worker.front(), down_app.front()) << ::testing::PrintToString(log);
  EXPECT_LT(down_app.back(), std::min(up_app.front(), up_worker.front()))
      << ::testing::PrintToString(log);
  EXPECT_LT(up_app.front(), up_worker.back()) << ::testing::PrintToString(log);

  // Nothing differs from the point any more.
  r = box.rw({"--json", "diff", point});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(nlohmann::json::parse(r.out)["changes"].empty()) << r.out;
}

}  // namespace
}  // namespace rwd::itest
