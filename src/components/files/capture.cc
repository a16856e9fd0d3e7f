// SPDX-License-Identifier: Apache-2.0
// Capture and comparison of file trees.
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "components/files/files.h"
#include "components/files/walk.h"
#include "store/chunker.h"

namespace rwd::components::files {

using store::ChunkId;
using store::ChunkRef;
using store::Entry;
using store::EntryType;

namespace {

constexpr size_t kReadBlock = 4 << 20;

// Reads the data of a file (its extents, or all of it) and cuts it into
// content-defined chunks, calling `on_chunk` for each.
Status chunk_file(io::Fs& fs, int fd, const std::vector<store::Extent>& extents, bool sparse,
                  uint64_t size, const store::Chunker& chunker,
                  const std::function<Status(std::vector<std::byte>&&)>& on_chunk) {
  const size_t min = chunker.params().min_size;
  const size_t max = chunker.params().max_size;
  std::vector<store::Extent> ranges = sparse ? extents : std::vector<store::Extent>{{0, size}};
  // Small files, the common case: one read, one chunk.
  if (!sparse && size <= min) {
    std::vector<std::byte> buf(size);
    REWIND_ASSIGN_OR_RETURN(size_t n, fs.pread(fd, buf, 0));
    buf.resize(n);
    if (n > 0) REWIND_TRY(on_chunk(std::move(buf)));
    return ok();
  }
  // One buffer per thread, reused: large files do not each pay for
  // allocating and zeroing megabytes.
  thread_local std::unique_ptr<std::byte[]> storage;
  thread_local size_t storage_size = 0;
  if (storage_size < max + kReadBlock) {
    storage.reset(new std::byte[max + kReadBlock]);
    storage_size = max + kReadBlock;
  }
  std::span<std::byte> buf(storage.get(), max + kReadBlock);
  size_t start = 0, len = 0;  // pending bytes are buf[start, start+len)
  auto emit_cuts = [&](bool eof) -> Status {
    while (len > 0 && (len >= max || eof)) {
      size_t cut = chunker.next_cut({buf.data() + start, len}, eof);
      if (cut == 0) break;
      std::vector<std::byte> chunk(buf.data() + start, buf.data() + start + cut);
      REWIND_TRY(on_chunk(std::move(chunk)));
      start += cut;
      len -= cut;
    }
    return ok();
  };
  for (const store::Extent& x : ranges) {
    uint64_t pos = x.offset, remaining = x.length;
    while (remaining > 0) {
      if (start + len + kReadBlock > buf.size()) {
        std::memmove(buf.data(), buf.data() + start, len);
        start = 0;
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, buf.size() - start - len));
      REWIND_ASSIGN_OR_RETURN(size_t n, fs.pread(fd, {buf.data() + start + len, want}, pos));
      if (n == 0) {
        remaining = 0;  // the file shrank: the caller notices by the sizes
        break;
      }
      len += n;
      pos += n;
      remaining -= n;
      REWIND_TRY(emit_cuts(false));
    }
  }
  return emit_cuts(true);
}

}  // namespace

Result<CaptureResult> capture(io::Fs& fs, store::Repository& repo, store::ChunkWriter& writer,
                              const CaptureOptions& opts, ProgressObserver& obs) {
  store::Chunker chunker(repo.config().chunker);
  std::vector<Entry> previous;
  if (opts.previous) {
    auto prev = store::load_manifest(
        [&](const ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
          return repo.read_chunk(id, t, out);
        },
        *opts.previous);
    // A damaged previous snapshot only costs speed: capture reads everything.
    if (prev) previous = std::move(*prev);
  }
  // Reused chunk lists must still be in the repository.
  for (Entry& e : previous)
    for (const ChunkRef& c : e.chunks)
      if (!writer.contains(c.id)) e.ino = 0;  // forces a read

  ContentFn content = [&](int fd, const std::vector<store::Extent>& extents, bool sparse,
                          uint64_t size) -> Result<std::vector<ChunkRef>> {
    std::vector<ChunkRef> refs;
    REWIND_TRY(chunk_file(fs, fd, extents, sparse, size, chunker,
                          [&](std::vector<std::byte>&& chunk) -> Status {
                            auto len = static_cast<uint32_t>(chunk.size());
                            REWIND_ASSIGN_OR_RETURN(
                                ChunkId id, writer.put(store::ChunkType::kData, std::move(chunk)));
                            refs.push_back(ChunkRef{id, len});
                            return ok();
                          }));
    return refs;
  };
  Walker walker(fs, opts, content, opts.previous ? &previous : nullptr, obs, "create");
  store::ManifestBuilder builder([&](store::ChunkType t, std::vector<std::byte>&& data) {
    return writer.put(t, std::move(data));
  });
  std::unordered_set<ChunkId, store::ChunkIdHash> referenced;
  REWIND_TRY(walker.run([&](Entry&& e) -> Status {
    for (const ChunkRef& c : e.chunks) referenced.insert(c.id);
    return builder.add(e);
  }));
  CaptureResult res;
  REWIND_ASSIGN_OR_RETURN(res.manifest, builder.finish());
  REWIND_TRY(writer.flush());
  res.entries = builder.stats().entries;
  res.size = builder.stats().bytes;
  for (const ChunkId& id : referenced) res.stored += writer.stored_size(id);
  res.files_read = walker.stats().files_read;
  res.bytes_read = walker.stats().bytes_read;
  res.warnings = walker.warnings();
  return res;
}

