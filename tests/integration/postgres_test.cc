// SPDX-License-Identifier: Apache-2.0
// The postgres adapter against a real, throwaway PostgreSQL 15 cluster:
// initdb and pg_ctl from Debian's postgresql package, run as the `postgres`
// user once per test binary, on 127.0.0.1 and a free port (never 5432, the
// host's own), with a socket directory of its own, fsync off, and WAL
// archiving on (archive_command `true`: nothing is kept) so that captures
// record a restore point. Each test works in a database of its own. The
// host's clusters are never touched.
#include <gmock/gmock.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration/integration_helpers.h"
#include "integration/pg_cluster.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

const auto* const kCluster = ::testing::AddGlobalTestEnvironment(new Cluster);

std::string oid_of(const std::string& db) {
  return psql_ok("postgres", "SELECT oid FROM pg_database WHERE datname = '" + db + "'");
}

// Databases whose name marks them as rewind's staging copies.
std::string staging_databases() {
  return psql_ok("postgres", "SELECT datname FROM pg_database WHERE datname LIKE '%\\_\\_rw\\_%'");
}

// A sandbox whose configuration has one postgres component "pg" for `db`,
// which is created with a schema and rows.
class PgSandbox {
 public:
  explicit PgSandbox(const std::string& db_name) : db(db_name) {
    rwd::testing::write_file(box.root + "/etc/rewind/rewind.toml",
                             "[[component]]\nname = \"pg\"\nadapter = \"postgres\"\nhost = \"" +
                                 Cluster::sock + "\"\nport = " + std::to_string(Cluster::port) +
                                 "\nuser = \"postgres\"\ndatabases = [\"" + db +
                                 "\"]\ntimeout = \"2min\"\n");
    EXPECT_EQ(box.init().exit_code, 0);
    psql_ok("postgres", "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    psql_ok("postgres", "CREATE DATABASE " + db);
    psql_ok(db,
            "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);"
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, "
            "amount numeric(10,2), note text);"
            "CREATE TABLE legacy (id int PRIMARY KEY, payload bytea);"
            "CREATE INDEX orders_customer ON orders (customer_id);"
            "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 10;"
            "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Barbara');"
            "INSERT INTO orders VALUES (1, 1, 9.50, 'tab\tand\nnewline'), (2, 2, 12.00, NULL), "
            "(3, 3, 99.99, 'ünïcode');"
            "INSERT INTO legacy VALUES (1, '\\x00ff'), (2, '\\xdeadbeef');");
  }

  ~PgSandbox() { psql("postgres", "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)"); }

  // Adds a table, adds a column, drops a table, changes rows.
  void migrate() const {
    psql_ok(db,
            "CREATE TABLE audit (id serial PRIMARY KEY, what text);"
            "INSERT INTO audit (what) VALUES ('migrated');"
            "ALTER TABLE customers ADD COLUMN email text;"
            "DROP TABLE legacy;"
            "UPDATE orders SET amount = amount * 2;"
            "DELETE FROM orders WHERE id = 2;"
            "INSERT INTO customers VALUES (4, 'Frances', 'f@example.org');");
  }

  int64_t create() const {
    RunResult r = box.rw({"-q", "create", "-c", "pg"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    try {
      return std::stoll(r.out);
    } catch (...) {
      ADD_FAILURE() << "create printed no ID: " << describe(r);
      return -1;
    }
  }

  Sandbox box{"rewind-pg"};
  std::string db;
};

TEST(Postgres, RollbackRestoresSchemaAndEveryRowAfterAMigration) {
  // A migration adds a table and a column, drops a table and changes rows;
  // the rollback brings back the captured schema and every table's content
  // exactly, closes the clients' connections, and leaves no staging copy
  // (also dropping one a killed run left behind).
  PgSandbox s("rw_shop");
  const std::string schema0 = schema_of(s.db), rows0 = contents_of(s.db);
  ASSERT_NE(rows0.find("Grace"), std::string::npos);
  int64_t id = s.create();
  ASSERT_GT(id, 0);

  s.migrate();
  ASSERT_NE(schema_of(s.db), schema0);

  RunResult d = s.box.rw({"diff", std::to_string(id), "-c", "pg"});
  EXPECT_EQ(d.exit_code, 0) << describe(d);
  EXPECT_NE(d.out.find("rw_shop/public.audit"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("rw_shop/public.legacy"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("rows 3 -> 4"), std::string::npos) << d.out;  // customers
  EXPECT_NE(d.out.find("+    email text"), std::string::npos) << d.out;

  RunResult dj = s.box.rw({"--json", "diff", std::to_string(id), "-c", "pg"});
  ASSERT_EQ(dj.exit_code, 0) << describe(dj);
  json j = json::parse(dj.out);
  std::map<std::string, json> by_path;
  for (const auto& c : j["changes"]) by_path[c["path"].get<std::string>()] = c;
  ASSERT_TRUE(by_path.contains("rw_shop/public.customers")) << dj.out;
  EXPECT_EQ(by_path["rw_shop/public.customers"]["detail"], "rows 3 -> 4");
  EXPECT_EQ(by_path["rw_shop/public.orders"]["detail"], "rows 3 -> 2");
  EXPECT_EQ(by_path["rw_shop/public.audit"]["change"], "added");
  EXPECT_EQ(by_path["rw_shop/public.legacy"]["change"], "removed");
  ASSERT_TRUE(by_path.contains("rw_shop/schema")) << dj.out;
  EXPECT_NE(
      by_path["rw_shop/schema"]["detail"].get<std::string>().find("CREATE TABLE public.audit"),
      std::string::npos);

  // A staging copy from a killed run, and a client that stays connected.
  psql_ok("postgres", "CREATE DATABASE rw_shop__rw_new");
  sh(kBin + "/psql -X -h " + Cluster::sock + " -p " + std::to_string(Cluster::port) +
     " -U postgres -d rw_shop -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &");

  RunResult r =
      s.box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "pg", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(schema_of(s.db), schema0);
  EXPECT_EQ(contents_of(s.db), rows0);
  EXPECT_EQ(staging_databases(), "");
  EXPECT_EQ(psql_ok("postgres",
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'rw_shop' AND "
                    "query LIKE '%pg_sleep%'"),
            "0\n");

  // Between the point and the safety point (the migrated state the
  // rollback replaced), the two snapshots differ as the live system did.
  RunResult ds = s.box.rw({"--json", "diff", std::to_string(id), "latest:safety", "-c", "pg"});
  ASSERT_EQ(ds.exit_code, 0) << describe(ds);
  std::map<std::string, json> between;
  const json dsj = json::parse(ds.out);
  for (const auto& c : dsj["changes"]) between[c["path"].get<std::string>()] = c;
  EXPECT_EQ(between["rw_shop/public.customers"]["detail"], "rows 3 -> 4") << ds.out;
  EXPECT_EQ(between["rw_shop/public.audit"]["change"], "added") << ds.out;
  EXPECT_TRUE(between.contains("rw_shop/schema")) << ds.out;

  // After the rollback the live database equals the point.
  RunResult after = s.box.rw({"--json", "diff", std::to_string(id), "-c", "pg"});
  ASSERT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_EQ(json::parse(after.out)["changes"], json::array()) << after.out;
}

// The changes of `diff --json`, by path.
std::map<std::string, json> changes_by_path(const RunResult& r) {
  std::map<std::string, json> out;
  const json j = json::parse(r.out);
  for (const auto& c : j["changes"]) out[c["path"].get<std::string>()] = c;
  return out;
}

TEST(Postgres, AnUpdateThatKeepsTheRowCountsShowsAsContentAndIsRolledBack) {
  // The digests of pg_dump's COPY text (at capture) and of a live COPY ...
  // TO STDOUT agree for the same rows, also for types whose text depends on
  // session settings (floats, timestamps, intervals, bytea, money): right
  // after the capture the diff is empty. An UPDATE that keeps every row
  // count shows as content, live and between the point and the safety
  // point; after the rollback the diff is empty again.
  PgSandbox s("rw_upd");
  psql_ok(s.db,
          "CREATE TABLE kinds (id int PRIMARY KEY, f8 float8, f4 real, tz timestamptz, ts "
          "timestamp, d date, iv interval, b bytea, j jsonb, a int[], m money, n numeric, t text);"
          "INSERT INTO kinds VALUES (1, 0.1, 1.1, '2024-02-29 12:34:56.789+05:30', "
          "'2024-01-01 00:00:00.5', '2024-03-01', '1 year 2 mons 3 days 04:05:06.7', "
          "'\\x0001ff', '{\"a\": [1, 2.50]}', '{1,NULL,3}', 12.34, 1e-20, E'back\\\\slash\\t.'),"
          "(2, 'NaN', '-Infinity', NULL, NULL, 'infinity', '-3 hours', '', 'null', '{}', NULL, "
          "'NaN', '\\.');");
  const std::string rows0 = contents_of(s.db);
  int64_t id = s.create();
  ASSERT_GT(id, 0);

  RunResult same = s.box.rw({"--json", "diff", std::to_string(id), "-c", "pg"});
  ASSERT_EQ(same.exit_code, 0) << describe(same);
  EXPECT_EQ(json::parse(same.out)["changes"], json::array()) << same.out;

  psql_ok(s.db, "UPDATE customers SET name = 'Grace Hopper' WHERE id = 2");
  RunResult d = s.box.rw({"--json", "diff", std::to_string(id), "-c", "pg"});
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  auto live = changes_by_path(d);
  ASSERT_EQ(live.size(), 1u) << d.out;
  ASSERT_TRUE(live.contains("rw_upd/public.customers")) << d.out;
  EXPECT_EQ(live["rw_upd/public.customers"]["change"], "content");
  EXPECT_EQ(live["rw_upd/public.customers"]["attributes"], json({"rows"})) << d.out;
  EXPECT_EQ(live["rw_upd/public.customers"]["detail"], "rows 3, content differs");

  RunResult r =
      s.box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "pg", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(contents_of(s.db), rows0);
  RunResult after = s.box.rw({"--json", "diff", std::to_string(id), "-c", "pg"});
  ASSERT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_EQ(json::parse(after.out)["changes"], json::array()) << after.out;

  RunResult ds = s.box.rw({"--json", "diff", std::to_string(id), "latest:safety", "-c", "pg"});
  ASSERT_EQ(ds.exit_code, 0) << describe(ds);
  auto between = changes_by_path(ds);
  ASSERT_EQ(between.size(), 1u) << ds.out;
  EXPECT_EQ(between["rw_upd/public.customers"]["detail"], "rows 3, content differs") << ds.out;
}

TEST(Postgres, ShowDescribesTablesRowsAndTheRestorePoint) {
  // `show` names the databases, each table's row count, and the restore
  // point recorded because the cluster archives its WAL.
  PgSandbox s("rw_show");
  int64_t id = s.create();
  RunResult r = s.box.rw({"--json", "show", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out);
  json details;
  for (const auto& c : j["components"])
    if (c["name"] == "pg") details = c["details"];
  ASSERT_TRUE(details.is_object()) << r.out;
  EXPECT_EQ(details["databases"], json({"rw_show"}));
  EXPECT_EQ(details["tables"]["rw_show"]["public.customers"], 3);
  EXPECT_EQ(details["tables"]["rw_show"]["public.legacy"], 2);
  EXPECT_EQ(details["wal_archiving"], true);
  const std::string rp = details["restore_point"].get<std::string>();
  EXPECT_TRUE(rp.starts_with("rewind-pg-")) << rp;
  EXPECT_NE(rp.find(" at LSN "), std::string::npos) << rp;
  EXPECT_EQ(details["restorable"], json({"databases"}));
  EXPECT_EQ(details["recorded"], json({"globals", "restore_point"}));
  EXPECT_EQ(j["components"][0]["category"], "database");

  RunResult t = s.box.rw({"show", std::to_string(id)});
  EXPECT_NE(t.out.find("restore_point:"), std::string::npos) << t.out;
}

TEST(Postgres, FailureBeforeTheSwapLeavesTheOriginalInPlace) {
  // The restore into the staging copy succeeds, then a failure is injected
  // just before the swap: the rollback fails, and the original database —
  // the same database, with the migration — is still there and takes
  // connections; no staging copy is left. Every attempt (the rollback and
  // its revert to the safety point) fails the same way, so the operation
  // waits for `recover`, which — the fault gone — finishes the rollback.
  PgSandbox s("rw_fail");
  const std::string schema0 = schema_of(s.db), rows0 = contents_of(s.db);
  int64_t id = s.create();
  ASSERT_GT(id, 0);
  s.migrate();
  const std::string schema1 = schema_of(s.db), rows1 = contents_of(s.db), oid = oid_of(s.db);

  std::vector<std::string> argv{rwd::testing::rewind_binary(),
                                "--repo",
                                s.box.repo,
                                "--root",
                                s.box.root,
                                "rollback",
                                std::to_string(id),
                                "--scope",
                                "component",
                                "-c",
                                "pg",
                                "--yes"};
  RunResult r = rwd::testing::run(argv, {{"REWIND_TEST_PG_FAIL_BEFORE_SWAP", "1"}});
  EXPECT_EQ(r.exit_code, 5) << describe(r);
  EXPECT_NE(r.err.find("injected failure before the swap"), std::string::npos) << describe(r);
  EXPECT_EQ(oid_of(s.db), oid);
  EXPECT_EQ(schema_of(s.db), schema1);
  EXPECT_EQ(contents_of(s.db), rows1);
  EXPECT_EQ(psql_ok(s.db, "SELECT 1"), "1\n");
  EXPECT_EQ(staging_databases(), "");

  RunResult rec = s.box.rw({"recover"});
  EXPECT_EQ(rec.exit_code, 0) << describe(rec);
  EXPECT_EQ(schema_of(s.db), schema0);
  EXPECT_EQ(contents_of(s.db), rows0);
  EXPECT_EQ(staging_databases(), "");
}

TEST(Postgres, HealthCheckReachesTheRealServerAndIsCriticalWhenNoneAnswers) {
  // The postgres health check runs the real pg_isready: good against the
  // test cluster; against a port where no server listens the check fails
  // with pg_isready's own words, and as a critical check it makes the
  // level critical (exit 7).
  Sandbox box("rewind-pg-health");
  ASSERT_EQ(box.init().exit_code, 0);
  auto health = [&](int port) {
    rwd::testing::write_file(box.at("/etc/rewind/rewind.toml"),
                             "[[check]]\nname = \"db\"\nkind = \"postgres\"\ncritical = true\n"
                             "host = \"127.0.0.1\"\ntimeout = \"5s\"\nport = " +
                                 std::to_string(port) + "\n");
    RunResult r = box.rw({"--json", "health"});
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << describe(r);
    return std::make_pair(r.exit_code, j.is_discarded() ? json() : j["checks"][0]);
  };
  auto [up_exit, up] = health(Cluster::port);
  EXPECT_EQ(up_exit, 0) << up.dump(1);
  EXPECT_EQ(up["ok"], true) << up.dump(1);
  EXPECT_THAT(up["message"].get<std::string>(), ::testing::HasSubstr("accepting connections"));
  const int nobody = free_port();
  ASSERT_GT(nobody, 0);
  auto [down_exit, down] = health(nobody);
  EXPECT_EQ(down_exit, 7) << down.dump(1);
  EXPECT_EQ(down["ok"], false) << down.dump(1);
  EXPECT_THAT(down["message"].get<std::string>(), ::testing::HasSubstr("no response"));
}

TEST(Postgres, SettingsAreCheckedWhenTheConfigurationLoads) {
  // An unknown key is named with the known ones; a value of the wrong type
  // is named with the type it must have. No cluster is needed.
  Sandbox box("rewind-pg-cfg");
  auto check = [&](const std::string& extra, const std::vector<std::string>& want) {
    rwd::testing::write_file(box.root + "/etc/rewind/rewind.toml",
                             "[[component]]\nname = \"pg\"\nadapter = \"postgres\"\n" + extra);
    RunResult r = box.rw({"list"});
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << describe(r);
    for (const auto& w : want) EXPECT_NE(r.err.find(w), std::string::npos) << w << "\n" << r.err;
  };
  check("hots = \"/run/postgresql\"\n",
        {"\"hots\"", "host, port, user, databases, bin_dir, timeout, password_file"});
  check("port = \"5432\"\n", {"\"port\"", "an integer"});
  check("databases = \"shop\"\n", {"\"databases\"", "an array"});
  check("timeout = \"soon\"\n", {"timeout"});
}

}  // namespace
}  // namespace rwd::itest
