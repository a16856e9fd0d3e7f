// SPDX-License-Identifier: Apache-2.0
// Chunk identifiers: SHA-256 of a chunk's plaintext (OpenSSL EVP, which uses
// the CPU's SHA extensions).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "rewind/result.h"

namespace rwd::store {

struct ChunkId {
  std::array<uint8_t, 32> bytes{};

  std::string to_hex() const;
  std::string short_hex() const { return to_hex().substr(0, 12); }
  static Result<ChunkId> parse(std::string_view hex);
  static ChunkId from_bytes(std::span<const std::byte> raw);  // REQUIRES raw.size() == 32
  bool is_zero() const;

  friend bool operator==(const ChunkId& a, const ChunkId& b) { return a.bytes == b.bytes; }
  friend auto operator<=>(const ChunkId& a, const ChunkId& b) { return a.bytes <=> b.bytes; }
};

struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof(h));
    return h;
  }
};

ChunkId sha256(std::span<const std::byte> data);

// The id of a chunk of a given type (store/pack.h's ChunkType as its integer):
// data chunks are named by the SHA-256 of their bytes; other types by the
// SHA-256 of a type tag and the bytes, so that equal bytes of different types
// are different chunks.
ChunkId chunk_id(uint8_t type, std::span<const std::byte> data);

// HMAC-SHA-256, for root records.
std::array<uint8_t, 32> hmac_sha256(std::span<const uint8_t> key, std::span<const std::byte> data);

// Incremental SHA-256 over many pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> data);
  ChunkId finish();

 private:
  void* ctx_;
};

std::string hex_encode(std::span<const uint8_t> data);

// An order-independent digest of a multiset of items (a table's rows): each
// item's SHA-256 is added lane by lane (four 64-bit lanes, mod 2^64), so the
// order the items come in does not matter and, unlike XOR, equal items do
// not cancel.
class MultisetDigest {
 public:
  void add(const ChunkId& item_hash);
  void add(std::span<const std::byte> item) { add(sha256(item)); }
  // The four lanes as 16 hex digits each.
  std::string hex() const;

 private:
  std::array<uint64_t, 4> sum_{};
};

}  // namespace rwd::store
