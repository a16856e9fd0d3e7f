// SPDX-License-Identifier: Apache-2.0
#include "components/sqlite/database.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "components/unified_diff.h"
#include "store/hash.h"

namespace rwd::components::sqlite {

namespace {

using nlohmann::json;

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(st_); }
  sqlite3_stmt* get() const { return st_; }
  std::string text(int i) const {
    const unsigned char* t = sqlite3_column_text(st_, i);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(st_, i)))
             : std::string();
  }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

std::string quote_ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool is_virtual(const std::string& sql) {
  static constexpr std::string_view kPrefix = "CREATE VIRTUAL TABLE";
  return sql.size() >= kPrefix.size() &&
         std::equal(kPrefix.begin(), kPrefix.end(), sql.begin(), [](char a, char b) {
           return a == std::toupper(static_cast<unsigned char>(b));
         });
}

void put_u64(store::Sha256& h, uint64_t v) {
  std::array<std::byte, 8> b;
  for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
  h.update(b);
}

// The rows of `table` as a count and a hash: each row's values (with the
// rowid where the table has one) go through SHA-256, and the row hashes are
// added lane by lane, so the result does not depend on the order the rows
// come in (which the query planner chooses) and equal rows do not cancel.
Status hash_rows(Db& db, const std::string& table, Object& obj) {
  std::string from = " FROM " + quote_ident(table);
  auto st = std::make_unique<Stmt>(db.get(), "SELECT _rowid_, *" + from);
  // A WITHOUT ROWID table has no rowid; its primary key is in its columns.
  if (!st->ok()) st = std::make_unique<Stmt>(db.get(), "SELECT *" + from);
  if (!st->ok()) return fail(db.error(fmt::format("reading table {}", table)));
  store::MultisetDigest sum;
  int64_t rows = 0;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) {
    store::Sha256 h;
    const int n = sqlite3_column_count(st->get());
    put_u64(h, static_cast<uint64_t>(n));
    for (int i = 0; i < n; ++i) {
      const int type = sqlite3_column_type(st->get(), i);
      put_u64(h, static_cast<uint64_t>(type));
      if (type == SQLITE_INTEGER) {
        put_u64(h, static_cast<uint64_t>(sqlite3_column_int64(st->get(), i)));
      } else if (type == SQLITE_FLOAT) {
        double d = sqlite3_column_double(st->get(), i);
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        put_u64(h, bits);
      } else if (type != SQLITE_NULL) {
        const void* p = type == SQLITE_BLOB ? sqlite3_column_blob(st->get(), i)
                                            : sqlite3_column_text(st->get(), i);
        const auto len = static_cast<size_t>(sqlite3_column_bytes(st->get(), i));
        put_u64(h, len);
        if (len > 0) h.update(std::span(static_cast<const std::byte*>(p), len));
      }
    }
    sum.add(h.finish());
    ++rows;
  }
  if (rc != SQLITE_DONE) return fail(db.error(fmt::format("reading table {}", table)));
  obj.rows = rows;
  obj.hash = sum.hex();
  return ok();
}

// One line for a detail: the SQL of a schema object with its whitespace runs
// folded.

}  // namespace

Result<Db> Db::open(const std::string& path, int flags, Millis busy, const char* vfs) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, vfs);
  Db out(db, path, busy);
  if (rc != SQLITE_OK) {
    if (!db) return fail(Error::other("opening {}: SQLite could not allocate a connection", path));
    return fail(out.error("opening the database"));
  }
  sqlite3_busy_timeout(db, static_cast<int>(std::min<int64_t>(busy.count(), INT32_MAX)));
  // The schema is the application's: functions with side effects do not run
  // on its behalf while rewind reads and checks the database.
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  return out;
}

Db::Db(Db&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)), busy_(o.busy_) {}

Db::~Db() {
  // Statements are finalized where they are made; close_v2 cannot fail then.
  if (db_) sqlite3_close_v2(db_);
}

Error Db::error(std::string_view what) const {
  const int code = sqlite3_errcode(db_) & 0xff;
  const int sys = sqlite3_system_errno(db_);
  std::string msg = fmt::format("{}: {}: {}{}", path_, what, sqlite3_errmsg(db_),
                                sys != 0 ? fmt::format(" ({})", std::strerror(sys)) : "");
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(ErrorCode::kBusy,
                   fmt::format("{}; another connection held its lock for longer than the busy "
                               "timeout ({} ms): stop the applications that write to it (the "
                               "component's services) or raise busy_timeout",
                               msg, busy_.count()));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error(ErrorCode::kCorruptedData, msg);
    case SQLITE_FULL:
      return Error(ErrorCode::kNoSpace, msg, sys);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Error(ErrorCode::kPermissionDenied, msg, sys);
    case SQLITE_CANTOPEN:
      return Error(ErrorCode::kNotFound, msg, sys);
    default:
      return Error(ErrorCode::kIo, msg, sys);
  }
}

