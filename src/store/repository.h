// SPDX-License-Identifier: Apache-2.0
// A repository: packs of content-addressed chunks, authenticated root records
// (one per recovery point version, the source of truth), and the SQLite
// catalog that indexes them. Layout and formats in doc/format.md.
//
// Write order (STYLE.md §5 rule 2): packs durable, then the root record, then
// one catalog transaction with the snapshot rows last. A crash leaves at most
// unreferenced packs, or a root record the catalog does not know yet, which
// the next writer (or `repair`) imports: a point is either wholly present or
// absent.
//
// Threading: a Repository is used from one thread, except ChunkWriter::put
// and read_chunk_cached, which are thread-safe.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "store/chunker.h"
#include "store/codec.h"
#include "store/crypto.h"
#include "store/hash.h"
#include "store/pack.h"

namespace rwd::store {

inline constexpr int kRepoFormatVersion = 1;
// An encrypted repository's format (doc/format.md "Encryption"): a rewind
// that reads only format 1 refuses it instead of misreading it.
inline constexpr int kRepoFormatEncrypted = 2;
inline constexpr int kRootRecordVersion = 1;

struct RepoConfig {
  int format = kRepoFormatVersion;
  std::string id;
  int compression_level = 3;
  ChunkerParams chunker;
  uint64_t max_pack_size = kDefaultMaxPackSize;
  std::array<uint8_t, 32> auth_key{};
  bool encrypted = false;
};

struct InitOptions {
  int compression_level = 3;
};

// An encrypted repository whose first key opens with `passphrase`.
struct EncryptionOptions {
  std::string passphrase;
  KdfParams kdf = default_kdf_params();
};

// Master keys already unlocked in this process, by repository id, so that
// the passphrase is asked and Argon2id run once per process, not per open.
struct UnlockedKey {
  std::string key_id;
  Key master{};
};
using KeyCache = std::map<std::string, UnlockedKey>;

// One passphrase of an encrypted repository (a file in keys/).
struct KeyInfo {
  std::string id;
  int64_t created_ns = 0;
  KdfParams kdf;
  bool current = false;  // the key this process opened the repository with
};

struct OpenOptions {
  bool write = false;        // take the writer lock
  bool wait = false;         // wait for the lock instead of failing kBusy
  std::string operation;     // written into the lock file for a waiting writer's message
  bool sync_catalog = true;  // import packs / root records the catalog lacks (writers)
  // For an encrypted repository: gives the passphrase. Called only when the
  // repository is encrypted and `key_cache` does not hold its key; unset,
  // opening an encrypted repository is kWrongKey with how to give one.
  std::function<Result<std::string>()> passphrase{};
  KeyCache* key_cache = nullptr;  // optional; filled on a successful unlock
};

// A recovery point as a root record holds it.
struct RootRecord {
  int64_t seq = 0;
  bool tombstone = false;
  catalog::PointRow point;
  std::vector<catalog::SnapshotRow> snapshots;
  std::string file;  // name in roots/
};

struct ChunkLocation {
  int64_t pack = 0;
  uint64_t offset = 0;
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
  ChunkType type = ChunkType::kData;
  ChunkCodec codec = ChunkCodec::kRaw;
};

class Repository;

// Stores chunks with deduplication; compression runs on worker threads.
class ChunkWriter {
 public:
  ChunkWriter(Repository& repo, int threads);
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Stores `data` unless a chunk with its id exists. Returns the id. Errors
  // from the background (a failed write) are returned by a later put or by
  // flush. Thread-safe.
  Result<ChunkId> put(ChunkType type, std::vector<std::byte>&& data);
  Result<ChunkId> put_with_id(const ChunkId& id, ChunkType type, std::vector<std::byte>&& data);
  bool contains(const ChunkId& id);
  // Stored size of a known chunk (0 while it is still being written).
  uint32_t stored_size(const ChunkId& id);
  // Waits for the queue and makes every pack durable.
  Status flush();
  uint64_t new_chunks() const { return new_chunks_; }
  uint64_t new_stored_bytes() const { return new_stored_; }
  uint64_t new_raw_bytes() const { return new_raw_; }
  // Packs finished so far, for the catalog transaction.
  struct FinishedPack {
    std::string name;
    uint64_t size;
    std::vector<PackEntry> entries;
  };
  std::vector<FinishedPack> take_finished();

