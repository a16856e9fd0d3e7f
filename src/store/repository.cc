// SPDX-License-Identifier: Apache-2.0
#include "store/repository.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "io/durable.h"
#include "store/encoding.h"
#include "store/permissions.h"

namespace rwd::store {

namespace {

constexpr char kRootMagic[8] = {'R', 'W', 'R', 'O', 'O', 'T', '0', '1'};
// A sealed root record (encrypted repositories): no MAC, the AEAD's tag
// authenticates it.
constexpr char kSealedRootMagic[8] = {'R', 'W', 'R', 'O', 'O', 'T', 'E', '1'};
constexpr size_t kMaxKeyFile = 64 << 10;
constexpr size_t kMaxRootRecord = 16 << 20;
constexpr size_t kMaxQueuedBytes = 24 << 20;

using nlohmann::json;

json point_to_json(const catalog::PointRow& p) {
  return json{{"id", p.id},        {"name", p.name},     {"description", p.description},
              {"kind", p.kind},    {"cause", p.cause},   {"time_ns", p.time_ns},
              {"user", p.user},    {"host", p.host},     {"kernel", p.kernel},
              {"tags", p.tags},    {"pinned", p.pinned}, {"pre_id", p.pre_id},
              {"health", p.health}};
}

json snapshot_to_json(const catalog::SnapshotRow& s) {
  return json{{"component", s.component}, {"adapter", s.adapter},   {"category", s.category},
              {"paths", s.paths},         {"manifest", s.manifest}, {"entries", s.entries},
              {"size", s.size},           {"stored", s.stored},     {"added", s.added},
              {"exclude", s.exclude}};
}

std::string random_hex(size_t n) {
  std::random_device rd;
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rd());
  return hex_encode(b);
}

Result<std::array<uint8_t, 32>> parse_key(const std::string& hex) {
  REWIND_ASSIGN_OR_RETURN(ChunkId id, ChunkId::parse(hex));
  return id.bytes;
}

// Adds a pack and its chunks to the catalog (inside the caller's transaction).
Status index_pack(catalog::Catalog& cat, const std::string& name, uint64_t size,
                  const std::vector<PackEntry>& entries) {
  REWIND_ASSIGN_OR_RETURN(int64_t pid, cat.insert_pack(name, size));
  for (const PackEntry& e : entries) {
    catalog::ChunkRow c{std::string(reinterpret_cast<const char*>(e.id.bytes.data()), 32),
                        pid,
                        e.offset,
                        e.stored_len,
                        e.raw_len,
                        static_cast<uint8_t>(e.type),
                        static_cast<uint8_t>(e.codec)};
    REWIND_TRY(cat.insert_chunk(c));
  }
  return ok();
}

// keys/data-<generation>, the generation in decimal without leading zeros.
constexpr std::string_view kDataKeyPrefix = "data-";

std::string data_key_name(uint64_t generation) {
  return std::string(kDataKeyPrefix) + std::to_string(generation);
}

std::optional<uint64_t> parse_data_key_name(std::string_view n) {
  if (!n.starts_with(kDataKeyPrefix)) return std::nullopt;
  n.remove_prefix(kDataKeyPrefix.size());
  if (n.empty() || n.size() > 19 || n[0] == '0') return std::nullopt;
  uint64_t g = 0;
  for (char c : n) {
    if (c < '0' || c > '9') return std::nullopt;
    g = g * 10 + static_cast<uint64_t>(c - '0');
  }
  return g;
}

bool is_pack_name(std::string_view n) {
  return n.size() == 69 && n.substr(64) == ".pack" &&
         n.substr(0, 64).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::optional<std::pair<int64_t, int64_t>> parse_root_name(std::string_view name) {
  if (name.size() < 8 || name.substr(name.size() - 5) != ".root") return std::nullopt;
  name.remove_suffix(5);
  size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  int64_t seq = 0, id = 0;
  for (char c : name.substr(0, dash)) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + (c - '0');
  }
  for (char c : name.substr(dash + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  return std::make_pair(seq, id);
}

std::string format_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", n);
  return fmt::format("{:.1f} {}", v, units[u]);
}

// ---------------------------------------------------------------- ChunkWriter

ChunkWriter::ChunkWriter(Repository& repo, int threads) : repo_(repo) {
  for (const auto& [id, loc] : repo.index()) known_.emplace(id, loc.stored_len);
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { worker(); });
}

ChunkWriter::~ChunkWriter() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  space_cv_.notify_all();
  for (auto& t : threads_) t.join();
  std::lock_guard lk(pack_mu_);
  if (pack_) pack_->abandon();
}

bool ChunkWriter::contains(const ChunkId& id) {
  std::lock_guard lk(mu_);
  return known_.contains(id);
}

uint32_t ChunkWriter::stored_size(const ChunkId& id) {
  std::lock_guard lk(mu_);
  auto it = known_.find(id);
  return it == known_.end() ? 0 : it->second;
}

Result<ChunkId> ChunkWriter::put(ChunkType type, std::vector<std::byte>&& data) {
  ChunkId id = repo_.chunk_id(type, data);
  return put_with_id(id, type, std::move(data));
}

Result<ChunkId> ChunkWriter::put_with_id(const ChunkId& id, ChunkType type,
                                         std::vector<std::byte>&& data) {
  if (data.size() > kMaxChunkSize)
    return fail(Error::invalid_state("chunk of {} bytes exceeds the limit", data.size()));
  std::unique_lock lk(mu_);
  if (error_) return fail(*error_);
  if (!known_.emplace(id, 0).second) return id;
  space_cv_.wait(lk, [&] { return queued_bytes_ < kMaxQueuedBytes || stop_ || error_; });
  if (error_) return fail(*error_);
  queued_bytes_ += data.size();
  queue_.push_back(Job{id, type, std::move(data)});
  lk.unlock();
  cv_.notify_one();
  return id;
}

