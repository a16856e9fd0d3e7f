// SPDX-License-Identifier: Apache-2.0
// An encrypted repository read with libsodium alone, following
// doc/format.md ("Encryption", "Pack file") and nothing of rewind's code:
// the tests' independent check that the format is what the document says.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rwd::itest::sodium {

using Key = std::array<unsigned char, 32>;

// Little-endian reads, by hand.
inline uint32_t le32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}
inline uint64_t le64(const std::string& s, size_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, 8);
  return v;
}

inline std::vector<unsigned char> unhex(const std::string& h) {
  std::vector<unsigned char> out(h.size() / 2);
  size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), h.data(), h.size(), nullptr, &len, nullptr) != 0)
    return {};
  out.resize(len);
  return out;
}

// "Key files": the master key that `passphrase` unwraps from the key file
// `keyfile` of the repository whose config id is `repo_id`.
inline std::optional<Key> unwrap_master(const std::string& keyfile, const std::string& passphrase,
                                        const std::string& repo_id) {
  auto kf = nlohmann::json::parse(rwd::testing::read_file(keyfile));
  auto salt = unhex(kf["salt"]);
  auto wrapped = unhex(kf["key"]);
  if (salt.size() != crypto_pwhash_SALTBYTES || wrapped.size() != 24 + 32 + 16) return std::nullopt;
  Key kek, master;
  if (crypto_pwhash(kek.data(), 32, passphrase.data(), passphrase.size(), salt.data(),
                    kf["opslimit"].get<unsigned long long>(), kf["memlimit"].get<size_t>(),
                    crypto_pwhash_ALG_ARGON2ID13) != 0 ||
      crypto_aead_xchacha20poly1305_ietf_decrypt(
          master.data(), nullptr, nullptr, wrapped.data() + 24, wrapped.size() - 24,
          reinterpret_cast<const unsigned char*>(repo_id.data()), repo_id.size(), wrapped.data(),
          kek.data()) != 0)
    return std::nullopt;
  return master;
}

// "Subkeys": subkey(n) of `from` (the master key or the data key).
inline Key subkey(const Key& from, uint64_t n) {
  Key k;
  crypto_kdf_derive_from_key(k.data(), 32, n, "rwrepo01", from.data());
  return k;
}

// "Data key": the key that the text of a keys/data-N file holds.
inline std::optional<Key> open_data_key(const Key& master, const std::string& text,
                                        const std::string& repo_id) {
  auto j = nlohmann::json::parse(text);
  auto sealed = unhex(j["key"]);
  if (sealed.size() != 24 + 32 + 16) return std::nullopt;
  uint64_t generation = j["generation"];
  std::string ad = "RWDKEY01" + repo_id;
  for (int i = 0; i < 8; ++i) ad += static_cast<char>((generation >> (8 * i)) & 0xff);
  Key wrapping = subkey(master, 7), data;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(data.data(), nullptr, nullptr, sealed.data() + 24,
                                                 sealed.size() - 24,
                                                 reinterpret_cast<const unsigned char*>(ad.data()),
                                                 ad.size(), sealed.data(), wrapping.data()) != 0)
    return std::nullopt;
  return data;
}

// One blob of a pack, as its index describes it.
struct SealedChunk {
  std::string name;  // 32 bytes
  uint8_t type = 0;
  uint8_t codec = 0;
  uint32_t raw_len = 0;
  std::string sealed;  // the blob's data: nonce || ciphertext || tag
};

// "Pack file": the footer (count, index length, index hash, "RWPEND01"),
// the index (56-byte entries), blobs after 48-byte headers. Empty when the
// bytes are not a pack.
inline std::vector<SealedChunk> pack_chunks(const std::string& pack) {
  std::vector<SealedChunk> out;
  if (pack.size() < 8 + 48 || pack.substr(0, 8) != "RWPACK01" ||
      pack.substr(pack.size() - 8) != "RWPEND01")
    return out;
  uint32_t count = le32(pack, pack.size() - 48);
  size_t idx = pack.size() - 48 - size_t{56} * count;
  for (uint32_t i = 0; i < count; ++i) {
    size_t e = idx + size_t{56} * i;
    SealedChunk c;
    c.name = pack.substr(e, 32);
    c.type = static_cast<uint8_t>(pack[e + 32]);
    c.codec = static_cast<uint8_t>(pack[e + 33]);
    c.raw_len = le32(pack, e + 36);
    uint32_t stored_len = le32(pack, e + 40);
    c.sealed = pack.substr(le64(pack, e + 44) + 48, stored_len);
    out.push_back(std::move(c));
  }
  return out;
}

// "Chunks": the stored bytes (compressed or not, per the codec) that the
// blob opens to under `chunk_key` (subkey 1), AD = name || type; nullopt
// when it does not open.
inline std::optional<std::string> open_chunk(const Key& chunk_key, const SealedChunk& c) {
  if (c.sealed.size() < 24 + 16) return std::nullopt;
  unsigned char ad[33];
  std::memcpy(ad, c.name.data(), 32);
  ad[32] = c.type;
  std::string plain(c.sealed.size() - 24 - 16, '\0');
  const auto* blob = reinterpret_cast<const unsigned char*>(c.sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()),
                                                 nullptr, nullptr, blob + 24, c.sealed.size() - 24,
                                                 ad, sizeof(ad), blob, chunk_key.data()) != 0)
    return std::nullopt;
  return plain;
}

// "Chunks": BLAKE2b-256(key = subkey(2), u8 type || plaintext).
inline std::string chunk_name(const Key& name_key, uint8_t type, const std::string& plain) {
  crypto_generichash_state st;
  unsigned char out[32];
  crypto_generichash_init(&st, name_key.data(), 32, 32);
  crypto_generichash_update(&st, &type, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(plain.data()),
                            plain.size());
  crypto_generichash_final(&st, out, 32);
  return std::string(reinterpret_cast<const char*>(out), 32);
}

}  // namespace rwd::itest::sodium
