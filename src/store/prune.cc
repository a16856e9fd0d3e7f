// SPDX-License-Identifier: Apache-2.0
#include "store/prune.h"

#include <fcntl.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "io/durable.h"
#include "store/manifest.h"

namespace rwd::store {

namespace {

// A pack renamed out of the pack namespace before it is overwritten: a crash
// halfway through shredding leaves a temporary file, never a half-zeroed
// pack that the next writer would import.
const std::string kShredPrefix = std::string(io::kTempPrefix) + "shred-";

// Bytes a pack of `chunks` chunks holding `stored` bytes of blobs takes.
uint64_t pack_size_estimate(uint64_t chunks, uint64_t stored) {
  return 8 + chunks * (kBlobHeaderSize + kIndexEntrySize) + stored + kPackFooterSize;
}

// Overwrites the file with zeros and makes that durable; the caller unlinks
// it. Overwriting in place reaches the blocks that held the data on file
// systems that update in place (ext4, xfs); doc/format.md says where it
// cannot (copy-on-write file systems, SSD remapping).
Status shred_file(io::Fs& fs, int dirfd, const std::string& name) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs.open_at(dirfd, name, O_WRONLY));
  REWIND_ASSIGN_OR_RETURN(io::Stat st, fs.fstat(fd.get()));
  std::vector<std::byte> zeros(std::min<uint64_t>(st.size, 1 << 20));
  for (uint64_t off = 0; off < st.size; off += zeros.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), st.size - off));
    REWIND_TRY(fs.pwrite(fd.get(), std::span<const std::byte>(zeros).first(n), off));
  }
  REWIND_TRY(fs.fsync(fd.get()));
  return fd.close();
}

bool gone(const Status& st) { return !st && st.error().code() == ErrorCode::kNotFound; }

// Removes (shredding first when asked) the named files of one directory,
// then fsyncs it once. A file already gone is fine: removing is the goal.
Status remove_files(io::Fs& fs, int dirfd, const std::vector<std::string>& names, bool shred) {
  if (names.empty()) return ok();
  for (const auto& n : names) {
    if (shred) {
      Status st = shred_file(fs, dirfd, n);
      if (gone(st)) continue;
      REWIND_TRY(st);
    }
    Status st = fs.unlink_at(dirfd, n);
    if (!gone(st)) REWIND_TRY(st);
  }
  return fs.fsync_dir(dirfd);
}

// Renames `names` out of their namespace (one directory fsync), then
// overwrites and unlinks them: a crash midway leaves a `.rw-tmp-shred-*`
// file, which the next prune shreds, never a half-zeroed file under a name
// that something would read.
Status shred_aside(io::Fs& fs, int dir, const std::vector<std::string>& names) {
  if (names.empty()) return ok();
  std::vector<std::string> aside;
  for (const auto& n : names) {
    aside.push_back(kShredPrefix + n);
    Status st = fs.rename_at(dir, n, dir, aside.back());
    if (!gone(st)) REWIND_TRY(st);
  }
  REWIND_TRY(fs.fsync_dir(dir));
  return remove_files(fs, dir, aside, true);
}

struct PackPlan {
  catalog::PackRow row;
  uint64_t indexed = 0;     // index rows pointing into it
  uint64_t live = 0;        // of those, chunks a kept point references
  uint64_t live_bytes = 0;  // their stored bytes
  bool extra = false;       // holds chunks indexed elsewhere (or its trailer is unreadable)
  std::vector<std::pair<ChunkId, ChunkLocation>> live_chunks;
};

class Pruner {
 public:
  Pruner(Repository& repo, const PruneOptions& opts)
      : repo_(repo), fs_(repo.fs()), cat_(repo.catalog()), opts_(opts) {}

