// SPDX-License-Identifier: Apache-2.0
#include "store/manifest.h"

#include <algorithm>
#include <unordered_set>

#include "store/encoding.h"

namespace rwd::store {

namespace {

constexpr uint32_t kPageMagic = 0x504d5752;  // "RWMP"
constexpr uint32_t kRootMagic = 0x524d5752;  // "RWMR"
constexpr uint8_t kManifestVersion = 1;
constexpr size_t kMinPage = 4 * 1024;
constexpr size_t kMaxPage = 128 * 1024;
constexpr uint64_t kMaxEntriesPerPage = 1 << 20;
constexpr uint64_t kMaxPages = 1 << 22;
constexpr size_t kMaxPathLen = 4096;
constexpr size_t kMaxNameLen = 255;
constexpr size_t kMaxXattrs = 1024;
constexpr size_t kMaxXattrValue = 65536;
constexpr uint64_t kMaxChunksPerFile = uint64_t{1} << 26;
// The smallest encoding of an entry (an empty-named directory, all varints 1 byte).
constexpr size_t kMinEntryBytes = 11;

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

std::string_view entry_type_name(EntryType t) {
  switch (t) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDir:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kFifo:
      return "fifo";
    case EntryType::kCharDev:
      return "chardev";
    case EntryType::kBlockDev:
      return "blockdev";
    case EntryType::kHardlink:
      return "hardlink";
  }
  return "?";
}

uint64_t Entry::data_length() const {
  if (!sparse) return size;
  uint64_t n = 0;
  for (const Extent& x : extents) n += x.length;
  return n;
}

bool path_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    int ca = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]) + 1;
    int cb = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]) + 1;
    return ca < cb;
  }
  return a.size() < b.size();
}

