// SPDX-License-Identifier: Apache-2.0
// Manifests: the list of a tree's entries, stored as chunks. Entries are
// sorted component-wise (a directory before its contents) and cut into pages
// at content-defined boundaries, so that an unchanged part of a tree stores
// the same pages, and a root chunk indexes the pages by their first path, so
// that one file is found by reading one page. Format: doc/format.md.
//
// Everything decoded here is untrusted: decode_* and validate_entries bound
// every length and reject hostile trees (.., absolute or empty names, NUL,
// duplicates, entries beneath non-directories, hard links forward).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "store/hash.h"
#include "store/pack.h"

namespace rwd::store {

enum class EntryType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kCharDev = 5,
  kBlockDev = 6,
  kHardlink = 7,  // another name of an earlier kFile entry
};
std::string_view entry_type_name(EntryType t);

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  friend bool operator==(const Extent&, const Extent&) = default;
};

struct ChunkRef {
  ChunkId id;
  uint32_t length = 0;
  friend bool operator==(const ChunkRef&, const ChunkRef&) = default;
};

struct Xattr {
  std::string name;
  std::string value;
  friend bool operator==(const Xattr&, const Xattr&) = default;
};

struct Entry {
  std::string path;  // relative to the component root, '/'-separated; "" is the root
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;  // permission bits, 07777
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;        // kFile: logical size
  uint64_t rdev = 0;        // devices
  std::string target;       // kSymlink
  uint64_t link_index = 0;  // kHardlink: index of the kFile entry it names
  uint32_t flags = 0;       // inode flags (FS_IMMUTABLE_FL, FS_APPEND_FL, ...)
  bool sparse = false;      // kFile: `extents` lists the data; the rest is holes
  std::vector<Extent> extents;
  std::vector<ChunkRef> chunks;  // kFile: the data (of the extents, in order)
  std::vector<Xattr> xattrs;     // includes system.posix_acl_* and security.capability
  // Hints for the next capture (unchanged inode, size, mtime and ctime mean
  // unchanged content); not restored.
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t ctime_ns = 0;
  bool torn = false;  // the file kept changing while it was captured

  uint64_t data_length() const;
  friend bool operator==(const Entry&, const Entry&) = default;
};

// Component-wise order: "a" < "a/b" < "a b" (a '/' sorts before any byte).
bool path_less(std::string_view a, std::string_view b);
// Whether `path` equals `prefix` or lies beneath it ("" is everything's prefix).
bool path_within(std::string_view path, std::string_view prefix);

// Receives chunks to store (manifest pages and roots) and returns their ids.
using ChunkSink = std::function<Result<ChunkId>(ChunkType, std::vector<std::byte>&&)>;
// Fetches a chunk of a given type, hash-checked.
using ChunkSource = std::function<Status(const ChunkId&, ChunkType, std::vector<std::byte>&)>;

struct ManifestStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;  // sum of file sizes
  uint64_t pages = 0;
};

// Builds a manifest from entries given in path_less order.
class ManifestBuilder {
 public:
  explicit ManifestBuilder(ChunkSink sink) : sink_(std::move(sink)) {}
  Status add(const Entry& e);
  // Stores the last page and the root; returns the root's id.
  Result<ChunkId> finish();
  const ManifestStats& stats() const { return stats_; }

 private:
  Status flush_page();
  ChunkSink sink_;
  std::vector<std::byte> page_;
  std::string page_first_;
  uint64_t page_count_ = 0;
  uint64_t page_first_index_ = 0;
  struct PageRef {
    std::string first_path;
    uint64_t first_index;
    uint64_t count;
    ChunkId id;
  };
  std::vector<PageRef> pages_;
  ManifestStats stats_;
  std::string last_path_;
  bool any_ = false;
};

// Encoding of single entries and pages (exposed for tests and for the
// hostile-repository test helper).
void encode_entry(const Entry& e, std::vector<std::byte>& out);
std::vector<std::byte> encode_page(const std::vector<Entry>& entries);
struct RootPage {
  std::string first_path;
  uint64_t first_index = 0;
  uint64_t count = 0;
  ChunkId id;
};
struct ManifestRoot {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  std::vector<RootPage> pages;
};
std::vector<std::byte> encode_root(const ManifestRoot& root);
Result<ManifestRoot> decode_root(std::span<const std::byte> data);
Result<std::vector<Entry>> decode_page(std::span<const std::byte> data, uint64_t expected_count);

// Checks a whole entry list (see the header comment). kCorruptedData on the
// first violation, naming the entry.
Status validate_entries(const std::vector<Entry>& entries);

// Loads and validates a whole manifest.
Result<std::vector<Entry>> load_manifest(const ChunkSource& src, const ChunkId& root);

// Finds one path by reading the root and one page (plus the page of a hard
// link's target). Returns kNotFound if absent. The entry is validated on its
// own (names, sizes); hard links are resolved to their target's data.
Result<Entry> lookup_entry(const ChunkSource& src, const ChunkId& root, std::string_view path);

// Validates a single path as stored in a manifest.
Status validate_path(std::string_view path);

}  // namespace rwd::store