  Result<PruneStats> run() {
    REWIND_TRY(collect_kept());
    REWIND_TRY(walk_manifests());
    REWIND_TRY(plan_packs());
    REWIND_ASSIGN_OR_RETURN(auto roots, superseded_roots());
    REWIND_ASSIGN_OR_RETURN(auto temps, leftover_temps());
    for (const auto& [dir, names] : temps) stats_.temp_removed += names.size();
    stats_.roots_removed = roots.size();
    stats_.shredded = opts_.shred && !opts_.dry_run;
    if (opts_.dry_run) {
      uint64_t max = repo_.config().max_pack_size;
      stats_.packs_written = (written_estimate_ + max - 1) / max;
      // What forget_key_material() would do.
      stats_.key_forgotten = opts_.shred && repo_.encrypted() && stats_.points == 0;
      stats_.data_key_generation = repo_.data_key_generation();
      return stats_;
    }
    REWIND_TRY(repack());
    REWIND_TRY(switch_index());
    REWIND_TRY(delete_old_packs());
    REWIND_ASSIGN_OR_RETURN(io::Fd roots_dir,
                            fs_.open_at(repo_.dirfd(), "roots", O_RDONLY | O_DIRECTORY));
    REWIND_TRY(remove_files(fs_, roots_dir.get(), roots, false));
    for (const auto& [dir, names] : temps) {
      REWIND_ASSIGN_OR_RETURN(io::Fd d, open_dir(dir));
      std::vector<std::string> shreds, plain;
      for (const auto& n : names)
        (opts_.shred || n.starts_with(kShredPrefix) ? shreds : plain).push_back(n);
      REWIND_TRY(remove_files(fs_, d.get(), shreds, true));
      REWIND_TRY(remove_files(fs_, d.get(), plain, false));
    }
    if (opts_.shred && repo_.encrypted()) REWIND_TRY(forget_key_material());
    stats_.data_key_generation = repo_.data_key_generation();
    return stats_;
  }

 private:
  // With no point left every pack is gone by now, so no chunk needs the
  // data key: a new one replaces it and the old one is shredded, so that
  // what overwriting could not reach (copy-on-write, flash remapping) stays
  // sealed under a key that no longer exists. Older files a crash left
  // behind are shredded whenever this runs.
  Status forget_key_material() {
    if (stats_.points == 0) {
      REWIND_TRY(repo_.rotate_data_key());
      stats_.key_forgotten = true;
    }
    REWIND_ASSIGN_OR_RETURN(auto stale, repo_.stale_data_keys());
    return shred_aside(fs_, repo_.keys_dirfd(), stale);
  }

  void progress(const std::string& phase, uint64_t done, uint64_t total) {
    if (opts_.progress) opts_.progress(phase, done, total);
  }

  Result<io::Fd> open_dir(const std::string& rel) {
    if (rel.empty()) return fs_.open_at(repo_.dirfd(), ".", O_RDONLY | O_DIRECTORY);
    return fs_.open_at(repo_.dirfd(), rel, O_RDONLY | O_DIRECTORY);
  }

  // Every kept point's manifests: the catalog's points, the root records'
  // live points (one the catalog lacks is kept too), and the points of
  // unfinished operations, which must be among them.
  Status collect_kept() {
    std::vector<std::string> problems;
    REWIND_ASSIGN_OR_RETURN(auto roots, repo_.read_root_records(&problems, true));
    if (!problems.empty())
      return fail(Error::corrupted_data(
          "prune deleted nothing: {}; a root record that cannot be read may name data a point "
          "needs. Run `rewind verify`, then restore that file from a backup or move it out of "
          "{}/roots if its point is not needed",
          problems.front(), repo_.path()));
    std::set<int64_t> kept;
    auto add = [&](int64_t point, const catalog::SnapshotRow& s) {
      manifests_.emplace(s.manifest,
                         fmt::format("recovery point {} component {}", point, s.component));
    };
    REWIND_ASSIGN_OR_RETURN(auto points, cat_.list_points());
    for (const auto& p : points) {
      kept.insert(p.id);
      REWIND_ASSIGN_OR_RETURN(auto snaps, cat_.snapshots(p.id));
      for (const auto& s : snaps) add(p.id, s);
    }
    for (const auto& r : roots) {
      newest_roots_.insert(r.file);
      if (r.tombstone) continue;
      kept.insert(r.point.id);
      for (const auto& s : r.snapshots) add(r.point.id, s);
    }
    REWIND_ASSIGN_OR_RETURN(auto ops, cat_.unfinished_operations());
    for (const auto& op : ops)
      for (int64_t n : {op.point, op.safety})
        if (n != 0 && !kept.contains(n))
          return fail(Error::system_invalid(
              "unfinished operation {} needs recovery point {}, which is gone; run `rewind "
              "recover` before `rewind prune`",
              op.id, n));
    stats_.points = kept.size();
    return ok();
  }

