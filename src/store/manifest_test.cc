// SPDX-License-Identifier: Apache-2.0
#include "store/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "support/test_support.h"

namespace rwd::store {

// Readable failure messages for entries.
void PrintTo(const Entry& e, std::ostream* os) {
  *os << "{'" << e.path << "' " << entry_type_name(e.type) << " mode " << e.mode << " size "
      << e.size << " chunks " << e.chunks.size() << " link " << e.link_index << "}";
}

namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

ChunkId id_of(const std::string& s) { return sha256(bytes_of(s)); }

Entry dir(std::string path) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kDir;
  e.mode = 0755;
  return e;
}

// A file of `size` bytes stored as chunks of at most 1000 bytes.
Entry file(std::string path, uint64_t size) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kFile;
  e.mode = 0644;
  e.size = size;
  for (uint64_t off = 0; off < size; off += 1000) {
    uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(1000, size - off));
    e.chunks.push_back(ChunkRef{id_of(e.path + "@" + std::to_string(off)), len});
  }
  return e;
}

Entry symlink(std::string path, std::string target) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kSymlink;
  e.mode = 0777;
  e.target = std::move(target);
  return e;
}

Entry hardlink(std::string path, uint64_t index) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kHardlink;
  e.link_index = index;
  return e;
}

Entry special(std::string path, EntryType type, uint64_t rdev = 0) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = 0600;
  e.rdev = rdev;
  return e;
}

// One entry of every type, with every field that type stores set to
// something other than its default.
std::vector<Entry> one_of_each_type() {
  Entry root = dir("");
  root.mode = 01777;
  root.uid = 0;
  root.xattrs = {{"user.comment", "top"}};

  Entry f = file("data.bin", 2500);
  f.uid = 1000;
  f.gid = 100;
  f.mtime_ns = 1700000000123456789;
  f.ctime_ns = -5;
  f.flags = 0x10;  // FS_IMMUTABLE_FL
  f.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.empty", ""}};
  f.dev = 2049;
  f.ino = 123456789;
  f.torn = true;

  Entry d = dir("etc");
  d.mode = 02755;
  d.mtime_ns = -1000000000;  // before the epoch

  Entry sparse = file("etc/disk.img", 0);
  sparse.size = 1 << 30;
  sparse.sparse = true;
  sparse.extents = {{0, 1500}, {1 << 20, 500}};
  sparse.chunks = {{id_of("a"), 1000}, {id_of("b"), 1000}};

  Entry l = symlink("etc/link", "../data.bin");
  Entry fifo = special("fifo", EntryType::kFifo);
  Entry chr = special("null", EntryType::kCharDev, 0x103);
  Entry blk = special("sda", EntryType::kBlockDev, 0x800);
  Entry hl = hardlink("zz-second-name", 1);
  hl.mtime_ns = f.mtime_ns;
  return {root, f, d, sparse, l, fifo, chr, blk, hl};
}

// A store of chunks in memory: a ChunkSink and a ChunkSource over a map.
class MemoryStore {
 public:
  ChunkSink sink() {
    return [this](ChunkType type, std::vector<std::byte>&& data) -> Result<ChunkId> {
      ChunkId id = sha256(data);
      chunks_[id] = {type, std::move(data)};
      return id;
    };
  }
  ChunkSource source() {
    return [this](const ChunkId& id, ChunkType type, std::vector<std::byte>& out) -> Status {
      ++reads_;
      auto it = chunks_.find(id);
      if (it == chunks_.end()) return fail(Error::not_found("chunk {} is missing", id.short_hex()));
      if (it->second.first != type)
        return fail(Error::corrupted_data("chunk {} has the wrong type", id.short_hex()));
      out = it->second.second;
      return ok();
    };
  }
  std::vector<std::byte>& at(const ChunkId& id) { return chunks_.at(id).second; }
  size_t size() const { return chunks_.size(); }
  int reads() const { return reads_; }
  std::vector<ChunkId> ids_of(ChunkType type) const {
    std::vector<ChunkId> out;
    for (const auto& [id, c] : chunks_)
      if (c.first == type) out.push_back(id);
    return out;
  }

 private:
  std::map<ChunkId, std::pair<ChunkType, std::vector<std::byte>>> chunks_;
  int reads_ = 0;
};

