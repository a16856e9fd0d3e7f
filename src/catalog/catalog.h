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

  sqlite3* db() { return db_; }

 private:
  explicit Catalog(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  sqlite3* db_;
};

}  // namespace rwd::catalog