 private:
  struct Job {
    ChunkId id;
    ChunkType type;
    std::vector<std::byte> data;
  };
  void worker();
  Status append(const Job& job, ChunkCodec codec, std::span<const std::byte> stored);

  Repository& repo_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::condition_variable space_cv_;
  std::deque<Job> queue_;
  size_t queued_bytes_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::optional<Error> error_;
  std::unordered_map<ChunkId, uint32_t, ChunkIdHash> known_;
  std::mutex pack_mu_;  // guards pack_ and finished_
  std::optional<PackWriter> pack_;
  std::vector<FinishedPack> finished_;
  uint64_t since_space_check_ = 0;  // bytes appended since the last statfs
  uint64_t new_chunks_ = 0;
  uint64_t new_stored_ = 0;
  uint64_t new_raw_ = 0;
  std::vector<std::thread> threads_;
};

class Repository {
 public:
  // With `encryption`, an encrypted repository (doc/format.md "Encryption").
  static Result<std::unique_ptr<Repository>> init(io::Fs& fs, const std::string& path,
                                                  const InitOptions& opts,
                                                  const EncryptionOptions* encryption = nullptr);
  static Result<std::unique_ptr<Repository>> open(io::Fs& fs, const std::string& path,
                                                  const OpenOptions& opts);
  ~Repository();

  io::Fs& fs() { return fs_; }
  const std::string& path() const { return path_; }
  const RepoConfig& config() const { return config_; }
  catalog::Catalog& catalog() { return *catalog_; }
  int dirfd() const { return dir_.get(); }
  int packs_dirfd() const { return packs_.get(); }

  // Encryption. keys() is null in an unencrypted repository.
  bool encrypted() const { return config_.encrypted; }
  const RepoKeys* keys() const { return keys_.get(); }
  // A chunk's name: SHA-256 based, or keyed when encrypted (store/crypto.h).
  ChunkId chunk_id(ChunkType type, std::span<const std::byte> data) const;
  // Text that may name a path of a captured tree, as the catalog may hold
  // it: sealed (deterministically, "rw1:..." base64) when the repository is
  // encrypted, unchanged otherwise. open_text reverses it (kCorruptedData
  // when the text does not open). For catalog tables of other modules (the
  // audit log's arguments).
  std::string seal_text(std::string_view plain) const;
  Result<std::string> open_text(std::string_view stored) const;
  // A key derived from the master key for the audit log's MAC chain; unset
  // when the repository is not encrypted.
  std::optional<Key> audit_key() const;
  // Passphrases (writers only for add/remove). add_key returns the new
  // key's id. remove_key refuses the last key (kInvalidState) and an
  // unknown id (kNotFound). kInvalidState when the repository is not
  // encrypted.
  Result<std::vector<KeyInfo>> list_keys();
  Result<std::string> add_key(std::string_view passphrase, const KdfParams& kdf);
  Status remove_key(const std::string& id);
  const std::string& key_id() const { return key_id_; }
  // The data key's generation (doc/format.md "Data key"): 0 in a repository
  // made before data keys (chunk keys from the master key), else that of
  // the newest keys/data-N file, which is the one in use.
  uint64_t data_key_generation() const { return data_generation_; }
  // Writers, when no point is left (prune --shred): writes a new random
  // data key as generation N+1, durably, and uses it from then on (the
  // chunk index cached in memory is dropped). The older files are left for
  // the caller to shred (stale_data_keys); until then they are unused.
  Status rotate_data_key();
  // Names in keys/ (keys_dirfd) of data key files older than the one in
  // use: left by rotate_data_key or by a crash after it.
  Result<std::vector<std::string>> stale_data_keys();
  int keys_dirfd() const { return keys_dir_.get(); }

  // Refuses early when the repository's file system has less than `need`
  // bytes free (plus a margin): kNoSpace "need X, have Y".
  Status check_free_space(uint64_t need);

