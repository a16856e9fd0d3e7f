// SPDX-License-Identifier: Apache-2.0
#include "store/chunker.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rwd::store {
namespace {

using ::rwd::testing::random_bytes;

// Small parameters, so that properties run on inputs of a few KiB.
constexpr ChunkerParams kSmall{.min_size = 64, .avg_size = 256, .max_size = 1024};

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Cuts all of `data` (known in full, so eof is true) into chunk lengths.
std::vector<size_t> cut_all(const Chunker& c, std::span<const std::byte> data) {
  std::vector<size_t> lengths;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = c.next_cut(data.subspan(pos), true);
    if (n == 0 || n > data.size() - pos) {
      ADD_FAILURE() << "next_cut returned " << n << " at " << pos << " of " << data.size();
      break;
    }
    lengths.push_back(n);
    pos += n;
  }
  return lengths;
}

// Cuts `data` the way a reader of a stream does: the buffer grows by `block`
// bytes at a time and next_cut is asked with eof == false until the end.
std::vector<size_t> cut_streaming(const Chunker& c, std::span<const std::byte> data, size_t block) {
  std::vector<size_t> lengths;
  size_t start = 0;      // first byte not yet in a chunk
  size_t available = 0;  // bytes read so far
  while (start < data.size()) {
    bool eof = available == data.size();
    size_t n = c.next_cut(data.subspan(start, available - start), eof);
    if (n == 0) {
      if (eof) {
        ADD_FAILURE() << "next_cut returned 0 at end of input";
        break;
      }
      available = std::min(data.size(), available + block);
      continue;
    }
    lengths.push_back(n);
    start += n;
  }
  return lengths;
}

// The chunks' contents, in order.
std::vector<std::string> chunk_strings(const std::string& data,
                                       const std::vector<size_t>& lengths) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t n : lengths) {
    out.push_back(data.substr(pos, n));
    pos += n;
  }
  return out;
}

size_t total(const std::vector<size_t>& lengths) {
  size_t sum = 0;
  for (size_t n : lengths) sum += n;
  return sum;
}

void expect_sizes_within_bounds(const std::vector<size_t>& lengths, const ChunkerParams& p) {
  for (size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_LE(lengths[i], p.max_size) << "chunk " << i;
    if (i + 1 < lengths.size()) {
      EXPECT_GE(lengths[i], p.min_size) << "chunk " << i;
    }
  }
}

TEST(Chunker, SameInputGivesSameCuts) {
  // Two chunkers cut 4 MiB of random data (seed 1) at the same places.
  std::string data = random_bytes(4 << 20, 1);
  std::vector<size_t> a = cut_all(Chunker(), bytes_of(data));
  std::vector<size_t> b = cut_all(Chunker(), bytes_of(data));
  EXPECT_EQ(a, b);
  EXPECT_GT(a.size(), 1u);
}

TEST(Chunker, ChunksCoverTheInputExactly) {
  // The positive chunk lengths of 5 MiB + 123 random bytes add up to the input's length.
  std::string data = random_bytes((5 << 20) + 123, 2);
  std::vector<size_t> lengths = cut_all(Chunker(), bytes_of(data));
  EXPECT_EQ(total(lengths), data.size());
  for (size_t n : lengths) EXPECT_GT(n, 0u);
}

TEST(Chunker, ChunkSizesStayWithinMinAndMaxExceptTheLast) {
  // Chunks of 8 MiB random data lie in [min_size, max_size]; only the last may be shorter.
  std::string data = random_bytes(8 << 20, 3);
  ChunkerParams p;
  std::vector<size_t> lengths = cut_all(Chunker(p), bytes_of(data));
  ASSERT_GT(lengths.size(), 2u);
  expect_sizes_within_bounds(lengths, p);
}

TEST(Chunker, UniformDataIsCutAtMaxSizeAtTheLatest) {
  // 3 MiB of zeros (maybe no cut point at all) gives chunks within max_size covering the input.
  std::string data(3 << 20, '\0');
  ChunkerParams p;
  std::vector<size_t> lengths = cut_all(Chunker(p), bytes_of(data));
  EXPECT_EQ(total(lengths), data.size());
  expect_sizes_within_bounds(lengths, p);
}

TEST(Chunker, CustomParametersAreRespected) {
  // With min 64/avg 256/max 1024, 1 MiB random data has chunks in bounds, averaging 128..512.
  std::string data = random_bytes(1 << 20, 4);
  std::vector<size_t> lengths = cut_all(Chunker(kSmall), bytes_of(data));
  EXPECT_EQ(total(lengths), data.size());
  expect_sizes_within_bounds(lengths, kSmall);
  double mean = static_cast<double>(data.size()) / static_cast<double>(lengths.size());
  EXPECT_GT(mean, kSmall.avg_size / 2.0);
  EXPECT_LT(mean, kSmall.avg_size * 2.0);
}

TEST(Chunker, DataShorterThanMinSizeIsOneChunk) {
  // At eof, inputs of 0, 1, min_size - 1 and min_size bytes are each one whole chunk.
  ChunkerParams p;
  Chunker c(p);
  for (size_t n : {size_t{0}, size_t{1}, p.min_size - 1, p.min_size}) {
    std::string data = random_bytes(n, 5);
    EXPECT_EQ(c.next_cut(bytes_of(data), true), n) << "length " << n;
    if (n > 0) {
      EXPECT_EQ(cut_all(c, bytes_of(data)), std::vector<size_t>{n});
    }
  }
}

