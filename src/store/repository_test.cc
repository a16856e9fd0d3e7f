// SPDX-License-Identifier: Apache-2.0
#include "store/repository.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "store/hash.h"
#include "support/test_support.h"

namespace rwd::store {
namespace {

using ::rwd::testing::HasError;
using ::rwd::testing::IsOk;
using ::rwd::testing::random_bytes;
using ::rwd::testing::read_file;
using ::rwd::testing::TempDir;
using ::rwd::testing::write_file;
using ::testing::HasSubstr;

std::vector<std::byte> to_bytes(const std::string& s) {
  auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// Permission bits of `path` (not following a final symlink), or -1.
int mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

// Options of a writer (taking the lock), with or without the catalog sync
// that a writer's open does by default.
OpenOptions for_write(bool sync_catalog = true) {
  OpenOptions o;
  o.write = true;
  o.sync_catalog = sync_catalog;
  return o;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// What one committed point put in the repository.
struct Committed {
  catalog::PointRow point;
  std::vector<catalog::SnapshotRow> snapshots;
  std::vector<std::pair<ChunkId, std::vector<std::byte>>> chunks;
};

void expect_same_point(const catalog::PointRow& got, const catalog::PointRow& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.description, want.description);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.cause, want.cause);
  EXPECT_EQ(got.time_ns, want.time_ns);
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.kernel, want.kernel);
  EXPECT_EQ(got.tags, want.tags);
  EXPECT_EQ(got.pinned, want.pinned);
  EXPECT_EQ(got.pre_id, want.pre_id);
  EXPECT_EQ(got.root_seq, want.root_seq);
}

void expect_same_snapshots(const std::vector<catalog::SnapshotRow>& got,
                           const std::vector<catalog::SnapshotRow>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].point_id, want[i].point_id);
    EXPECT_EQ(got[i].component, want[i].component);
    EXPECT_EQ(got[i].adapter, want[i].adapter);
    EXPECT_EQ(got[i].category, want[i].category);
    EXPECT_EQ(got[i].paths, want[i].paths);
    EXPECT_EQ(got[i].manifest, want[i].manifest);
    EXPECT_EQ(got[i].entries, want[i].entries);
    EXPECT_EQ(got[i].size, want[i].size);
    EXPECT_EQ(got[i].stored, want[i].stored);
    EXPECT_EQ(got[i].added, want[i].added);
  }
}

class RepositoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Repository> init_repo() {
    auto r = Repository::init(fs_, path_, InitOptions{});
    EXPECT_THAT(r, IsOk());
    return r ? std::move(*r) : nullptr;
  }

  // A new repository, opened for writing.
  std::unique_ptr<Repository> new_writer() {
    if (!init_repo()) return nullptr;
    return open_repo(for_write());
  }

  std::unique_ptr<Repository> open_repo(const OpenOptions& opts) {
    auto r = Repository::open(fs_, path_, opts);
    EXPECT_THAT(r, IsOk());
    return r ? std::move(*r) : nullptr;
  }

  // Stores `n` chunks (random data from `seed`, plus one compressible chunk)
  // through a ChunkWriter and commits them as a point named `name` with two
  // snapshots.
  Committed commit(Repository& repo, const std::string& name, uint64_t seed, int n = 5) {
    Committed c;
    {
      ChunkWriter writer(repo, 2);
      for (int i = 0; i < n; ++i) {
        std::vector<std::byte> data = to_bytes(random_bytes(1000 + 7000 * static_cast<size_t>(i),
                                                            seed * 100 + static_cast<uint64_t>(i)));
        auto id = writer.put(ChunkType::kData, std::vector<std::byte>(data));
        EXPECT_THAT(id, IsOk());
        if (id) c.chunks.emplace_back(*id, std::move(data));
      }
      std::string text;
      for (int i = 0; i < 2000; ++i) text += fmt::format("{} line {}\n", name, i);
      auto id = writer.put(ChunkType::kManifestRoot, to_bytes(text));
      EXPECT_THAT(id, IsOk());
      if (id) c.chunks.emplace_back(*id, to_bytes(text));

      auto pid = repo.next_point_id();
      EXPECT_THAT(pid, IsOk());
      c.point.id = pid ? *pid : 0;
      c.point.name = name;
      c.point.description = "before " + name + " \"quoted\" ünïcode";
      c.point.kind = "single";
      c.point.cause = "manual";
      c.point.time_ns = 1700000000000000000 + static_cast<int64_t>(seed);
      c.point.user = "alice";
      c.point.host = "box";
      c.point.kernel = "6.1.0";
      c.point.tags = {"upgrade", name};
      c.point.pinned = true;
      c.point.pre_id = 0;
      for (const char* comp : {"files:/etc", "packages"}) {
        catalog::SnapshotRow s;
        s.point_id = c.point.id;
        s.component = comp;
        s.adapter = comp[0] == 'f' ? "files" : "dpkg";
        s.category = "system";
        s.paths = {"/etc", "/var/lib/dpkg"};
        s.manifest = c.chunks.back().first.to_hex();
        s.entries = 42;
        s.size = 123456;
        s.stored = 7890;
        s.added = 456;
        c.snapshots.push_back(s);
      }
      EXPECT_THAT(repo.commit_point(writer, c.point, c.snapshots), IsOk());
    }
    return c;
  }

  void expect_chunks_readable(Repository& repo, const Committed& c) {
    for (size_t i = 0; i < c.chunks.size(); ++i) {
      const auto& [id, data] = c.chunks[i];
      ChunkType type = i + 1 == c.chunks.size() ? ChunkType::kManifestRoot : ChunkType::kData;
      std::vector<std::byte> out;
      ASSERT_THAT(repo.read_chunk(id, type, out), IsOk()) << id.short_hex();
      EXPECT_EQ(out, data) << id.short_hex();
    }
  }

  void expect_point_listed(Repository& repo, const Committed& c) {
    auto p = repo.catalog().get_point(c.point.id);
    ASSERT_THAT(p, IsOk());
    ASSERT_TRUE(p->has_value()) << "point " << c.point.id;
    expect_same_point(**p, c.point);
    auto snaps = repo.catalog().snapshots(c.point.id);
    ASSERT_THAT(snaps, IsOk());
    expect_same_snapshots(*snaps, c.snapshots);
  }

  void remove_catalog() {
    for (const char* f : {"catalog.db", "catalog.db-wal", "catalog.db-shm"})
      std::filesystem::remove(path_ + "/" + f);
    ASSERT_FALSE(std::filesystem::exists(path_ + "/catalog.db"));
  }

  std::vector<std::string> root_files() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_ + "/roots"))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  io::Fs& fs_ = io::posix_fs();
  TempDir tmp_{"rewind-repo-test"};
  std::string path_ = tmp_.sub("repo");
};

// ------------------------------------------------------------- init / open

TEST_F(RepositoryTest, InitCreatesThePrivateLayout) {
  // init creates config, packs/, roots/ and catalog.db: directories 0700, files 0600.
  auto repo = init_repo();
  ASSERT_TRUE(repo);
  EXPECT_EQ(mode_of(path_), 0700);
  for (const char* d : {"packs", "roots"}) {
    EXPECT_TRUE(is_dir(path_ + "/" + d)) << d;
    EXPECT_EQ(mode_of(path_ + "/" + d), 0700) << d;
  }
  for (const char* f : {"config", "catalog.db", "lock"})
    EXPECT_EQ(mode_of(path_ + "/" + f), 0600) << f;
  for (const auto& e : std::filesystem::directory_iterator(path_)) {
    if (e.is_regular_file()) {
      EXPECT_EQ(mode_of(e.path().string()), 0600) << e.path();
    }
  }
  EXPECT_EQ(repo->config().format, kRepoFormatVersion);
  EXPECT_EQ(repo->config().id.size(), 32u);
}

TEST_F(RepositoryTest, InitCreatesMissingParentDirectories) {
  // init of "a/b/repo" under a fresh directory creates a and b too.
  path_ = tmp_.sub("a/b/repo");
  auto repo = init_repo();
  ASSERT_TRUE(repo);
  EXPECT_TRUE(is_dir(tmp_.sub("a/b")));
  EXPECT_EQ(mode_of(path_), 0700);
}

