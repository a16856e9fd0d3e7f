// SPDX-License-Identifier: Apache-2.0
#include "store/pack.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <vector>

#include "io/durable.h"
#include "io/fs.h"
#include "store/codec.h"
#include "store/hash.h"
#include "support/test_support.h"

namespace rwd::store {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;
using ::rwd::testing::random_bytes;
using ::rwd::testing::TempDir;
using ::testing::HasSubstr;

std::vector<std::byte> to_bytes(const std::string& s) {
  auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

std::vector<std::byte> text(size_t n, int salt) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) s += fmt::format("line {} of chunk {}\n", i, salt);
  s.resize(n);
  return to_bytes(s);
}

struct Chunk {
  ChunkId id;
  ChunkType type;
  std::vector<std::byte> data;
};

// Chunks of every kind: incompressible (stored raw), compressible (zstd),
// tiny, and manifest types.
std::vector<Chunk> sample_chunks() {
  std::vector<Chunk> v;
  auto add = [&](ChunkType type, std::vector<std::byte> data) {
    ChunkId id = chunk_id(static_cast<uint8_t>(type), data);
    v.push_back({id, type, std::move(data)});
  };
  add(ChunkType::kData, to_bytes(random_bytes(100000, 1)));
  add(ChunkType::kData, text(200000, 1));
  add(ChunkType::kData, to_bytes("tiny"));
  add(ChunkType::kManifestPage, text(5000, 2));
  add(ChunkType::kData, to_bytes(random_bytes(3000, 2)));
  add(ChunkType::kManifestRoot, text(300, 3));
  return v;
}

// Copies `bytes` into an anonymous in-memory file.
io::Fd memory_file(const std::string& bytes) {
  int fd = ::memfd_create("pack", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  return io::Fd(&io::posix_fs(), fd);
}

// A pack written into a temporary directory.
class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = fs_.open_path(dir_.path(), O_RDONLY | O_DIRECTORY);
    ASSERT_THAT(d, IsOk());
    dirfd_ = std::move(*d);
  }

  // Writes `chunks` (compressed where that helps) and finishes the pack.
  std::string write_pack(const std::vector<Chunk>& chunks) {
    auto w = PackWriter::create(fs_, dirfd_.get());
    EXPECT_THAT(w, IsOk());
    if (!w) return "";
    Compressor comp(3);
    std::vector<std::byte> out;
    for (const Chunk& c : chunks) {
      ChunkCodec codec = comp.compress(c.data, out);
      std::span<const std::byte> stored = codec == ChunkCodec::kRaw
                                              ? std::span<const std::byte>(c.data)
                                              : std::span<const std::byte>(out);
      EXPECT_THAT(w->add(c.id, c.type, codec, static_cast<uint32_t>(c.data.size()), stored),
                  IsOk());
      codecs_.push_back(codec);
    }
    written_ = w->entries();
    Result<std::string> name = w->finish();
    EXPECT_THAT(name, IsOk());
    return name ? *name : "";
  }

  std::string pack_path(const std::string& name) const { return dir_.sub(name + ".pack"); }

  io::Fd open_pack(const std::string& name) {
    auto fd = fs_.open_at(dirfd_.get(), name + ".pack", O_RDONLY);
    EXPECT_THAT(fd, IsOk());
    return fd ? std::move(*fd) : io::Fd();
  }

  // Flips one bit pattern at `offset` of the pack file.
  void flip_byte(const std::string& name, uint64_t offset) {
    std::string bytes = ::rwd::testing::read_file(pack_path(name));
    ASSERT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x40);
    ::rwd::testing::write_file(pack_path(name), bytes, 0600);
  }

  std::vector<std::string> dir_names() {
    auto list = fs_.list_dir(dirfd_.get());
    EXPECT_THAT(list, IsOk());
    std::vector<std::string> names;
    if (list)
      for (const auto& e : *list) names.push_back(e.name);
    return names;
  }

  io::Fs& fs_ = io::posix_fs();
  TempDir dir_{"rewind-pack-test"};
  io::Fd dirfd_;
  std::vector<PackEntry> written_;
  std::vector<ChunkCodec> codecs_;
};

