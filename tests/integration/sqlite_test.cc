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

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const std::string kDb = "/var/lib/app/app.db";

// A connection of the test (an "application").
class Conn {
 public:
  explicit Conn(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK) << path;
    sqlite3_busy_timeout(db_, 30000);
  }
  ~Conn() { sqlite3_close_v2(db_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  sqlite3* get() const { return db_; }

  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }
  int64_t integer(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    int64_t v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  // Every row of `sql`, each value with its type, one line per row.
  std::string rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    std::string out;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        int t = sqlite3_column_type(st, i);
        out += std::to_string(t) + ":";
        if (t == SQLITE_BLOB)
          out += std::string(static_cast<const char*>(sqlite3_column_blob(st, i)),
                             static_cast<size_t>(sqlite3_column_bytes(st, i)));
        else if (t != SQLITE_NULL)
          out += reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        out += "|";
      }
      out += "\n";
    }
    sqlite3_finalize(st);
    return out;
  }
  // The schema and every table's rows, in rowid order.
  std::string dump() {
    std::string out = rows("SELECT type, name, sql FROM sqlite_master ORDER BY name");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1,
                       &st, nullptr);
    std::vector<std::string> tables;
    while (st && sqlite3_step(st) == SQLITE_ROW)
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    for (const auto& t : tables)
      out += "table " + t + "\n" + rows("SELECT rowid, * FROM \"" + t + "\" ORDER BY rowid");
    return out;
  }
  std::string integrity() { return rows("PRAGMA integrity_check"); }

 private:
  sqlite3* db_ = nullptr;
};

// A sandbox root with one sqlite component "appdb" at kDb (services "app"
// and "worker", whose stop and start commands append to a log).
class SqliteFixture {
 public:
  explicit SqliteFixture(const std::string& settings = "", bool init = true)
      : box("rewind-sqlite"), log(box.dir.sub("services.log")) {
    std::filesystem::create_directories(box.root + "/var/lib/app");
    write_config(settings);
    if (init) EXPECT_EQ(box.init().exit_code, 0);
  }

  void write_config(const std::string& settings) const {
    // Each service command also records the database's checksum at that
    // moment, which shows whether it ran before or after the restore.
    std::string record = "{service} $(cksum < " + db() + " 2>/dev/null) >> " + log;
    rwd::testing::write_file(
        box.root + "/etc/rewind/rewind.toml",
        "[service_manager]\n"
        "stop = [\"sh\", \"-c\", \"echo stop " +
            record +
            "\"]\n"
            "start = [\"sh\", \"-c\", \"echo start " +
            record +
            "\"]\n\n"
            "[[component]]\nname = \"appdb\"\nadapter = \"sqlite\"\npath = \"" +
            kDb +
            "\"\n"
            "services = [\"app\", \"worker\"]\ncritical = true\n" +
            settings);
  }

  std::string db() const { return box.at(kDb); }

  RunResult rw(const std::vector<std::string>& args) const { return box.rw(args); }

  json rw_json(std::vector<std::string> args, RunResult* out = nullptr) const {
    args.insert(args.begin(), "--json");
    RunResult r = rw(args);
    if (out) *out = r;
    json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "not one JSON document: " << describe(r);
    return j;
  }

  int64_t create() const {
    RunResult r = rw({"-q", "create"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return r.exit_code == 0 ? std::stoll(r.out) : -1;
  }

  RunResult rollback(int64_t id) const { return rw({"rollback", std::to_string(id), "--yes"}); }

  std::vector<std::string> take_log() const {
    std::vector<std::string> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    std::filesystem::remove(log);
    return out;
  }

  Sandbox box;
  std::string log;
};

std::string cksum(const std::string& path) {
  RunResult r = sh("cksum < " + path);
  return r.out.substr(0, r.out.find('\n'));
}

// The bank: accounts whose balances always sum to 100000, and a counter equal
// to the number of rows of log. Every transaction of the writer keeps both.
void make_bank(Conn& c, const std::string& journal_mode) {
  c.exec("PRAGMA journal_mode=" + journal_mode);
  c.exec("BEGIN");
  c.exec("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)");
  c.exec("CREATE TABLE log(id INTEGER PRIMARY KEY, note TEXT, pad BLOB)");
  c.exec("CREATE TABLE counter(n INTEGER NOT NULL)");
  for (int i = 0; i < 100; ++i) c.exec("INSERT INTO accounts(balance) VALUES (1000)");
  // Some bulk, so that a capture takes long enough to overlap commits.
  c.exec(
      "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 2000) "
      "INSERT INTO log(note, pad) SELECT 'initial ' || i, randomblob(4000) FROM k");
  c.exec("INSERT INTO counter VALUES (2000)");
  c.exec("COMMIT");
}

void expect_bank_invariants(Conn& c, const std::string& why) {
  EXPECT_EQ(c.integer("SELECT sum(balance) FROM accounts"), 100000) << why;
  EXPECT_EQ(c.integer("SELECT n FROM counter"), c.integer("SELECT count(*) FROM log")) << why;
  EXPECT_EQ(c.integrity(), "1:ok|\n") << why;
}

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
    EXPECT_EQ(fresh.integrity(), "1:ok|\n");
    EXPECT_EQ(fresh.rows("PRAGMA journal_mode"), "3:wal|\n");
  }
  app.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_EQ(std::filesystem::file_size(f.db() + "-wal"), 0u);
  Conn after(f.db());
  EXPECT_EQ(after.dump(), at_point) << "after the -wal was checkpointed away";
}

