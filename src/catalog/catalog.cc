// SPDX-License-Identifier: Apache-2.0
#include "catalog/catalog.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "catalog/sqlite_vfs.h"

namespace rwd::catalog {

namespace {

Error sql_error(sqlite3* db, std::string_view what) {
  int code = sqlite3_errcode(db);
  int sys = sqlite3_system_errno(db);
  if (sys == 0) sys = last_vfs_errno();
  std::string msg =
      fmt::format("catalog: {}: {}{}", what, sqlite3_errmsg(db),
                  sys != 0 ? fmt::format(" ({})", std::strerror(sys)) : std::string());
  if ((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_FULL) {
    if (sys == ENOSPC || sys == EDQUOT || (code & 0xff) == SQLITE_FULL)
      return Error(ErrorCode::kNoSpace, msg, sys);
    return Error(ErrorCode::kIo, msg, sys);
  }
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error(ErrorCode::kBusy, msg);
    case SQLITE_PROTOCOL:
      // SQLite's WAL locks stayed taken through all of its retries: another
      // process holds them and does not go on (stopped, or stuck in I/O).
      return Error(ErrorCode::kBusy,
                   msg +
                       " (another process holds the catalog's locks and does not go on; "
                       "try again once it has finished)");
    case SQLITE_FULL:
      return Error(ErrorCode::kNoSpace, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error(ErrorCode::kCorruptedData, msg);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return Error(ErrorCode::kPermissionDenied, msg);
    case SQLITE_CANTOPEN:
      return Error(ErrorCode::kNotFound, msg);
    default:
      return Error(ErrorCode::kIo, msg);
  }
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  Stmt& bind_blob(int i, const std::string& v) {
    sqlite3_bind_blob(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> step() {
    if (!ok()) return fail(sql_error(db_, "prepare"));
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return fail(sql_error(db_, "step"));
  }
  Status run() {
    REWIND_ASSIGN_OR_RETURN(bool row, step());
    (void)row;
    return rwd::ok();
  }
  int64_t i64(int c) { return sqlite3_column_int64(st_, c); }
  double dbl(int c) { return sqlite3_column_double(st_, c); }
  std::string text(int c) {
    auto* p = sqlite3_column_text(st_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(st_, c)))
             : std::string();
  }
  std::string blob(int c) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(st_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, c))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

// INSERT OR IGNORE / OR REPLACE of one chunk row.
Status write_chunk(sqlite3* db, std::string_view conflict, const ChunkRow& c) {
  Stmt s(db, fmt::format("INSERT OR {} INTO chunks(id,pack,offset,stored_len,raw_len,type,codec) "
                         "VALUES(?,?,?,?,?,?,?)",
                         conflict)
                 .c_str());
  s.bind_blob(1, c.id).bind(2, c.pack).bind(3, static_cast<int64_t>(c.offset));
  s.bind(4, int64_t{c.stored_len})
      .bind(5, int64_t{c.raw_len})
      .bind(6, int64_t{c.type})
      .bind(7, int64_t{c.codec});
  return s.run();
}

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points(
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, kind TEXT NOT NULL,
  cause TEXT NOT NULL, time_ns INTEGER NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
  kernel TEXT NOT NULL, tags TEXT NOT NULL, pinned INTEGER NOT NULL, pre_id INTEGER NOT NULL,
  root_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots(
  point_id INTEGER NOT NULL, component TEXT NOT NULL, adapter TEXT NOT NULL,
  category TEXT NOT NULL, paths TEXT NOT NULL, manifest TEXT NOT NULL, entries INTEGER NOT NULL,
  size INTEGER NOT NULL, stored INTEGER NOT NULL, added INTEGER NOT NULL,
  exclude TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY(point_id, component));
CREATE TABLE IF NOT EXISTS operations(
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, phase TEXT NOT NULL,
  percent REAL NOT NULL, pid INTEGER NOT NULL, started_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL, cancel INTEGER NOT NULL DEFAULT 0, point INTEGER NOT NULL,
  safety INTEGER NOT NULL, journal TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS packs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
  id BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, stored_len INTEGER NOT NULL,
  raw_len INTEGER NOT NULL, type INTEGER NOT NULL, codec INTEGER NOT NULL) WITHOUT ROWID;
)sql";

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::open(io::Fs& fs, const std::string& path, bool create) {
  REWIND_ASSIGN_OR_RETURN(std::string vfs, vfs_name_for(fs));
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, vfs.c_str());
  if (rc != SQLITE_OK) {
    Error e = db ? sql_error(db, fmt::format("open {}", path))
                 : Error(ErrorCode::kIo, fmt::format("catalog: cannot open {}", path));
    sqlite3_close(db);
    return fail(e);
  }
  sqlite3_busy_timeout(db, 10000);
  // Checkpoints run only where their errors are seen (Catalog::checkpoint,
  // called by writers before they start): never silently on close or after
  // a commit, where a failed fsync would go unreported.
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  std::unique_ptr<Catalog> c(new Catalog(db));
  // synchronous=FULL: a committed transaction survives power loss, which the
  // write order of DESIGN.md relies on (the snapshot row is the last step).
  REWIND_TRY(
      c->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; "
              "PRAGMA wal_autocheckpoint=0;"));
  if (create) {
    REWIND_TRY(c->exec(kSchema));
    REWIND_ASSIGN_OR_RETURN(auto v, c->get_meta("schema_version"));
    if (!v) REWIND_TRY(c->set_meta("schema_version", std::to_string(kSchemaVersion)));
  }
  REWIND_ASSIGN_OR_RETURN(auto v, c->get_meta("schema_version"));
  if (v && *v == "1") {
    // Version 1 lacked the operation journal and the snapshots' excludes.
    REWIND_TRY(c->exec("BEGIN IMMEDIATE"));
    Status st = c->exec("ALTER TABLE snapshots ADD COLUMN exclude TEXT NOT NULL DEFAULT '[]'");
    if (st) st = c->exec(kSchema);
    if (st) st = c->set_meta("schema_version", std::to_string(kSchemaVersion));
    if (st) st = c->exec("COMMIT");
    if (!st) {
      ignore_status(c->exec("ROLLBACK"), "the upgrade failed already");
      return fail(st.error());
    }
    v = std::to_string(kSchemaVersion);
  }
  if (!v)
    return fail(
        Error::corrupted_data("catalog {} has no schema version (run `rewind repair`)", path));
  if (*v != std::to_string(kSchemaVersion))
    return fail(Error::invalid_state("catalog {} has schema version {}, this rewind reads {}", path,
                                     *v, kSchemaVersion));
  REWIND_TRY(c->ensure_automation_schema());
  return c;
}

Catalog::~Catalog() { sqlite3_close(db_); }

Status Catalog::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Error e = sql_error(db_, err ? err : "exec");
    sqlite3_free(err);
    return fail(e);
  }
  return ok();
}

