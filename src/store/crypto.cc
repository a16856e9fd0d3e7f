// SPDX-License-Identifier: Apache-2.0
#include "store/crypto.h"

#include <sodium.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

namespace rwd::store {

namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "rwrepo01";
constexpr std::string_view kTextPrefix = "rw1:";

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; it fails only without a
  // random source, where nothing below could work.
  static const int rc = sodium_init();
  if (rc < 0) std::abort();
}

const unsigned char* uc(const void* p) { return static_cast<const unsigned char*>(p); }
unsigned char* uc(void* p) { return static_cast<unsigned char*>(p); }

Result<std::vector<uint8_t>> hex_decode(std::string_view hex, std::string_view what) {
  std::vector<uint8_t> out(hex.size() / 2);
  size_t len = 0;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size())
    return fail(Error::corrupted_data("{}: not hexadecimal", what));
  return out;
}

}  // namespace

KdfParams default_kdf_params() {
  const char* weak = std::getenv("REWIND_INSECURE_TEST_KDF");
  if (weak && std::string_view(weak) == "1")
    return KdfParams{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
  return KdfParams{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

std::vector<uint8_t> random_bytes(size_t n) {
  ensure_sodium();
  std::vector<uint8_t> b(n);
  randombytes_buf(b.data(), n);
  return b;
}

Key random_key() {
  ensure_sodium();
  Key k;
  randombytes_buf(k.data(), k.size());
  return k;
}

Result<KeyFile> wrap_master_key(const Key& master, std::string_view passphrase,
                                std::string_view repo_id, const KdfParams& kdf) {
  ensure_sodium();
  KeyFile f;
  f.kdf = kdf;
  randombytes_buf(f.salt.data(), f.salt.size());
  f.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  Key kek;
  if (crypto_pwhash(kek.data(), kek.size(), passphrase.data(), passphrase.size(), f.salt.data(),
                    kdf.opslimit, kdf.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail(Error::no_space("Argon2id needs {} bytes of memory, which are not available",
                                kdf.memlimit));
  f.wrapped.resize(kNonceSize + master.size() + kTagSize);
  randombytes_buf(f.wrapped.data(), kNonceSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt(f.wrapped.data() + kNonceSize, nullptr, master.data(),
                                             master.size(), uc(repo_id.data()), repo_id.size(),
                                             nullptr, f.wrapped.data(), kek.data());
  sodium_memzero(kek.data(), kek.size());
  return f;
}

Result<Key> unwrap_master_key(const KeyFile& f, std::string_view passphrase,
                              std::string_view repo_id) {
  ensure_sodium();
  if (f.wrapped.size() != kNonceSize + kKeySize + kTagSize)
    return fail(Error::corrupted_data("key file: wrapped key has {} bytes", f.wrapped.size()));
  // Bounds against a hostile key file that asks for absurd work.
  if (f.kdf.opslimit < crypto_pwhash_OPSLIMIT_MIN || f.kdf.opslimit > 64 ||
      f.kdf.memlimit < crypto_pwhash_MEMLIMIT_MIN || f.kdf.memlimit > (4ull << 30))
    return fail(Error::corrupted_data("key file: Argon2id limits out of range"));
  Key kek;
  if (crypto_pwhash(kek.data(), kek.size(), passphrase.data(), passphrase.size(), f.salt.data(),
                    f.kdf.opslimit, f.kdf.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail(Error::no_space("Argon2id needs {} bytes of memory, which are not available",
                                f.kdf.memlimit));
  Key master;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      master.data(), nullptr, nullptr, f.wrapped.data() + kNonceSize, f.wrapped.size() - kNonceSize,
      uc(repo_id.data()), repo_id.size(), f.wrapped.data(), kek.data());
  sodium_memzero(kek.data(), kek.size());
  if (rc != 0) return fail(Error::wrong_key("the passphrase does not open this key"));
  return master;
}

std::string key_file_to_json(const KeyFile& f) {
  nlohmann::json j{{"version", 1},
                   {"kdf", "argon2id"},
                   {"opslimit", f.kdf.opslimit},
                   {"memlimit", f.kdf.memlimit},
                   {"salt", hex_encode(f.salt)},
                   {"key", hex_encode(f.wrapped)},
                   {"created_ns", f.created_ns}};
  return j.dump(2) + "\n";
}

Result<KeyFile> key_file_from_json(std::string_view text, std::string_view name) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return fail(Error::corrupted_data("key file {}: not JSON", name));
  KeyFile f;
  try {
    if (j.at("version").get<int>() != 1 || j.at("kdf").get<std::string>() != "argon2id")
      return fail(Error::corrupted_data("key file {}: unknown version or KDF", name));
    f.kdf.opslimit = j.at("opslimit").get<uint64_t>();
    f.kdf.memlimit = j.at("memlimit").get<uint64_t>();
    f.created_ns = j.at("created_ns").get<int64_t>();
    REWIND_ASSIGN_OR_RETURN(auto salt,
                            hex_decode(j.at("salt").get<std::string>(), "key file salt"));
    if (salt.size() != f.salt.size())
      return fail(Error::corrupted_data("key file {}: salt has {} bytes", name, salt.size()));
    std::memcpy(f.salt.data(), salt.data(), salt.size());
    REWIND_ASSIGN_OR_RETURN(f.wrapped, hex_decode(j.at("key").get<std::string>(), "key file key"));
  } catch (const std::exception& e) {
    return fail(Error::corrupted_data("key file {}: {}", name, e.what()));
  }
  return f;
}

// ---------------------------------------------------------------- data key

namespace {

// "RWDKEY01" || repository id || u64 LE generation.
std::string data_key_ad(std::string_view repo_id, uint64_t generation) {
  std::string ad = "RWDKEY01";
  ad += repo_id;
  for (int i = 0; i < 8; ++i) ad += static_cast<char>((generation >> (8 * i)) & 0xff);
  return ad;
}

Key data_key_wrapping_key(const Key& master) {
  Key k;
  crypto_kdf_derive_from_key(k.data(), k.size(), RepoKeys::kDataKey, kKdfContext, master.data());
  return k;
}

}  // namespace

std::string seal_data_key(const Key& master, const Key& data_key, uint64_t generation,
                          std::string_view repo_id) {
  ensure_sodium();
  Key wk = data_key_wrapping_key(master);
  std::string ad = data_key_ad(repo_id, generation);
  std::vector<uint8_t> sealed(kNonceSize + kKeySize + kTagSize);
  randombytes_buf(sealed.data(), kNonceSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data() + kNonceSize, nullptr, data_key.data(),
                                             data_key.size(), uc(ad.data()), ad.size(), nullptr,
                                             sealed.data(), wk.data());
  sodium_memzero(wk.data(), wk.size());
  nlohmann::json j{{"version", 1},
                   {"generation", generation},
                   {"key", hex_encode(sealed)},
                   {"created_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count()}};
  return j.dump(2) + "\n";
}

Result<Key> open_data_key(const Key& master, std::string_view text, uint64_t generation,
                          std::string_view repo_id, std::string_view name) {
  ensure_sodium();
  auto bad = [&](std::string_view why) {
    return fail(Error::corrupted_data("data key file {}: {}", name, why));
  };
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return bad("not JSON");
  std::vector<uint8_t> sealed;
  try {
    if (j.at("version").get<int>() != 1) return bad("unknown version");
    if (j.at("generation").get<uint64_t>() != generation)
      return bad("its generation does not match its name");
    REWIND_ASSIGN_OR_RETURN(sealed, hex_decode(j.at("key").get<std::string>(), "data key"));
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  if (sealed.size() != kNonceSize + kKeySize + kTagSize)
    return bad(fmt::format("sealed key has {} bytes", sealed.size()));
  Key wk = data_key_wrapping_key(master);
  std::string ad = data_key_ad(repo_id, generation);
  Key data;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      data.data(), nullptr, nullptr, sealed.data() + kNonceSize, sealed.size() - kNonceSize,
      uc(ad.data()), ad.size(), sealed.data(), wk.data());
  sodium_memzero(wk.data(), wk.size());
  if (rc != 0) return bad("authentication failed (damaged, or not this repository's)");
  return data;
}

// ---------------------------------------------------------------- RepoKeys

RepoKeys::RepoKeys(const Key& master, const Key* data_key) {
  ensure_sodium();
  for (uint64_t i = 1; i < subkeys_.size(); ++i) {
    const Key& from = data_key && (i == kChunkData || i == kChunkName) ? *data_key : master;
    crypto_kdf_derive_from_key(subkeys_[i].data(), kKeySize, i, kKdfContext, from.data());
  }
}

RepoKeys::~RepoKeys() { sodium_memzero(subkeys_.data(), sizeof(subkeys_)); }

const Key& RepoKeys::subkey(Subkey which) const { return subkeys_[which]; }

ChunkId RepoKeys::chunk_id(uint8_t type, std::span<const std::byte> data) const {
  crypto_generichash_state st;
  const Key& k = subkeys_[kChunkName];
  crypto_generichash_init(&st, k.data(), k.size(), 32);
  crypto_generichash_update(&st, &type, 1);
  crypto_generichash_update(&st, uc(data.data()), data.size());
  ChunkId id;
  crypto_generichash_final(&st, id.bytes.data(), 32);
  return id;
}

namespace {

std::array<unsigned char, 33> chunk_ad(const ChunkId& id, uint8_t type) {
  std::array<unsigned char, 33> ad;
  std::memcpy(ad.data(), id.bytes.data(), 32);
  ad[32] = type;
  return ad;
}

}  // namespace

void RepoKeys::seal_chunk(const ChunkId& id, uint8_t type, std::span<const std::byte> plain,
                          std::vector<std::byte>& out) const {
  out.resize(kSealOverhead + plain.size());
  randombytes_buf(out.data(), kNonceSize);
  auto ad = chunk_ad(id, type);
  crypto_aead_xchacha20poly1305_ietf_encrypt(uc(out.data() + kNonceSize), nullptr, uc(plain.data()),
                                             plain.size(), ad.data(), ad.size(), nullptr,
                                             uc(out.data()), subkeys_[kChunkData].data());
}

Status RepoKeys::open_chunk(const ChunkId& id, uint8_t type, std::span<const std::byte> sealed,
                            std::vector<std::byte>& out) const {
  if (sealed.size() < kSealOverhead)
    return fail(Error::corrupted_data("sealed chunk is too short"));
  out.resize(sealed.size() - kSealOverhead);
  auto ad = chunk_ad(id, type);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          uc(out.data()), nullptr, nullptr, uc(sealed.data() + kNonceSize),
          sealed.size() - kNonceSize, ad.data(), ad.size(), uc(sealed.data()),
          subkeys_[kChunkData].data()) != 0)
    return fail(Error::corrupted_data("authentication failed (modified or foreign data)"));
  return ok();
}

std::vector<std::byte> RepoKeys::seal_record(std::string_view plain, std::string_view ad) const {
  std::vector<std::byte> out(kSealOverhead + plain.size());
  randombytes_buf(out.data(), kNonceSize);
  crypto_aead_xchacha20poly1305_ietf_encrypt(uc(out.data() + kNonceSize), nullptr, uc(plain.data()),
                                             plain.size(), uc(ad.data()), ad.size(), nullptr,
                                             uc(out.data()), subkeys_[kRootRecord].data());
  return out;
}

Result<std::string> RepoKeys::open_record(std::span<const std::byte> sealed,
                                          std::string_view ad) const {
  if (sealed.size() < kSealOverhead) return fail(Error::corrupted_data("too short"));
  std::string out(sealed.size() - kSealOverhead, '\0');
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          uc(out.data()), nullptr, nullptr, uc(sealed.data() + kNonceSize),
          sealed.size() - kNonceSize, uc(ad.data()), ad.size(), uc(sealed.data()),
          subkeys_[kRootRecord].data()) != 0)
    return fail(Error::corrupted_data("authentication failed"));
  return out;
}

std::string RepoKeys::seal_text(std::string_view plain) const {
  std::vector<unsigned char> buf(kSealOverhead + plain.size());
  const Key& nk = subkeys_[kTextNonce];
  crypto_generichash(buf.data(), kNonceSize, uc(plain.data()), plain.size(), nk.data(), nk.size());
  crypto_aead_xchacha20poly1305_ietf_encrypt(buf.data() + kNonceSize, nullptr, uc(plain.data()),
                                             plain.size(), nullptr, 0, nullptr, buf.data(),
                                             subkeys_[kText].data());
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(buf.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), buf.data(), buf.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return std::string(kTextPrefix) + out;
}

Result<std::string> RepoKeys::open_text(std::string_view sealed) const {
  auto bad = [] { return fail(Error::corrupted_data("catalog: a sealed value does not open")); };
  if (!sealed.starts_with(kTextPrefix)) return bad();
  sealed.remove_prefix(kTextPrefix.size());
  std::vector<unsigned char> buf(sealed.size());
  size_t len = 0;
  if (sodium_base642bin(buf.data(), buf.size(), sealed.data(), sealed.size(), nullptr, &len,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len < kSealOverhead)
    return bad();
  std::string out(len - kSealOverhead, '\0');
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(uc(out.data()), nullptr, nullptr,
                                                 buf.data() + kNonceSize, len - kNonceSize, nullptr,
                                                 0, buf.data(), subkeys_[kText].data()) != 0)
    return bad();
  return out;
}

}  // namespace rwd::store