void ChunkWriter::worker() {
  Compressor comp(repo_.config().compression_level);
  const RepoKeys* keys = repo_.keys();
  std::vector<std::byte> out, sealed;
  while (true) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    ChunkCodec codec = comp.compress(job.data, out);
    std::span<const std::byte> stored =
        codec == ChunkCodec::kRaw ? std::span<const std::byte>(job.data) : out;
    // Compress, then seal: ciphertext does not compress.
    if (keys) {
      keys->seal_chunk(job.id, static_cast<uint8_t>(job.type), stored, sealed);
      stored = sealed;
    }
    Status st = append(job, codec, stored);
    {
      std::lock_guard lk(mu_);
      --busy_;
      queued_bytes_ -= job.data.size();
      if (!st && !error_) error_ = st.error();
      if (st) {
        known_[job.id] = static_cast<uint32_t>(stored.size());
        ++new_chunks_;
        new_stored_ += stored.size();
        new_raw_ += job.data.size();
      }
    }
    space_cv_.notify_all();
    cv_.notify_all();
  }
}

Status ChunkWriter::append(const Job& job, ChunkCodec codec, std::span<const std::byte> stored) {
  std::lock_guard lk(pack_mu_);
  // Refuse early and clearly rather than at an ENOSPC halfway through a
  // write: every MiB, the next MiB (and the margin) must fit.
  if (!pack_ || since_space_check_ >= (1u << 20)) {
    REWIND_TRY(repo_.check_free_space(stored.size() + (1u << 20)));
    since_space_check_ = 0;
  }
  since_space_check_ += stored.size();
  if (!pack_) {
    REWIND_ASSIGN_OR_RETURN(PackWriter w, PackWriter::create(repo_.fs(), repo_.packs_dirfd()));
    pack_.emplace(std::move(w));
  }
  REWIND_TRY(pack_->add(job.id, job.type, codec, static_cast<uint32_t>(job.data.size()), stored));
  if (pack_->size() >= repo_.config().max_pack_size) {
    auto entries = pack_->entries();
    Result<std::string> name = pack_->finish();
    uint64_t size = pack_->size();
    pack_.reset();
    if (!name) return fail(name.error());
    finished_.push_back(FinishedPack{*name, size, std::move(entries)});
  }
  return ok();
}

Status ChunkWriter::flush() {
  {
    std::unique_lock lk(mu_);
    space_cv_.wait(lk, [&] { return (queue_.empty() && busy_ == 0) || error_; });
    if (error_) return fail(*error_);
  }
  std::lock_guard lk(pack_mu_);
  if (pack_) {
    auto entries = pack_->entries();
    Result<std::string> name = pack_->finish();
    uint64_t size = pack_->size();
    pack_.reset();
    if (!name) {
      std::lock_guard lk2(mu_);
      error_ = name.error();
      return fail(name.error());
    }
    finished_.push_back(FinishedPack{*name, size, std::move(entries)});
  }
  return ok();
}

std::vector<ChunkWriter::FinishedPack> ChunkWriter::take_finished() {
  std::lock_guard lk(pack_mu_);
  return std::move(finished_);
}

// ---------------------------------------------------------------- Repository

Repository::~Repository() {
  if (master_) sodium_memzero(master_->data(), master_->size());
}

Result<std::unique_ptr<Repository>> Repository::init(io::Fs& fs, const std::string& path,
                                                     const InitOptions& opts,
                                                     const EncryptionOptions* encryption) {
  // The repository directory: created 0700, or an existing empty directory.
  Result<io::Fd> existing = fs.open_path(path, O_PATH | O_DIRECTORY);
  if (existing) {
    REWIND_ASSIGN_OR_RETURN(io::Fd ls, fs.open_path(path, O_RDONLY | O_DIRECTORY));
    REWIND_ASSIGN_OR_RETURN(auto entries, fs.list_dir(ls.get()));
    for (const auto& e : entries)
      if (e.name == "config")
        return fail(
            Error::invalid_state("{} already holds a repository; refusing to overwrite it", path));
    if (!entries.empty())
      return fail(Error::invalid_state("{} is not empty; choose an empty or new directory", path));
  } else {
    // Create missing parents (0755) and the repository itself (0700).
    std::string cur = path.front() == '/' ? "/" : ".";
    io::Fd at;
    REWIND_ASSIGN_OR_RETURN(at, fs.open_path(cur, O_RDONLY | O_DIRECTORY));
    size_t pos = 0;
    while (pos < path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      std::string comp = path.substr(pos, next - pos);
      pos = next + 1;
      if (comp.empty() || comp == ".") continue;
      bool last = pos >= path.size();
      Status st = fs.mkdir_at(at.get(), comp, last ? 0700 : 0755);
      if (!st && st.error().sys_errno() != EEXIST)
        return fail(st.error().with_context("creating the repository"));
      if (!st && last) return fail(Error::invalid_state("{} already exists", path));
      REWIND_TRY(fs.fsync_dir(at.get()));
      REWIND_ASSIGN_OR_RETURN(io::Fd nxt, fs.open_at(at.get(), comp, O_RDONLY | O_DIRECTORY));
      at = std::move(nxt);
    }
  }
  std::unique_ptr<Repository> repo(new Repository(fs, path));
  REWIND_ASSIGN_OR_RETURN(repo->dir_, fs.open_path(path, O_RDONLY | O_DIRECTORY));
  REWIND_TRY(fs.fchmod(repo->dir_.get(), 0700));
  for (const char* d : {"packs", "roots"}) {
    REWIND_TRY(fs.mkdir_at(repo->dir_.get(), d, 0700));
  }
  if (encryption) REWIND_TRY(fs.mkdir_at(repo->dir_.get(), "keys", 0700));
  REWIND_TRY(io::write_file_atomic(fs, repo->dir_.get(), "lock", {}, 0600));
  // The catalog before the config: a repository is "initialized" once its
  // config exists, so a crash in between leaves a directory `init` refuses
  // only with a clear message.
  REWIND_ASSIGN_OR_RETURN(repo->catalog_, catalog::Catalog::open(fs, path + "/catalog.db", true));
  RepoConfig& c = repo->config_;
  c.id = random_hex(16);
  c.compression_level = opts.compression_level;
  json cfg{
      {"format", c.format},
      {"id", c.id},
      {"compression", c.compression_level},
      {"chunker",
       {{"min", c.chunker.min_size}, {"avg", c.chunker.avg_size}, {"max", c.chunker.max_size}}},
      {"max_pack_size", c.max_pack_size}};
  KeyCache cache;
  if (encryption) {
    // The first key before the config, so that an initialized repository
    // always has a key. No auth_key: the master key's subkeys do its work.
    UnlockedKey& k = cache[c.id];
    k.master = random_key();
    k.key_id = random_hex(8);
    REWIND_ASSIGN_OR_RETURN(
        KeyFile kf, wrap_master_key(k.master, encryption->passphrase, c.id, encryption->kdf));
    REWIND_ASSIGN_OR_RETURN(io::Fd kd,
                            fs.open_at(repo->dir_.get(), "keys", O_RDONLY | O_DIRECTORY));
    std::string text = key_file_to_json(kf);
    REWIND_TRY(io::write_file_atomic(fs, kd.get(), k.key_id + ".key", io::as_bytes(text), 0600));
    // The first data key, so that prune --shred can forget it (and every
    // chunk sealed under it) when the last point goes.
    std::string data = seal_data_key(k.master, random_key(), 1, c.id);
    REWIND_TRY(io::write_file_atomic(fs, kd.get(), data_key_name(1), io::as_bytes(data), 0600));
    cfg["format"] = kRepoFormatEncrypted;
    cfg["encryption"] = {
        {"cipher", "xchacha20-poly1305"}, {"kdf", "argon2id"}, {"chunk_names", "blake2b-keyed"}};
  } else {
    REWIND_ASSIGN_OR_RETURN(c.auth_key, parse_key(random_hex(32)));
    cfg["auth_key"] = hex_encode(c.auth_key);
  }
  std::string text = cfg.dump(2) + "\n";
  REWIND_TRY(io::write_file_atomic(fs, repo->dir_.get(), "config", io::as_bytes(text), 0600));
  REWIND_TRY(fs.fsync_dir(repo->dir_.get()));
  repo.reset();
  OpenOptions o;
  o.write = true;
  o.operation = "init";
  o.key_cache = &cache;
  return open(fs, path, o);
}