Status Catalog::checkpoint() {
  clear_last_vfs_errno();
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  if (rc == SQLITE_BUSY) return ok();  // a reader holds an old snapshot: try next time
  if (rc != SQLITE_OK) return fail(sql_error(db_, "checkpoint"));
  return ok();
}

Status Catalog::enable_sealing(const TextSealer* sealer) {
  sealer_ = sealer;
  return exec("PRAGMA secure_delete=ON");
}

std::string Catalog::seal(const std::string& text) const {
  return sealer_ ? sealer_->seal_text(text) : text;
}

Result<std::string> Catalog::unseal(const std::string& text) const {
  if (!sealer_) return text;
  return sealer_->open_text(text);
}

Status Catalog::unseal_operation(OperationRow& o) const {
  REWIND_ASSIGN_OR_RETURN(o.journal, unseal(o.journal));
  REWIND_ASSIGN_OR_RETURN(o.message, unseal(o.message));
  return ok();
}

Status Catalog::begin() { return exec("BEGIN IMMEDIATE"); }
Status Catalog::commit() { return exec("COMMIT"); }
Status Catalog::rollback() { return exec("ROLLBACK"); }

Result<std::optional<std::string>> Catalog::get_meta(const std::string& key) {
  Stmt s(db_, "SELECT value FROM meta WHERE key=?");
  if (!s.ok()) {
    // A catalog without the meta table has no schema.
    return std::optional<std::string>();
  }
  s.bind(1, key);
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.text(0));
}

