// SPDX-License-Identifier: Apache-2.0
// Repository encryption (doc/format.md "Encryption"): the master key, the
// passphrase-wrapped key files that hold it, the keys derived from it for
// root records, the catalog's sealed columns and the audit log, and the
// per-repository data key (sealed under the master key) from which the
// chunk keys derive, so that `prune --shred` can forget it.
// All of it is libsodium: Argon2id (crypto_pwhash), XChaCha20-Poly1305-IETF,
// BLAKE2b (crypto_generichash, crypto_kdf).
//
// Thread-safety: a RepoKeys is immutable after derive() and safe to share.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "rewind/result.h"
#include "store/hash.h"

namespace rwd::store {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 24;
inline constexpr size_t kTagSize = 16;
// nonce before, tag after the ciphertext.
inline constexpr size_t kSealOverhead = kNonceSize + kTagSize;

using Key = std::array<uint8_t, kKeySize>;

// Argon2id cost, recorded in each key file.
struct KdfParams {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;  // bytes
};

// libsodium's "interactive" limits (2 passes, 64 MiB), or its minimum (1
// pass, 8 KiB) when REWIND_INSECURE_TEST_KDF=1 is set: for tests only, so
// that each test repository does not cost a 64 MiB hash.
KdfParams default_kdf_params();

// A fresh random key.
Key random_key();
std::vector<uint8_t> random_bytes(size_t n);

// What a key file holds (doc/format.md "Key files").
struct KeyFile {
  KdfParams kdf;
  std::array<uint8_t, 16> salt{};
  std::vector<uint8_t> wrapped;  // nonce || XChaCha20-Poly1305(master key) || tag
  int64_t created_ns = 0;
};

// Wraps `master` under `passphrase` (a fresh salt and nonce). The AD is the
// repository id, so a key file cannot be moved to another repository.
Result<KeyFile> wrap_master_key(const Key& master, std::string_view passphrase,
                                std::string_view repo_id, const KdfParams& kdf);
// The master key, or kWrongKey when the passphrase does not open this file.
Result<Key> unwrap_master_key(const KeyFile& file, std::string_view passphrase,
                              std::string_view repo_id);
std::string key_file_to_json(const KeyFile& f);
Result<KeyFile> key_file_from_json(std::string_view text, std::string_view name);

// The data key file of generation `generation` (doc/format.md "Data key"):
// `data_key` sealed under the master key's subkey 7, the repository id and
// the generation in the AD, so that a file cannot be moved to another
// repository or renamed to another generation.
std::string seal_data_key(const Key& master, const Key& data_key, uint64_t generation,
                          std::string_view repo_id);
// kCorruptedData when the file does not open (damaged, or not this
// repository's or this generation's).
Result<Key> open_data_key(const Key& master, std::string_view text, uint64_t generation,
                          std::string_view repo_id, std::string_view name);

// The keys of an encrypted repository, derived with
// crypto_kdf_derive_from_key (context "rwrepo01"), one subkey per purpose:
// the chunk keys from the data key when there is one (generation 1 on), the
// rest (and, in repositories made before data keys, the chunk keys too)
// from the master key.
class RepoKeys final : public catalog::TextSealer {
 public:
  enum Subkey : uint64_t {
    kChunkData = 1,   // seals chunks
    kChunkName = 2,   // keys chunk names (BLAKE2b)
    kRootRecord = 3,  // seals root records
    kText = 4,        // seals catalog text (see seal_text)
    kTextNonce = 5,   // derives the synthetic nonces of sealed text
    kAudit = 6,       // for the audit log's MAC chain
    kDataKey = 7,     // seals the data key file (seal_data_key)
  };
  // `data_key` null: generation 0, chunk keys from the master key.
  explicit RepoKeys(const Key& master, const Key* data_key = nullptr);
  ~RepoKeys() override;
  RepoKeys(const RepoKeys&) = delete;
  RepoKeys& operator=(const RepoKeys&) = delete;

  const Key& subkey(Subkey which) const;

  // BLAKE2b-256 keyed with the chunk-name key over the type byte and the
  // plaintext: equal content has equal names inside one repository only.
  ChunkId chunk_id(uint8_t type, std::span<const std::byte> data) const;

  // nonce || ciphertext || tag of a chunk's stored bytes (compressed or
  // raw); AD = chunk id || type.
  void seal_chunk(const ChunkId& id, uint8_t type, std::span<const std::byte> plain,
                  std::vector<std::byte>& out) const;
  // kCorruptedData when the bytes were changed (or belong to another id).
  Status open_chunk(const ChunkId& id, uint8_t type, std::span<const std::byte> sealed,
                    std::vector<std::byte>& out) const;

  // Random-nonce sealing of a root record's JSON; AD = `ad`.
  std::vector<std::byte> seal_record(std::string_view plain, std::string_view ad) const;
  Result<std::string> open_record(std::span<const std::byte> sealed, std::string_view ad) const;

  // "rw1:" + base64(nonce || ciphertext || tag), deterministic: the nonce is
  // a keyed BLAKE2b of the plaintext (a synthetic IV), so equal text seals
  // equally and catalog keys built on sealed columns still work.
  std::string seal_text(std::string_view plain) const override;
  // kCorruptedData when the text is not sealed by this repository's key.
  Result<std::string> open_text(std::string_view sealed) const override;

 private:
  std::array<Key, 8> subkeys_{};
};

}  // namespace rwd::store