Result<std::unique_ptr<Repository>> Repository::open(io::Fs& fs, const std::string& path,
                                                     const OpenOptions& opts) {
  std::unique_ptr<Repository> repo(new Repository(fs, path));
  auto dir = fs.open_path(path, O_RDONLY | O_DIRECTORY);
  if (!dir) {
    if (dir.error().code() == ErrorCode::kNotFound)
      return fail(Error::no_repository(
          "no repository at {} (create one with `rewind init`, or pass --repo)", path));
    return fail(explain_access_error(dir.error(), path));
  }
  repo->dir_ = std::move(*dir);
  REWIND_TRY(check_repository_permissions(fs, path));
  auto text = io::read_small_file(fs, repo->dir_.get(), "config", 1 << 20);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound)
      return fail(Error::no_repository("{} is not a rewind repository (no config file)", path));
    return fail(explain_access_error(text.error(), path));
  }
  json cfg = json::parse(*text, nullptr, false);
  if (!cfg.is_object() || !cfg.contains("format") || !cfg["format"].is_number_integer())
    return fail(Error::corrupted_data("{}/config is not a valid repository configuration", path));
  int format = cfg["format"].get<int>();
  if (format > kRepoFormatEncrypted)
    return fail(Error::invalid_state(
        "repository {} has format {}, newer than this rewind reads ({}); upgrade rewind", path,
        format, kRepoFormatEncrypted));
  if (format < 1) return fail(Error::corrupted_data("{}/config: bad format {}", path, format));
  RepoConfig& c = repo->config_;
  try {
    c.format = format;
    c.id = cfg.at("id").get<std::string>();
    c.compression_level = cfg.at("compression").get<int>();
    c.chunker.min_size = cfg.at("chunker").at("min").get<size_t>();
    c.chunker.avg_size = cfg.at("chunker").at("avg").get<size_t>();
    c.chunker.max_size = cfg.at("chunker").at("max").get<size_t>();
    c.max_pack_size = cfg.at("max_pack_size").get<uint64_t>();
    c.encrypted = format == kRepoFormatEncrypted;
    if (c.encrypted) {
      const json& e = cfg.at("encryption");
      if (e.at("cipher") != "xchacha20-poly1305" || e.at("kdf") != "argon2id" ||
          e.at("chunk_names") != "blake2b-keyed")
        return fail(
            Error::invalid_state("{}/config: encryption {} is not supported", path, e.dump()));
    } else {
      REWIND_ASSIGN_OR_RETURN(c.auth_key, parse_key(cfg.at("auth_key").get<std::string>()));
    }
  } catch (const std::exception& e) {
    return fail(Error::corrupted_data("{}/config: {}", path, e.what()));
  }
  if (c.chunker.min_size == 0 || c.chunker.max_size > kMaxChunkSize ||
      c.chunker.min_size > c.chunker.avg_size || c.chunker.avg_size > c.chunker.max_size ||
      (c.chunker.avg_size & (c.chunker.avg_size - 1)) != 0)
    return fail(Error::corrupted_data("{}/config: bad chunker parameters", path));
  REWIND_ASSIGN_OR_RETURN(repo->packs_,
                          fs.open_at(repo->dir_.get(), "packs", O_RDONLY | O_DIRECTORY));
  REWIND_ASSIGN_OR_RETURN(repo->roots_,
                          fs.open_at(repo->dir_.get(), "roots", O_RDONLY | O_DIRECTORY));
  // The key before the lock: a prompt must not hold the writer lock.
  if (c.encrypted) REWIND_TRY(repo->unlock(opts));
  if (opts.write) REWIND_TRY(repo->take_lock(opts));
  auto cat = catalog::Catalog::open(fs, path + "/catalog.db", opts.write);
  if (!cat)
    return fail(
        cat.error().with_context(cat.error().code() == ErrorCode::kBusy
                                     ? "opening the catalog"
                                     : "opening the catalog (`rewind repair` rebuilds it)"));
  repo->catalog_ = std::move(*cat);
  if (repo->keys_) REWIND_TRY(repo->catalog_->enable_sealing(repo->keys_.get()));
  if (opts.write) REWIND_TRY(repo->catalog_->checkpoint());
  if (opts.write && opts.sync_catalog) {
    REWIND_ASSIGN_OR_RETURN(SyncReport rep, repo->sync_catalog(false));
    (void)rep;
  }
  return repo;
}