Status Catalog::set_meta(const std::string& key, const std::string& value) {
  Stmt s(db_,
         "INSERT INTO meta(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET "
         "value=excluded.value");
  s.bind(1, key).bind(2, value);
  return s.run();
}

namespace {
const char* kPointCols =
    "id,name,description,kind,cause,time_ns,user,host,kernel,tags,pinned,pre_id,root_seq,health";

PointRow read_point(Stmt& s) {
  PointRow p;
  p.id = s.i64(0);
  p.name = s.text(1);
  p.description = s.text(2);
  p.kind = s.text(3);
  p.cause = s.text(4);
  p.time_ns = s.i64(5);
  p.user = s.text(6);
  p.host = s.text(7);
  p.kernel = s.text(8);
  auto tags = nlohmann::json::parse(s.text(9), nullptr, false);
  if (tags.is_array())
    for (auto& t : tags)
      if (t.is_string()) p.tags.push_back(t.get<std::string>());
  p.pinned = s.i64(10) != 0;
  p.pre_id = s.i64(11);
  p.root_seq = s.i64(12);
  p.health = s.text(13);
  return p;
}

std::vector<std::string> parse_list(const std::string& text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_array())
    for (auto& t : j)
      if (t.is_string()) out.push_back(t.get<std::string>());
  return out;
}
}  // namespace

Result<std::vector<PointRow>> Catalog::list_points() {
  Stmt s(db_, fmt::format("SELECT {} FROM points ORDER BY id", kPointCols).c_str());
  std::vector<PointRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(read_point(s));
    REWIND_ASSIGN_OR_RETURN(out.back().cause, unseal(out.back().cause));
  }
  return out;
}

Result<std::optional<PointRow>> Catalog::get_point(int64_t id) {
  Stmt s(db_, fmt::format("SELECT {} FROM points WHERE id=?", kPointCols).c_str());
  s.bind(1, id);
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<PointRow>();
  PointRow p = read_point(s);
  REWIND_ASSIGN_OR_RETURN(p.cause, unseal(p.cause));
  return std::optional<PointRow>(std::move(p));
}

Result<int64_t> Catalog::max_point_id() {
  Stmt s(db_, "SELECT COALESCE(MAX(id),0) FROM points");
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  return row ? s.i64(0) : 0;
}

Status Catalog::insert_point(const PointRow& p) {
  Stmt s(db_, fmt::format("INSERT OR REPLACE INTO points({}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          kPointCols)
                  .c_str());
  s.bind(1, p.id).bind(2, p.name).bind(3, p.description).bind(4, p.kind).bind(5, seal(p.cause));
  s.bind(6, p.time_ns).bind(7, p.user).bind(8, p.host).bind(9, p.kernel);
  s.bind(10, nlohmann::json(p.tags).dump())
      .bind(11, int64_t{p.pinned})
      .bind(12, p.pre_id)
      .bind(13, p.root_seq)
      .bind(14, p.health);
  return s.run();
}

Status Catalog::delete_point(int64_t id) {
  Stmt a(db_, "DELETE FROM snapshots WHERE point_id=?");
  a.bind(1, id);
  REWIND_TRY(a.run());
  Stmt b(db_, "DELETE FROM points WHERE id=?");
  b.bind(1, id);
  return b.run();
}

Result<std::vector<SnapshotRow>> Catalog::snapshots(int64_t point_id) {
  Stmt s(db_,
         "SELECT point_id,component,adapter,category,paths,manifest,entries,size,stored,added,"
         "exclude FROM snapshots WHERE point_id=? ORDER BY rowid");
  s.bind(1, point_id);
  std::vector<SnapshotRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    SnapshotRow r;
    r.point_id = s.i64(0);
    REWIND_ASSIGN_OR_RETURN(r.component, unseal(s.text(1)));
    r.adapter = s.text(2);
    r.category = s.text(3);
    REWIND_ASSIGN_OR_RETURN(std::string paths, unseal(s.text(4)));
    r.paths = parse_list(paths);
    r.manifest = s.text(5);
    r.entries = static_cast<uint64_t>(s.i64(6));
    r.size = static_cast<uint64_t>(s.i64(7));
    r.stored = static_cast<uint64_t>(s.i64(8));
    r.added = static_cast<uint64_t>(s.i64(9));
    REWIND_ASSIGN_OR_RETURN(std::string exclude, unseal(s.text(10)));
    r.exclude = parse_list(exclude);
    out.push_back(std::move(r));
  }
  return out;
}