// A valid tree of 10,000 entries: the root, 100 directories "dNN" and, in
// each, a symlink and 98 files (97 in d99, whose last file "d99/f0096" is a
// hard link to "d00/f0000").
std::vector<Entry> big_tree() {
  std::vector<Entry> v;
  v.push_back(dir(""));
  for (int d = 0; d < 100; ++d) {
    std::string dn = fmt::format("d{:02}", d);
    v.push_back(dir(dn));
    v.push_back(symlink(dn + "/link", "f0000"));
    for (int f = 0; f < (d == 99 ? 97 : 98); ++f) {
      Entry e =
          file(fmt::format("{}/f{:04}", dn, f), static_cast<uint64_t>(d * 98 + f) * 37 % 5000);
      e.uid = 1000;
      e.mtime_ns = 1700000000000000000 + d * 1000 + f;
      v.push_back(std::move(e));
    }
  }
  std::sort(v.begin(), v.end(),
            [](const Entry& a, const Entry& b) { return path_less(a.path, b.path); });
  // Make the last file of d99 a hard link to the first file of d00.
  auto index_of = [&](std::string_view p) {
    auto it = std::find_if(v.begin(), v.end(), [&](const Entry& e) { return e.path == p; });
    return static_cast<uint64_t>(it - v.begin());
  };
  uint64_t target = index_of("d00/f0000");
  v[index_of("d99/f0096")] = hardlink("d99/f0096", target);
  return v;
}

ChunkId build(MemoryStore& store, const std::vector<Entry>& entries,
              ManifestStats* stats = nullptr) {
  ManifestBuilder b(store.sink());
  for (const Entry& e : entries) EXPECT_THAT(b.add(e), IsOk()) << e.path;
  Result<ChunkId> root = b.finish();
  EXPECT_THAT(root, IsOk());
  if (stats) *stats = b.stats();
  return root ? *root : ChunkId{};
}

// ------------------------------------------------------------- Encoding

TEST(ManifestEncoding, PageOfEveryEntryTypeRoundTrips) {
  // A page with one entry of each of the seven types, all fields set, decodes equal.
  std::vector<Entry> entries = one_of_each_type();
  std::vector<std::byte> page = encode_page(entries);
  Result<std::vector<Entry>> decoded = decode_page(page, entries.size());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, entries);
  EXPECT_THAT(validate_entries(entries), IsOk());
}

TEST(ManifestEncoding, ExtremeFieldValuesRoundTrip) {
  // Largest and smallest values of every numeric field survive encoding.
  Entry e = file("f", 0);
  e.mode = 07777;
  e.uid = UINT32_MAX;
  e.gid = UINT32_MAX;
  e.mtime_ns = INT64_MIN;
  e.ctime_ns = INT64_MAX;
  e.size = UINT64_MAX;
  e.flags = UINT32_MAX;
  e.dev = UINT64_MAX;
  e.ino = UINT64_MAX;
  e.chunks = {{id_of("x"), static_cast<uint32_t>(kMaxChunkSize)}};
  Entry d = special("dev", EntryType::kBlockDev, UINT64_MAX);
  Entry h = hardlink("h", UINT64_MAX);
  std::vector<Entry> entries{e, d, h};
  Result<std::vector<Entry>> decoded = decode_page(encode_page(entries), entries.size());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, entries);
}

