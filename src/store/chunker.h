// SPDX-License-Identifier: Apache-2.0
// Content-defined chunking (FastCDC with normalized chunking and a gear hash).
// Cut points depend only on the bytes, so an insertion shifts at most the
// chunk it falls in. Data shorter than min_size is one chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace rwd::store {

struct ChunkerParams {
  size_t min_size = 64 * 1024;
  size_t avg_size = 256 * 1024;  // power of two
  size_t max_size = 1024 * 1024;
};

class Chunker {
 public:
  explicit Chunker(ChunkerParams params = {});
  // Returns the length of the first chunk of `data`. When `data` is shorter
  // than max_size and more input follows (eof == false), returns 0 if no cut
  // point was found: the caller must supply more bytes.
  size_t next_cut(std::span<const std::byte> data, bool eof) const;
  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // stricter mask, used before avg_size
  uint64_t mask_large_;  // looser mask, used after avg_size
};

}  // namespace rwd::store