TEST_F(RepositoryTest, InitTakesOverAnEmptyDirectoryAndMakesItPrivate) {
  // init in an existing empty 0755 directory succeeds and makes it 0700.
  ASSERT_EQ(::mkdir(path_.c_str(), 0755), 0);
  auto repo = init_repo();
  ASSERT_TRUE(repo);
  EXPECT_EQ(mode_of(path_), 0700);
}

TEST_F(RepositoryTest, InitRefusesAnExistingRepository) {
  // A second init of a repository is kInvalidState and leaves its config untouched.
  { ASSERT_TRUE(init_repo()); }
  std::string config = read_file(path_ + "/config");
  auto again = Repository::init(fs_, path_, InitOptions{});
  EXPECT_THAT(again, HasError(ErrorCode::kInvalidState));
  EXPECT_EQ(read_file(path_ + "/config"), config);
}

TEST_F(RepositoryTest, InitRefusesANonEmptyDirectory) {
  // init in a directory holding an unrelated file is kInvalidState.
  write_file(path_ + "/notes.txt", "mine");
  EXPECT_THAT(Repository::init(fs_, path_, InitOptions{}), HasError(ErrorCode::kInvalidState));
  EXPECT_EQ(read_file(path_ + "/notes.txt"), "mine");
}

TEST_F(RepositoryTest, InitRecordsTheCompressionLevel) {
  // The compression level given to init is in the config a later open reads.
  auto r = Repository::init(fs_, path_, InitOptions{.compression_level = 7});
  ASSERT_THAT(r, IsOk());
  r->reset();
  auto repo = open_repo({});
  ASSERT_TRUE(repo);
  EXPECT_EQ(repo->config().compression_level, 7);
}

// BUG (disabled until fixed): Repository::init returns a handle whose packs/
// and roots/ descriptors were never opened (repository.cc, init sets only
// dir_ and catalog_), and which holds no writer lock. Anything that writes
// through it fails with kIo "Bad file descriptor" (ChunkWriter::put opening
// a temporary pack, next_point_id listing roots/). Callers today discard the
// handle (rollback_system.cc), which hides the problem.
TEST_F(RepositoryTest, RepositoryReturnedByInitCanCommitAPoint) {
  // A point committed through the repository init returns is there after reopening.
  Committed c;
  {
    auto repo = init_repo();
    ASSERT_TRUE(repo);
    c = commit(*repo, "first", 1);
  }
  auto repo = open_repo({});
  ASSERT_TRUE(repo);
  expect_point_listed(*repo, c);
  expect_chunks_readable(*repo, c);
}

TEST_F(RepositoryTest, OpenOfAMissingDirectoryIsNoRepository) {
  // open of a path that does not exist is kNoRepository.
  EXPECT_THAT(Repository::open(fs_, path_, {}), HasError(ErrorCode::kNoRepository));
}

TEST_F(RepositoryTest, OpenOfADirectoryWithoutConfigIsNoRepository) {
  // open of an existing directory with no config file is kNoRepository.
  ASSERT_EQ(::mkdir(path_.c_str(), 0700), 0);
  EXPECT_THAT(Repository::open(fs_, path_, {}), HasError(ErrorCode::kNoRepository));
}

TEST_F(RepositoryTest, OpenRefusesANewerFormat) {
  // A config with a newer "format" is kInvalidState with a message naming that format.
  { ASSERT_TRUE(init_repo()); }
  std::string config = read_file(path_ + "/config");
  size_t at = config.find("\"format\": 1");
  ASSERT_NE(at, std::string::npos) << config;
  // (2 is an encrypted repository's format.)
  config.replace(at, 11, "\"format\": 3");
  write_file(path_ + "/config", config, 0600);
  auto r = Repository::open(fs_, path_, {});
  EXPECT_THAT(r, HasError(ErrorCode::kInvalidState));
  if (!r) {
    EXPECT_THAT(r.error().message(), HasSubstr("format 3"));
  }
}

TEST_F(RepositoryTest, OpenRejectsAGarbledConfig) {
  // A config that is not JSON, or lacks fields, is kCorruptedData.
  { ASSERT_TRUE(init_repo()); }
  write_file(path_ + "/config", "not json at all", 0600);
  EXPECT_THAT(Repository::open(fs_, path_, {}), HasError(ErrorCode::kCorruptedData));
  write_file(path_ + "/config", "{\"format\": 1}", 0600);
  EXPECT_THAT(Repository::open(fs_, path_, {}), HasError(ErrorCode::kCorruptedData));
}

