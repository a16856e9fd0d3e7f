// SPDX-License-Identifier: Apache-2.0
#include "store/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace rwd::store {

namespace {
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
}  // namespace

std::string hex_encode(std::span<const uint8_t> data) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string ChunkId::to_hex() const { return hex_encode(bytes); }

bool ChunkId::is_zero() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

ChunkId ChunkId::from_bytes(std::span<const std::byte> raw) {
  ChunkId id;
  std::memcpy(id.bytes.data(), raw.data(), 32);
  return id;
}

Result<ChunkId> ChunkId::parse(std::string_view hex) {
  if (hex.size() != 64) return fail(Error::usage("not a chunk id: '{}'", hex));
  ChunkId id;
  for (size_t i = 0; i < 32; ++i) {
    auto nib = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(Error::usage("not a chunk id: '{}'", hex));
    id.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return id;
}

ChunkId sha256(std::span<const std::byte> data) {
  ChunkId id;
  unsigned int len = 32;
  EVP_Digest(data.data(), data.size(), id.bytes.data(), &len, sha256_md(), nullptr);
  return id;
}

ChunkId chunk_id(uint8_t type, std::span<const std::byte> data) {
  if (type == 1) return sha256(data);
  Sha256 h;
  const char tag[] = {'r', 'w', 'c', 'h', 'u', 'n', 'k', static_cast<char>(type)};
  h.update({reinterpret_cast<const std::byte*>(tag), sizeof(tag)});
  h.update(data);
  return h.finish();
}

std::array<uint8_t, 32> hmac_sha256(std::span<const uint8_t> key, std::span<const std::byte> data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), sha256_md(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(std::span<const std::byte> data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}
ChunkId Sha256::finish() {
  ChunkId id;
  unsigned int len = 32;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), id.bytes.data(), &len);
  return id;
}

void MultisetDigest::add(const ChunkId& item_hash) {
  for (size_t lane = 0; lane < sum_.size(); ++lane) {
    uint64_t v;
    std::memcpy(&v, item_hash.bytes.data() + lane * 8, sizeof v);
    sum_[lane] += v;
  }
}

std::string MultisetDigest::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint64_t v : sum_)
    for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(v >> shift) & 0xf];
  return out;
}

}  // namespace rwd::store