TEST(ManifestEncoding, DecodePageRejectsTruncationTrailingBytesAndWrongCount) {
  // Page prefixes, a trailing byte or a wrong entry count are kCorruptedData.
  std::vector<Entry> entries = one_of_each_type();
  std::vector<std::byte> page = encode_page(entries);
  for (size_t n = 0; n < page.size(); ++n)
    EXPECT_THAT(decode_page(std::span(page).first(n), entries.size()),
                HasError(ErrorCode::kCorruptedData))
        << "prefix of " << n << " bytes";
  std::vector<std::byte> longer = page;
  longer.push_back(std::byte{0});
  EXPECT_THAT(decode_page(longer, entries.size()), HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(decode_page(page, entries.size() - 1), HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(decode_page(page, entries.size() + 1), HasError(ErrorCode::kCorruptedData));
}

TEST(ManifestEncoding, DecodePageRejectsOutOfRangeFields) {
  // An unknown type, a mode above 07777 or a zero-length chunk is kCorruptedData.
  Entry bad_type = special("x", EntryType::kFifo);
  bad_type.type = static_cast<EntryType>(8);
  EXPECT_THAT(decode_page(encode_page({bad_type}), 1), HasError(ErrorCode::kCorruptedData));
  Entry bad_mode = special("x", EntryType::kFifo);
  bad_mode.mode = 010000;
  EXPECT_THAT(decode_page(encode_page({bad_mode}), 1), HasError(ErrorCode::kCorruptedData));
  Entry empty_chunk = file("x", 0);
  empty_chunk.chunks = {{id_of("x"), 0}};
  EXPECT_THAT(decode_page(encode_page({empty_chunk}), 1), HasError(ErrorCode::kCorruptedData));
}

// Generates an entry of any type with arbitrary values in the fields that
// type stores (the others stay at their defaults, as decoding leaves them).
rc::Gen<Entry> arbitrary_entry() {
  return rc::gen::exec([] {
    Entry e;
    e.path = *rc::gen::arbitrary<std::string>();
    e.type = static_cast<EntryType>(*rc::gen::inRange(1, 8));
    e.mode = *rc::gen::inRange<uint32_t>(0, 010000);
    e.uid = *rc::gen::arbitrary<uint32_t>();
    e.gid = *rc::gen::arbitrary<uint32_t>();
    e.mtime_ns = *rc::gen::arbitrary<int64_t>();
    switch (e.type) {
      case EntryType::kFile: {
        e.size = *rc::gen::arbitrary<uint64_t>();
        e.sparse = *rc::gen::arbitrary<bool>();
        e.torn = *rc::gen::arbitrary<bool>();
        if (e.sparse) {
          e.extents = *rc::gen::container<std::vector<Extent>>(
              rc::gen::build<Extent>(rc::gen::set(&Extent::offset), rc::gen::set(&Extent::length)));
        }
        e.chunks = *rc::gen::container<std::vector<ChunkRef>>(rc::gen::exec([] {
          ChunkRef c;
          c.id = id_of(*rc::gen::arbitrary<std::string>());
          c.length = *rc::gen::inRange<uint32_t>(1, static_cast<uint32_t>(kMaxChunkSize) + 1);
          return c;
        }));
        break;
      }
      case EntryType::kSymlink:
        e.target = *rc::gen::arbitrary<std::string>();
        break;
      case EntryType::kCharDev:
      case EntryType::kBlockDev:
        e.rdev = *rc::gen::arbitrary<uint64_t>();
        break;
      case EntryType::kHardlink:
        e.link_index = *rc::gen::arbitrary<uint64_t>();
        break;
      case EntryType::kDir:
      case EntryType::kFifo:
        break;
    }
    e.flags = *rc::gen::arbitrary<uint32_t>();
    e.xattrs = *rc::gen::container<std::vector<Xattr>>(
        rc::gen::build<Xattr>(rc::gen::set(&Xattr::name), rc::gen::set(&Xattr::value)));
    e.dev = *rc::gen::arbitrary<uint64_t>();
    e.ino = *rc::gen::arbitrary<uint64_t>();
    e.ctime_ns = *rc::gen::arbitrary<int64_t>();
    return e;
  });
}

RC_GTEST_PROP(ManifestEncoding, GeneratedPageEncodesAndDecodesToItself, ()) {
  // Any generated list of entries survives encode_page + decode_page unchanged.
  const auto entries = *rc::gen::container<std::vector<Entry>>(arbitrary_entry());
  Result<std::vector<Entry>> decoded = decode_page(encode_page(entries), entries.size());
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(*decoded == entries);
}

// ------------------------------------------------------------- Paths

TEST(ManifestPath, SlashSortsBeforeEveryOtherByte) {
  // path_less orders "a" < "a/b" < "a b" < "a-": '/' sorts before every other byte.
  EXPECT_TRUE(path_less("a", "a/b"));
  EXPECT_TRUE(path_less("a/b", "a b"));
  EXPECT_TRUE(path_less("a b", "a-"));
  EXPECT_TRUE(path_less("a/b", "a-"));
  EXPECT_TRUE(path_less("a/b", "a.b"));
  EXPECT_TRUE(path_less("a/zzz", "a\x01"));
  EXPECT_TRUE(path_less("", "a"));
  EXPECT_TRUE(path_less("a", "b"));
  EXPECT_TRUE(path_less("a\x7f", "a\xff"));  // bytes compare unsigned
  EXPECT_FALSE(path_less("a b", "a/b"));
  EXPECT_FALSE(path_less("a-", "a b"));
  EXPECT_FALSE(path_less("a", "a"));
  EXPECT_FALSE(path_less("", ""));
}

TEST(ManifestPath, SortingKeepsEachDirectoryFollowedByItsContents) {
  // Sorting with path_less puts each directory's whole subtree right after it.
  std::vector<std::string> want{"", "a", "a/b", "a/b/c", "a/c", "a b", "a b/x", "a-", "a.b", "b"};
  std::vector<std::string> got{"a.b", "a/c", "b", "a b/x", "", "a-", "a/b/c", "a", "a b", "a/b"};
  std::sort(got.begin(), got.end(), path_less);
  EXPECT_EQ(got, want);
}

TEST(ManifestPath, PathWithinMatchesWholeComponents) {
  // path_within matches the prefix and paths beneath it, not names that merely share characters.
  EXPECT_TRUE(path_within("a", "a"));
  EXPECT_TRUE(path_within("a/b", "a"));
  EXPECT_TRUE(path_within("anything", ""));
  EXPECT_FALSE(path_within("ab", "a"));
  EXPECT_FALSE(path_within("a", "a/b"));
}

// ------------------------------------------------------------- Validation

TEST(ManifestValidation, AcceptsAWellFormedTree) {
  // A tree of dirs, files, a sparse file, a symlink, a FIFO and a backward hard link is valid.
  Entry sparse = file("d/sparse", 0);
  sparse.size = 10000;
  sparse.sparse = true;
  sparse.extents = {{0, 100}, {100, 100}, {5000, 800}};
  sparse.chunks = {{id_of("s1"), 500}, {id_of("s2"), 500}};
  std::vector<Entry> v{dir(""),
                       dir("d"),
                       file("d/a", 1500),
                       sparse,
                       symlink("d/z", "/anywhere/../at/all"),
                       special("fifo", EntryType::kFifo),
                       hardlink("link", 2)};
  EXPECT_THAT(validate_entries(v), IsOk());
  EXPECT_THAT(validate_entries(one_of_each_type()), IsOk());
}

TEST(ManifestValidation, AcceptsASingleFileAsTheWholeManifest) {
  // A component that is one file has a manifest of one kFile entry at "".
  EXPECT_THAT(validate_entries({file("", 10)}), IsOk());
}

// Asserts validate_entries rejects `v` with kCorruptedData.
void expect_rejected(const std::vector<Entry>& v) {
  EXPECT_THAT(validate_entries(v), HasError(ErrorCode::kCorruptedData));
}

TEST(ManifestValidation, RejectsDotDotComponents) {
  // "../escape" and "a/../b" are kCorruptedData.
  expect_rejected({dir(""), file("../escape", 1)});
  expect_rejected({dir(""), dir("a"), file("a/../b", 1)});
}

TEST(ManifestValidation, RejectsDotComponents) {
  // "." and "a/./b" are kCorruptedData.
  expect_rejected({dir(""), file(".", 1)});
  expect_rejected({dir(""), dir("a"), file("a/./b", 1)});
}

TEST(ManifestValidation, RejectsAbsolutePaths) {
  // "/abs" is kCorruptedData.
  expect_rejected({dir(""), file("/abs", 1)});
}

TEST(ManifestValidation, RejectsEmptyNames) {
  // "a//b", "a/" and an empty path after the root are kCorruptedData.
  expect_rejected({dir(""), dir("a"), file("a//b", 1)});
  expect_rejected({dir(""), dir("a"), file("a/", 1)});
  expect_rejected({dir(""), file("", 1)});
}

TEST(ManifestValidation, RejectsNulInNames) {
  // A name containing a NUL byte is kCorruptedData.
  expect_rejected({dir(""), file(std::string("a\0b", 3), 1)});
}

TEST(ManifestValidation, RejectsOverlongNames) {
  // A component of 256 bytes is kCorruptedData; 255 bytes is fine.
  EXPECT_THAT(validate_entries({dir(""), file(std::string(255, 'n'), 1)}), IsOk());
  expect_rejected({dir(""), file(std::string(256, 'n'), 1)});
}

TEST(ManifestValidation, RejectsDuplicateNames) {
  // The same path twice is kCorruptedData.
  expect_rejected({dir(""), file("a", 1), file("a", 2)});
  expect_rejected({dir(""), dir("a"), dir("a")});
}

TEST(ManifestValidation, RejectsEntriesOutOfOrder) {
  // "b" before "a", and "a b" before "a/c", are kCorruptedData.
  expect_rejected({dir(""), file("b", 1), file("a", 1)});
  expect_rejected({dir(""), dir("a"), file("a b", 1), file("a/c", 1)});
}

TEST(ManifestValidation, RejectsEntriesBeneathASymlink) {
  // A symlink "l" followed by a file "l/f" is kCorruptedData.
  expect_rejected({dir(""), symlink("l", "/etc"), file("l/f", 1)});
}

TEST(ManifestValidation, RejectsEntriesBeneathFilesAndSpecialFiles) {
  // Entries beneath a file, a FIFO or a hard link are kCorruptedData.
  expect_rejected({dir(""), file("f", 1), file("f/x", 1)});
  expect_rejected({dir(""), special("p", EntryType::kFifo), file("p/x", 1)});
  expect_rejected({dir(""), file("a", 1), hardlink("h", 1), file("h/x", 1)});
}

TEST(ManifestValidation, RejectsEntriesWhoseParentIsMissing) {
  // "a/f" without an entry for "a" is kCorruptedData.
  expect_rejected({dir(""), file("a/f", 1)});
  expect_rejected({dir(""), dir("a"), file("a/b/c", 1)});
}

TEST(ManifestValidation, RejectsARootThatIsNotFirstOrNotADirectory) {
  // No entries, no root first, or a non-directory root with children is kCorruptedData.
  expect_rejected({});
  expect_rejected({dir("a")});
  expect_rejected({file("", 1), file("a", 1)});
  expect_rejected({hardlink("", 0)});
}

TEST(ManifestValidation, RejectsHardLinksToLaterEntries) {
  // A hard link naming a later entry, or itself, is kCorruptedData.
  expect_rejected({dir(""), hardlink("a", 2), file("b", 1)});
  expect_rejected({dir(""), file("a", 1), hardlink("b", 2)});
  expect_rejected({dir(""), file("a", 1), hardlink("b", 99)});
}

TEST(ManifestValidation, RejectsHardLinksToNonFiles) {
  // A hard link to a directory, a symlink or another hard link is kCorruptedData.
  expect_rejected({dir(""), dir("a"), hardlink("b", 1)});
  expect_rejected({dir(""), symlink("a", "x"), hardlink("b", 1)});
  expect_rejected({dir(""), file("a", 1), hardlink("b", 1), hardlink("c", 2)});
}

TEST(ManifestValidation, RejectsChunkLengthsThatDoNotAddUpToTheSize) {
  // A file whose chunk lengths sum to less or more than its size is kCorruptedData.
  Entry short_by_ten = file("f", 100);
  short_by_ten.chunks = {{id_of("a"), 50}, {id_of("b"), 40}};
  expect_rejected({dir(""), short_by_ten});
  Entry long_by_ten = file("f", 100);
  long_by_ten.chunks = {{id_of("a"), 50}, {id_of("b"), 60}};
  expect_rejected({dir(""), long_by_ten});
  Entry no_chunks = file("f", 100);
  no_chunks.chunks.clear();
  expect_rejected({dir(""), no_chunks});
}

TEST(ManifestValidation, RejectsOverlappingSparseExtents) {
  // Sparse extents [0,100) and [50,150) overlap: kCorruptedData, though chunks add up.
  Entry e = file("f", 0);
  e.size = 1000;
  e.sparse = true;
  e.extents = {{0, 100}, {50, 100}};
  e.chunks = {{id_of("a"), 200}};
  expect_rejected({dir(""), e});
}

TEST(ManifestValidation, RejectsSparseExtentsOutOfOrderEmptyOrPastTheSize) {
  // Extents out of order, of zero length or past the file's size are kCorruptedData.
  Entry e = file("f", 0);
  e.size = 1000;
  e.sparse = true;
  e.chunks = {{id_of("a"), 200}};
  e.extents = {{500, 100}, {0, 100}};
  expect_rejected({dir(""), e});
  e.extents = {{0, 0}, {0, 200}};
  expect_rejected({dir(""), e});
  e.extents = {{900, 200}};
  expect_rejected({dir(""), e});
  e.extents = {{UINT64_MAX - 50, 200}};
  expect_rejected({dir(""), e});
}

TEST(ManifestValidation, RejectsBadSymlinkTargetsAndXattrNames) {
  // An empty symlink target, a target with NUL or an empty xattr name is kCorruptedData.
  expect_rejected({dir(""), symlink("l", "")});
  expect_rejected({dir(""), symlink("l", std::string("a\0b", 3))});
  Entry f = file("f", 1);
  f.xattrs = {{"", "value"}};
  expect_rejected({dir(""), f});
}

// ------------------------------------------------------------- Root chunk

ManifestRoot two_page_root() {
  ManifestRoot r;
  r.entries = 30;
  r.bytes = 12345;
  r.pages = {{"", 0, 10, id_of("page 1")}, {"m/n", 10, 20, id_of("page 2")}};
  return r;
}

TEST(ManifestRoot, RoundTrips) {
  // A root of two pages decodes to the same counts, paths and ids.
  ManifestRoot r = two_page_root();
  Result<ManifestRoot> d = decode_root(encode_root(r));
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->entries, r.entries);
  EXPECT_EQ(d->bytes, r.bytes);
  ASSERT_EQ(d->pages.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(d->pages[i].first_path, r.pages[i].first_path);
    EXPECT_EQ(d->pages[i].first_index, r.pages[i].first_index);
    EXPECT_EQ(d->pages[i].count, r.pages[i].count);
    EXPECT_EQ(d->pages[i].id, r.pages[i].id);
  }
}

TEST(ManifestRoot, DecodeRejectsTruncatedData) {
  // Every strict prefix of an encoded root, and a trailing byte, are kCorruptedData.
  std::vector<std::byte> data = encode_root(two_page_root());
  for (size_t n = 0; n < data.size(); ++n)
    EXPECT_THAT(decode_root(std::span(data).first(n)), HasError(ErrorCode::kCorruptedData))
        << "prefix of " << n << " bytes";
  data.push_back(std::byte{1});
  EXPECT_THAT(decode_root(data), HasError(ErrorCode::kCorruptedData));
}

TEST(ManifestRoot, DecodeRejectsPagesThatDoNotTileTheEntries) {
  // Pages with a gap, overlap, no entries or a wrong total are kCorruptedData.
  auto rejected = [](auto edit) {
    ManifestRoot r = two_page_root();
    edit(r);
    return decode_root(encode_root(r));
  };
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.pages[0].first_index = 1; }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.pages[1].first_index = 11; }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.pages[1].first_index = 9; }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) {
                r.pages[0].count = 0;
                r.pages[1].first_index = 0;
                r.entries = 20;
              }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.entries = 31; }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.entries = 29; }),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(rejected([](ManifestRoot& r) { r.pages.clear(); }),
              HasError(ErrorCode::kCorruptedData));
}