std::string Repository::describe_lock_holder(io::Fs& fs, int dirfd) {
  auto text = io::read_small_file(fs, dirfd, "lock", 4096);
  if (!text || text->empty()) return "another process";
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

Result<std::optional<std::string>> Repository::lock_holder(io::Fs& fs, const std::string& path) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, fs.open_path(path, O_RDONLY | O_DIRECTORY));
  REWIND_ASSIGN_OR_RETURN(io::Fd lock, fs.open_at(dir.get(), "lock", O_RDWR));
  Status st = fs.flock(lock.get(), true, false);
  if (!st && st.error().code() == ErrorCode::kBusy) return describe_lock_holder(fs, dir.get());
  REWIND_TRY(st);
  return std::optional<std::string>();  // released when `lock` closes
}

Status Repository::take_lock(const OpenOptions& opts) {
  REWIND_ASSIGN_OR_RETURN(lock_, fs_.open_at(dir_.get(), "lock", O_RDWR));
  Status st = fs_.flock(lock_.get(), true, false);
  if (!st && st.error().code() == ErrorCode::kBusy) {
    if (!opts.wait)
      return fail(Error::busy("repository {} is locked by {}; try again later or pass --wait",
                              path_, describe_lock_holder(fs_, dir_.get())));
    st = fs_.flock(lock_.get(), true, true);
  }
  REWIND_TRY(st);
  // The holder's pid and operation, for the message a second writer gets.
  // Not durable on purpose: the kernel releases the lock when we die.
  std::string who =
      fmt::format("pid {} ({})\n", ::getpid(), opts.operation.empty() ? "write" : opts.operation);
  REWIND_TRY(fs_.ftruncate(lock_.get(), 0));
  REWIND_TRY(fs_.pwrite(lock_.get(), io::as_bytes(who), 0));
  return ok();
}

Status Repository::check_free_space(uint64_t need) {
  REWIND_ASSIGN_OR_RETURN(io::FsSpace sp, fs_.statfs(dir_.get()));
  uint64_t margin = 4ull << 20;
  if (sp.free_bytes < need + margin)
    return fail(Error::no_space("not enough free space in {}: need {}, have {}", path_,
                                format_bytes(need + margin), format_bytes(sp.free_bytes)));
  return ok();
}

Result<io::Fd*> Repository::pack_fd(int64_t pack_id, std::string* name) {
  std::lock_guard lk(pack_fds_mu_);
  auto it = pack_fds_.find(pack_id);
  if (it != pack_fds_.end()) {
    *name = pack_names_[pack_id];
    return &it->second;
  }
  auto nit = pack_names_.find(pack_id);
  if (nit == pack_names_.end()) {
    REWIND_ASSIGN_OR_RETURN(auto packs, catalog_->list_packs());
    for (auto& p : packs) pack_names_[p.id] = p.name;
    nit = pack_names_.find(pack_id);
    if (nit == pack_names_.end())
      return fail(Error::corrupted_data("catalog names unknown pack {}", pack_id));
  }
  *name = nit->second;
  auto fd = fs_.open_at(packs_.get(), nit->second + ".pack", O_RDONLY);
  if (!fd) {
    if (fd.error().code() == ErrorCode::kNotFound)
      return fail(Error::corrupted_data("pack {} is missing", nit->second));
    return fail(fd.error());
  }
  auto [ins, ok_] = pack_fds_.emplace(pack_id, std::move(*fd));
  (void)ok_;
  return &ins->second;
}

std::string Repository::pack_name(int64_t pack_id) {
  std::lock_guard lk(pack_fds_mu_);
  auto it = pack_names_.find(pack_id);
  return it == pack_names_.end() ? std::to_string(pack_id) : it->second;
}

Status Repository::load_index() {
  if (index_loaded_) return ok();
  REWIND_ASSIGN_OR_RETURN(uint64_t n, catalog_->chunk_count());
  index_.reserve(n);
  REWIND_TRY(catalog_->for_each_chunk([&](const catalog::ChunkRow& c) {
    if (c.id.size() != 32) return;
    ChunkId id;
    std::memcpy(id.bytes.data(), c.id.data(), 32);
    index_[id] = ChunkLocation{c.pack,
                               c.offset,
                               c.stored_len,
                               c.raw_len,
                               static_cast<ChunkType>(c.type),
                               static_cast<ChunkCodec>(c.codec)};
  }));
  {
    std::lock_guard lk(pack_fds_mu_);
    REWIND_ASSIGN_OR_RETURN(auto packs, catalog_->list_packs());
    for (auto& p : packs) pack_names_[p.id] = p.name;
  }
  index_loaded_ = true;
  return ok();
}