  // The live set: every manifest root and page, and every chunk an entry
  // lists (file data and adapter state blobs alike, which are manifests).
  Status walk_manifests() {
    REWIND_TRY(repo_.load_index());
    std::vector<std::byte> buf;
    uint64_t done = 0;
    for (const auto& entry : manifests_) {
      // Named members, not a structured binding: clang 14 (the fuzz and
      // tidy builds) cannot capture a binding in the lambda below.
      const auto& hex = entry.first;
      const auto& what = entry.second;
      progress("scan", ++done, manifests_.size());
      auto refuse = [&](const Error& e) {
        return fail(Error::corrupted_data(
            "prune deleted nothing: {} cannot be read ({}); prune cannot tell what it references. "
            "Run `rewind verify --read-data` and `rewind repair`, or forget that point",
            what, e.message()));
      };
      auto root_id = ChunkId::parse(hex);
      if (!root_id) return refuse(root_id.error());
      if (!live_.insert(*root_id).second) continue;
      if (Status st = repo_.read_chunk(*root_id, ChunkType::kManifestRoot, buf); !st)
        return refuse(st.error());
      auto root = decode_root(buf);
      if (!root) return refuse(root.error());
      for (const RootPage& page : root->pages) {
        if (!live_.insert(page.id).second) continue;
        if (Status st = repo_.read_chunk(page.id, ChunkType::kManifestPage, buf); !st)
          return refuse(st.error());
        auto entries = decode_page(buf, page.count);
        if (!entries) return refuse(entries.error());
        for (const Entry& e : *entries)
          for (const ChunkRef& c : e.chunks) live_.insert(c.id);
      }
    }
    stats_.live_chunks = live_.size();
    return ok();
  }

  Status plan_packs() {
    REWIND_ASSIGN_OR_RETURN(auto packs, cat_.list_packs());
    for (const auto& p : packs) {
      plans_[p.id].row = p;
      stats_.bytes_before += p.size;
    }
    stats_.packs_before = packs.size();
    for (const auto& [id, loc] : repo_.index()) {
      auto it = plans_.find(loc.pack);
      if (it == plans_.end()) continue;
      PackPlan& pl = it->second;
      ++pl.indexed;
      if (live_.contains(id)) {
        ++pl.live;
        pl.live_bytes += loc.stored_len;
        pl.live_chunks.emplace_back(id, loc);
      } else {
        ++stats_.dead_chunks;
      }
    }
    // A pack may also hold copies of chunks indexed in another pack (left
    // by an interrupted prune): those are dead here too.
    for (auto& [pid, pl] : plans_) {
      if (pl.live == 0 || pl.live < pl.indexed) continue;
      auto fd = fs_.open_at(repo_.packs_dirfd(), pl.row.name + ".pack", O_RDONLY);
      if (!fd) return fail(fd.error().with_context(fmt::format("pack {}", pl.row.name)));
      auto entries = read_pack_index(fs_, fd->get(), pl.row.name);
      pl.extra = !entries || entries->size() != pl.indexed;
    }
    uint64_t live_stored = 0, live_count = 0;
    stats_.bytes_after = stats_.bytes_before;
    for (auto& [pid, pl] : plans_) {
      if (pl.live == 0) {
        ++stats_.packs_removed;
        stats_.bytes_after -= pl.row.size;
        old_packs_.push_back(pl.row);
      } else if (pl.live < pl.indexed || pl.extra) {
        ++stats_.packs_repacked;
        stats_.bytes_after -= pl.row.size;
        live_stored += pl.live_bytes;
        live_count += pl.live;
        old_packs_.push_back(pl.row);
      }
    }
    stats_.bytes_repacked = live_stored;
    written_estimate_ = live_count ? pack_size_estimate(live_count, live_stored) : 0;
    if (opts_.dry_run) stats_.bytes_after += written_estimate_;
    return ok();
  }