TEST(ManifestRoot, DecodeRejectsAPageRootedElsewhere) {
  // A manifest page presented as a root (wrong magic) is kCorruptedData.
  EXPECT_THAT(decode_root(encode_page(one_of_each_type())), HasError(ErrorCode::kCorruptedData));
}

// ------------------------------------------------------------- Builder

TEST(ManifestBuilder, TenThousandEntriesRoundTripAcrossManyPages) {
  // 10,000 entries built into many pages over a map store load back equal.
  std::vector<Entry> entries = big_tree();
  ASSERT_EQ(entries.size(), 10000u);
  ASSERT_THAT(validate_entries(entries), IsOk());
  MemoryStore store;
  ManifestStats stats;
  ChunkId root = build(store, entries, &stats);
  EXPECT_EQ(stats.entries, 10000u);
  EXPECT_GT(stats.pages, 5u);
  uint64_t bytes = 0;
  for (const Entry& e : entries)
    if (e.type == EntryType::kFile) bytes += e.size;
  EXPECT_EQ(stats.bytes, bytes);
  EXPECT_EQ(store.ids_of(ChunkType::kManifestPage).size(), stats.pages);
  EXPECT_EQ(store.ids_of(ChunkType::kManifestRoot), std::vector<ChunkId>{root});

  Result<std::vector<Entry>> loaded = load_manifest(store.source(), root);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*loaded, entries);
}

