// SPDX-License-Identifier: Apache-2.0
#include "store/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rwd::store {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;
using ::rwd::testing::random_bytes;

std::vector<std::byte> to_bytes(const std::string& s) {
  auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// Text that compresses well: a repeated sentence with a counter.
std::vector<std::byte> compressible(size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i)
    s += "rewind keeps every version of every file, line " + std::to_string(i) + "\n";
  s.resize(n);
  return to_bytes(s);
}

// A zstd frame that does not declare its content size (as a streaming
// compressor writes it), so only the output buffer bounds decompression.
std::vector<std::byte> zstd_frame_without_size(std::span<const std::byte> in) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::vector<std::byte> out(ZSTD_compressBound(in.size()));
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t rest = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  EXPECT_EQ(rest, 0u);
  out.resize(ob.pos);
  return out;
}

TEST(Codec, CompressibleDataRoundTrips) {
  // 1 MiB of repetitive text is stored as smaller zstd and decompresses to the same bytes.
  std::vector<std::byte> in = compressible(1 << 20);
  Compressor comp(3);
  std::vector<std::byte> stored;
  ASSERT_EQ(comp.compress(in, stored), ChunkCodec::kZstd);
  EXPECT_LT(stored.size(), in.size() / 4);
  Decompressor dec;
  std::vector<std::byte> out;
  ASSERT_THAT(dec.decompress(ChunkCodec::kZstd, stored, in.size(), out), IsOk());
  EXPECT_EQ(out, in);
}

TEST(Codec, OneCompressorAndDecompressorServeManyChunks) {
  // One Compressor and one Decompressor round-trip 20 chunks of varied sizes and contents.
  Compressor comp(3);
  Decompressor dec;
  std::vector<std::byte> stored, out;
  for (int i = 0; i < 20; ++i) {
    size_t n = 100 + static_cast<size_t>(i) * 7919;
    std::vector<std::byte> in =
        i % 2 ? compressible(n) : to_bytes(random_bytes(n, 100 + static_cast<uint64_t>(i)));
    ChunkCodec codec = comp.compress(in, stored);
    std::span<const std::byte> payload = codec == ChunkCodec::kRaw
                                             ? std::span<const std::byte>(in)
                                             : std::span<const std::byte>(stored);
    ASSERT_THAT(dec.decompress(codec, payload, in.size(), out), IsOk()) << "chunk " << i;
    EXPECT_EQ(out, in) << "chunk " << i;
  }
}

TEST(Codec, IncompressibleDataIsStoredRaw) {
  // 256 KiB of random bytes compress to kRaw with an empty output, and decode as themselves.
  std::vector<std::byte> in = to_bytes(random_bytes(256 << 10, 1));
  Compressor comp(3);
  std::vector<std::byte> stored = to_bytes("left over from an earlier chunk");
  EXPECT_EQ(comp.compress(in, stored), ChunkCodec::kRaw);
  EXPECT_TRUE(stored.empty());
  Decompressor dec;
  std::vector<std::byte> out;
  ASSERT_THAT(dec.decompress(ChunkCodec::kRaw, in, in.size(), out), IsOk());
  EXPECT_EQ(out, in);
}

TEST(Codec, TinyChunksAndLevelZeroAreStoredRaw) {
  // Chunks under 64 bytes, and any chunk at level 0, are kRaw with an empty output.
  std::vector<std::byte> stored;
  Compressor comp(3);
  EXPECT_EQ(comp.compress(compressible(63), stored), ChunkCodec::kRaw);
  EXPECT_TRUE(stored.empty());
  Compressor off(0);
  EXPECT_EQ(off.compress(compressible(1 << 16), stored), ChunkCodec::kRaw);
  EXPECT_TRUE(stored.empty());
}