  // Copies the live chunks of partly live packs to new packs, each read and
  // checked before it is written again.
  Status repack() {
    if (stats_.bytes_repacked == 0) return ok();
    REWIND_TRY(repo_.check_free_space(written_estimate_));
    Compressor comp(repo_.config().compression_level);
    Decompressor dec;
    std::vector<std::byte> scratch, raw, packed, sealed;
    const RepoKeys* keys = repo_.keys();
    std::optional<PackWriter> w;
    auto finish = [&]() -> Status {
      std::vector<PackEntry> entries = w->entries();
      Result<std::string> name = w->finish();
      uint64_t size = w->size();
      w.reset();
      if (!name) return fail(name.error());
      written_.push_back(ChunkWriter::FinishedPack{*name, size, std::move(entries)});
      return ok();
    };
    uint64_t done = 0;
    for (auto& [pid, pl] : plans_) {
      if (pl.live == 0 || (pl.live == pl.indexed && !pl.extra)) continue;
      auto fd = fs_.open_at(repo_.packs_dirfd(), pl.row.name + ".pack", O_RDONLY);
      if (!fd) return fail(fd.error().with_context(fmt::format("repacking pack {}", pl.row.name)));
      std::sort(pl.live_chunks.begin(), pl.live_chunks.end(),
                [](const auto& a, const auto& b) { return a.second.offset < b.second.offset; });
      for (const auto& [id, loc] : pl.live_chunks) {
        PackEntry e{id, loc.type, loc.codec, loc.raw_len, loc.stored_len, loc.offset};
        REWIND_TRY(read_chunk(fs_, fd->get(), pl.row.name, e, dec, scratch, raw, keys));
        ChunkCodec codec = comp.compress(raw, packed);
        std::span<const std::byte> stored =
            codec == ChunkCodec::kRaw ? std::span<const std::byte>(raw) : packed;
        // As ChunkWriter does: compress, then seal (a fresh nonce).
        if (keys) {
          keys->seal_chunk(id, static_cast<uint8_t>(loc.type), stored, sealed);
          stored = sealed;
        }
        if (!w) {
          REWIND_ASSIGN_OR_RETURN(PackWriter nw, PackWriter::create(fs_, repo_.packs_dirfd()));
          w.emplace(std::move(nw));
        }
        Status st = w->add(id, loc.type, codec, static_cast<uint32_t>(raw.size()), stored);
        if (st && w->size() >= repo_.config().max_pack_size) st = finish();
        if (!st) {
          if (w) w->abandon();
          return st;
        }
        done += loc.stored_len;
        progress("repack", done, stats_.bytes_repacked);
      }
    }
    if (w) REWIND_TRY(finish());
    stats_.packs_written = written_.size();
    uint64_t after = stats_.bytes_after;
    for (const auto& p : written_) after += p.size;
    stats_.bytes_after = after;
    return ok();
  }

