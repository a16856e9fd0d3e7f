// SPDX-License-Identifier: Apache-2.0
// The SQLite catalog: an index of recovery points, snapshots, packs and
// chunks, rebuildable from the packs and root records (rewind repair). Its
// file I/O goes through io::Fs by the VFS of sqlite_vfs.h. WAL mode: readers
// never block the single writer. Not thread-safe: one Catalog per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"

struct sqlite3;

namespace rwd::catalog {

inline constexpr int kSchemaVersion = 2;

struct PointRow {
  int64_t id = 0;
  std::string name;
  std::string description;
  std::string kind = "single";
  std::string cause = "manual";
  int64_t time_ns = 0;  // UTC, ns since the epoch
  std::string user;
  std::string host;
  std::string kernel;
  std::vector<std::string> tags;
  bool pinned = false;
  int64_t pre_id = 0;  // 0 = none
  int64_t root_seq = 0;
  std::string health;  // the health level when it was taken; "" = no checks
};

struct SnapshotRow {
  int64_t point_id = 0;
  std::string component;
  std::string adapter;
  std::string category;
  std::vector<std::string> paths;
  std::string manifest;  // hex chunk id of the manifest root
  uint64_t entries = 0;
  uint64_t size = 0;                 // logical bytes
  uint64_t stored = 0;               // stored bytes of the distinct chunks it references
  uint64_t added = 0;                // stored bytes this point added to the repository
  std::vector<std::string> exclude;  // the patterns the capture applied (a rollback keeps them)
};

struct PackRow {
  int64_t id = 0;
  std::string name;
  uint64_t size = 0;
};

struct ChunkRow {
  std::string id;  // 32 raw bytes
  int64_t pack = 0;
  uint64_t offset = 0;
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
  uint8_t type = 0;
  uint8_t codec = 0;
};

// One rollback (or restore, undo) operation and its journal. `journal` is the
// engine's JSON document: the plan before anything changes, each step's
// completion after. Any process reads it for `rewind status`.
struct OperationRow {
  int64_t id = 0;
  std::string kind;   // rollback, undo, recover
  std::string state;  // running, reverting, completed, partial, failed, reverted, cancelled
  std::string phase;
  double percent = 0;
  int64_t pid = 0;
  int64_t started_ns = 0;
  int64_t updated_ns = 0;
  bool cancel = false;
  int64_t point = 0;
  int64_t safety = 0;
  std::string journal = "{}";
  std::string message;
};

// Seals the text columns that can hold a name or a path of a captured tree
// (an encrypted repository's; store/crypto.h). Equal text must seal to equal
// text, as the snapshots' key includes a sealed column.
class TextSealer {
 public:
  virtual ~TextSealer() = default;
  virtual std::string seal_text(std::string_view plain) const = 0;
  virtual Result<std::string> open_text(std::string_view sealed) const = 0;
};

// One automatic rollback (`run`, rewindd): what fired, what it rolled back
// and how it ended. rewindd counts these for its guards.
struct AutoRollbackRow {
  int64_t id = 0;
  int64_t time_ns = 0;
  std::string trigger;
  int64_t point = 0;
  std::string scope;                    // full | partial
  std::vector<std::string> components;  // in the order rolled back
  std::string result;                   // completed, nothing-to-do, failed, timed-out, partial
  std::string reason;
  std::vector<int64_t> operations;
};

// A `run --confirm-within` change waiting for `rewind confirm`.
struct ConfirmationRow {
  int64_t id = 0;
  int64_t pre_id = 0;
  int64_t post_id = 0;
  int64_t deadline_ns = 0;
  std::string state;  // pending | confirmed | rolled-back
};

// One entry of the audit log (src/audit/audit.h says what `mac` covers).
// The table is append-only: triggers refuse UPDATE and DELETE.
struct AuditRow {
  int64_t seq = 0;  // 1, 2, 3... in append order
  int64_t time_ns = 0;
  int64_t uid = 0;
  std::string user;
  std::string host;
  std::string operation;
  std::string arguments;  // as stored (audit::arguments_column)
  int64_t result = 0;     // the exit code
  std::string message;    // the error, "" on success
  std::string mac;        // hex HMAC-SHA-256
};

class Catalog {
 public:
  // Opens (creating when `create`) the catalog file at `path`.
  static Result<std::unique_ptr<Catalog>> open(io::Fs& fs, const std::string& path, bool create);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // Copies the WAL into the database and truncates it. Writers call it
  // before they change anything, so that an fsync error fails them early.
  Status checkpoint();
  Status begin();  // BEGIN IMMEDIATE
  Status commit();
  Status rollback();