TEST(Codec, EmptyRawChunkRoundTrips) {
  // A raw chunk of zero bytes with raw_len 0 decodes to nothing.
  Decompressor dec;
  std::vector<std::byte> out = to_bytes("junk");
  ASSERT_THAT(dec.decompress(ChunkCodec::kRaw, {}, 0, out), IsOk());
  EXPECT_TRUE(out.empty());
}

TEST(Codec, DecompressRejectsWrongRawLength) {
  // A zstd or raw chunk whose raw_len is one byte off is kCorruptedData.
  std::vector<std::byte> in = compressible(100000);
  Compressor comp(3);
  std::vector<std::byte> stored;
  ASSERT_EQ(comp.compress(in, stored), ChunkCodec::kZstd);
  Decompressor dec;
  std::vector<std::byte> out;
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, stored, in.size() + 1, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, stored, in.size() - 1, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kRaw, in, in.size() + 1, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kRaw, in, in.size() - 1, out),
              HasError(ErrorCode::kCorruptedData));
}

TEST(Codec, DecompressRejectsWrongLengthWhenTheFrameDeclaresNone) {
  // A frame without a content size decoding to more or less than raw_len is kCorruptedData.
  std::vector<std::byte> in = compressible(200000);
  std::vector<std::byte> frame = zstd_frame_without_size(in);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  Decompressor dec;
  std::vector<std::byte> out;
  ASSERT_THAT(dec.decompress(ChunkCodec::kZstd, frame, in.size(), out), IsOk());
  EXPECT_EQ(out, in);
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, frame, 1000, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_LE(out.size(), 1000u);
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, frame, in.size() + 1, out),
              HasError(ErrorCode::kCorruptedData));
}

TEST(Codec, DecompressRejectsGarbage) {
  // Random bytes, an empty input and a half frame presented as zstd are kCorruptedData.
  Decompressor dec;
  std::vector<std::byte> out;
  std::vector<std::byte> garbage = to_bytes(random_bytes(4096, 2));
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, garbage, 4096, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, {}, 10, out), HasError(ErrorCode::kCorruptedData));

  std::vector<std::byte> in = compressible(100000);
  Compressor comp(3);
  std::vector<std::byte> stored;
  ASSERT_EQ(comp.compress(in, stored), ChunkCodec::kZstd);
  std::span<const std::byte> half(stored.data(), stored.size() / 2);
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, half, in.size(), out),
              HasError(ErrorCode::kCorruptedData));
}

TEST(Codec, DecompressRejectsUnknownCodec) {
  // A codec byte other than kRaw or kZstd is kCorruptedData.
  Decompressor dec;
  std::vector<std::byte> out;
  std::vector<std::byte> in = compressible(100);
  EXPECT_THAT(dec.decompress(static_cast<ChunkCodec>(7), in, in.size(), out),
              HasError(ErrorCode::kCorruptedData));
}

TEST(Codec, DecompressRejectsOversizeDeclaredLength) {
  // A raw_len above kMaxChunkSize is kCorruptedData before anything is allocated.
  Decompressor dec;
  std::vector<std::byte> out;
  std::vector<std::byte> in = compressible(1000);
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, in, kMaxChunkSize + 1, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kRaw, in, kMaxChunkSize + 1, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, in, SIZE_MAX, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_LT(out.capacity(), kMaxChunkSize);
}

TEST(Codec, DecompressRejectsAFrameDeclaringMoreThanTheLimit) {
  // A zstd frame declaring 17 MiB (over kMaxChunkSize) is kCorruptedData.
  std::vector<std::byte> in((17 << 20), std::byte{0});
  std::vector<std::byte> frame(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(frame.data(), frame.size(), in.data(), in.size(), 1);
  ASSERT_FALSE(ZSTD_isError(n));
  frame.resize(n);
  Decompressor dec;
  std::vector<std::byte> out;
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, frame, in.size(), out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(dec.decompress(ChunkCodec::kZstd, frame, kMaxChunkSize, out),
              HasError(ErrorCode::kCorruptedData));
}

}  // namespace
}  // namespace rwd::store