bool path_within(std::string_view path, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

void encode_entry(const Entry& e, std::vector<std::byte>& out) {
  Writer w;
  w.str(e.path);
  w.u8(static_cast<uint8_t>(e.type));
  w.varint(e.mode);
  w.varint(e.uid);
  w.varint(e.gid);
  w.svarint(e.mtime_ns);
  switch (e.type) {
    case EntryType::kFile:
      w.varint(e.size);
      w.u8(static_cast<uint8_t>((e.sparse ? 1 : 0) | (e.torn ? 2 : 0)));
      if (e.sparse) {
        w.varint(e.extents.size());
        for (const Extent& x : e.extents) {
          w.varint(x.offset);
          w.varint(x.length);
        }
      }
      w.varint(e.chunks.size());
      for (const ChunkRef& c : e.chunks) {
        w.raw(c.id.bytes.data(), 32);
        w.varint(c.length);
      }
      break;
    case EntryType::kSymlink:
      w.str(e.target);
      break;
    case EntryType::kCharDev:
    case EntryType::kBlockDev:
      w.varint(e.rdev);
      break;
    case EntryType::kHardlink:
      w.varint(e.link_index);
      break;
    case EntryType::kDir:
    case EntryType::kFifo:
      break;
  }
  w.varint(e.flags);
  w.varint(e.xattrs.size());
  for (const Xattr& x : e.xattrs) {
    w.str(x.name);
    w.str(x.value);
  }
  w.varint(e.dev);
  w.varint(e.ino);
  w.svarint(e.ctime_ns);
  auto& b = w.buffer();
  out.insert(out.end(), b.begin(), b.end());
}

namespace {

Result<Entry> decode_entry(Reader& r) {
  Entry e;
  REWIND_ASSIGN_OR_RETURN(e.path, r.str(kMaxPathLen));
  REWIND_ASSIGN_OR_RETURN(uint8_t type, r.u8());
  if (type < 1 || type > 7)
    return fail(Error::corrupted_data("manifest entry '{}': unknown type {}", e.path, type));
  e.type = static_cast<EntryType>(type);
  REWIND_ASSIGN_OR_RETURN(uint64_t mode, r.varint());
  if (mode > 07777) return fail(Error::corrupted_data("manifest entry '{}': bad mode", e.path));
  e.mode = static_cast<uint32_t>(mode);
  REWIND_ASSIGN_OR_RETURN(uint64_t uid, r.varint());
  REWIND_ASSIGN_OR_RETURN(uint64_t gid, r.varint());
  if (uid > UINT32_MAX || gid > UINT32_MAX)
    return fail(Error::corrupted_data("manifest entry '{}': bad owner", e.path));
  e.uid = static_cast<uint32_t>(uid);
  e.gid = static_cast<uint32_t>(gid);
  REWIND_ASSIGN_OR_RETURN(e.mtime_ns, r.svarint());
  switch (e.type) {
    case EntryType::kFile: {
      REWIND_ASSIGN_OR_RETURN(e.size, r.varint());
      REWIND_ASSIGN_OR_RETURN(uint8_t fl, r.u8());
      e.sparse = (fl & 1) != 0;
      e.torn = (fl & 2) != 0;
      if (e.sparse) {
        REWIND_ASSIGN_OR_RETURN(uint64_t n, r.varint());
        if (n > r.remaining())
          return fail(Error::corrupted_data("manifest entry '{}': bad extent count", e.path));
        e.extents.resize(n);
        for (Extent& x : e.extents) {
          REWIND_ASSIGN_OR_RETURN(x.offset, r.varint());
          REWIND_ASSIGN_OR_RETURN(x.length, r.varint());
        }
      }
      REWIND_ASSIGN_OR_RETURN(uint64_t nc, r.varint());
      if (nc > kMaxChunksPerFile || nc * 33 > r.remaining())
        return fail(Error::corrupted_data("manifest entry '{}': bad chunk count", e.path));
      e.chunks.resize(nc);
      for (ChunkRef& c : e.chunks) {
        REWIND_ASSIGN_OR_RETURN(auto idb, r.bytes(32));
        c.id = ChunkId::from_bytes(idb);
        REWIND_ASSIGN_OR_RETURN(uint64_t len, r.varint());
        if (len == 0 || len > kMaxChunkSize)
          return fail(Error::corrupted_data("manifest entry '{}': bad chunk length", e.path));
        c.length = static_cast<uint32_t>(len);
      }
      break;
    }
    case EntryType::kSymlink: {
      REWIND_ASSIGN_OR_RETURN(e.target, r.str(kMaxPathLen));
      break;
    }
    case EntryType::kCharDev:
    case EntryType::kBlockDev: {
      REWIND_ASSIGN_OR_RETURN(e.rdev, r.varint());
      break;
    }
    case EntryType::kHardlink: {
      REWIND_ASSIGN_OR_RETURN(e.link_index, r.varint());
      break;
    }
    case EntryType::kDir:
    case EntryType::kFifo:
      break;
  }
  REWIND_ASSIGN_OR_RETURN(uint64_t flags, r.varint());
  if (flags > UINT32_MAX)
    return fail(Error::corrupted_data("manifest entry '{}': bad flags", e.path));
  e.flags = static_cast<uint32_t>(flags);
  REWIND_ASSIGN_OR_RETURN(uint64_t nx, r.varint());
  if (nx > kMaxXattrs)
    return fail(Error::corrupted_data("manifest entry '{}': too many xattrs", e.path));
  e.xattrs.resize(nx);
  for (Xattr& x : e.xattrs) {
    REWIND_ASSIGN_OR_RETURN(x.name, r.str(kMaxNameLen));
    REWIND_ASSIGN_OR_RETURN(x.value, r.str(kMaxXattrValue));
  }
  REWIND_ASSIGN_OR_RETURN(e.dev, r.varint());
  REWIND_ASSIGN_OR_RETURN(e.ino, r.varint());
  REWIND_ASSIGN_OR_RETURN(e.ctime_ns, r.svarint());
  return e;
}

Status validate_entry_alone(const Entry& e) {
  if (!e.path.empty()) REWIND_TRY(validate_path(e.path));
  auto bad = [&](std::string_view why) {
    return fail(Error::corrupted_data("manifest entry '{}': {}", e.path, why));
  };
  if (e.type == EntryType::kFile) {
    uint64_t data = 0;
    if (e.sparse) {
      uint64_t end = 0;
      for (const Extent& x : e.extents) {
        if (x.length == 0 || x.offset < end || x.offset > e.size || x.length > e.size - x.offset)
          return bad("extents overlap or exceed the size");
        end = x.offset + x.length;
        data += x.length;
      }
    } else {
      data = e.size;
    }
    uint64_t sum = 0;
    for (const ChunkRef& c : e.chunks) {
      sum += c.length;
      if (sum > data) break;
    }
    if (sum != data) return bad("chunk lengths do not add up to the size");
  }
  if (e.type == EntryType::kSymlink &&
      (e.target.empty() || e.target.find('\0') != std::string::npos))
    return bad("bad symlink target");
  for (const Xattr& x : e.xattrs)
    if (x.name.empty() || x.name.find('\0') != std::string::npos) return bad("bad xattr name");
  return ok();
}

}  // namespace

Status validate_path(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return fail(Error::corrupted_data("manifest path '{}': {}", path, why));
  };
  if (path.empty()) return bad("empty name");
  if (path.size() > kMaxPathLen) return bad("too long");
  if (path.find('\0') != std::string_view::npos) return bad("contains NUL");
  if (path.front() == '/') return bad("absolute");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty()) return bad("empty component");
    if (comp == "." || comp == "..") return bad("'.' or '..' component");
    if (comp.size() > kMaxNameLen) return bad("name too long");
    start = end + 1;
  }
  return ok();
}