  // Reads a chunk, checking its type and hash. Uses the in-memory index when
  // loaded (load_index), the catalog otherwise. Thread-safe when the index
  // is loaded.
  Status read_chunk(const ChunkId& id, ChunkType type, std::vector<std::byte>& out);
  Status load_index();
  std::optional<ChunkLocation> locate(const ChunkId& id);
  const std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash>& index() const { return index_; }
  std::string pack_name(int64_t pack_id);

  // Writers only.
  Result<int64_t> next_point_id();
  // Commits a recovery point: flushes `writer`, writes the root record,
  // then one catalog transaction (packs, chunks, point, snapshots last).
  Status commit_point(ChunkWriter& writer, catalog::PointRow& point,
                      const std::vector<catalog::SnapshotRow>& snapshots);

  // Forgets a point: writes a tombstone root record (durable), then drops the
  // point and its snapshots from the catalog in one transaction. The data
  // stays until `prune`.
  Status forget_point(const catalog::PointRow& point);

  // Root records, newest version per point (tombstoned points omitted unless
  // `with_tombstones`). Unreadable records are reported in `problems`.
  Result<std::vector<RootRecord>> read_root_records(std::vector<std::string>* problems,
                                                    bool with_tombstones = false);
  // Imports packs and root records the catalog does not know; with `full`,
  // rebuilds the index and the point list from scratch (repair).
  struct SyncReport {
    uint64_t packs_imported = 0;
    uint64_t chunks_imported = 0;
    uint64_t points_imported = 0;
    std::vector<std::string> problems;
  };
  Result<SyncReport> sync_catalog(bool full);

  // Holder description from the lock file ("pid 123: create"), if any.
  static std::string describe_lock_holder(io::Fs& fs, int dirfd);
  // Who holds the writer lock of the repository at `path` ("pid 123
  // (prune)"), or none when it is free. A probe: a free lock is taken and
  // released at once, as an open for writing would.
  static Result<std::optional<std::string>> lock_holder(io::Fs& fs, const std::string& path);

 private:
  Repository(io::Fs& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  Status take_lock(const OpenOptions& opts);
  Result<io::Fd*> pack_fd(int64_t pack_id, std::string* name);
  Status read_chunk_at(const ChunkId& id, const ChunkLocation& loc, std::vector<std::byte>& out);
  // The chunk's location as the catalog has it now (after a concurrent prune).
  std::optional<ChunkLocation> relocate(const ChunkId& id);
  Status write_root_record(const RootRecord& rec);
  Result<int64_t> next_root_seq();
  Result<RootRecord> parse_root_record(const std::string& file, std::string_view data);
  Status import_pack(const std::string& name, SyncReport& rep);
  Status unlock(const OpenOptions& opts);
  std::string sealed_root_ad() const;
  Result<std::vector<std::pair<std::string, KeyFile>>> read_key_files(
      std::vector<std::string>* problems);
  // Reads the newest data key (or none: generation 0) and derives keys_.
  Status load_data_key();
  // The data key files in keys/, by generation.
  Result<std::map<uint64_t, std::string>> data_key_files();

  io::Fs& fs_;
  std::string path_;
  RepoConfig config_;
  io::Fd dir_;
  io::Fd packs_;
  io::Fd roots_;
  io::Fd lock_;
  io::Fd keys_dir_;                 // encrypted repositories only
  std::optional<Key> master_;       // encrypted: the unlocked master key
  std::unique_ptr<RepoKeys> keys_;  // derived from master_
  std::string key_id_;              // the key file that opened it
  uint64_t data_generation_ = 0;    // of the data key keys_ were derived from
  std::unique_ptr<catalog::Catalog> catalog_;
  std::mutex pack_fds_mu_;  // guards pack_fds_ and pack_names_
  std::map<int64_t, io::Fd> pack_fds_;
  std::map<int64_t, std::string> pack_names_;
  std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> index_;
  bool index_loaded_ = false;
};

// "<seq>-<id>.root" -> (seq, id); nullopt for any other name.
std::optional<std::pair<int64_t, int64_t>> parse_root_name(std::string_view name);

// Human-readable byte count: "1.2 GiB".
std::string format_bytes(uint64_t n);

}  // namespace rwd::store