Status Catalog::insert_snapshot(const SnapshotRow& r) {
  Stmt s(
      db_,
      "INSERT OR REPLACE INTO snapshots(point_id,component,adapter,category,paths,manifest,entries,"
      "size,stored,added,exclude) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, r.point_id).bind(2, seal(r.component)).bind(3, r.adapter).bind(4, r.category);
  s.bind(5, seal(nlohmann::json(r.paths).dump())).bind(6, r.manifest);
  s.bind(7, static_cast<int64_t>(r.entries)).bind(8, static_cast<int64_t>(r.size));
  s.bind(9, static_cast<int64_t>(r.stored)).bind(10, static_cast<int64_t>(r.added));
  s.bind(11, seal(nlohmann::json(r.exclude).dump()));
  return s.run();
}

namespace {
const char* kOpCols =
    "id,kind,state,phase,percent,pid,started_ns,updated_ns,cancel,point,safety,journal,message";

OperationRow read_operation(Stmt& s) {
  OperationRow o;
  o.id = s.i64(0);
  o.kind = s.text(1);
  o.state = s.text(2);
  o.phase = s.text(3);
  o.percent = s.dbl(4);
  o.pid = s.i64(5);
  o.started_ns = s.i64(6);
  o.updated_ns = s.i64(7);
  o.cancel = s.i64(8) != 0;
  o.point = s.i64(9);
  o.safety = s.i64(10);
  o.journal = s.text(11);
  o.message = s.text(12);
  return o;
}

Result<std::vector<OperationRow>> read_operations(Stmt& s) {
  std::vector<OperationRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(read_operation(s));
  }
  return out;
}
}  // namespace