std::vector<std::byte> encode_page(const std::vector<Entry>& entries) {
  Writer w;
  w.u32(kPageMagic);
  w.u8(kManifestVersion);
  w.varint(entries.size());
  std::vector<std::byte> out = std::move(w.buffer());
  for (const Entry& e : entries) encode_entry(e, out);
  return out;
}

Result<std::vector<Entry>> decode_page(std::span<const std::byte> data, uint64_t expected_count) {
  Reader r(data, "manifest page");
  REWIND_ASSIGN_OR_RETURN(uint32_t magic, r.u32());
  REWIND_ASSIGN_OR_RETURN(uint8_t version, r.u8());
  if (magic != kPageMagic) return fail(Error::corrupted_data("manifest page: bad magic"));
  if (version != kManifestVersion)
    return fail(Error::corrupted_data("manifest page: unsupported version {}", version));
  REWIND_ASSIGN_OR_RETURN(uint64_t n, r.varint());
  if (n != expected_count || n > kMaxEntriesPerPage)
    return fail(
        Error::corrupted_data("manifest page: {} entries, root says {}", n, expected_count));
  // Every entry takes at least kMinEntryBytes: a count the bytes cannot hold
  // is refused before anything is allocated for it.
  if (n > r.remaining() / kMinEntryBytes)
    return fail(Error::corrupted_data("manifest page: {} entries cannot fit in {} bytes", n,
                                      r.remaining()));
  std::vector<Entry> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    REWIND_ASSIGN_OR_RETURN(Entry e, decode_entry(r));
    out.push_back(std::move(e));
  }
  if (!r.done()) return fail(Error::corrupted_data("manifest page: trailing bytes"));
  return out;
}

std::vector<std::byte> encode_root(const ManifestRoot& root) {
  Writer w;
  w.u32(kRootMagic);
  w.u8(kManifestVersion);
  w.varint(root.entries);
  w.varint(root.bytes);
  w.varint(root.pages.size());
  for (const RootPage& p : root.pages) {
    w.str(p.first_path);
    w.varint(p.first_index);
    w.varint(p.count);
    w.raw(p.id.bytes.data(), 32);
  }
  return std::move(w.buffer());
}