TEST(Chunker, AsksForMoreInputOnlyWhileTheBufferIsShorterThanMaxSize) {
  // Before eof, min_size bytes ask for more (0); max_size bytes always cut, as at eof.
  ChunkerParams p;
  Chunker c(p);
  std::string small = random_bytes(p.min_size, 6);
  EXPECT_EQ(c.next_cut(bytes_of(small), false), 0u);
  for (uint64_t seed = 10; seed < 20; ++seed) {
    std::string full = random_bytes(p.max_size, seed);
    size_t cut = c.next_cut(bytes_of(full), false);
    EXPECT_GT(cut, p.min_size) << "seed " << seed;
    EXPECT_EQ(cut, c.next_cut(bytes_of(full), true)) << "seed " << seed;
  }
  std::string zeros(p.max_size, '\0');
  EXPECT_GT(c.next_cut(bytes_of(zeros), false), 0u);
}

TEST(Chunker, StreamingInBlocksCutsAtTheSamePlacesAsWholeInput) {
  // Feeding 3 MiB in 64 KiB blocks with eof == false cuts where chunking it whole does.
  std::string data = random_bytes(3 << 20, 7);
  Chunker c;
  EXPECT_EQ(cut_streaming(c, bytes_of(data), 64 << 10), cut_all(c, bytes_of(data)));
}

TEST(Chunker, InsertionAtFrontChangesOnlyFirstChunks) {
  // One byte inserted before 20 MiB of random data changes at most the first two chunks.
  std::string data = random_bytes(20 << 20, 8);
  std::string edited = "x" + data;
  Chunker c;
  std::vector<std::string> before = chunk_strings(data, cut_all(c, bytes_of(data)));
  std::vector<std::string> after = chunk_strings(edited, cut_all(c, bytes_of(edited)));
  ASSERT_GT(before.size(), 10u);
  size_t common = 0;
  while (common < before.size() && common < after.size() &&
         before[before.size() - 1 - common] == after[after.size() - 1 - common])
    ++common;
  EXPECT_LE(before.size() - common, 2u) << "of " << before.size() << " chunks";
  EXPECT_LE(after.size() - common, 2u) << "of " << after.size() << " chunks";
}

TEST(Chunker, ChangingOneByteInTheMiddleChangesOnlyNearbyChunks) {
  // One byte changed mid-way through 20 MiB changes at most two chunks; the rest are identical.
  std::string data = random_bytes(20 << 20, 9);
  std::string edited = data;
  edited[10 << 20] = static_cast<char>(edited[10 << 20] ^ 0x5a);
  Chunker c;
  std::vector<std::string> before = chunk_strings(data, cut_all(c, bytes_of(data)));
  std::vector<std::string> after = chunk_strings(edited, cut_all(c, bytes_of(edited)));
  size_t prefix = 0;
  while (prefix < before.size() && prefix < after.size() && before[prefix] == after[prefix])
    ++prefix;
  size_t suffix = 0;
  while (suffix < before.size() - prefix && suffix < after.size() - prefix &&
         before[before.size() - 1 - suffix] == after[after.size() - 1 - suffix])
    ++suffix;
  EXPECT_LE(before.size() - prefix - suffix, 2u) << "of " << before.size() << " chunks";
  EXPECT_LE(after.size() - prefix - suffix, 2u) << "of " << after.size() << " chunks";
}

RC_GTEST_PROP(Chunker, ChunkingIsDeterministicAndCoversTheInput, ()) {
  // Random data up to 20 KiB: cutting twice agrees, covers the input, keeps chunks in bounds.
  const auto size = *rc::gen::inRange<size_t>(0, 20 * 1024);
  const auto seed = *rc::gen::arbitrary<uint64_t>();
  std::string data = random_bytes(size, seed);
  Chunker c(kSmall);
  std::vector<size_t> a = cut_all(c, bytes_of(data));
  std::vector<size_t> b = cut_all(Chunker(kSmall), bytes_of(data));
  RC_ASSERT(a == b);
  RC_ASSERT(total(a) == size);
  for (size_t i = 0; i < a.size(); ++i) {
    RC_ASSERT(a[i] <= kSmall.max_size);
    if (i + 1 < a.size()) RC_ASSERT(a[i] >= kSmall.min_size);
  }
}

RC_GTEST_PROP(Chunker, ChunkingOfGeneratedBytesIsDeterministicAndCoversTheInput,
              (const std::vector<uint8_t>& raw)) {
  // Generated (repetitive) bytes: whole and streamed cuts agree, cover the input, stay in bounds.
  const auto repeat = *rc::gen::inRange(1, 17);
  std::string data;
  for (int i = 0; i < repeat; ++i) data.append(raw.begin(), raw.end());
  Chunker c(kSmall);
  std::vector<size_t> whole = cut_all(c, bytes_of(data));
  RC_ASSERT(whole == cut_streaming(c, bytes_of(data), 100));
  RC_ASSERT(total(whole) == data.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    RC_ASSERT(whole[i] <= kSmall.max_size);
    if (i + 1 < whole.size()) RC_ASSERT(whole[i] >= kSmall.min_size);
  }
}

}  // namespace
}  // namespace rwd::store