TEST_F(PackTest, FinishNamesThePackByTheSha256OfItsBytes) {
  // finish() names the pack "<sha256 of its bytes>.pack", mode 0600.
  std::string name = write_pack(sample_chunks());
  ASSERT_EQ(name.size(), 64u);
  std::string bytes = ::rwd::testing::read_file(pack_path(name));
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(sha256(to_bytes(bytes)).to_hex(), name);
  EXPECT_EQ(bytes.substr(0, 8), std::string(kPackMagic, 8));
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string(kPackEndMagic, 8));
  struct stat st {};
  ASSERT_EQ(::stat(pack_path(name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(PackTest, FinishLeavesNoTemporaryFile) {
  // After finish(), the directory holds only the pack: no ".rw-tmp-*" file.
  std::string name = write_pack(sample_chunks());
  EXPECT_THAT(dir_names(), ::testing::ElementsAre(name + ".pack"));
}

TEST_F(PackTest, WhileWritingThePackHasOnlyATemporaryName) {
  // Before finish() the pack is one ".rw-tmp-*" file, which abandon() removes.
  auto w = PackWriter::create(fs_, dirfd_.get());
  ASSERT_THAT(w, IsOk());
  std::vector<std::byte> data = text(1000, 9);
  ASSERT_THAT(w->add(sha256(data), ChunkType::kData, ChunkCodec::kRaw, 1000, data), IsOk());
  std::vector<std::string> names = dir_names();
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind(io::kTempPrefix, 0), 0u) << names[0];
  w->abandon();
  EXPECT_THAT(dir_names(), ::testing::IsEmpty());
}

TEST_F(PackTest, IdenticalContentGivesTheSameName) {
  // Two packs of the same chunks in the same order get the same name: one file.
  std::string a = write_pack(sample_chunks());
  std::string b = write_pack(sample_chunks());
  EXPECT_EQ(a, b);
  EXPECT_THAT(dir_names(), ::testing::ElementsAre(a + ".pack"));
}

TEST_F(PackTest, ReadPackIndexReturnsTheEntriesWritten) {
  // read_pack_index returns each chunk's id, type, codec, lengths and offset as written.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  io::Fd fd = open_pack(name);
  Result<std::vector<PackEntry>> idx = read_pack_index(fs_, fd.get(), name);
  ASSERT_THAT(idx, IsOk());
  ASSERT_EQ(idx->size(), chunks.size());
  uint64_t offset = 8;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const PackEntry& e = (*idx)[i];
    EXPECT_EQ(e.id, chunks[i].id) << i;
    EXPECT_EQ(e.type, chunks[i].type) << i;
    EXPECT_EQ(e.codec, codecs_[i]) << i;
    EXPECT_EQ(e.raw_len, chunks[i].data.size()) << i;
    EXPECT_EQ(e.stored_len, written_[i].stored_len) << i;
    EXPECT_EQ(e.offset, offset) << i;
    offset += kBlobHeaderSize + e.stored_len;
  }
  // The sample holds both raw and compressed chunks.
  EXPECT_THAT(codecs_, ::testing::Contains(ChunkCodec::kRaw));
  EXPECT_THAT(codecs_, ::testing::Contains(ChunkCodec::kZstd));
}

TEST_F(PackTest, EmptyPackHasAnEmptyIndex) {
  // A pack finished without chunks is valid and lists no entries.
  std::string name = write_pack({});
  io::Fd fd = open_pack(name);
  Result<std::vector<PackEntry>> idx = read_pack_index(fs_, fd.get(), name);
  ASSERT_THAT(idx, IsOk());
  EXPECT_TRUE(idx->empty());
}

TEST_F(PackTest, ReadChunkReturnsEachChunksData) {
  // read_chunk decodes every chunk of the pack, raw or zstd, to its original bytes.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  io::Fd fd = open_pack(name);
  auto idx = read_pack_index(fs_, fd.get(), name);
  ASSERT_THAT(idx, IsOk());
  Decompressor dec;
  std::vector<std::byte> scratch, out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_THAT(read_chunk(fs_, fd.get(), name, (*idx)[i], dec, scratch, out), IsOk()) << i;
    EXPECT_EQ(out, chunks[i].data) << i;
  }
}

TEST_F(PackTest, FlippedByteInChunkDataIsCorruptedDataNamingTheChunk) {
  // A flipped byte in any chunk's data is kCorruptedData naming pack and chunk; others read.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  for (size_t victim = 0; victim < chunks.size(); ++victim) {
    SCOPED_TRACE("chunk " + std::to_string(victim));
    const PackEntry& v = written_[victim];
    uint64_t at = v.offset + kBlobHeaderSize + v.stored_len / 2;
    flip_byte(name, at);
    io::Fd fd = open_pack(name);
    Decompressor dec;
    std::vector<std::byte> scratch, out;
    Status st = read_chunk(fs_, fd.get(), name, v, dec, scratch, out);
    EXPECT_THAT(st, HasError(ErrorCode::kCorruptedData));
    if (!st) {
      EXPECT_THAT(st.error().message(), HasSubstr(v.id.to_hex()));
      EXPECT_THAT(st.error().message(), HasSubstr(name));
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (i == victim) continue;
      EXPECT_THAT(read_chunk(fs_, fd.get(), name, written_[i], dec, scratch, out), IsOk()) << i;
      EXPECT_EQ(out, chunks[i].data) << i;
    }
    flip_byte(name, at);  // restore
  }
}