Result<ManifestRoot> decode_root(std::span<const std::byte> data) {
  Reader r(data, "manifest root");
  REWIND_ASSIGN_OR_RETURN(uint32_t magic, r.u32());
  REWIND_ASSIGN_OR_RETURN(uint8_t version, r.u8());
  if (magic != kRootMagic) return fail(Error::corrupted_data("manifest root: bad magic"));
  if (version != kManifestVersion)
    return fail(Error::corrupted_data("manifest root: unsupported version {}", version));
  ManifestRoot root;
  REWIND_ASSIGN_OR_RETURN(root.entries, r.varint());
  REWIND_ASSIGN_OR_RETURN(root.bytes, r.varint());
  REWIND_ASSIGN_OR_RETURN(uint64_t np, r.varint());
  if (np > kMaxPages || np > r.remaining())
    return fail(Error::corrupted_data("manifest root: bad page count"));
  uint64_t next_index = 0;
  root.pages.resize(np);
  for (RootPage& p : root.pages) {
    REWIND_ASSIGN_OR_RETURN(p.first_path, r.str(kMaxPathLen));
    REWIND_ASSIGN_OR_RETURN(p.first_index, r.varint());
    REWIND_ASSIGN_OR_RETURN(p.count, r.varint());
    REWIND_ASSIGN_OR_RETURN(auto idb, r.bytes(32));
    p.id = ChunkId::from_bytes(idb);
    if (p.first_index != next_index || p.count == 0 || p.count > kMaxEntriesPerPage)
      return fail(Error::corrupted_data("manifest root: pages do not tile the entries"));
    next_index += p.count;
  }
  if (next_index != root.entries)
    return fail(Error::corrupted_data("manifest root: entry count mismatch"));
  if (!r.done()) return fail(Error::corrupted_data("manifest root: trailing bytes"));
  return root;
}

Status ManifestBuilder::add(const Entry& e) {
  if (any_ && !path_less(last_path_, e.path))
    return fail(
        Error::invalid_state("manifest entries out of order: '{}' after '{}'", e.path, last_path_));
  any_ = true;
  last_path_ = e.path;
  if (page_count_ == 0) {
    page_first_ = e.path;
    page_.clear();
  }
  encode_entry(e, page_);
  ++page_count_;
  ++stats_.entries;
  if (e.type == EntryType::kFile) stats_.bytes += e.size;
  // Content-defined page boundary: an edit changes only the page it is in.
  if ((page_.size() >= kMinPage && (fnv1a(e.path) & 31) == 0) || page_.size() >= kMaxPage)
    return flush_page();
  return ok();
}

Status ManifestBuilder::flush_page() {
  if (page_count_ == 0) return ok();
  Writer w;
  w.u32(kPageMagic);
  w.u8(kManifestVersion);
  w.varint(page_count_);
  std::vector<std::byte> page = std::move(w.buffer());
  page.insert(page.end(), page_.begin(), page_.end());
  REWIND_ASSIGN_OR_RETURN(ChunkId id, sink_(ChunkType::kManifestPage, std::move(page)));
  pages_.push_back(PageRef{page_first_, page_first_index_, page_count_, id});
  page_first_index_ += page_count_;
  page_count_ = 0;
  page_.clear();
  ++stats_.pages;
  return ok();
}

Result<ChunkId> ManifestBuilder::finish() {
  REWIND_TRY(flush_page());
  ManifestRoot root;
  root.entries = stats_.entries;
  root.bytes = stats_.bytes;
  for (PageRef& p : pages_)
    root.pages.push_back(RootPage{p.first_path, p.first_index, p.count, p.id});
  return sink_(ChunkType::kManifestRoot, encode_root(root));
}

Status validate_entries(const std::vector<Entry>& entries) {
  if (entries.empty()) return fail(Error::corrupted_data("manifest has no entries"));
  if (!entries[0].path.empty())
    return fail(Error::corrupted_data("manifest does not start with its root"));
  if (entries[0].type == EntryType::kHardlink)
    return fail(Error::corrupted_data("manifest root is a hard link"));
  std::unordered_set<std::string_view> dirs;
  if (entries[0].type == EntryType::kDir)
    dirs.insert(entries[0].path);
  else if (entries.size() > 1)
    return fail(
        Error::corrupted_data("manifest root is not a directory but has entries beneath it"));
  REWIND_TRY(validate_entry_alone(entries[0]));
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    REWIND_TRY(validate_entry_alone(e));
    if (!path_less(entries[i - 1].path, e.path))
      return fail(Error::corrupted_data("manifest entry '{}': duplicate or out of order", e.path));
    size_t slash = e.path.rfind('/');
    std::string_view parent =
        slash == std::string::npos ? std::string_view() : std::string_view(e.path).substr(0, slash);
    if (!dirs.contains(parent))
      return fail(Error::corrupted_data(
          "manifest entry '{}': parent is not a directory of the snapshot", e.path));
    if (e.type == EntryType::kDir) dirs.insert(e.path);
    if (e.type == EntryType::kHardlink &&
        (e.link_index >= i || entries[e.link_index].type != EntryType::kFile))
      return fail(Error::corrupted_data(
          "manifest entry '{}': hard link to a later or non-file entry", e.path));
  }
  return ok();
}