std::optional<ChunkLocation> Repository::locate(const ChunkId& id) {
  if (index_loaded_) {
    auto it = index_.find(id);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  auto r = catalog_->find_chunk(std::string(reinterpret_cast<const char*>(id.bytes.data()), 32));
  if (!r || !*r) return std::nullopt;
  const auto& c = (*r)->first;
  {
    std::lock_guard lk(pack_fds_mu_);
    pack_names_[c.pack] = (*r)->second;
  }
  return ChunkLocation{c.pack,
                       c.offset,
                       c.stored_len,
                       c.raw_len,
                       static_cast<ChunkType>(c.type),
                       static_cast<ChunkCodec>(c.codec)};
}

Status Repository::read_chunk(const ChunkId& id, ChunkType type, std::vector<std::byte>& out) {
  std::optional<ChunkLocation> loc = locate(id);
  if (!loc) return fail(Error::corrupted_data("chunk {} is not in the repository", id.to_hex()));
  if (loc->type != type)
    return fail(Error::corrupted_data("chunk {} has type {}, expected {}", id.to_hex(),
                                      static_cast<int>(loc->type), static_cast<int>(type)));
  Status st = read_chunk_at(id, *loc, out);
  if (st) return st;
  // A concurrent `prune` may have moved the chunk to a new pack and deleted
  // (or shredded) the one this process looked it up in: look it up afresh.
  std::optional<ChunkLocation> fresh = relocate(id);
  if (!fresh)
    return fail(Error::busy(
        "chunk {} was removed while this command ran (a concurrent `rewind prune` deleted data "
        "of a forgotten point); run the command again",
        id.to_hex()));
  if (fresh->pack == loc->pack && fresh->offset == loc->offset) return st;
  return read_chunk_at(id, *fresh, out);
}

Status Repository::read_chunk_at(const ChunkId& id, const ChunkLocation& loc,
                                 std::vector<std::byte>& out) {
  std::string name;
  REWIND_ASSIGN_OR_RETURN(io::Fd * fd, pack_fd(loc.pack, &name));
  thread_local Decompressor dec;
  thread_local std::vector<std::byte> scratch;
  PackEntry e{id, loc.type, loc.codec, loc.raw_len, loc.stored_len, loc.offset};
  return store::read_chunk(fs_, fd->get(), name, e, dec, scratch, out, keys_.get());
}

std::optional<ChunkLocation> Repository::relocate(const ChunkId& id) {
  std::lock_guard lk(pack_fds_mu_);
  auto r = catalog_->find_chunk(std::string(reinterpret_cast<const char*>(id.bytes.data()), 32));
  if (!r || !*r) return std::nullopt;
  const auto& [c, pack] = **r;
  // Pack numbers of deleted packs may be handed out again: drop a cached
  // descriptor that belongs to another pack of the same number.
  auto nit = pack_names_.find(c.pack);
  if (nit != pack_names_.end() && nit->second != pack) pack_fds_.erase(c.pack);
  pack_names_[c.pack] = pack;
  return ChunkLocation{c.pack,
                       c.offset,
                       c.stored_len,
                       c.raw_len,
                       static_cast<ChunkType>(c.type),
                       static_cast<ChunkCodec>(c.codec)};
}

Result<int64_t> Repository::next_point_id() {
  REWIND_ASSIGN_OR_RETURN(int64_t max_cat, catalog_->max_point_id());
  REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(roots_.get()));
  int64_t max_id = max_cat;
  for (const auto& n : names)
    if (auto p = parse_root_name(n.name)) max_id = std::max(max_id, p->second);
  REWIND_ASSIGN_OR_RETURN(auto hw, catalog_->get_meta("max_point_id"));
  if (hw) max_id = std::max<int64_t>(max_id, std::stoll(*hw));
  return max_id + 1;
}

Status Repository::write_root_record(const RootRecord& rec) {
  json j{{"version", kRootRecordVersion},
         {"seq", rec.seq},
         {"tombstone", rec.tombstone},
         {"repository", config_.id},
         {"point", point_to_json(rec.point)}};
  json snaps = json::array();
  for (const auto& s : rec.snapshots) snaps.push_back(snapshot_to_json(s));
  j["snapshots"] = snaps;
  std::string body = j.dump();
  Writer w;
  if (keys_) {
    std::vector<std::byte> sealed = keys_->seal_record(body, sealed_root_ad());
    w.raw(kSealedRootMagic, 8);
    w.u32(static_cast<uint32_t>(sealed.size()));
    w.bytes(sealed);
  } else {
    w.raw(kRootMagic, 8);
    w.u32(static_cast<uint32_t>(body.size()));
    w.raw(body.data(), body.size());
    auto mac = hmac_sha256(config_.auth_key, w.buffer());
    w.raw(mac.data(), mac.size());
  }
  std::string name = fmt::format("{:016}-{}.root", rec.seq, rec.point.id);
  return io::write_file_atomic(fs_, roots_.get(), name, w.buffer(), 0600);
}

Result<RootRecord> Repository::parse_root_record(const std::string& file, std::string_view data) {
  auto bad = [&](std::string_view why) {
    return fail(Error::corrupted_data("root record {}: {}", file, why));
  };
  if (data.size() < 8 + 4 + 32) return bad("too short");
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data.data()), data.size());
  Reader r(bytes.subspan(8), "root record");
  REWIND_ASSIGN_OR_RETURN(uint32_t len, r.u32());
  std::string opened;
  std::string_view body;
  if (keys_) {
    if (std::memcmp(data.data(), kSealedRootMagic, 8) != 0) return bad("bad magic");
    if (static_cast<size_t>(len) + 8 + 4 != data.size()) return bad("length mismatch");
    auto o = keys_->open_record(bytes.subspan(12), sealed_root_ad());
    if (!o) return bad("authentication failed");
    opened = std::move(*o);
    body = opened;
  } else {
    if (std::memcmp(data.data(), kRootMagic, 8) != 0) return bad("bad magic");
    if (static_cast<size_t>(len) + 8 + 4 + 32 != data.size()) return bad("length mismatch");
    auto mac = hmac_sha256(config_.auth_key, bytes.first(8 + 4 + len));
    if (std::memcmp(mac.data(), data.data() + 12 + len, 32) != 0)
      return bad("authentication failed");
    body = data.substr(12, len);
  }
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return bad("not JSON");
  RootRecord rec;
  rec.file = file;
  try {
    if (j.at("version").get<int>() > kRootRecordVersion) return bad("newer version");
    if (j.at("repository").get<std::string>() != config_.id)
      return bad("belongs to another repository");
    rec.seq = j.at("seq").get<int64_t>();
    rec.tombstone = j.at("tombstone").get<bool>();
    const json& p = j.at("point");
    rec.point.id = p.at("id").get<int64_t>();
    rec.point.name = p.at("name").get<std::string>();
    rec.point.description = p.at("description").get<std::string>();
    rec.point.kind = p.at("kind").get<std::string>();
    rec.point.cause = p.at("cause").get<std::string>();
    rec.point.time_ns = p.at("time_ns").get<int64_t>();
    rec.point.user = p.at("user").get<std::string>();
    rec.point.host = p.at("host").get<std::string>();
    rec.point.kernel = p.at("kernel").get<std::string>();
    rec.point.tags = p.at("tags").get<std::vector<std::string>>();
    rec.point.pinned = p.at("pinned").get<bool>();
    rec.point.pre_id = p.at("pre_id").get<int64_t>();
    if (p.contains("health")) rec.point.health = p.at("health").get<std::string>();
    rec.point.root_seq = rec.seq;
    for (const json& s : j.at("snapshots")) {
      catalog::SnapshotRow row;
      row.point_id = rec.point.id;
      row.component = s.at("component").get<std::string>();
      row.adapter = s.at("adapter").get<std::string>();
      row.category = s.at("category").get<std::string>();
      row.paths = s.at("paths").get<std::vector<std::string>>();
      row.manifest = s.at("manifest").get<std::string>();
      row.entries = s.at("entries").get<uint64_t>();
      row.size = s.at("size").get<uint64_t>();
      row.stored = s.at("stored").get<uint64_t>();
      row.added = s.at("added").get<uint64_t>();
      if (s.contains("exclude")) row.exclude = s.at("exclude").get<std::vector<std::string>>();
      if (!ChunkId::parse(row.manifest)) return bad("bad manifest id");
      rec.snapshots.push_back(std::move(row));
    }
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  return rec;
}