std::string_view change_kind_name(ChangeKind k) {
  switch (k) {
    case ChangeKind::kAdded:
      return "added";
    case ChangeKind::kRemoved:
      return "removed";
    case ChangeKind::kContent:
      return "content";
    case ChangeKind::kMetadata:
      return "metadata";
    case ChangeKind::kType:
      return "type";
    case ChangeKind::kDamaged:
      return "damaged";
  }
  return "?";
}

namespace {

// Resolves hard links to the entry holding the data.
const Entry& data_entry(const std::vector<Entry>& all, const Entry& e) {
  return e.type == EntryType::kHardlink ? all[e.link_index] : e;
}

std::optional<Change> compare(const std::vector<Entry>& all_a, const Entry& a,
                              const std::vector<Entry>& all_b, const Entry& b, bool dir_mtimes) {
  Change c{b.path, ChangeKind::kMetadata, {}};
  EntryType ta = a.type == EntryType::kHardlink ? EntryType::kFile : a.type;
  EntryType tb = b.type == EntryType::kHardlink ? EntryType::kFile : b.type;
  if (ta != tb) {
    c.kind = ChangeKind::kType;
    c.attributes = {std::string(entry_type_name(ta)) + " -> " + std::string(entry_type_name(tb))};
    return c;
  }
  const Entry& da = data_entry(all_a, a);
  const Entry& db = data_entry(all_b, b);
  if (ta == EntryType::kFile && (da.size != db.size || da.chunks != db.chunks ||
                                 da.sparse != db.sparse || da.extents != db.extents)) {
    c.kind = ChangeKind::kContent;
  }
  if (ta == EntryType::kSymlink && a.target != b.target) c.kind = ChangeKind::kContent;
  if ((ta == EntryType::kCharDev || ta == EntryType::kBlockDev) && a.rdev != b.rdev)
    c.attributes.push_back("device");
  if (da.mode != db.mode) c.attributes.push_back("mode");
  if (da.uid != db.uid || da.gid != db.gid) c.attributes.push_back("owner");
  if ((ta != EntryType::kDir || dir_mtimes) && da.mtime_ns != db.mtime_ns)
    c.attributes.push_back("mtime");
  if (da.xattrs != db.xattrs) c.attributes.push_back("xattrs");
  if (da.flags != db.flags) c.attributes.push_back("flags");
  if ((a.type == EntryType::kHardlink) != (b.type == EntryType::kHardlink))
    c.attributes.push_back("links");
  // Other content under the same size and mtime: nobody wrote it through the
  // file system's front door (bit rot, a write beneath it).
  if (c.kind == ChangeKind::kContent && ta == EntryType::kFile && c.attributes.empty() &&
      da.size == db.size)
    c.kind = ChangeKind::kDamaged;
  if (c.kind == ChangeKind::kMetadata && c.attributes.empty()) return std::nullopt;
  return c;
}

}  // namespace