TEST_F(PackTest, FlippedByteInBlobHeaderIsCorruptedData) {
  // A blob header no longer matching the index is kCorruptedData naming the chunk.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  const PackEntry& v = written_[1];
  for (uint64_t field : {0u, 4u, 8u, 12u, 16u, 47u}) {
    SCOPED_TRACE("header byte " + std::to_string(field));
    flip_byte(name, v.offset + field);
    io::Fd fd = open_pack(name);
    Decompressor dec;
    std::vector<std::byte> scratch, out;
    Status st = read_chunk(fs_, fd.get(), name, v, dec, scratch, out);
    EXPECT_THAT(st, HasError(ErrorCode::kCorruptedData));
    if (!st) {
      EXPECT_THAT(st.error().message(), HasSubstr(v.id.to_hex()));
    }
    flip_byte(name, v.offset + field);
  }
}

TEST_F(PackTest, ReadChunkChecksTheExpectedTypeAndId) {
  // Asking for a chunk with the wrong type or id is kCorruptedData.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  io::Fd fd = open_pack(name);
  Decompressor dec;
  std::vector<std::byte> scratch, out;
  PackEntry wrong_type = written_[0];
  wrong_type.type = ChunkType::kManifestRoot;
  EXPECT_THAT(read_chunk(fs_, fd.get(), name, wrong_type, dec, scratch, out),
              HasError(ErrorCode::kCorruptedData));
  PackEntry wrong_id = written_[0];
  wrong_id.id = chunks[1].id;
  EXPECT_THAT(read_chunk(fs_, fd.get(), name, wrong_id, dec, scratch, out),
              HasError(ErrorCode::kCorruptedData));
}

TEST_F(PackTest, FlippedByteInTrailerIndexIsCorruptedData) {
  // A flipped byte anywhere in the trailer index or footer makes read_pack_index fail.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  std::string bytes = ::rwd::testing::read_file(pack_path(name));
  uint64_t index_start = bytes.size() - kPackFooterSize - chunks.size() * kIndexEntrySize;
  io::Fd fd = memory_file(bytes);
  ASSERT_THAT(read_pack_index(fs_, fd.get(), name), IsOk());
  for (uint64_t at = index_start; at < bytes.size(); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at) + " of " + std::to_string(bytes.size()));
    char flipped = static_cast<char>(bytes[at] ^ 0x40);
    ASSERT_EQ(::pwrite(fd.get(), &flipped, 1, static_cast<off_t>(at)), 1);
    EXPECT_THAT(read_pack_index(fs_, fd.get(), name), HasError(ErrorCode::kCorruptedData));
    ASSERT_EQ(::pwrite(fd.get(), &bytes[at], 1, static_cast<off_t>(at)), 1);
  }
}

TEST_F(PackTest, TruncatedPackFailsCleanly) {
  // A pack cut short at any length makes read_pack_index fail with kCorruptedData.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  std::string bytes = ::rwd::testing::read_file(pack_path(name));
  io::Fd fd = memory_file(bytes);
  ASSERT_THAT(read_pack_index(fs_, fd.get(), name), IsOk());
  for (size_t n = bytes.size(); n-- > 0;) {
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(n)), 0);
    EXPECT_THAT(read_pack_index(fs_, fd.get(), name), HasError(ErrorCode::kCorruptedData))
        << "truncated to " << n << " of " << bytes.size() << " bytes";
  }
}

TEST_F(PackTest, ReadChunkPastTheEndOfATruncatedPackFails) {
  // Reading a chunk whose blob was cut off is kCorruptedData naming the chunk.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  std::string bytes = ::rwd::testing::read_file(pack_path(name));
  const PackEntry& last = written_.back();
  io::Fd fd = memory_file(bytes.substr(0, last.offset + kBlobHeaderSize + last.stored_len / 2));
  Decompressor dec;
  std::vector<std::byte> scratch, out;
  Status st = read_chunk(fs_, fd.get(), name, last, dec, scratch, out);
  EXPECT_THAT(st, HasError(ErrorCode::kCorruptedData));
  if (!st) {
    EXPECT_THAT(st.error().message(), HasSubstr(last.id.to_hex()));
  }
  EXPECT_THAT(read_chunk(fs_, fd.get(), name, written_[0], dec, scratch, out), IsOk());
}

TEST_F(PackTest, IndexNotCoveringTheDataIsCorruptedData) {
  // Bytes inserted between the data and a valid trailer are kCorruptedData.
  std::vector<Chunk> chunks = sample_chunks();
  std::string name = write_pack(chunks);
  std::string bytes = ::rwd::testing::read_file(pack_path(name));
  uint64_t trailer = kPackFooterSize + chunks.size() * kIndexEntrySize;
  std::string gapped =
      bytes.substr(0, bytes.size() - trailer) + "GAP!" + bytes.substr(bytes.size() - trailer);
  io::Fd fd = memory_file(gapped);
  EXPECT_THAT(read_pack_index(fs_, fd.get(), name), HasError(ErrorCode::kCorruptedData));
}

}  // namespace
}  // namespace rwd::store
