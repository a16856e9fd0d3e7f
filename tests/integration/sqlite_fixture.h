// SPDX-License-Identifier: Apache-2.0
// Pieces of the sqlite adapter's integration tests: a connection of the test
// (SQLite's default VFS, as an application's), a sandbox root with one
// sqlite component, and the page-deduplication measurement.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"

namespace rwd::itest {

using nlohmann::json;

inline const std::string kDb = "/var/lib/app/app.db";

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
        if (t == SQLITE_BLOB) {
          const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, i));
          for (int k = 0; k < sqlite3_column_bytes(st, i); ++k) out += fmt::format("{:02x}", p[k]);
        } else if (t != SQLITE_NULL)
          out += reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        out += "|";
      }
      out += "\n";
    }
    sqlite3_finalize(st);
    return out;
  }
  // The schema and every table's rows.
  std::string dump() {
    std::string out = rows("SELECT type, name, sql FROM sqlite_master ORDER BY name");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1,
                       &st, nullptr);
    std::vector<std::string> tables;
    while (st && sqlite3_step(st) == SQLITE_ROW)
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    // Rows sorted as text: the same for any scan order, with or without a rowid.
    for (const auto& t : tables) {
      std::string all = rows("SELECT * FROM \"" + t + "\"");
      std::vector<std::string> lines;
      for (size_t b = 0, e; b < all.size(); b = e + 1) {
        e = all.find('\n', b);
        lines.push_back(all.substr(b, e - b));
      }
      std::sort(lines.begin(), lines.end());
      out += "table " + t + "\n";
      for (const auto& l : lines) out += l + "\n";
    }
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
    if (init) {
      EXPECT_EQ(box.init().exit_code, 0);
    }
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

  std::vector<std::string> take_log() const { return take_lines(log); }

  Sandbox box;
  std::string log;
};

inline std::string cksum(const std::string& path) {
  RunResult r = sh("cksum < " + path);
  return r.out.substr(0, r.out.find('\n'));
}

// The bank: accounts whose balances always sum to 100000, and a counter equal
// to the number of rows of log. Every transaction of the writer keeps both.
inline void make_bank(Conn& c, const std::string& journal_mode) {
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

inline void expect_bank_invariants(Conn& c, const std::string& why) {
  EXPECT_EQ(c.integer("SELECT sum(balance) FROM accounts"), 100000) << why;
  EXPECT_EQ(c.integer("SELECT n FROM counter"), c.integer("SELECT count(*) FROM log")) << why;
  EXPECT_EQ(c.integrity(), "3:ok|\n") << why;
}

// Builds a database of `rows` blobs of 1 MiB (4 KiB pages) in one transaction.
inline void make_blobs(const std::string& path, int rows) {
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
inline void touch_pages(const std::string& path, int rows, int pages) {
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
inline uint64_t added_after_one_percent(int mib) {
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

}  // namespace rwd::itest
