// SPDX-License-Identifier: Apache-2.0
#include "store/chunker.h"

#include <array>
#include <bit>

namespace rwd::store {

namespace {

// The gear table: 256 pseudo-random words from splitmix64 with a fixed seed.
// Changing it changes every cut point, so it is part of the repository format.
constexpr std::array<uint64_t, 256> make_gear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x7265776964ULL;  // "rewind"
  for (auto& v : g) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    v = z ^ (z >> 31);
  }
  return g;
}
constexpr std::array<uint64_t, 256> kGear = make_gear();

// A mask of `bits` ones in the top bits: the gear hash's high bits depend on
// the last 64 bytes, which makes them the window.
constexpr uint64_t top_mask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }

}  // namespace

Chunker::Chunker(ChunkerParams params) : params_(params) {
  int bits = std::bit_width(params_.avg_size) - 1;
  mask_small_ = top_mask(bits + 2);
  mask_large_ = top_mask(bits - 2);
}

size_t Chunker::next_cut(std::span<const std::byte> data, bool eof) const {
  const size_t n = data.size();
  if (n <= params_.min_size) return eof ? n : (n == params_.max_size ? n : 0);
  const size_t limit = n < params_.max_size ? n : params_.max_size;
  const size_t normal = params_.avg_size < limit ? params_.avg_size : limit;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  uint64_t fp = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    fp = (fp << 1) + kGear[p[i]];
    if ((fp & mask_large_) == 0) return i + 1;
  }
  if (limit == params_.max_size) return limit;
  return eof ? n : 0;
}

}  // namespace rwd::store