Result<std::vector<RootRecord>> Repository::read_root_records(std::vector<std::string>* problems,
                                                              bool with_tombstones) {
  REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(roots_.get()));
  std::map<int64_t, RootRecord> newest;
  for (const auto& n : names) {
    auto parsed = parse_root_name(n.name);
    if (!parsed) continue;
    auto text = io::read_small_file(fs_, roots_.get(), n.name, kMaxRootRecord);
    if (!text) {
      if (problems)
        problems->push_back(fmt::format("root record {}: {}", n.name, text.error().message()));
      continue;
    }
    auto rec = parse_root_record(n.name, *text);
    if (!rec) {
      if (problems) problems->push_back(rec.error().message());
      continue;
    }
    if (rec->point.id != parsed->second || rec->seq != parsed->first) {
      if (problems)
        problems->push_back(fmt::format("root record {}: name does not match its content", n.name));
      continue;
    }
    auto it = newest.find(rec->point.id);
    if (it == newest.end() || it->second.seq < rec->seq) newest[rec->point.id] = std::move(*rec);
  }
  std::vector<RootRecord> out;
  for (auto& [id, rec] : newest)
    if (with_tombstones || !rec.tombstone) out.push_back(std::move(rec));
  return out;
}

Status Repository::import_pack(const std::string& name, SyncReport& rep) {
  auto fd = fs_.open_at(packs_.get(), name + ".pack", O_RDONLY);
  if (!fd) {
    rep.problems.push_back(fmt::format("pack {}: {}", name, fd.error().message()));
    return ok();
  }
  auto entries = read_pack_index(fs_, fd->get(), name);
  if (!entries) {
    // Never discard repository data because it failed to parse (rule 3).
    rep.problems.push_back(entries.error().message());
    return ok();
  }
  REWIND_ASSIGN_OR_RETURN(io::Stat st, fs_.fstat(fd->get()));
  REWIND_TRY(index_pack(*catalog_, name, st.size, *entries));
  rep.chunks_imported += entries->size();
  ++rep.packs_imported;
  return ok();
}

Result<Repository::SyncReport> Repository::sync_catalog(bool full) {
  SyncReport rep;
  REWIND_TRY(catalog_->begin());
  auto body = [&]() -> Status {
    if (full) REWIND_TRY(catalog_->clear_index());
    REWIND_ASSIGN_OR_RETURN(auto known_packs, catalog_->list_packs());
    std::set<std::string> known;
    for (auto& p : known_packs) known.insert(p.name);
    REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(packs_.get()));
    std::sort(names.begin(), names.end(), [](auto& a, auto& b) { return a.name < b.name; });
    for (const auto& n : names) {
      if (!is_pack_name(n.name)) continue;
      std::string pname = n.name.substr(0, 64);
      if (known.contains(pname)) continue;
      REWIND_TRY(import_pack(pname, rep));
    }
    REWIND_ASSIGN_OR_RETURN(auto seq_text, catalog_->get_meta("root_seq"));
    int64_t known_seq = (seq_text && !full) ? std::stoll(*seq_text) : 0;
    REWIND_ASSIGN_OR_RETURN(auto roots, read_root_records(&rep.problems, true));
    int64_t max_seq = known_seq, max_id = 0;
    for (auto& rec : roots) {
      max_id = std::max(max_id, rec.point.id);
      if (rec.seq <= known_seq) continue;
      max_seq = std::max(max_seq, rec.seq);
      REWIND_TRY(catalog_->delete_point(rec.point.id));
      if (rec.tombstone) continue;
      REWIND_TRY(catalog_->insert_point(rec.point));
      for (auto& s : rec.snapshots) REWIND_TRY(catalog_->insert_snapshot(s));
      ++rep.points_imported;
    }
    REWIND_TRY(catalog_->set_meta("root_seq", std::to_string(max_seq)));
    REWIND_ASSIGN_OR_RETURN(auto hw, catalog_->get_meta("max_point_id"));
    int64_t high = std::max<int64_t>(max_id, hw ? std::stoll(*hw) : 0);
    REWIND_TRY(catalog_->set_meta("max_point_id", std::to_string(high)));
    return ok();
  };
  Status st = body();
  if (!st) {
    ignore_status(catalog_->rollback(), "the original error is more useful");
    return fail(st.error());
  }
  REWIND_TRY(catalog_->commit());
  index_loaded_ = false;
  index_.clear();
  // Pack ids may have been handed out anew: forget cached descriptors.
  std::lock_guard lk(pack_fds_mu_);
  pack_fds_.clear();
  pack_names_.clear();
  return rep;
}