Result<int64_t> Catalog::insert_operation(const OperationRow& o) {
  Stmt s(db_,
         "INSERT INTO operations(kind,state,phase,percent,pid,started_ns,updated_ns,cancel,point,"
         "safety,journal,message) VALUES(?,?,?,?,?,?,?,0,?,?,?,?)");
  s.bind(1, o.kind).bind(2, o.state).bind(3, o.phase).bind(4, o.percent).bind(5, o.pid);
  s.bind(6, o.started_ns).bind(7, o.updated_ns).bind(8, o.point).bind(9, o.safety);
  s.bind(10, seal(o.journal)).bind(11, seal(o.message));
  REWIND_TRY(s.run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Catalog::update_operation(const OperationRow& o) {
  Stmt s(db_,
         "UPDATE operations SET kind=?,state=?,phase=?,percent=?,pid=?,started_ns=?,updated_ns=?,"
         "point=?,safety=?,journal=?,message=? WHERE id=?");
  s.bind(1, o.kind).bind(2, o.state).bind(3, o.phase).bind(4, o.percent).bind(5, o.pid);
  s.bind(6, o.started_ns).bind(7, o.updated_ns).bind(8, o.point).bind(9, o.safety);
  s.bind(10, seal(o.journal)).bind(11, seal(o.message)).bind(12, o.id);
  return s.run();
}

Status Catalog::set_operation_progress(int64_t id, const std::string& phase, double percent,
                                       int64_t updated_ns) {
  Stmt s(db_, "UPDATE operations SET phase=?,percent=?,updated_ns=? WHERE id=?");
  s.bind(1, phase).bind(2, percent).bind(3, updated_ns).bind(4, id);
  return s.run();
}

Status Catalog::request_cancel(int64_t id) {
  Stmt s(db_, "UPDATE operations SET cancel=1 WHERE id=?");
  s.bind(1, id);
  return s.run();
}

Result<std::optional<OperationRow>> Catalog::get_operation(int64_t id) {
  Stmt s(db_, fmt::format("SELECT {} FROM operations WHERE id=?", kOpCols).c_str());
  s.bind(1, id);
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<OperationRow>();
  OperationRow o = read_operation(s);
  REWIND_TRY(unseal_operation(o));
  return std::optional<OperationRow>(std::move(o));
}

Result<std::vector<OperationRow>> Catalog::list_operations(int64_t limit) {
  Stmt s(db_, fmt::format("SELECT {} FROM operations ORDER BY id DESC LIMIT ?", kOpCols).c_str());
  s.bind(1, limit);
  REWIND_ASSIGN_OR_RETURN(auto ops, read_operations(s));
  for (auto& o : ops) REWIND_TRY(unseal_operation(o));
  return ops;
}

Result<std::vector<OperationRow>> Catalog::unfinished_operations() {
  Stmt s(db_, fmt::format("SELECT {} FROM operations WHERE state IN ('running','reverting') "
                          "ORDER BY id",
                          kOpCols)
                  .c_str());
  REWIND_ASSIGN_OR_RETURN(auto ops, read_operations(s));
  for (auto& o : ops) REWIND_TRY(unseal_operation(o));
  return ops;
}

Status Catalog::ensure_automation_schema() {
  // Creating what exists already writes nothing, so readers and catalogs
  // that are up to date pay one query.
  Stmt q(db_,
         "SELECT (SELECT COUNT(*) FROM pragma_table_info('points') WHERE name='health'),"
         "(SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND "
         "name IN ('auto_rollbacks','confirmations'))");
  REWIND_ASSIGN_OR_RETURN(bool row, q.step());
  if (row && q.i64(0) == 1 && q.i64(1) == 2) return ok();
  REWIND_TRY(exec("BEGIN IMMEDIATE"));
  Status st = ok();
  if (row && q.i64(0) == 0)
    st = exec("ALTER TABLE points ADD COLUMN health TEXT NOT NULL DEFAULT ''");
  if (st)
    st = exec(R"sql(
CREATE TABLE IF NOT EXISTS auto_rollbacks(
  id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, trigger TEXT NOT NULL, point INTEGER NOT NULL,
  scope TEXT NOT NULL, components TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL,
  operations TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS confirmations(
  id INTEGER PRIMARY KEY, pre_id INTEGER NOT NULL, post_id INTEGER NOT NULL,
  deadline_ns INTEGER NOT NULL, state TEXT NOT NULL);
)sql");
  if (st) st = exec("COMMIT");
  if (!st) {
    ignore_status(exec("ROLLBACK"), "the schema change failed already");
    return fail(st.error());
  }
  return ok();
}

namespace {
const char* kAutoCols = "id,time_ns,trigger,point,scope,components,result,reason,operations";

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_array())
    for (auto& t : j)
      if (t.is_number_integer()) out.push_back(t.get<int64_t>());
  return out;
}
}  // namespace

Result<int64_t> Catalog::insert_auto_rollback(const AutoRollbackRow& r) {
  Stmt s(db_,
         "INSERT INTO auto_rollbacks(time_ns,trigger,point,scope,components,result,reason,"
         "operations) VALUES(?,?,?,?,?,?,?,?)");
  s.bind(1, r.time_ns).bind(2, r.trigger).bind(3, r.point).bind(4, r.scope);
  s.bind(5, nlohmann::json(r.components).dump()).bind(6, r.result).bind(7, r.reason);
  s.bind(8, nlohmann::json(r.operations).dump());
  REWIND_TRY(s.run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Catalog::update_auto_rollback(const AutoRollbackRow& r) {
  Stmt s(db_,
         "UPDATE auto_rollbacks SET time_ns=?,trigger=?,point=?,scope=?,components=?,result=?,"
         "reason=?,operations=? WHERE id=?");
  s.bind(1, r.time_ns).bind(2, r.trigger).bind(3, r.point).bind(4, r.scope);
  s.bind(5, nlohmann::json(r.components).dump()).bind(6, r.result).bind(7, r.reason);
  s.bind(8, nlohmann::json(r.operations).dump()).bind(9, r.id);
  return s.run();
}

Result<std::vector<AutoRollbackRow>> Catalog::list_auto_rollbacks(int64_t since_ns) {
  Stmt s(db_,
         fmt::format("SELECT {} FROM auto_rollbacks WHERE time_ns>=? ORDER BY id DESC", kAutoCols)
             .c_str());
  s.bind(1, since_ns);
  std::vector<AutoRollbackRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    AutoRollbackRow r;
    r.id = s.i64(0);
    r.time_ns = s.i64(1);
    r.trigger = s.text(2);
    r.point = s.i64(3);
    r.scope = s.text(4);
    r.components = parse_list(s.text(5));
    r.result = s.text(6);
    r.reason = s.text(7);
    r.operations = parse_ids(s.text(8));
    out.push_back(std::move(r));
  }
  return out;
}

Result<int64_t> Catalog::insert_confirmation(const ConfirmationRow& c) {
  Stmt s(db_, "INSERT INTO confirmations(pre_id,post_id,deadline_ns,state) VALUES(?,?,?,?)");
  s.bind(1, c.pre_id).bind(2, c.post_id).bind(3, c.deadline_ns).bind(4, c.state);
  REWIND_TRY(s.run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<ConfirmationRow>> Catalog::list_confirmations() {
  Stmt s(db_, "SELECT id,pre_id,post_id,deadline_ns,state FROM confirmations ORDER BY id");
  std::vector<ConfirmationRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(ConfirmationRow{s.i64(0), s.i64(1), s.i64(2), s.i64(3), s.text(4)});
  }
  return out;
}

Status Catalog::set_confirmation_state(int64_t id, const std::string& state) {
  Stmt s(db_, "UPDATE confirmations SET state=? WHERE id=?");
  s.bind(1, state).bind(2, id);
  return s.run();
}

Result<std::vector<PackRow>> Catalog::list_packs() {
  Stmt s(db_, "SELECT id,name,size FROM packs ORDER BY id");
  std::vector<PackRow> out;
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(PackRow{s.i64(0), s.text(1), static_cast<uint64_t>(s.i64(2))});
  }
  return out;
}

Result<int64_t> Catalog::insert_pack(const std::string& name, uint64_t size) {
  Stmt s(db_, "INSERT INTO packs(name,size) VALUES(?,?) ON CONFLICT(name) DO NOTHING");
  s.bind(1, name).bind(2, static_cast<int64_t>(size));
  REWIND_TRY(s.run());
  Stmt q(db_, "SELECT id FROM packs WHERE name=?");
  q.bind(1, name);
  REWIND_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return fail(Error::io("catalog: pack {} vanished", name));
  return q.i64(0);
}

Status Catalog::insert_chunk(const ChunkRow& c) { return write_chunk(db_, "IGNORE", c); }

Status Catalog::upsert_chunk(const ChunkRow& c) { return write_chunk(db_, "REPLACE", c); }

Status Catalog::delete_packs(const std::vector<int64_t>& ids) {
  // One pass over the chunk rows for all packs (they have no index by pack).
  std::string list = nlohmann::json(ids).dump();
  Stmt chunks(db_, "DELETE FROM chunks WHERE pack IN (SELECT value FROM json_each(?))");
  chunks.bind(1, list);
  REWIND_TRY(chunks.run());
  Stmt packs(db_, "DELETE FROM packs WHERE id IN (SELECT value FROM json_each(?))");
  packs.bind(1, list);
  return packs.run();
}

Result<std::optional<std::pair<ChunkRow, std::string>>> Catalog::find_chunk(const std::string& id) {
  Stmt s(db_,
         "SELECT c.pack,c.offset,c.stored_len,c.raw_len,c.type,c.codec,p.name FROM chunks c "
         "JOIN packs p ON p.id=c.pack WHERE c.id=?");
  s.bind_blob(1, id);
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  using R = std::optional<std::pair<ChunkRow, std::string>>;
  if (!row) return R();
  ChunkRow c;
  c.id = id;
  c.pack = s.i64(0);
  c.offset = static_cast<uint64_t>(s.i64(1));
  c.stored_len = static_cast<uint32_t>(s.i64(2));
  c.raw_len = static_cast<uint32_t>(s.i64(3));
  c.type = static_cast<uint8_t>(s.i64(4));
  c.codec = static_cast<uint8_t>(s.i64(5));
  return R(std::make_pair(c, s.text(6)));
}

Status Catalog::for_each_chunk(const std::function<void(const ChunkRow&)>& fn) {
  Stmt s(db_, "SELECT id,pack,offset,stored_len,raw_len,type,codec FROM chunks");
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    ChunkRow c;
    c.id = s.blob(0);
    c.pack = s.i64(1);
    c.offset = static_cast<uint64_t>(s.i64(2));
    c.stored_len = static_cast<uint32_t>(s.i64(3));
    c.raw_len = static_cast<uint32_t>(s.i64(4));
    c.type = static_cast<uint8_t>(s.i64(5));
    c.codec = static_cast<uint8_t>(s.i64(6));
    fn(c);
  }
  return ok();
}

Result<uint64_t> Catalog::chunk_count() {
  Stmt s(db_, "SELECT COUNT(*) FROM chunks");
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  return row ? static_cast<uint64_t>(s.i64(0)) : 0;
}

Status Catalog::clear_index() {
  return exec("DELETE FROM snapshots; DELETE FROM points; DELETE FROM chunks; DELETE FROM packs;");
}

namespace {

// The audit log's table, added by writers on first use rather than in
// kSchema, so that catalogs of every schema version get it without a
// migration. The triggers stop accidental edits; a deliberate one (dropping
// them first) is what the MAC chain detects.
const char* kAuditSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, uid INTEGER NOT NULL, user TEXT NOT NULL,
  host TEXT NOT NULL, operation TEXT NOT NULL, arguments TEXT NOT NULL, result INTEGER NOT NULL,
  message TEXT NOT NULL, mac TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

constexpr const char* kAuditCols =
    "seq,time_ns,uid,user,host,operation,arguments,result,message,mac";

AuditRow read_audit(Stmt& s) {
  AuditRow a;
  a.seq = s.i64(0);
  a.time_ns = s.i64(1);
  a.uid = s.i64(2);
  a.user = s.text(3);
  a.host = s.text(4);
  a.operation = s.text(5);
  a.arguments = s.text(6);
  a.result = s.i64(7);
  a.message = s.text(8);
  a.mac = s.text(9);
  return a;
}

Result<bool> has_audit_table(sqlite3* db) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit'");
  return s.step();
}

}  // namespace

