// SPDX-License-Identifier: Apache-2.0
#include "store/crypto.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/durable.h"
#include "support/test_support.h"

namespace rwd::store {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;

const KdfParams kCheap{1, 8192};  // libsodium's minimum: tests only

std::vector<std::byte> bytes_of(std::string_view s) {
  auto b = io::as_bytes(s);
  return {b.begin(), b.end()};
}

TEST(RepoKeys, SealedChunkOpensOnlyUnchangedAndUnderItsName) {
  // A sealed chunk opens to its bytes; a flipped byte, another name or
  // another type is kCorruptedData.
  RepoKeys keys(random_key());
  auto plain = bytes_of("chunk bytes");
  ChunkId id = keys.chunk_id(1, plain);
  std::vector<std::byte> sealed, out;
  keys.seal_chunk(id, 1, plain, sealed);
  ASSERT_EQ(sealed.size(), plain.size() + kSealOverhead);
  EXPECT_THAT(keys.open_chunk(id, 1, sealed, out), IsOk());
  EXPECT_EQ(out, plain);
  EXPECT_THAT(keys.open_chunk(id, 2, sealed, out), HasError(ErrorCode::kCorruptedData));
  ChunkId other = keys.chunk_id(1, bytes_of("other"));
  EXPECT_THAT(keys.open_chunk(other, 1, sealed, out), HasError(ErrorCode::kCorruptedData));
  sealed[kNonceSize + 3] ^= std::byte{1};
  EXPECT_THAT(keys.open_chunk(id, 1, sealed, out), HasError(ErrorCode::kCorruptedData));
}

TEST(RepoKeys, ChunkNamesDependOnKeyAndType) {
  // Keyed names: unlike SHA-256, another master key or another type gives
  // another name for the same bytes.
  RepoKeys a(random_key()), b(random_key());
  auto data = bytes_of("same bytes");
  EXPECT_EQ(a.chunk_id(1, data), a.chunk_id(1, data));
  EXPECT_NE(a.chunk_id(1, data), b.chunk_id(1, data));
  EXPECT_NE(a.chunk_id(1, data), a.chunk_id(2, data));
  EXPECT_NE(a.chunk_id(1, data), sha256(data));
}

TEST(RepoKeys, ChunkKeysFollowTheDataKeyAndTheRestTheMasterKey) {
  // With a data key, chunk keys (and so chunk names) change with it; the
  // keys of what outlives the points (root records, catalog text, audit)
  // stay those of the master key.
  Key master = random_key(), d1 = random_key(), d2 = random_key();
  RepoKeys g0(master), g1(master, &d1), g2(master, &d2);
  auto data = bytes_of("same bytes");
  EXPECT_NE(g1.chunk_id(1, data), g0.chunk_id(1, data));
  EXPECT_NE(g1.chunk_id(1, data), g2.chunk_id(1, data));
  EXPECT_NE(g1.subkey(RepoKeys::kChunkData), g2.subkey(RepoKeys::kChunkData));
  for (auto k : {RepoKeys::kRootRecord, RepoKeys::kText, RepoKeys::kTextNonce, RepoKeys::kAudit,
                 RepoKeys::kDataKey}) {
    EXPECT_EQ(g1.subkey(k), g0.subkey(k)) << k;
    EXPECT_EQ(g2.subkey(k), g0.subkey(k)) << k;
  }
  std::vector<std::byte> sealed, out;
  ChunkId id = g1.chunk_id(1, data);
  g1.seal_chunk(id, 1, data, sealed);
  EXPECT_THAT(g1.open_chunk(id, 1, sealed, out), IsOk());
  EXPECT_THAT(g2.open_chunk(id, 1, sealed, out), HasError(ErrorCode::kCorruptedData));
}

TEST(DataKey, OpensOnlyUnderItsMasterKeyRepositoryAndGeneration) {
  // The data key file opens to its key; another master key, repository id
  // or generation (a file renamed to another generation), or a changed
  // byte, is kCorruptedData.
  Key master = random_key(), data = random_key();
  const std::string id(32, 'a');
  std::string text = seal_data_key(master, data, 3, id);
  auto opened = open_data_key(master, text, 3, id, "data-3");
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, data);
  EXPECT_THAT(open_data_key(random_key(), text, 3, id, "data-3"),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(open_data_key(master, text, 3, std::string(32, 'b'), "data-3"),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(open_data_key(master, text, 4, id, "data-4"), HasError(ErrorCode::kCorruptedData));
  std::string changed = text;
  size_t at = changed.find("\"key\": \"") + 12;
  changed[at] = changed[at] == '0' ? '1' : '0';
  EXPECT_THAT(open_data_key(master, changed, 3, id, "data-3"), HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(open_data_key(master, "not json", 3, id, "data-3"),
              HasError(ErrorCode::kCorruptedData));
}

TEST(RepoKeys, SealedTextIsDeterministicAndHidesItsText) {
  // Equal text seals equally (catalog keys keep working), holds none of its
  // plaintext, and opens back; other text or a foreign key does not open.
  RepoKeys keys(random_key()), other(random_key());
  std::string s1 = keys.seal_text("/etc/secret/path");
  EXPECT_EQ(s1, keys.seal_text("/etc/secret/path"));
  EXPECT_NE(s1, keys.seal_text("/etc/secret/patH"));
  EXPECT_EQ(s1.find("secret"), std::string::npos);
  EXPECT_TRUE(s1.starts_with("rw1:"));
  auto back = keys.open_text(s1);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, "/etc/secret/path");
  EXPECT_THAT(other.open_text(s1), HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(keys.open_text("/etc/plain"), HasError(ErrorCode::kCorruptedData));
  auto empty = keys.open_text(keys.seal_text(""));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(*empty, "");
}

TEST(MasterKey, WrapsUnderAPassphraseAndRepositoryId) {
  // The right passphrase unwraps the master key; a wrong one, or the key
  // file moved to another repository, is kWrongKey; the JSON form
  // round-trips.
  Key master = random_key();
  auto kf = wrap_master_key(master, "pass phrase", "repo-a", kCheap);
  ASSERT_TRUE(kf.has_value());
  auto parsed = key_file_from_json(key_file_to_json(*kf), "k.key");
  ASSERT_TRUE(parsed.has_value());
  auto got = unwrap_master_key(*parsed, "pass phrase", "repo-a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, master);
  EXPECT_THAT(unwrap_master_key(*parsed, "pass phrasE", "repo-a"), HasError(ErrorCode::kWrongKey));
  EXPECT_THAT(unwrap_master_key(*parsed, "pass phrase", "repo-b"), HasError(ErrorCode::kWrongKey));
  EXPECT_THAT(key_file_from_json("{\"version\": 1}", "k.key"), HasError(ErrorCode::kCorruptedData));
}

}  // namespace
}  // namespace rwd::store