TEST(ManifestBuilder, SameEntriesGiveTheSameRoot) {
  // Building the same entries twice gives the same root id.
  std::vector<Entry> entries = big_tree();
  MemoryStore a, b;
  EXPECT_EQ(build(a, entries), build(b, entries));
}

TEST(ManifestBuilder, EditingOneEntryChangesOnlyItsPage) {
  // Changing one file's owner in the 10,000-entry tree changes exactly one page.
  std::vector<Entry> entries = big_tree();
  MemoryStore a, b;
  ManifestStats stats;
  build(a, entries, &stats);
  auto it = std::find_if(entries.begin(), entries.end(),
                         [](const Entry& e) { return e.path == "d50/f0050"; });
  ASSERT_NE(it, entries.end());
  it->uid = 1001;
  build(b, entries);
  std::vector<ChunkId> pa = a.ids_of(ChunkType::kManifestPage);
  std::vector<ChunkId> pb = b.ids_of(ChunkType::kManifestPage);
  ASSERT_EQ(pa.size(), pb.size());
  std::vector<ChunkId> only_in_b;
  std::set_difference(pb.begin(), pb.end(), pa.begin(), pa.end(), std::back_inserter(only_in_b));
  EXPECT_EQ(only_in_b.size(), 1u) << "of " << stats.pages << " pages";
}