// Builds a database of `rows` blobs of 1 MiB (4 KiB pages) in one transaction.
void make_blobs(const std::string& path, int rows) {
  Conn c(path);
  c.exec("PRAGMA page_size=4096");
  c.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
  c.exec(
      fmt::format("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {}) "
                  "INSERT INTO t(b) SELECT randomblob(1048576) FROM k",
                  rows));
}

// Changes `pages` distinct overflow pages scattered over the blobs, in place
// (incremental blob I/O rewrites only the page it writes into).
void touch_pages(const std::string& path, int rows, int pages) {
  Conn c(path);
  std::mt19937 rng(42);
  std::set<std::pair<int, int>> done;
  constexpr int kPerBlob = 1048576 / 4092;  // payload bytes of an overflow page
  c.exec("BEGIN");
  while (static_cast<int>(done.size()) < pages) {
    int row = static_cast<int>(rng() % static_cast<unsigned>(rows)) + 1;
    int page = static_cast<int>(rng() % (kPerBlob - 1)) + 1;
    if (!done.insert({row, page}).second) continue;
    sqlite3_blob* b = nullptr;
    ASSERT_EQ(sqlite3_blob_open(c.get(), "main", "t", "b", row, 1, &b), SQLITE_OK);
    uint64_t v = rng();
    ASSERT_EQ(sqlite3_blob_write(b, &v, sizeof v, page * 4092 + 100), SQLITE_OK);
    sqlite3_blob_close(b);
  }
  c.exec("COMMIT");
}

// `added` of the second of two points of a `mib` MiB database between which
// 1% of its pages changed.
uint64_t added_after_one_percent(int mib) {
  SqliteFixture f;
  make_blobs(f.db(), mib);
  const int64_t pages = static_cast<int64_t>(std::filesystem::file_size(f.db()) / 4096);
  EXPECT_GT(f.create(), 0);
  touch_pages(f.db(), mib, static_cast<int>(pages / 100));
  int64_t id = f.create();
  json j = f.rw_json({"show", std::to_string(id)});
  uint64_t added = j["components"][0].value("added", uint64_t{0});
  uint64_t size = j["components"][0].value("size", uint64_t{0});
  EXPECT_GE(size, static_cast<uint64_t>(mib) << 20);
  ::testing::Test::RecordProperty("added_bytes", std::to_string(added));
  std::printf("%d MiB database, %lld of %lld pages changed: second point added %llu bytes\n", mib,
              static_cast<long long>(pages / 100), static_cast<long long>(pages),
              static_cast<unsigned long long>(added));
  return added;
}

TEST(Sqlite, SecondPointOf100MiBWithOnePercentOfPagesChangedAddsUnder5MiB) {
  // Chunks aligned to pages: 1% of the pages, scattered, changed between two
  // points costs the second point far less than 5 MiB.
  EXPECT_LT(added_after_one_percent(100), uint64_t{5} << 20);
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
  // content; the stale -wal plays no part. Undo removes it again.
  SqliteFixture f;
  std::string at_point;
  {
    Conn c(f.db());
    c.exec("PRAGMA journal_mode=WAL");
    c.exec("CREATE TABLE t(x)");
    c.exec("INSERT INTO t VALUES ('point')");
    at_point = c.dump();
  }
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
    std::filesystem::copy_file(other.db() + "-wal", f.db() + "-wal");
  }
  RunResult r = f.rollback(id);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
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
