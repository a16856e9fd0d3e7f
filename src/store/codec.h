// SPDX-License-Identifier: Apache-2.0
// zstd compression of chunks. A chunk that does not shrink is stored raw.
// Decompression is capped at the declared size: repository data is untrusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rewind/result.h"

namespace rwd::store {

enum class ChunkCodec : uint8_t { kRaw = 0, kZstd = 1 };

// Largest chunk rewind writes or accepts, decompressed.
inline constexpr size_t kMaxChunkSize = 16 * 1024 * 1024;

class Compressor {
 public:
  explicit Compressor(int level);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  // Compresses `in` into `out` (replacing its contents). Returns kRaw (and
  // leaves `out` empty) when compression would not save at least 1/32.
  ChunkCodec compress(std::span<const std::byte> in, std::vector<std::byte>& out);

 private:
  void* cctx_;
  int level_;
};

class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;
  // Decodes exactly raw_len bytes into out; anything else is kCorruptedData.
  Status decompress(ChunkCodec codec, std::span<const std::byte> in, size_t raw_len,
                    std::vector<std::byte>& out);

 private:
  void* dctx_;
};

}  // namespace rwd::store