TEST(ManifestBuilder, RefusesEntriesOutOfOrder) {
  // Adding "b" and then "a", or the same path twice, is kInvalidState.
  MemoryStore store;
  ManifestBuilder b(store.sink());
  ASSERT_THAT(b.add(dir("")), IsOk());
  ASSERT_THAT(b.add(file("b", 1)), IsOk());
  EXPECT_THAT(b.add(file("a", 1)), HasError(ErrorCode::kInvalidState));
  EXPECT_THAT(b.add(file("b", 1)), HasError(ErrorCode::kInvalidState));
}

TEST(ManifestBuilder, PassesOnTheSinksError) {
  // A sink that fails (disk full) makes finish() fail with its error.
  ManifestBuilder b([](ChunkType, std::vector<std::byte>&&) -> Result<ChunkId> {
    return fail(Error::no_space("disk full"));
  });
  ASSERT_THAT(b.add(dir("")), IsOk());
  EXPECT_THAT(b.finish(), HasError(ErrorCode::kNoSpace));
}

TEST(ManifestLoad, RejectsAPageThatDoesNotMatchTheRoot) {
  // A root whose page's first path differs, or whose page is missing, fails to load.
  MemoryStore store;
  std::vector<Entry> entries = one_of_each_type();
  ChunkSink sink = store.sink();
  ChunkId page = *sink(ChunkType::kManifestPage, encode_page(entries));
  ManifestRoot r;
  r.entries = entries.size();
  r.pages = {{"not-the-first", 0, entries.size(), page}};
  ChunkId root = *sink(ChunkType::kManifestRoot, encode_root(r));
  EXPECT_THAT(load_manifest(store.source(), root), HasError(ErrorCode::kCorruptedData));
  r.pages = {{"", 0, entries.size(), id_of("no such page")}};
  ChunkId dangling = *sink(ChunkType::kManifestRoot, encode_root(r));
  EXPECT_THAT(load_manifest(store.source(), dangling), HasError(ErrorCode::kNotFound));
}