Status Db::exec(const std::string& sql) {
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail(error(sql));
  return ok();
}

Result<std::vector<std::string>> Db::column(const std::string& sql) {
  Stmt st(db_, sql);
  if (!st.ok()) return fail(error(sql));
  std::vector<std::string> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(st.text(0));
  if (rc != SQLITE_DONE) return fail(error(sql));
  return out;
}

Result<int64_t> Db::integer(const std::string& sql) {
  Stmt st(db_, sql);
  if (!st.ok()) return fail(error(sql));
  int rc = st.step();
  if (rc == SQLITE_ROW) return sqlite3_column_int64(st.get(), 0);
  if (rc == SQLITE_DONE) return fail(Error::invalid_state("{}: {} returned no row", path_, sql));
  return fail(error(sql));
}

Status copy_pages(Db& from, Db& to) {
  sqlite3_backup* b = sqlite3_backup_init(to.get(), "main", from.get(), "main");
  if (!b) return fail(to.error(fmt::format("starting the copy from {}", from.path())));
  // One step of every page: the copy is one transaction on each side.
  // BUSY before it starts (a lock held by an application) is retried until
  // the busy timeout; SQLite's own busy handlers wait inside the step too.
  const auto deadline = std::chrono::steady_clock::now() + to.busy();
  int rc;
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    // The error is the source's when the destination has none to report.
    const Db& who = sqlite3_errcode(from.get()) != SQLITE_OK ? from : to;
    Error e = who.error(fmt::format("copying {} into {}", from.path(), to.path()));
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
      e = Error(ErrorCode::kBusy,
                fmt::format("copying {} into {}: a database is locked by another connection "
                            "for longer than the busy timeout ({} ms): stop the applications "
                            "that use it (the component's services) or raise busy_timeout",
                            from.path(), to.path(), to.busy().count()));
    return fail(e);
  }
  return ok();
}

