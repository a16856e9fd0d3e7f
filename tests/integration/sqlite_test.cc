// SPDX-License-Identifier: Apache-2.0
// The sqlite adapter against real SQLite files under a sandbox root, driven
// through the rewind binary and the configuration at ROOT/etc/rewind. The
// test's own connections use SQLite's default VFS, as an application would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "integration/sqlite_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class SqliteConcurrent : public ::testing::TestWithParam<std::string> {};

TEST_P(SqliteConcurrent, CaptureWhileAWriterCommitsIsConsistent) {
  // A writer commits transfers in a loop while `rewind create` captures the
  // database. The point, rolled back to, satisfies the writer's invariants
  // and passes integrity_check: the capture saw one transaction boundary.
  SqliteFixture f;
  {
    Conn c(f.db());
    make_bank(c, GetParam());
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> commits{0};
  std::thread writer([&] {
    Conn w(f.db());
    std::mt19937 rng(7);
    while (!stop) {
      int a = static_cast<int>(rng() % 100) + 1, b = static_cast<int>(rng() % 100) + 1;
      int amount = static_cast<int>(rng() % 50);
      w.exec("BEGIN IMMEDIATE");
      w.exec(fmt::format("UPDATE accounts SET balance = balance - {} WHERE id = {}", amount, a));
      w.exec(fmt::format("UPDATE accounts SET balance = balance + {} WHERE id = {}", amount, b));
      w.exec("INSERT INTO log(note, pad) VALUES ('transfer', randomblob(3000))");
      w.exec("UPDATE counter SET n = n + 1");
      w.exec("COMMIT");
      ++commits;
    }
  });
  while (commits < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int64_t before = commits;
  int64_t id = f.create();
  const int64_t during = commits - before;
  EXPECT_GT(during, 0) << "the writer committed while the capture ran";
  while (commits < before + during + 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  ASSERT_GT(id, 0);
  int64_t final_n;
  {
    Conn c(f.db());
    final_n = c.integer("SELECT n FROM counter");
    expect_bank_invariants(c, "live, after the writer stopped");
  }
  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  Conn c(f.db());
  expect_bank_invariants(c, "after the rollback to the point taken under the writer");
  const int64_t n = c.integer("SELECT n FROM counter");
  EXPECT_GE(n, 2000 + before) << "the point is from before the capture started";
  EXPECT_LT(n, final_n) << "the point is from before the writer stopped";
}

INSTANTIATE_TEST_SUITE_P(JournalModes, SqliteConcurrent, ::testing::Values("delete", "wal"));

TEST(Sqlite, WalFramesUncheckpointedAtCaptureAndRestore) {
  // WAL mode with a connection that never checkpoints: at capture the
  // point's content is partly in the -wal only; at restore the -wal holds
  // newer frames. After the rollback, every connection (the one kept open,
  // a new one, and one after the -wal is gone) sees exactly the point.
  SqliteFixture f;
  Conn app(f.db());
  app.exec("PRAGMA journal_mode=WAL");
  app.exec("PRAGMA wal_autocheckpoint=0");
  app.exec("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID");
  app.exec("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
  for (int i = 0; i < 200; ++i)
    app.exec(fmt::format("INSERT INTO items(name, data) VALUES ('item {}', randomblob(500))", i));
  app.exec("INSERT INTO kv VALUES ('version', '1'), ('owner', 'alice')");
  ASSERT_GT(std::filesystem::file_size(f.db() + "-wal"), 0u) << "frames are in the -wal";
  const std::string at_point = app.dump();
  int64_t id = f.create();
  ASSERT_GT(id, 0);

  app.exec("UPDATE kv SET v = '2' WHERE k = 'version'");
  app.exec("DELETE FROM items WHERE id % 3 = 0");
  app.exec("CREATE TABLE extra(x)");
  app.exec("INSERT INTO extra VALUES (1), (2)");
  ASSERT_GT(std::filesystem::file_size(f.db() + "-wal"), 0u);
  ASSERT_NE(app.dump(), at_point);

  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(app.dump(), at_point) << "the connection kept open across the rollback";
  {
    Conn fresh(f.db());
    EXPECT_EQ(fresh.dump(), at_point) << "a new connection";
    EXPECT_EQ(fresh.integrity(), "3:ok|\n");
    EXPECT_EQ(fresh.rows("PRAGMA journal_mode"), "3:wal|\n");
  }
  app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_EQ(std::filesystem::file_size(f.db() + "-wal"), 0u);
  Conn after(f.db());
  EXPECT_EQ(after.dump(), at_point) << "after the -wal was checkpointed away";
}

TEST(Sqlite, RestoreIntoAWalDatabaseOfAnotherPageSize) {
  // The live database is in WAL mode with 4 KiB pages; the point has 1 KiB
  // pages. The backup API cannot change a WAL database's page size, so the
  // restore leaves WAL mode first; the copied header brings WAL back.
  SqliteFixture f;
  std::string at_point;
  {
    Conn c(f.db());
    c.exec("PRAGMA page_size=1024");
    c.exec("PRAGMA journal_mode=WAL");
    c.exec("CREATE TABLE t(x)");
    c.exec("INSERT INTO t VALUES ('point'), ('one kib')");
    at_point = c.dump();
  }
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  {
    Conn c(f.db());
    c.exec("PRAGMA journal_mode=DELETE");
    c.exec("PRAGMA page_size=4096");
    c.exec("VACUUM");
    c.exec("PRAGMA journal_mode=WAL");
    c.exec("INSERT INTO t VALUES ('later')");
    ASSERT_EQ(c.integer("PRAGMA page_size"), 4096);
  }
  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  Conn c(f.db());
  EXPECT_EQ(c.dump(), at_point);
  EXPECT_EQ(c.integer("PRAGMA page_size"), 1024);
  EXPECT_EQ(c.rows("PRAGMA journal_mode"), "3:wal|\n");
  EXPECT_EQ(c.integrity(), "3:ok|\n");
}

TEST(Sqlite, SecondPointWithOnePercentOfPagesChangedAddsUnderFivePercent) {
  // Chunks aligned to pages: 1% of the pages of a 20 MiB database, scattered,
  // changed between two points costs the second point less than 5% of the
  // database (the 100 MiB case is in sqlite_exhaustive_test).
  EXPECT_LT(added_after_one_percent(20), uint64_t{1} << 20);
}

TEST(Sqlite, CheckOnCaptureRefusesACorruptDatabase) {
  // A page of a table overwritten with garbage: with check_on_capture the
  // capture is refused (corrupted data) and no point is taken; without it
  // the point is taken, and rolling back to it is refused before the live
  // database or any service is touched.
  SqliteFixture f("check_on_capture = true\n");
  {
    Conn c(f.db());
    c.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT)");
    c.exec(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 500) "
        "INSERT INTO t(x) SELECT printf('%0100d', i) FROM k");
  }
  const std::string good = rwd::testing::read_file(f.db());
  {
    // Page 5 (a leaf of t): its header and cells become garbage.
    std::fstream io(f.db(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(4 * 4096);
    io.write(std::string(300, '\xff').data(), 300);
  }
  RunResult r = f.rw({"create"});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("check_on_capture"));
  EXPECT_THAT(r.err, HasSubstr("integrity_check"));
  EXPECT_EQ(f.rw_json({"list"}), json::array());

  f.write_config("");
  int64_t bad = f.create();
  ASSERT_GT(bad, 0);
  rwd::testing::write_file(f.db(), good);
  f.take_log();
  r = f.rollback(bad);
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("fails its checks"));
  EXPECT_TRUE(rwd::testing::read_file(f.db()) == good) << "the live database changed";
  EXPECT_EQ(f.take_log(), std::vector<std::string>{}) << "no service was stopped";
}

TEST(Sqlite, DiffShowsRowCountsSchemaAndContent) {
  // diff against the live system and between two points: row counts
  // ("rows 10 -> 12"), a table added, a schema change, same count but other
  // rows, a pragma; show describes the point's tables.
  SqliteFixture f;
  {
    Conn c(f.db());
    c.exec("CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)");
    c.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)");
    c.exec("CREATE TABLE tags(name TEXT)");
    for (int i = 0; i < 10; ++i)
      c.exec(fmt::format("INSERT INTO accounts(name) VALUES ('a{}')", i));
    for (int i = 0; i < 3; ++i) c.exec(fmt::format("INSERT INTO notes(body) VALUES ('n{}')", i));
  }
  int64_t p1 = f.create();
  ASSERT_GT(p1, 0);
  json show = f.rw_json({"show", std::to_string(p1)});
  json d = show["components"][0]["details"];
  EXPECT_EQ(show["components"][0]["category"], "database");
  EXPECT_EQ(d["tables"]["accounts"], 10) << show.dump();
  EXPECT_EQ(d["tables"]["notes"], 3);
  EXPECT_EQ(d["page_size"], 4096);
  EXPECT_EQ(d["journal_mode"], "delete");
  EXPECT_EQ(d["restorable"], json::array({"database"}));
  {
    Conn c(f.db());
    c.exec("INSERT INTO accounts(name) VALUES ('new1'), ('new2')");
    c.exec("UPDATE notes SET body = 'edited' WHERE id = 2");
    c.exec("ALTER TABLE tags ADD COLUMN color TEXT");
    c.exec("CREATE TABLE audit(x)");
    c.exec("PRAGMA user_version = 7");
  }
  auto expect_changes = [&](const json& j, const std::string& why) {
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_path;
    for (const auto& c : j["changes"]) {
      EXPECT_EQ(c["component"], "appdb");
      by_path[c["path"]].emplace_back(c["change"], c["detail"]);
    }
    using P = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(by_path[kDb + ":table accounts"], (P{{"content", "rows 10 -> 12"}})) << why;
    EXPECT_EQ(by_path[kDb + ":table notes"], (P{{"content", "rows 3, content differs"}})) << why;
    EXPECT_EQ(by_path[kDb + ":table audit"], (P{{"added", "table, rows 0"}})) << why;
    EXPECT_EQ(by_path[kDb + ":table tags"],
              (P{{"metadata",
                  "CREATE TABLE tags(name TEXT) -> CREATE TABLE tags(name TEXT, color TEXT)"}}))
        << why;
    EXPECT_EQ(by_path[kDb + ":user_version"], (P{{"metadata", "0 -> 7"}})) << why;
    EXPECT_EQ(by_path.size(), 5u) << j.dump(1);
  };
  RunResult r;
  expect_changes(f.rw_json({"diff", std::to_string(p1)}, &r), "against the live database");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  r = f.rw({"diff", std::to_string(p1)});
  EXPECT_THAT(r.out, HasSubstr("M " + kDb + ":table accounts (rows)\n    rows 10 -> 12\n"));
  int64_t p2 = f.create();
  expect_changes(f.rw_json({"diff", std::to_string(p1), std::to_string(p2)}), "between points");
  // Nothing changed since p2.
  EXPECT_EQ(f.rw_json({"diff", std::to_string(p2)})["changes"], json::array());
}

TEST(Sqlite, ServicesAreStoppedBeforeAndStartedAfterTheRestore) {
  // The component's services are stopped while the database still has the
  // changed content, and started once it has the point's.
  SqliteFixture f;
  {
    Conn c(f.db());
    c.exec("CREATE TABLE t(x)");
    c.exec("INSERT INTO t VALUES (1)");
  }
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  {
    Conn c(f.db());
    c.exec("INSERT INTO t VALUES (2)");
  }
  const std::string changed = cksum(f.db());
  f.take_log();
  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::string restored = cksum(f.db());
  ASSERT_NE(changed, restored);
  EXPECT_EQ(f.take_log(),
            (std::vector<std::string>{"stop app " + changed, "stop worker " + changed,
                                      "start app " + restored, "start worker " + restored}));
  Conn c(f.db());
  EXPECT_EQ(c.rows("SELECT x FROM t"), "1:1|\n");
}

TEST(Sqlite, MissingDatabaseIsCreatedAndStaleWalIgnored) {
  // The database was deleted, and a -wal of another database lies where its
  // -wal would be. The rollback creates the database with the point's
  // content, owner and mode; the stale -wal plays no part. Undo removes it
  // again.
  SqliteFixture f;
  std::string at_point;
  {
    Conn c(f.db());
    c.exec("PRAGMA journal_mode=WAL");
    c.exec("CREATE TABLE t(x)");
    c.exec("INSERT INTO t VALUES ('point')");
    at_point = c.dump();
  }
  ASSERT_EQ(::chown(f.db().c_str(), 1234, 2345), 0);
  ASSERT_EQ(::chmod(f.db().c_str(), 0640), 0);
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  {
    // Another database's -wal, with committed frames, left at our path.
    SqliteFixture other("", false);
    Conn o(other.db());
    o.exec("PRAGMA journal_mode=WAL");
    o.exec("PRAGMA wal_autocheckpoint=0");
    o.exec("CREATE TABLE t(x)");
    o.exec("INSERT INTO t VALUES ('stale')");
    std::filesystem::remove(f.db());
    std::filesystem::copy_file(other.db() + "-wal", f.db() + "-wal",
                               std::filesystem::copy_options::overwrite_existing);
  }
  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  struct stat st = lstat_or_die(f.db());
  EXPECT_EQ(st.st_uid, 1234u) << "the owner it was captured with";
  EXPECT_EQ(st.st_gid, 2345u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  {
    Conn c(f.db());
    EXPECT_EQ(c.dump(), at_point);
  }
  r = f.rw({"undo", "--yes"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(exists_nofollow(f.db()));
  EXPECT_FALSE(exists_nofollow(f.db() + "-wal"));
}

TEST(Sqlite, SettingsAreChecked) {
  // Unknown keys and wrong types are configuration errors naming the key.
  SqliteFixture f;
  f.write_config("colour = \"blue\"\n");
  RunResult r = f.rw({"list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("no key \"colour\" (known: check_on_capture, busy_timeout, "
                               "chunk_pages)"));
  f.write_config("check_on_capture = \"yes\"\n");
  r = f.rw({"list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("check_on_capture must be a boolean"));
  f.write_config("busy_timeout = 10\n");
  r = f.rw({"list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("busy_timeout must be a duration string"));
  f.write_config("chunk_pages = 0\n");
  r = f.rw({"list"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("chunk_pages must be an integer"));
  f.write_config("busy_timeout = \"2s\"\nchunk_pages = 4\ncheck_on_capture = false\n");
  r = f.rw({"list"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

}  // namespace
}  // namespace rwd::itest