  Result<std::optional<std::string>> get_meta(const std::string& key);
  Status set_meta(const std::string& key, const std::string& value);

  Result<std::vector<PointRow>> list_points();
  Result<std::optional<PointRow>> get_point(int64_t id);
  Result<int64_t> max_point_id();
  Status insert_point(const PointRow& p);
  Status delete_point(int64_t id);
  Result<std::vector<SnapshotRow>> snapshots(int64_t point_id);
  Status insert_snapshot(const SnapshotRow& s);

  Result<int64_t> insert_operation(const OperationRow& op);  // returns the new id
  Status update_operation(const OperationRow& op);           // every column but `cancel`
  Status set_operation_progress(int64_t id, const std::string& phase, double percent,
                                int64_t updated_ns);
  Status request_cancel(int64_t id);
  Result<std::optional<OperationRow>> get_operation(int64_t id);
  // Newest first.
  Result<std::vector<OperationRow>> list_operations(int64_t limit);
  Result<std::vector<OperationRow>> unfinished_operations();

  Result<int64_t> insert_auto_rollback(const AutoRollbackRow& r);  // returns the new id
  Status update_auto_rollback(const AutoRollbackRow& r);
  // Newest first, those at or after since_ns.
  Result<std::vector<AutoRollbackRow>> list_auto_rollbacks(int64_t since_ns);
  Result<int64_t> insert_confirmation(const ConfirmationRow& c);  // returns the new id
  Result<std::vector<ConfirmationRow>> list_confirmations();      // by id
  Status set_confirmation_state(int64_t id, const std::string& state);

  Result<std::vector<PackRow>> list_packs();
  Result<int64_t> insert_pack(const std::string& name, uint64_t size);
  Status insert_chunk(const ChunkRow& c);  // ignores an id already indexed
  // Points an indexed chunk at a new location (prune's repack), or adds it.
  Status upsert_chunk(const ChunkRow& c);
  // Drops packs and every chunk row still pointing into them (prune).
  Status delete_packs(const std::vector<int64_t>& ids);
  // The chunk with this id (32 raw bytes) and its pack's name.
  Result<std::optional<std::pair<ChunkRow, std::string>>> find_chunk(const std::string& id);
  // Calls fn for every chunk row.
  Status for_each_chunk(const std::function<void(const ChunkRow&)>& fn);
  Result<uint64_t> chunk_count();
  // Drops points, snapshots, packs and chunks (repair rebuilds them).
  Status clear_index();

  // The audit log. Catalogs made before it existed lack the table:
  // ensure_audit_table adds it (writers, before their first append), readers
  // see an empty log.
  Status ensure_audit_table();
  Result<std::optional<AuditRow>> last_audit();
  Status insert_audit(const AuditRow& row);
  // In seq order, those with time_ns >= since_ns.
  Result<std::vector<AuditRow>> list_audit(int64_t since_ns = INT64_MIN);

  sqlite3* db() { return db_; }

  // From now on the columns that can hold names and paths (points.cause,
  // snapshots.component/paths/exclude, operations.journal/message) are
  // stored sealed by `sealer` (which must outlive the catalog), and freed
  // pages are zeroed (PRAGMA secure_delete). Point names, descriptions and
  // tags stay readable.
  Status enable_sealing(const TextSealer* sealer);

 private:
  explicit Catalog(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  std::string seal(const std::string& text) const;
  Result<std::string> unseal(const std::string& text) const;
  Status unseal_operation(OperationRow& o) const;
  Status unseal_audit(AuditRow& a) const;
  // The automatic-rollback tables and the points' health column, added to
  // catalogs of any version 2 (idempotent).
  Status ensure_automation_schema();
  sqlite3* db_;
  const TextSealer* sealer_ = nullptr;
};

}  // namespace rwd::catalog