std::vector<Change> diff_manifests(const std::vector<Entry>& a, const std::vector<Entry>& b,
                                   bool dir_mtimes) {
  std::vector<Change> out;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && store::path_less(a[i].path, b[j].path))) {
      out.push_back(Change{a[i].path, ChangeKind::kRemoved, {}});
      ++i;
    } else if (i == a.size() || store::path_less(b[j].path, a[i].path)) {
      out.push_back(Change{b[j].path, ChangeKind::kAdded, {}});
      ++j;
    } else {
      if (auto c = compare(a, a[i], b, b[j], dir_mtimes)) out.push_back(std::move(*c));
      ++i;
      ++j;
    }
  }
  return out;
}

Result<std::vector<Change>> diff_live(io::Fs& fs, const std::vector<Entry>& snapshot,
                                      const CaptureOptions& opts, ProgressObserver& obs,
                                      bool content_always, bool dir_mtimes) {
  store::Chunker chunker(opts.chunker);
  ContentFn content = [&](int fd, const std::vector<store::Extent>& extents, bool sparse,
                          uint64_t size) -> Result<std::vector<ChunkRef>> {
    std::vector<ChunkRef> refs;
    REWIND_TRY(
        chunk_file(fs, fd, extents, sparse, size, chunker, [&](std::vector<std::byte>&& chunk) {
          ChunkId id = opts.data_id ? opts.data_id(chunk) : store::sha256(chunk);
          refs.push_back(ChunkRef{id, static_cast<uint32_t>(chunk.size())});
          return ok();
        }));
    return refs;
  };
  Walker walker(fs, opts, content, content_always ? nullptr : &snapshot, obs, "diff");
  std::vector<Entry> live;
  REWIND_TRY(walker.run([&](Entry&& e) {
    live.push_back(std::move(e));
    return ok();
  }));
  return diff_manifests(snapshot, live, dir_mtimes);
}

Result<RollbackPlan> plan_rollback(io::Fs& fs, const std::vector<Entry>& snapshot,
                                   const CaptureOptions& opts, bool incremental,
                                   ProgressObserver& obs) {
  RollbackPlan plan;
  // A directory's mtime counts here: the point's goes back on it (an
  // interrupted rollback may have left it at the time of a rename).
  auto changes = diff_live(fs, snapshot, opts, obs, incremental, /*dir_mtimes=*/true);
  if (!changes) {
    if (changes.error().code() != ErrorCode::kNotFound) return fail(changes.error());
    // The component's root is gone: everything is added.
    plan.missing = true;
    changes = std::vector<Change>{};
  }
  std::unordered_map<std::string_view, const Entry*> by_path;
  for (const Entry& e : snapshot) by_path.emplace(e.path, &e);
  std::unordered_set<std::string_view> changed, added;
  for (const Change& c : *changes) {
    if (c.kind == ChangeKind::kAdded)
      plan.remove.push_back(c.path);
    else if (c.kind == ChangeKind::kRemoved)
      added.insert(c.path);
    else
      changed.insert(c.path);
  }
  std::reverse(plan.remove.begin(), plan.remove.end());  // deepest first
  // A hard link equals the point only with its whole group: when one name
  // of a group is written, every name is (as the restore does).
  std::unordered_map<uint64_t, bool> group_written;  // index of the group's file -> written
  for (size_t i = 0; i < snapshot.size(); ++i) {
    const Entry& e = snapshot[i];
    if (e.type != EntryType::kHardlink || e.link_index >= snapshot.size()) continue;
    bool touched = added.contains(e.path) || changed.contains(e.path) ||
                   added.contains(snapshot[e.link_index].path) ||
                   changed.contains(snapshot[e.link_index].path);
    if (touched) group_written[e.link_index] = true;
  }
  for (size_t i = 0; i < snapshot.size(); ++i) {
    const Entry& e = snapshot[i];
    bool is_added = plan.missing || added.contains(e.path);
    uint64_t head = e.type == EntryType::kHardlink ? e.link_index : i;
    bool write =
        is_added || !incremental || changed.contains(e.path) || group_written.contains(head);
    if (!write) continue;
    (is_added ? plan.add : plan.replace).push_back(e.path);
    const Entry* d = &e;
    if (e.type == EntryType::kHardlink && e.link_index < snapshot.size())
      d = &snapshot[e.link_index];
    if (d->type == EntryType::kFile) {
      ++plan.files;
      plan.bytes += d->size;
    }
  }
  return plan;
}

}  // namespace rwd::components::files