Result<std::string> check(Db& db) {
  std::string out;
  auto integrity = db.column("PRAGMA integrity_check(20)");
  if (!integrity) {
    if (integrity.error().code() != ErrorCode::kCorruptedData) return fail(integrity.error());
    return "integrity_check: " + integrity.error().message();
  }
  if (!(integrity->size() == 1 && integrity->front() == "ok"))
    for (const auto& line : *integrity) out += "integrity_check: " + line + "\n";
  Stmt fk(db.get(), "PRAGMA foreign_key_check");
  if (!fk.ok()) return fail(db.error("PRAGMA foreign_key_check"));
  int rc;
  int shown = 0;
  while ((rc = fk.step()) == SQLITE_ROW)
    if (shown++ < 20)
      out += fmt::format("foreign_key_check: table {} row {} refers to a missing row of {}\n",
                         fk.text(0), fk.text(1), fk.text(2));
  if (rc != SQLITE_DONE) {
    Error e = db.error("PRAGMA foreign_key_check");
    if (e.code() != ErrorCode::kCorruptedData) return fail(e);
    out += "foreign_key_check: " + e.message() + "\n";
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Result<std::string> journal_mode(Db& db) {
  REWIND_ASSIGN_OR_RETURN(auto mode, db.column("PRAGMA journal_mode"));
  if (mode.empty()) return fail(Error::invalid_state("{}: no journal mode", db.path()));
  return mode.front();
}

Result<Facts> read_facts(Db& db, std::vector<std::string>& warnings) {
  Facts f;
  REWIND_ASSIGN_OR_RETURN(f.page_size, db.integer("PRAGMA page_size"));
  REWIND_ASSIGN_OR_RETURN(f.page_count, db.integer("PRAGMA page_count"));
  REWIND_ASSIGN_OR_RETURN(f.user_version, db.integer("PRAGMA user_version"));
  REWIND_ASSIGN_OR_RETURN(f.application_id, db.integer("PRAGMA application_id"));
  {
    Stmt st(db.get(), "SELECT type, name, sql FROM sqlite_master");
    if (!st.ok()) return fail(db.error("reading the schema"));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      // Automatic indexes have no SQL: their tables' SQL implies them.
      if (sqlite3_column_type(st.get(), 2) == SQLITE_NULL) continue;
      f.objects[st.text(1)] = Object{st.text(0), st.text(2), std::nullopt, "", ""};
    }
    if (rc != SQLITE_DONE) return fail(db.error("reading the schema"));
  }
  for (auto& [name, obj] : f.objects) {
    if (obj.type != "table" || is_virtual(obj.sql)) continue;
    Status st = hash_rows(db, name, obj);
    if (!st) {
      obj.error = st.error().message();
      warnings.push_back(fmt::format("table {} cannot be read: {}", name, obj.error));
    }
  }
  return f;
}

std::string facts_text(const Facts& f) {
  json objects = json::array();
  for (const auto& [name, o] : f.objects) {
    json j{{"name", name}, {"type", o.type}, {"sql", o.sql}};
    if (o.rows) j["rows"] = *o.rows;
    if (!o.hash.empty()) j["hash"] = o.hash;
    if (!o.error.empty()) j["error"] = o.error;
    objects.push_back(std::move(j));
  }
  return json{{"format", 1},
              {"page_size", f.page_size},
              {"page_count", f.page_count},
              {"user_version", f.user_version},
              {"application_id", f.application_id},
              {"journal_mode", f.journal_mode},
              {"checked", f.checked},
              {"file", {{"uid", f.uid}, {"gid", f.gid}, {"mode", f.mode}}},
              {"objects", std::move(objects)}}
      .dump();
}

Result<Facts> parse_facts(std::string_view text) {
  // Read back from the repository: untrusted, every field checked.
  try {
    json j = json::parse(text);
    if (j.at("format").get<int>() != 1)
      return fail(
          Error::corrupted_data("sqlite facts: unsupported format {}", j.at("format").dump()));
    Facts f;
    f.page_size = j.at("page_size").get<int64_t>();
    f.page_count = j.at("page_count").get<int64_t>();
    f.user_version = j.at("user_version").get<int64_t>();
    f.application_id = j.at("application_id").get<int64_t>();
    f.journal_mode = j.at("journal_mode").get<std::string>();
    f.checked = j.at("checked").get<bool>();
    const json& file = j.at("file");
    f.uid = file.at("uid").get<uint32_t>();
    f.gid = file.at("gid").get<uint32_t>();
    f.mode = file.at("mode").get<uint32_t>() & 07777;
    for (const auto& o : j.at("objects")) {
      Object obj{o.at("type").get<std::string>(), o.at("sql").get<std::string>(), std::nullopt,
                 o.value("hash", ""), o.value("error", "")};
      if (o.contains("rows")) obj.rows = o.at("rows").get<int64_t>();
      f.objects[o.at("name").get<std::string>()] = std::move(obj);
    }
    return f;
  } catch (const std::exception& e) {
    return fail(Error::corrupted_data("sqlite facts of the snapshot are unreadable: {}", e.what()));
  }
}

std::vector<Change> compare(const std::string& db, const Facts& from, const Facts& to) {
  std::vector<Change> out;
  auto pragma = [&](const char* name, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(Change{db + ":" + name, "metadata", {name}, a + " -> " + b});
  };
  pragma("page_size", std::to_string(from.page_size), std::to_string(to.page_size));
  pragma("journal_mode", from.journal_mode, to.journal_mode);
  pragma("user_version", std::to_string(from.user_version), std::to_string(to.user_version));
  pragma("application_id", std::to_string(from.application_id), std::to_string(to.application_id));
  auto rows_of = [](const Object& o) {
    return o.rows ? fmt::format("{}, rows {}", o.type, *o.rows) : o.type;
  };
  for (const auto& [name, b] : to.objects) {
    const std::string key = fmt::format("{}:{} {}", db, b.type, name);
    auto it = from.objects.find(name);
    if (it == from.objects.end()) {
      out.push_back(Change{key, "added", {}, rows_of(b)});
      continue;
    }
    const Object& a = it->second;
    if (a.type != b.type) {
      out.push_back(Change{key, "type", {}, a.type + " -> " + b.type});
      continue;
    }
    if (a.sql != b.sql)
      out.push_back(
          Change{key,
                 "metadata",
                 {"schema"},
                 text::collapse_whitespace(a.sql) + " -> " + text::collapse_whitespace(b.sql)});
    if (!b.error.empty()) {
      out.push_back(Change{key, "damaged", {"rows"}, "cannot be read: " + b.error});
    } else if (a.rows != b.rows) {
      out.push_back(Change{key,
                           "content",
                           {"rows"},
                           fmt::format("rows {} -> {}", a.rows ? std::to_string(*a.rows) : "?",
                                       b.rows ? std::to_string(*b.rows) : "?")});
    } else if (a.hash != b.hash) {
      out.push_back(
          Change{key, "content", {"rows"}, fmt::format("rows {}, content differs", *b.rows)});
    }
  }
  for (const auto& [name, a] : from.objects)
    if (!to.objects.contains(name))
      out.push_back(Change{fmt::format("{}:{} {}", db, a.type, name), "removed", {}, rows_of(a)});
  return out;
}

json describe_facts(const Facts& f) {
  json tables = json::object();
  std::map<std::string, int> others;
  for (const auto& [name, o] : f.objects) {
    if (o.type == "table")
      tables[name] = o.rows ? json(*o.rows) : json(nullptr);
    else
      ++others[o.type == "index" ? "indexes" : o.type + "s"];
  }
  json d{{"page_size", f.page_size},       {"pages", f.page_count},
         {"journal_mode", f.journal_mode}, {"user_version", f.user_version},
         {"tables", std::move(tables)},    {"checked_on_capture", f.checked},
         {"restorable", {"database"}}};
  for (const auto& [kind, n] : others) d[kind] = n;
  return d;
}

}  // namespace rwd::components::sqlite