// ------------------------------------------------------------- locking

TEST_F(RepositoryTest, SecondWriterIsBusyAndNamesTheFirst) {
  // A second writer gets kBusy naming the holder's pid and operation; later it gets in.
  { ASSERT_TRUE(init_repo()); }
  OpenOptions holder = for_write();
  holder.operation = "create";
  auto first = open_repo(holder);
  ASSERT_TRUE(first);
  auto second = Repository::open(fs_, path_, for_write());
  EXPECT_THAT(second, HasError(ErrorCode::kBusy));
  if (!second) {
    EXPECT_THAT(second.error().message(), HasSubstr(fmt::format("pid {}", ::getpid())));
    EXPECT_THAT(second.error().message(), HasSubstr("create"));
  }
  first.reset();
  EXPECT_THAT(Repository::open(fs_, path_, for_write()), IsOk());
}

TEST_F(RepositoryTest, ReaderOpensWhileAWriterHoldsTheLock) {
  // A read-only open succeeds while a writer holds the lock.
  { ASSERT_TRUE(init_repo()); }
  auto writer = open_repo(for_write());
  ASSERT_TRUE(writer);
  EXPECT_THAT(Repository::open(fs_, path_, {}), IsOk());
}

// ------------------------------------------------------------- chunks and points

TEST_F(RepositoryTest, CommittedChunksAndPointAreThereAfterReopening) {
  // Committed chunks and the point read back, byte for byte, from a fresh read-only open.
  Committed c;
  {
    auto repo = new_writer();
    ASSERT_TRUE(repo);
    c = commit(*repo, "first", 1);
  }
  EXPECT_EQ(c.point.id, 1);
  EXPECT_GT(c.point.root_seq, 0);
  auto repo = open_repo({});
  ASSERT_TRUE(repo);
  expect_chunks_readable(*repo, c);
  auto points = repo->catalog().list_points();
  ASSERT_THAT(points, IsOk());
  ASSERT_EQ(points->size(), 1u);
  expect_same_point(points->front(), c.point);
  expect_point_listed(*repo, c);
  // The same, through the in-memory index.
  ASSERT_THAT(repo->load_index(), IsOk());
  expect_chunks_readable(*repo, c);
}

TEST_F(RepositoryTest, PointIdsIncrease) {
  // Each committed point gets the next id: 1, 2, 3.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  EXPECT_EQ(commit(*repo, "one", 1, 1).point.id, 1);
  EXPECT_EQ(commit(*repo, "two", 2, 1).point.id, 2);
  EXPECT_EQ(commit(*repo, "three", 3, 1).point.id, 3);
}

TEST_F(RepositoryTest, ReadChunkRefusesAMissingChunkOrAWrongType) {
  // Reading an absent id, or a data chunk as a manifest page, is kCorruptedData.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  Committed c = commit(*repo, "first", 1);
  std::vector<std::byte> out;
  EXPECT_THAT(repo->read_chunk(sha256(to_bytes("absent")), ChunkType::kData, out),
              HasError(ErrorCode::kCorruptedData));
  EXPECT_THAT(repo->read_chunk(c.chunks[0].first, ChunkType::kManifestPage, out),
              HasError(ErrorCode::kCorruptedData));
}

TEST_F(RepositoryTest, ChunkWriterStoresEachChunkOnce) {
  // Putting the same bytes three times stores one chunk under one id.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  ChunkWriter writer(*repo, 2);
  std::vector<std::byte> data = to_bytes(random_bytes(50000, 7));
  auto a = writer.put(ChunkType::kData, std::vector<std::byte>(data));
  auto b = writer.put(ChunkType::kData, std::vector<std::byte>(data));
  auto c = writer.put(ChunkType::kData, std::vector<std::byte>(data));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *c);
  ASSERT_THAT(writer.flush(), IsOk());
  EXPECT_EQ(writer.new_chunks(), 1u);
  EXPECT_EQ(writer.new_raw_bytes(), data.size());
  EXPECT_TRUE(writer.contains(*a));
}