Status Catalog::ensure_audit_table() { return exec(kAuditSchema); }

Status Catalog::unseal_audit(AuditRow& a) const {
  REWIND_ASSIGN_OR_RETURN(a.arguments, unseal(a.arguments));
  REWIND_ASSIGN_OR_RETURN(a.message, unseal(a.message));
  return ok();
}

Result<std::optional<AuditRow>> Catalog::last_audit() {
  REWIND_ASSIGN_OR_RETURN(bool exists, has_audit_table(db_));
  if (!exists) return std::optional<AuditRow>();
  Stmt s(db_, fmt::format("SELECT {} FROM audit ORDER BY seq DESC LIMIT 1", kAuditCols).c_str());
  REWIND_ASSIGN_OR_RETURN(bool row, s.step());
  if (!row) return std::optional<AuditRow>();
  AuditRow a = read_audit(s);
  REWIND_TRY(unseal_audit(a));
  return std::optional<AuditRow>(std::move(a));
}

Status Catalog::insert_audit(const AuditRow& a) {
  Stmt s(db_, fmt::format("INSERT INTO audit({}) VALUES(?,?,?,?,?,?,?,?,?,?)", kAuditCols).c_str());
  s.bind(1, a.seq).bind(2, a.time_ns).bind(3, a.uid).bind(4, a.user).bind(5, a.host);
  // Arguments and messages can name paths: sealed in an encrypted
  // repository (the MAC covers the plain text).
  s.bind(6, a.operation).bind(7, seal(a.arguments)).bind(8, a.result);
  s.bind(9, seal(a.message)).bind(10, a.mac);
  return s.run();
}

Result<std::vector<AuditRow>> Catalog::list_audit(int64_t since_ns) {
  std::vector<AuditRow> out;
  REWIND_ASSIGN_OR_RETURN(bool exists, has_audit_table(db_));
  if (!exists) return out;
  Stmt s(db_,
         fmt::format("SELECT {} FROM audit WHERE time_ns >= ? ORDER BY seq", kAuditCols).c_str());
  s.bind(1, since_ns);
  while (true) {
    REWIND_ASSIGN_OR_RETURN(bool row, s.step());
    if (!row) break;
    out.push_back(read_audit(s));
    REWIND_TRY(unseal_audit(out.back()));
  }
  return out;
}

}  // namespace rwd::catalog