TEST(ManifestLoad, RejectsAnInvalidTree) {
  // A well-encoded manifest with a ".." entry fails to load with kCorruptedData.
  MemoryStore store;
  ManifestBuilder b(store.sink());
  ASSERT_THAT(b.add(dir("")), IsOk());
  ASSERT_THAT(b.add(file("../escape", 1)), IsOk());
  Result<ChunkId> root = b.finish();
  ASSERT_THAT(root, IsOk());
  EXPECT_THAT(load_manifest(store.source(), *root), HasError(ErrorCode::kCorruptedData));
}

// ------------------------------------------------------------- Lookup

TEST(ManifestLookup, FindsEntriesInAManyPageManifest) {
  // lookup_entry finds entries on any page of a 10,000-entry manifest, reading two chunks.
  std::vector<Entry> entries = big_tree();
  MemoryStore store;
  ChunkId root = build(store, entries);
  for (std::string_view path : {"", "d00", "d00/f0001", "d47/f0033", "d99/f0095", "d99/link"}) {
    auto want = std::find_if(entries.begin(), entries.end(),
                             [&](const Entry& e) { return e.path == path; });
    ASSERT_NE(want, entries.end());
    int reads_before = store.reads();
    Result<Entry> got = lookup_entry(store.source(), root, path);
    ASSERT_THAT(got, IsOk()) << path;
    EXPECT_EQ(*got, *want);
    EXPECT_EQ(store.reads() - reads_before, 2) << path;
  }
}