  // One transaction: the new packs indexed, the live chunks' rows moved to
  // them, the old packs and the rows still pointing into them dropped.
  Status switch_index() {
    if (old_packs_.empty()) return ok();
    REWIND_TRY(cat_.begin());
    auto body = [&]() -> Status {
      for (const auto& p : written_) {
        REWIND_ASSIGN_OR_RETURN(int64_t pid, cat_.insert_pack(p.name, p.size));
        for (const PackEntry& e : p.entries)
          REWIND_TRY(cat_.upsert_chunk(
              catalog::ChunkRow{std::string(reinterpret_cast<const char*>(e.id.bytes.data()), 32),
                                pid, e.offset, e.stored_len, e.raw_len,
                                static_cast<uint8_t>(e.type), static_cast<uint8_t>(e.codec)}));
      }
      std::vector<int64_t> gone;
      for (const auto& p : old_packs_)
        if (!is_written(p.name)) gone.push_back(p.id);
      return cat_.delete_packs(gone);
    };
    Status st = body();
    if (!st) {
      ignore_status(cat_.rollback(), "the original error is more useful");
      return fail(st.error().with_context("switching the index to the repacked packs"));
    }
    return cat_.commit();
  }

  // A new pack is named by its bytes: should it equal an old one, it stays.
  bool is_written(const std::string& name) const {
    return std::any_of(written_.begin(), written_.end(),
                       [&](const auto& p) { return p.name == name; });
  }

  Status delete_old_packs() {
    int dir = repo_.packs_dirfd();
    std::vector<std::string> names;
    for (const auto& p : old_packs_)
      if (!is_written(p.name)) names.push_back(p.name + ".pack");
    if (names.empty()) return ok();
    progress("delete", 0, names.size());
    if (!opts_.shred) return remove_files(fs_, dir, names, false);
    return shred_aside(fs_, dir, names);
  }

  // Root records that no longer count: every version of a point but its
  // newest (a tombstone stays: `repair` needs it, and it keeps the point's
  // number from being issued again).
  Result<std::vector<std::string>> superseded_roots() {
    REWIND_ASSIGN_OR_RETURN(io::Fd dir,
                            fs_.open_at(repo_.dirfd(), "roots", O_RDONLY | O_DIRECTORY));
    REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(dir.get()));
    std::vector<std::string> out;
    for (const auto& n : names)
      if (parse_root_name(n.name) && !newest_roots_.contains(n.name)) out.push_back(n.name);
    return out;
  }

  // Temporary files a crash left in the repository (the writer lock is
  // held, so nobody is writing them), keys/ included when encrypted.
  Result<std::map<std::string, std::vector<std::string>>> leftover_temps() {
    std::map<std::string, std::vector<std::string>> out;
    std::vector<std::string> dirs{"", "packs", "roots"};
    if (repo_.encrypted()) dirs.emplace_back("keys");
    for (const auto& rel : dirs) {
      REWIND_ASSIGN_OR_RETURN(io::Fd d, open_dir(rel));
      REWIND_ASSIGN_OR_RETURN(auto names, fs_.list_dir(d.get()));
      for (const auto& n : names)
        if (n.name.starts_with(io::kTempPrefix)) out[rel].push_back(n.name);
    }
    return out;
  }

  Repository& repo_;
  io::Fs& fs_;
  catalog::Catalog& cat_;
  const PruneOptions& opts_;
  PruneStats stats_;
  std::map<std::string, std::string> manifests_;  // hex id -> "recovery point N component C"
  std::set<std::string> newest_roots_;
  std::unordered_set<ChunkId, ChunkIdHash> live_;
  std::map<int64_t, PackPlan> plans_;
  std::vector<catalog::PackRow> old_packs_;
  std::vector<ChunkWriter::FinishedPack> written_;
  uint64_t written_estimate_ = 0;
};

}  // namespace

Result<PruneStats> prune(Repository& repo, const PruneOptions& opts) {
  return Pruner(repo, opts).run();
}

}  // namespace rwd::store