Result<int64_t> Repository::next_root_seq() {
  REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(roots_.get()));
  int64_t seq = 0;
  for (const auto& n : names)
    if (auto p = parse_root_name(n.name)) seq = std::max(seq, p->first);
  REWIND_ASSIGN_OR_RETURN(auto known_seq, catalog_->get_meta("root_seq"));
  if (known_seq) seq = std::max<int64_t>(seq, std::stoll(*known_seq));
  return seq + 1;
}

Status Repository::forget_point(const catalog::PointRow& point) {
  // The tombstone first, durable: from then on `repair` leaves the point out
  // even if the catalog transaction below never happens. It keeps the
  // point's metadata (not its snapshots), so the numbers stay accounted for.
  REWIND_ASSIGN_OR_RETURN(int64_t seq, next_root_seq());
  RootRecord rec;
  rec.seq = seq;
  rec.tombstone = true;
  rec.point = point;
  rec.point.root_seq = seq;
  REWIND_TRY(write_root_record(rec));
  REWIND_TRY(catalog_->begin());
  auto body = [&]() -> Status {
    REWIND_TRY(catalog_->set_meta("root_seq", std::to_string(seq)));
    REWIND_ASSIGN_OR_RETURN(auto hw, catalog_->get_meta("max_point_id"));
    int64_t high = std::max<int64_t>(point.id, hw ? std::stoll(*hw) : 0);
    REWIND_TRY(catalog_->set_meta("max_point_id", std::to_string(high)));
    return catalog_->delete_point(point.id);
  };
  Status st = body();
  if (!st) {
    ignore_status(catalog_->rollback(), "the original error is more useful");
    return fail(st.error());
  }
  return catalog_->commit();
}

Status Repository::commit_point(ChunkWriter& writer, catalog::PointRow& point,
                                const std::vector<catalog::SnapshotRow>& snapshots) {
  // 1. Packs durable (each finish() fsyncs, renames and fsyncs packs/).
  REWIND_TRY(writer.flush());
  auto packs = writer.take_finished();
  // 2. The root record, durable.
  REWIND_ASSIGN_OR_RETURN(int64_t seq, next_root_seq());
  RootRecord rec;
  rec.seq = seq;
  rec.point = point;
  rec.point.root_seq = rec.seq;
  rec.snapshots = snapshots;
  REWIND_TRY(write_root_record(rec));
  point.root_seq = rec.seq;
  // 3. One catalog transaction, snapshot rows last.
  REWIND_TRY(catalog_->begin());
  auto body = [&]() -> Status {
    for (const auto& p : packs) REWIND_TRY(index_pack(*catalog_, p.name, p.size, p.entries));
    REWIND_TRY(catalog_->set_meta("root_seq", std::to_string(rec.seq)));
    REWIND_ASSIGN_OR_RETURN(auto hw, catalog_->get_meta("max_point_id"));
    int64_t high = std::max<int64_t>(point.id, hw ? std::stoll(*hw) : 0);
    REWIND_TRY(catalog_->set_meta("max_point_id", std::to_string(high)));
    REWIND_TRY(catalog_->insert_point(rec.point));
    for (const auto& s : snapshots) REWIND_TRY(catalog_->insert_snapshot(s));
    return ok();
  };
  Status st = body();
  if (!st) {
    ignore_status(catalog_->rollback(), "the original error is more useful");
    return fail(st.error());
  }
  REWIND_TRY(catalog_->commit());
  index_loaded_ = false;
  index_.clear();
  return ok();
}

}  // namespace rwd::store