TEST(ManifestLookup, ResolvesAHardLinkToItsTargetsData) {
  // A hard link looked up returns its target's data (on another page) under the link's name.
  std::vector<Entry> entries = big_tree();
  MemoryStore store;
  ChunkId root = build(store, entries);
  auto target = std::find_if(entries.begin(), entries.end(),
                             [](const Entry& e) { return e.path == "d00/f0000"; });
  ASSERT_NE(target, entries.end());
  // The link and its target lie on different pages.
  std::vector<std::byte> buf = store.at(root);
  Result<ManifestRoot> mr = decode_root(buf);
  ASSERT_THAT(mr, IsOk());
  auto page_of = [&](uint64_t index) {
    for (size_t i = 0; i < mr->pages.size(); ++i)
      if (index < mr->pages[i].first_index + mr->pages[i].count) return i;
    return mr->pages.size();
  };
  auto link = std::find_if(entries.begin(), entries.end(),
                           [](const Entry& e) { return e.path == "d99/f0096"; });
  ASSERT_NE(link, entries.end());
  ASSERT_EQ(link->type, EntryType::kHardlink);
  uint64_t link_index = static_cast<uint64_t>(link - entries.begin());
  ASSERT_NE(page_of(static_cast<uint64_t>(target - entries.begin())), page_of(link_index));

  Result<Entry> got = lookup_entry(store.source(), root, "d99/f0096");
  ASSERT_THAT(got, IsOk());
  Entry want = *target;
  want.path = "d99/f0096";
  EXPECT_EQ(*got, want);
}

TEST(ManifestLookup, MissingPathIsNotFound) {
  // Absent paths, inside a page, between pages or after the end, are kNotFound.
  std::vector<Entry> entries = big_tree();
  MemoryStore store;
  ChunkId root = build(store, entries);
  for (std::string_view path : {"d50/nope", "d50/f0050x", "zzz", "d00/f0000/below", "d5", "d50 "})
    EXPECT_THAT(lookup_entry(store.source(), root, path), HasError(ErrorCode::kNotFound)) << path;
}

TEST(ManifestLookup, RejectsAHardLinkForward) {
  // In an unvalidated manifest, looking up a hard link to a later entry is kCorruptedData.
  MemoryStore store;
  ChunkId root = build(store, {dir(""), hardlink("a", 2), file("b", 1)});
  EXPECT_THAT(lookup_entry(store.source(), root, "a"), HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(lookup_entry(store.source(), root, "b"), IsOk());
}

TEST(ManifestLookup, RejectsAnInvalidEntry) {
  // Looking up a file whose chunks do not add up to its size is kCorruptedData.
  Entry bad = file("f", 100);
  bad.chunks.push_back({id_of("extra"), 1});
  MemoryStore store;
  ChunkId root = build(store, {dir(""), bad});
  EXPECT_THAT(lookup_entry(store.source(), root, "f"), HasError(ErrorCode::kCorruptedData));
}

}  // namespace
}  // namespace rwd::store
