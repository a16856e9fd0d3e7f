// SPDX-License-Identifier: Apache-2.0
// A flipped byte inside a pack's chunk data: verify --read-data finds and
// names it, and no restore writes the damaged content anywhere.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/integration_helpers.h"
#include "io/fs.h"
#include "store/pack.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::write_file;

struct Damage {
  std::string pack_name;  // file stem: the pack's hash
  std::string chunk_hex;
};

// Flips one byte in the middle of the stored data of the largest data chunk
// of the largest pack.
Damage flip_byte_in_largest_pack(const std::string& repo) {
  Damage d;
  auto packs = itest::packs_by_size(repo);
  EXPECT_FALSE(packs.empty());
  if (packs.empty()) return d;
  const std::string path = packs.front();
  d.pack_name = std::filesystem::path(path).stem().string();
  int fd = ::open(path.c_str(), O_RDWR);
  EXPECT_GE(fd, 0) << path;
  auto entries = store::read_pack_index(io::posix_fs(), fd, d.pack_name);
  EXPECT_TRUE(entries.has_value()) << entries.error().message();
  if (!entries) return d;
  const store::PackEntry* best = nullptr;
  for (const auto& e : *entries)
    if (e.type == store::ChunkType::kData && (!best || e.stored_len > best->stored_len)) best = &e;
  EXPECT_NE(best, nullptr);
  if (!best) return d;
  d.chunk_hex = best->id.to_hex();
  off_t at = static_cast<off_t>(best->offset + store::kBlobHeaderSize + best->stored_len / 2);
  char c = 0;
  EXPECT_EQ(::pread(fd, &c, 1, at), 1);
  c = static_cast<char>(c ^ 0x5a);
  EXPECT_EQ(::pwrite(fd, &c, 1, at), 1);
  ::fsync(fd);
  ::close(fd);
  return d;
}

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sb.init().exit_code, 0);
    // One file large enough to fill the largest chunk; a small one beside it.
    write_file(sb.at("/data/f"), original);
    write_file(sb.at("/data/g"), "unaffected\n");
    ASSERT_EQ(sb.create({"/data"}), 1);
    damage = flip_byte_in_largest_pack(sb.repo);
    ASSERT_FALSE(damage.chunk_hex.empty());
  }
  Sandbox sb;
  const std::string original = testing::random_bytes(4 << 20, 99);
  Damage damage;
};

// verify --read-data on a pack with a flipped byte exits 13 and names the chunk and the pack.
TEST_F(Corruption, VerifyReadDataNamesChunkAndPack) {
  auto r = sb.rw({"verify", "--read-data"});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  std::string all = r.out + r.err;
  EXPECT_THAT(all, ::testing::HasSubstr(damage.chunk_hex));
  EXPECT_THAT(all, ::testing::HasSubstr(damage.pack_name));
  // The structural check alone does not read data and so still passes.
  auto s = sb.rw({"verify"});
  EXPECT_EQ(s.exit_code, 0) << describe(s);
}

// verify --read-data --json reports ok=false with the chunk named in "problems".
TEST_F(Corruption, VerifyJsonListsTheProblem) {
  auto r = sb.rw({"--json", "verify", "--read-data"});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["ok"], false);
  ASSERT_TRUE(j["problems"].is_array());
  ASSERT_FALSE(j["problems"].empty());
  EXPECT_THAT(j["problems"].dump(), ::testing::HasSubstr(damage.chunk_hex));
}

// Restoring an affected file into a new directory exits 13 and leaves no file there.
TEST_F(Corruption, RestoreToNewDirWritesNothingDamaged) {
  std::string out = sb.dir.sub("new");
  auto r = sb.rw({"restore", "1", "/data/f", "--to", out});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  EXPECT_FALSE(itest::exists_nofollow(out + "/data/f"));
  // No temporary left behind either.
  if (std::filesystem::exists(out + "/data"))
    for (const auto& e : std::filesystem::directory_iterator(out + "/data"))
      ADD_FAILURE() << "left: " << e.path();
  // An unaffected file of the same point still restores.
  std::string out2 = sb.dir.sub("new2");
  auto ok = sb.rw({"restore", "1", "/data/g", "--to", out2});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_EQ(read_file(out2 + "/data/g"), "unaffected\n");
}

// Restoring an affected file in place exits 13 and leaves the live file exactly as it was.
TEST_F(Corruption, RestoreInPlaceLeavesLiveFileUnchanged) {
  const std::string live = testing::random_bytes(1 << 20, 5);
  write_file(sb.at("/data/f"), live);
  struct stat before = itest::lstat_or_die(sb.at("/data/f"));
  auto r = sb.rw({"restore", "1", "/data/f"});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  struct stat after = itest::lstat_or_die(sb.at("/data/f"));
  EXPECT_TRUE(read_file(sb.at("/data/f")) == live) << "the live file was changed";
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(itest::mtime_ns(after), itest::mtime_ns(before));
  EXPECT_EQ(after.st_mode, before.st_mode);
  // No temporary file left in the directory.
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(sb.at("/data")))
    names.insert(e.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"f", "g"}));
}

// dump of an affected file exits 13.
TEST_F(Corruption, DumpOfDamagedFileFails) {
  auto r = sb.rw({"dump", "1", "/data/f"});
  EXPECT_EQ(r.exit_code, 13) << "stderr: " << r.err;
}

}  // namespace
}  // namespace rwd
