// SPDX-License-Identifier: Apache-2.0
// SQLite databases as the sqlite adapter handles them: connections,
// page-for-page copies with the online backup API, the checks a database
// must pass, and the facts recorded beside an image (pragmas, schema, row
// counts and content hashes per table) that diff and show compare without
// materializing an image.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "components/adapter.h"

struct sqlite3;

namespace rwd::components::sqlite {

using Millis = std::chrono::milliseconds;

// One connection, closed on destruction.
class Db {
 public:
  // Opens the host path `path` with SQLITE_OPEN_* `flags` through the VFS
  // named `vfs` (nullptr: SQLite's default); every lock it needs is waited
  // for up to `busy`. Errors: the kinds of error() below.
  static Result<Db> open(const std::string& path, int flags, Millis busy,
                         const char* vfs = nullptr);
  Db(Db&& o) noexcept;
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  ~Db();

  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }
  Millis busy() const { return busy_; }
  Status exec(const std::string& sql);
  // The first column of every row of `sql`, as text ("" for NULL).
  Result<std::vector<std::string>> column(const std::string& sql);
  Result<int64_t> integer(const std::string& sql);
  // The connection's last error as rewind's kinds: kBusy (locked longer
  // than the busy timeout), kCorruptedData (malformed, not a database),
  // kNoSpace, kPermissionDenied, kNotFound (cannot open), kIo otherwise.
  Error error(std::string_view what) const;

 private:
  Db(sqlite3* db, std::string path, Millis busy) : db_(db), path_(std::move(path)), busy_(busy) {}
  sqlite3* db_;
  std::string path_;
  Millis busy_;
};

// Copies every page of `from` into `to` with the backup API in one step:
// one read transaction on `from` (a consistent image while applications
// keep writing) and one write transaction on `to` (readers of `to` see the
// old database or the new one, never a mix). Waits for locks up to the
// busy timeout of `to`.
Status copy_pages(Db& from, Db& to);

// "" when the database passes PRAGMA integrity_check and
// PRAGMA foreign_key_check; otherwise their first findings, one per line.
// A database too damaged to run the checks is reported the same way.
Result<std::string> check(Db& db);

// The journal mode of the connection's database ("wal", "delete", ...).
Result<std::string> journal_mode(Db& db);

// One entry of the schema (sqlite_master).
struct Object {
  std::string type;  // table, index, view, trigger
  std::string sql;
  // Tables only (not virtual tables, whose data lives in their shadow
  // tables): the number of rows and a hash of their values that does not
  // depend on the order they are read in.
  std::optional<int64_t> rows;
  std::string hash;
  std::string error;  // why the table could not be read, if it could not
};

struct Facts {
  int64_t page_size = 0;
  int64_t page_count = 0;
  int64_t user_version = 0;
  int64_t application_id = 0;
  std::string journal_mode;
  std::map<std::string, Object> objects;  // by name (one namespace in SQLite)
  bool checked = false;                   // passed check() when it was captured
  // The database file's owner and permission bits, for a restore that has
  // to create it.
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0644;
};

// Reads the facts of `db` (journal_mode left empty: the caller knows whose
// mode counts). A table that cannot be read gets its error and a warning;
// only a schema that cannot be read fails.
Result<Facts> read_facts(Db& db, std::vector<std::string>& warnings);

std::string facts_text(const Facts& f);
// kCorruptedData when the text is not the facts of a snapshot.
Result<Facts> parse_facts(std::string_view text);

// What changed from `from` to `to`. Keys are "<db>:<type> <name>" for
// schema objects and "<db>:<pragma>" for pragmas; the page count is a
// physical detail and not compared.
std::vector<Change> compare(const std::string& db, const Facts& from, const Facts& to);

// What `show` says of a snapshot.
nlohmann::json describe_facts(const Facts& f);

}  // namespace rwd::components::sqlite