Result<std::vector<Entry>> load_manifest(const ChunkSource& src, const ChunkId& root_id) {
  std::vector<std::byte> buf;
  REWIND_TRY(src(root_id, ChunkType::kManifestRoot, buf));
  REWIND_ASSIGN_OR_RETURN(ManifestRoot root, decode_root(buf));
  std::vector<Entry> all;
  // The root's count is untrusted: the pages prove it one by one.
  all.reserve(std::min<uint64_t>(root.entries, 1 << 16));
  for (const RootPage& p : root.pages) {
    REWIND_TRY(src(p.id, ChunkType::kManifestPage, buf));
    REWIND_ASSIGN_OR_RETURN(std::vector<Entry> page, decode_page(buf, p.count));
    if (page.front().path != p.first_path)
      return fail(Error::corrupted_data("manifest page {}: first path does not match the root",
                                        p.id.short_hex()));
    for (Entry& e : page) all.push_back(std::move(e));
  }
  REWIND_TRY(validate_entries(all));
  return all;
}

Result<Entry> lookup_entry(const ChunkSource& src, const ChunkId& root_id, std::string_view path) {
  std::vector<std::byte> buf;
  REWIND_TRY(src(root_id, ChunkType::kManifestRoot, buf));
  REWIND_ASSIGN_OR_RETURN(ManifestRoot root, decode_root(buf));
  auto load_page_with = [&](auto pred) -> Result<std::pair<std::vector<Entry>, const RootPage*>> {
    auto it = std::partition_point(root.pages.begin(), root.pages.end(), pred);
    if (it == root.pages.begin())
      return fail(Error::not_found("'{}' is not in the snapshot", path));
    const RootPage& p = *(it - 1);
    REWIND_TRY(src(p.id, ChunkType::kManifestPage, buf));
    REWIND_ASSIGN_OR_RETURN(std::vector<Entry> page, decode_page(buf, p.count));
    return std::make_pair(std::move(page), &p);
  };
  REWIND_ASSIGN_OR_RETURN(auto found, load_page_with([&](const RootPage& p) {
                            return !path_less(path, p.first_path);
                          }));
  auto& [page, pref] = found;
  auto it = std::find_if(page.begin(), page.end(), [&](const Entry& e) { return e.path == path; });
  if (it == page.end()) return fail(Error::not_found("'{}' is not in the snapshot", path));
  Entry e = std::move(*it);
  REWIND_TRY(validate_entry_alone(e));
  if (e.type == EntryType::kHardlink) {
    uint64_t idx = e.link_index;
    uint64_t self = pref->first_index + static_cast<uint64_t>(it - page.begin());
    if (idx >= self)
      return fail(Error::corrupted_data("manifest entry '{}': hard link forward", e.path));
    REWIND_ASSIGN_OR_RETURN(
        auto tfound, load_page_with([&](const RootPage& p) { return p.first_index <= idx; }));
    auto& [tpage, tref] = tfound;
    uint64_t off = idx - tref->first_index;
    if (off >= tpage.size())
      return fail(Error::corrupted_data("manifest entry '{}': bad hard link", e.path));
    Entry t = std::move(tpage[off]);
    if (t.type != EntryType::kFile)
      return fail(Error::corrupted_data("manifest entry '{}': hard link to a non-file", e.path));
    REWIND_TRY(validate_entry_alone(t));
    t.path = e.path;
    return t;
  }
  return e;
}

}  // namespace rwd::store