// Regression: a manifest page was once deduplicated against a data chunk
// with the same bytes, and then refused as the wrong type on read. Chunk ids
// now include the type for non-data chunks (store/hash.h chunk_id).
TEST_F(RepositoryTest, SameBytesStoredAsDataAndAsManifestPageReadAsBoth) {
  // Bytes put as a data chunk and then as a manifest page read back as either type.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  std::vector<std::byte> bytes = to_bytes(random_bytes(5000, 11));
  Committed c;
  {
    ChunkWriter writer(*repo, 1);
    auto as_data = writer.put(ChunkType::kData, std::vector<std::byte>(bytes));
    auto as_page = writer.put(ChunkType::kManifestPage, std::vector<std::byte>(bytes));
    ASSERT_THAT(as_data, IsOk());
    ASSERT_THAT(as_page, IsOk());
    ASSERT_NE(*as_data, *as_page);
    c.point.id = 1;
    c.point.name = "p";
    ASSERT_THAT(repo->commit_point(writer, c.point, {}), IsOk());
  }
  std::vector<std::byte> out;
  ASSERT_THAT(repo->read_chunk(chunk_id(1, bytes), ChunkType::kData, out), IsOk());
  EXPECT_EQ(out, bytes);
  ASSERT_THAT(repo->read_chunk(chunk_id(2, bytes), ChunkType::kManifestPage, out), IsOk());
  EXPECT_EQ(out, bytes);
}

TEST_F(RepositoryTest, UncommittedChunksLeaveNoTemporaryFiles) {
  // A ChunkWriter destroyed without commit leaves no ".rw-tmp-*" file in packs/.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  {
    ChunkWriter writer(*repo, 2);
    ASSERT_THAT(writer.put(ChunkType::kData, to_bytes(random_bytes(50000, 8))), IsOk());
  }
  for (const auto& e : std::filesystem::directory_iterator(path_ + "/packs"))
    EXPECT_NE(e.path().filename().string().rfind(".rw-tmp-", 0), 0u) << e.path();
}

// ------------------------------------------------------------- catalog rebuild

TEST_F(RepositoryTest, DeletedCatalogIsRebuiltFromPacksAndRootRecords) {
  // With catalog.db deleted, sync_catalog(true) brings back both points, metadata and chunks.
  Committed a, b;
  {
    auto repo = new_writer();
    ASSERT_TRUE(repo);
    a = commit(*repo, "first", 1);
    b = commit(*repo, "second", 2);
  }
  remove_catalog();
  auto repo = open_repo(for_write(false));
  ASSERT_TRUE(repo);
  auto before = repo->catalog().list_points();
  ASSERT_THAT(before, IsOk());
  EXPECT_TRUE(before->empty());

  auto report = repo->sync_catalog(true);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->packs_imported, 2u);
  EXPECT_EQ(report->chunks_imported, a.chunks.size() + b.chunks.size());
  EXPECT_EQ(report->points_imported, 2u);
  EXPECT_THAT(report->problems, ::testing::IsEmpty());
  expect_point_listed(*repo, a);
  expect_point_listed(*repo, b);
  expect_chunks_readable(*repo, a);
  expect_chunks_readable(*repo, b);
  auto next = repo->next_point_id();
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(*next, 3);
}

// BUG (disabled until fixed): sync_catalog(true) clears and re-imports the
// packs table, which hands out pack ids afresh in pack-name order, but keeps
// Repository::pack_fds_ and pack_names_ (repository.cc, sync_catalog clears
// only index_). A chunk read after the rebuild uses the descriptor cached for
// its new pack id, which may be another pack: kCorruptedData "blob header
// does not match the index" for an intact repository.
TEST_F(RepositoryTest, FullSyncInvalidatesCachedPackDescriptors) {
  // Chunks read before a sync_catalog(true) that renumbers the packs still read after it.
  auto repo = new_writer();
  ASSERT_TRUE(repo);
  // One pack per point; commit until a pack sorts before the first one, so
  // that the rebuild (importing in name order) renumbers the packs.
  std::vector<Committed> points;
  points.push_back(commit(*repo, "p0", 100, 2));
  bool renumbered = false;
  for (int i = 1; i < 20 && !renumbered; ++i) {
    points.push_back(commit(*repo, fmt::format("p{}", i), 100 + static_cast<uint64_t>(i), 2));
    auto packs = repo->catalog().list_packs();
    ASSERT_THAT(packs, IsOk());
    renumbered = packs->back().name < packs->front().name;
  }
  ASSERT_TRUE(renumbered);
  for (const Committed& c : points) expect_chunks_readable(*repo, c);  // caches descriptors
  ASSERT_THAT(repo->sync_catalog(true), IsOk());
  for (const Committed& c : points) expect_chunks_readable(*repo, c);
}