namespace rwd::store {

// ---------------------------------------------------------------- encryption

std::string Repository::sealed_root_ad() const {
  return std::string(kSealedRootMagic, 8) + config_.id;
}

ChunkId Repository::chunk_id(ChunkType type, std::span<const std::byte> data) const {
  if (keys_) return keys_->chunk_id(static_cast<uint8_t>(type), data);
  return store::chunk_id(static_cast<uint8_t>(type), data);
}

std::string Repository::seal_text(std::string_view plain) const {
  return keys_ ? keys_->seal_text(plain) : std::string(plain);
}

Result<std::string> Repository::open_text(std::string_view stored) const {
  if (!keys_) return std::string(stored);
  return keys_->open_text(stored);
}

std::optional<Key> Repository::audit_key() const {
  if (!keys_) return std::nullopt;
  return keys_->subkey(RepoKeys::kAudit);
}

Result<std::vector<std::pair<std::string, KeyFile>>> Repository::read_key_files(
    std::vector<std::string>* problems) {
  REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(keys_dir_.get()));
  std::sort(names.begin(), names.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::vector<std::pair<std::string, KeyFile>> out;
  for (const auto& n : names) {
    if (n.name.size() <= 4 || !n.name.ends_with(".key")) continue;
    std::string id = n.name.substr(0, n.name.size() - 4);
    auto text = io::read_small_file(fs_, keys_dir_.get(), n.name, kMaxKeyFile);
    Result<KeyFile> kf = text ? key_file_from_json(*text, n.name) : fail(text.error());
    if (!kf) {
      if (problems) problems->push_back(kf.error().message());
      continue;
    }
    out.emplace_back(std::move(id), std::move(*kf));
  }
  return out;
}

Status Repository::unlock(const OpenOptions& opts) {
  auto kd = fs_.open_at(dir_.get(), "keys", O_RDONLY | O_DIRECTORY);
  if (!kd)
    return fail(Error::corrupted_data("repository {} is encrypted but has no keys/ directory: {}",
                                      path_, kd.error().message()));
  keys_dir_ = std::move(*kd);
  auto use = [&](const UnlockedKey& k) {
    master_ = k.master;
    key_id_ = k.key_id;
    return load_data_key();
  };
  if (opts.key_cache) {
    auto it = opts.key_cache->find(config_.id);
    if (it != opts.key_cache->end()) return use(it->second);
  }
  if (!opts.passphrase)
    return fail(Error::wrong_key(
        "repository {} is encrypted: give its passphrase with --password-file FILE or "
        "REWIND_PASSWORD_FILE=FILE (or run rewind on a terminal to be asked)",
        path_));
  REWIND_ASSIGN_OR_RETURN(std::string pass, opts.passphrase());
  std::vector<std::string> problems;
  REWIND_ASSIGN_OR_RETURN(auto files, read_key_files(&problems));
  for (const auto& [id, kf] : files) {
    auto master = unwrap_master_key(kf, pass, config_.id);
    if (!master) {
      if (master.error().code() != ErrorCode::kWrongKey)
        problems.push_back(master.error().message());
      continue;
    }
    UnlockedKey k{id, *master};
    REWIND_TRY(use(k));
    if (opts.key_cache) (*opts.key_cache)[config_.id] = k;
    return ok();
  }
  if (files.empty())
    return fail(Error::corrupted_data("repository {} is encrypted but holds no readable key{}{}",
                                      path_, problems.empty() ? "" : ": ",
                                      problems.empty() ? "" : problems.front()));
  return fail(Error::wrong_key("wrong passphrase for repository {}: it opens none of its {} key{}",
                               path_, files.size(), files.size() == 1 ? "" : "s"));
}

Result<std::vector<KeyInfo>> Repository::list_keys() {
  if (!keys_) return fail(Error::invalid_state("repository {} is not encrypted", path_));
  REWIND_ASSIGN_OR_RETURN(auto files, read_key_files(nullptr));
  std::vector<KeyInfo> out;
  for (const auto& [id, kf] : files)
    out.push_back(KeyInfo{id, kf.created_ns, kf.kdf, id == key_id_});
  return out;
}

Result<std::string> Repository::add_key(std::string_view passphrase, const KdfParams& kdf) {
  if (!keys_) return fail(Error::invalid_state("repository {} is not encrypted", path_));
  if (passphrase.empty()) return fail(Error::usage("an empty passphrase is not allowed"));
  REWIND_ASSIGN_OR_RETURN(KeyFile kf, wrap_master_key(*master_, passphrase, config_.id, kdf));
  std::string id = random_hex(8);
  std::string text = key_file_to_json(kf);
  // Rule 1 (STYLE.md §5): temp file, fsync, rename, fsync the directory.
  REWIND_TRY(io::write_file_atomic(fs_, keys_dir_.get(), id + ".key", io::as_bytes(text), 0600));
  return id;
}

Status Repository::remove_key(const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(auto keys, list_keys());
  auto it = std::find_if(keys.begin(), keys.end(), [&](const KeyInfo& k) { return k.id == id; });
  if (it == keys.end())
    return fail(
        Error::not_found("repository {} has no key {} (`rewind key list` shows them)", path_, id));
  if (keys.size() == 1)
    return fail(Error::invalid_state(
        "key {} is the last key of repository {}: without it nothing could open the repository; "
        "add another first (`rewind key add`)",
        id, path_));
  REWIND_TRY(fs_.unlink_at(keys_dir_.get(), id + ".key"));
  return fs_.fsync_dir(keys_dir_.get());
}

// ---------------------------------------------------------------- data key

Result<std::map<uint64_t, std::string>> Repository::data_key_files() {
  REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(keys_dir_.get()));
  std::map<uint64_t, std::string> out;
  for (const auto& n : names)
    if (auto g = parse_data_key_name(n.name)) out[*g] = n.name;
  return out;
}

Status Repository::load_data_key() {
  // The newest generation is the one in use. A concurrent prune may shred
  // the file this listing names before it is read: then list again.
  for (int attempt = 0;; ++attempt) {
    REWIND_ASSIGN_OR_RETURN(auto files, data_key_files());
    if (files.empty()) {
      keys_ = std::make_unique<RepoKeys>(*master_);
      data_generation_ = 0;
      return ok();
    }
    const auto& [gen, name] = *files.rbegin();
    auto text = io::read_small_file(fs_, keys_dir_.get(), name, kMaxKeyFile);
    if (!text && text.error().code() == ErrorCode::kNotFound && attempt < 3) continue;
    if (!text)
      return fail(text.error().with_context(fmt::format("reading {}/keys/{}", path_, name)));
    auto data = open_data_key(*master_, *text, gen, config_.id, name);
    if (!data)
      return fail(data.error().with_context(fmt::format(
          "repository {}: the data key in use cannot be opened, so no chunk can be read; restore "
          "keys/{} from a backup",
          path_, name)));
    keys_ = std::make_unique<RepoKeys>(*master_, &*data);
    sodium_memzero(data->data(), data->size());
    data_generation_ = gen;
    return ok();
  }
}

Status Repository::rotate_data_key() {
  if (!master_) return fail(Error::invalid_state("repository {} is not encrypted", path_));
  uint64_t gen = data_generation_ + 1;
  Key data = random_key();
  std::string text = seal_data_key(*master_, data, gen, config_.id);
  // Durable before anything uses it; from its rename on, the newest file
  // is this one, so a crash leaves a repository that opens with it.
  Status st =
      io::write_file_atomic(fs_, keys_dir_.get(), data_key_name(gen), io::as_bytes(text), 0600);
  if (st) {
    auto keys = std::make_unique<RepoKeys>(*master_, &data);
    // The catalog seals text through keys_: hand it the new object before
    // the old one goes (the text keys are the same, from the master key).
    st = catalog_->enable_sealing(keys.get());
    if (st) {
      keys_ = std::move(keys);
      data_generation_ = gen;
    }
  }
  sodium_memzero(data.data(), data.size());
  REWIND_TRY(st);
  // Chunk names under the old key mean nothing now: no cached lookup may
  // survive (the catalog's index holds none, prune having deleted every pack).
  index_loaded_ = false;
  index_.clear();
  std::lock_guard lk(pack_fds_mu_);
  pack_fds_.clear();
  pack_names_.clear();
  return ok();
}

Result<std::vector<std::string>> Repository::stale_data_keys() {
  if (!master_) return std::vector<std::string>{};
  REWIND_ASSIGN_OR_RETURN(auto files, data_key_files());
  std::vector<std::string> out;
  for (const auto& [gen, name] : files)
    if (gen < data_generation_) out.push_back(name);
  return out;
}

}  // namespace rwd::store