TEST_F(RepositoryTest, WriterOpenImportsWhatTheCatalogLacks) {
  // With the catalog deleted, a plain writer open already brings the point back.
  Committed a;
  {
    auto repo = new_writer();
    ASSERT_TRUE(repo);
    a = commit(*repo, "first", 1);
  }
  remove_catalog();
  auto repo = open_repo(for_write());
  ASSERT_TRUE(repo);
  expect_point_listed(*repo, a);
  expect_chunks_readable(*repo, a);
}

TEST_F(RepositoryTest, CorruptRootRecordIsReportedAndNotImported) {
  // A root record with a flipped byte is reported as a problem and not imported.
  Committed a, b;
  {
    auto repo = new_writer();
    ASSERT_TRUE(repo);
    a = commit(*repo, "first", 1);
    b = commit(*repo, "second", 2);
  }
  std::vector<std::string> roots = root_files();
  ASSERT_EQ(roots.size(), 2u);
  std::string victim = roots[0];  // sorted by sequence: the first point's
  ASSERT_THAT(victim, ::testing::EndsWith(fmt::format("-{}.root", a.point.id)));
  std::string bytes = read_file(path_ + "/roots/" + victim);
  ASSERT_GT(bytes.size(), 100u);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_file(path_ + "/roots/" + victim, bytes, 0600);

  {
    auto repo = open_repo({});
    ASSERT_TRUE(repo);
    std::vector<std::string> problems;
    auto records = repo->read_root_records(&problems);
    ASSERT_THAT(records, IsOk());
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ(records->front().point.id, b.point.id);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_THAT(problems[0], HasSubstr(victim));
  }

  remove_catalog();
  auto repo = open_repo(for_write(false));
  ASSERT_TRUE(repo);
  auto report = repo->sync_catalog(true);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->points_imported, 1u);
  EXPECT_THAT(report->problems, ::testing::Contains(HasSubstr(victim)));
  auto points = repo->catalog().list_points();
  ASSERT_THAT(points, IsOk());
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ(points->front().id, b.point.id);
  expect_point_listed(*repo, b);
  // The corrupt record stays on disk for inspection.
  EXPECT_TRUE(std::filesystem::exists(path_ + "/roots/" + victim));
}

TEST_F(RepositoryTest, RootRecordOfAnotherRepositoryIsNotImported) {
  // A root record from another repository (other key) is reported, not imported.
  Committed a;
  {
    auto repo = new_writer();
    ASSERT_TRUE(repo);
    a = commit(*repo, "first", 1);
  }
  std::string other = tmp_.sub("other");
  {
    ASSERT_THAT(Repository::init(fs_, other, InitOptions{}), IsOk());
    auto r = Repository::open(fs_, other, for_write());
    ASSERT_THAT(r, IsOk());
    commit(**r, "foreign", 9);
  }
  std::string foreign_name;
  for (const auto& e : std::filesystem::directory_iterator(other + "/roots"))
    foreign_name = e.path().filename().string();
  ASSERT_FALSE(foreign_name.empty());
  // Give it a sequence number and id that do not collide with ours.
  std::string renamed = "0000000000000099-99.root";
  std::filesystem::copy_file(other + "/roots/" + foreign_name, path_ + "/roots/" + renamed);
  auto repo = open_repo({});
  ASSERT_TRUE(repo);
  std::vector<std::string> problems;
  auto records = repo->read_root_records(&problems);
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().point.id, a.point.id);
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr(renamed)));
}

}  // namespace
}  // namespace rwd::store
