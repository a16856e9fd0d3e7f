// SPDX-License-Identifier: Apache-2.0
// Hostile but well-formed manifests, written straight into a real repository
// (bypassing the capture side's checks): every restore must refuse them with
// exit code 13 before writing anything, in a new directory and in place, and
// nothing may appear outside the target.
#include <filesystem>
#include <functional>

#include "integration/integration_helpers.h"
#include "io/fs.h"
#include "store/manifest.h"
#include "store/repository.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using store::Entry;
using store::EntryType;
using testing::read_file;
using testing::tree_diff;
using testing::write_file;

std::vector<std::byte> bytes_of(const std::string& s) {
  auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

Entry dir_entry(const std::string& path) {
  Entry e;
  e.path = path;
  e.type = EntryType::kDir;
  e.mode = 0755;
  e.mtime_ns = 1600000000LL * 1000000000LL;
  return e;
}

Entry symlink_entry(const std::string& path, const std::string& target) {
  Entry e;
  e.path = path;
  e.type = EntryType::kSymlink;
  e.mode = 0777;
  e.target = target;
  e.mtime_ns = 1600000000LL * 1000000000LL;
  return e;
}

// A file whose content commit_manifest fills in.
Entry file_entry(const std::string& path) {
  Entry e;
  e.path = path;
  return e;
}

Entry hardlink_entry(const std::string& path, uint64_t index) {
  Entry e;
  e.path = path;
  e.type = EntryType::kHardlink;
  e.link_index = index;
  return e;
}

// Writes a recovery point of component "/data" whose manifest holds exactly
// `entries` (files get their content stored from `contents`, by path).
// Returns the point's ID.
int64_t commit_manifest(const std::string& repo_path, std::vector<Entry> entries,
                        const std::map<size_t, std::string>& contents) {
  auto repo = store::Repository::open(io::posix_fs(), repo_path,
                                      {.write = true, .operation = "hostile-test"});
  EXPECT_TRUE(repo.has_value()) << repo.error().message();
  if (!repo) return -1;
  EXPECT_TRUE((*repo)->load_index().has_value());
  int64_t id = -1;
  {
    store::ChunkWriter w(**repo, 1);
    for (const auto& [index, data] : contents) {
      auto cid = w.put(store::ChunkType::kData, bytes_of(data));
      EXPECT_TRUE(cid.has_value());
      if (!cid) return -1;
      Entry& e = entries.at(index);
      e.type = EntryType::kFile;
      e.mode = 0644;
      e.size = data.size();
      e.chunks = {store::ChunkRef{*cid, static_cast<uint32_t>(data.size())}};
      e.mtime_ns = 1600000000LL * 1000000000LL;
    }
    auto page = w.put(store::ChunkType::kManifestPage, store::encode_page(entries));
    EXPECT_TRUE(page.has_value());
    if (!page) return -1;
    store::ManifestRoot mr;
    mr.entries = entries.size();
    for (const auto& e : entries)
      if (e.type == EntryType::kFile) mr.bytes += e.size;
    mr.pages.push_back(store::RootPage{entries.front().path, 0, entries.size(), *page});
    auto root = w.put(store::ChunkType::kManifestRoot, store::encode_root(mr));
    EXPECT_TRUE(root.has_value());
    if (!root) return -1;
    auto next = (*repo)->next_point_id();
    EXPECT_TRUE(next.has_value());
    if (!next) return -1;
    catalog::PointRow point;
    point.id = *next;
    point.name = "hostile";
    point.time_ns = 1700000000LL * 1000000000LL;
    catalog::SnapshotRow row;
    row.point_id = point.id;
    row.component = "/data";
    row.adapter = "files";
    row.category = "other";
    row.paths = {"/data"};
    row.manifest = root->to_hex();
    row.entries = entries.size();
    row.size = mr.bytes;
    auto st = (*repo)->commit_point(w, point, {row});
    EXPECT_TRUE(st.has_value()) << st.error().message();
    if (!st) return -1;
    id = point.id;
  }
  return id;
}

// A sandbox with a live /data and a repository; checks a hostile point's
// restores against it.
class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sb.init().exit_code, 0);
    write_file(sb.at("/data/a"), "live a\n");
    write_file(sb.at("/data/keep/x"), "live x\n");
    std::filesystem::create_directories(outside);
    write_file(outside + "/victim", "outside\n");
    // One honest point first, so that the repository is not empty.
    ASSERT_EQ(sb.create({"/data"}), 1);
    itest::copy_tree(sb.at("/data"), baseline);
    itest::copy_tree(outside, outside_baseline);
  }

  // Restores `id` into a new directory and in place; both must exit 13 and
  // change nothing. `escapes` are host paths that must not come to exist.
  // `why` is a piece of the validation error expected on stderr.
  void expect_refused(int64_t id, const std::string& why, const std::vector<std::string>& escapes) {
    ASSERT_GT(id, 1);
    const std::string to = sb.dir.sub("new");
    auto r = sb.rw({"restore", std::to_string(id), "--to", to}, 60);
    EXPECT_EQ(r.exit_code, 13) << describe(r);
    EXPECT_THAT(r.err, ::testing::HasSubstr(why));
    if (std::filesystem::exists(to + "/data")) {
      EXPECT_TRUE(std::filesystem::is_empty(to + "/data"))
          << "restore --to wrote into " << to << "/data";
    }
    for (const auto& e : escapes) EXPECT_FALSE(itest::exists_nofollow(e)) << e << " was created";

    auto p = sb.rw({"restore", std::to_string(id)}, 60);
    EXPECT_EQ(p.exit_code, 13) << describe(p);
    EXPECT_THAT(p.err, ::testing::HasSubstr(why));
    EXPECT_EQ(tree_diff(baseline, sb.at("/data"), /*ignore_root=*/false), "");
    for (const auto& e : escapes) EXPECT_FALSE(itest::exists_nofollow(e)) << e << " was created";
    EXPECT_EQ(tree_diff(outside_baseline, outside, false), "");

    // Reading the manifest anywhere else fails the same way.
    auto d = sb.rw({"diff", std::to_string(id)}, 60);
    EXPECT_EQ(d.exit_code, 13) << describe(d);
    auto v = sb.rw({"verify"}, 60);
    EXPECT_EQ(v.exit_code, 13) << describe(v);
    EXPECT_THAT(v.out, ::testing::HasSubstr(why));
  }

  Sandbox sb;
  const std::string baseline = sb.dir.sub("baseline");
  const std::string outside = sb.dir.sub("outside-xyz");
  const std::string outside_baseline = sb.dir.sub("outside-baseline");
};

// Control: a well-formed manifest written by the same helper restores (the helper itself is sound).
TEST_F(Hostile, ControlWellFormedManifestRestores) {
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), file_entry("f"), hardlink_entry("g", 1)},
                               {{1, "good\n"}});
  ASSERT_EQ(id, 2);
  const std::string to = sb.dir.sub("new");
  auto r = sb.rw({"restore", "2", "--to", to});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(to + "/data/f"), "good\n");
  EXPECT_EQ(read_file(to + "/data/g"), "good\n");
  EXPECT_EQ(itest::lstat_or_die(to + "/data/f").st_ino, itest::lstat_or_die(to + "/data/g").st_ino);
}

// An entry named "../escape" is refused with 13, and nothing appears beside the target.
TEST_F(Hostile, DotDotPathIsRefused) {
  int64_t id =
      commit_manifest(sb.repo, {dir_entry(""), file_entry("../escape")}, {{1, "escaped\n"}});
  expect_refused(id, "'..'", {sb.dir.sub("new/escape"), sb.at("/escape"), sb.dir.sub("escape")});
}

// A nested "a/../../escape" is refused with 13 as well.
TEST_F(Hostile, NestedDotDotPathIsRefused) {
  int64_t id = commit_manifest(
      sb.repo, {dir_entry(""), dir_entry("a"), file_entry("a/../../escape")}, {{2, "escaped\n"}});
  expect_refused(id, "'..'", {sb.dir.sub("new/escape"), sb.at("/escape")});
}

// An absolute entry name is refused with 13, and the absolute path is not written.
TEST_F(Hostile, AbsolutePathIsRefused) {
  const std::string abs = sb.dir.sub("abs-target");
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), file_entry(abs)}, {{1, "absolute\n"}});
  expect_refused(id, "absolute", {abs});
}

// Two entries with the same name are refused with 13.
TEST_F(Hostile, DuplicateNamesAreRefused) {
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), file_entry("a"), file_entry("a")},
                               {{1, "first\n"}, {2, "second\n"}});
  expect_refused(id, "duplicate", {});
}

// A hard link to a later entry is refused with 13.
TEST_F(Hostile, HardLinkForwardIsRefused) {
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), hardlink_entry("a", 2), file_entry("b")},
                               {{2, "b\n"}});
  expect_refused(id, "hard link to a later or non-file", {});
}

// A hard link to an entry that does not exist is refused with 13.
TEST_F(Hostile, HardLinkOutOfRangeIsRefused) {
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), file_entry("a"), hardlink_entry("b", 99)},
                               {{1, "a\n"}});
  expect_refused(id, "hard link to a later or non-file", {});
}

// A hard link to a directory entry is refused with 13.
TEST_F(Hostile, HardLinkToDirectoryIsRefused) {
  int64_t id =
      commit_manifest(sb.repo, {dir_entry(""), dir_entry("d"), hardlink_entry("e", 1)}, {});
  expect_refused(id, "hard link to a later or non-file", {});
}

// A symlink "l" to a directory outside, then a file "l/f", is refused and nothing is written
// through the link.
TEST_F(Hostile, FileBeneathSymlinkIsRefused) {
  int64_t id =
      commit_manifest(sb.repo, {dir_entry(""), symlink_entry("l", outside), file_entry("l/f")},
                      {{2, "through the link\n"}});
  expect_refused(id, "parent is not a directory", {outside + "/f"});
}

// A file beneath a file entry is refused with 13.
TEST_F(Hostile, EntryBeneathFileIsRefused) {
  int64_t id = commit_manifest(sb.repo, {dir_entry(""), file_entry("a"), file_entry("a/b")},
                               {{1, "a\n"}, {2, "b\n"}});
  expect_refused(id, "parent is not a directory", {});
}

// A file whose chunk lengths do not add up to its size is refused with 13.
TEST_F(Hostile, SizeMismatchIsRefused) {
  std::vector<Entry> entries{dir_entry(""), file_entry("a")};
  // Built by hand: size claims more than the chunk holds.
  auto repo = store::Repository::open(io::posix_fs(), sb.repo,
                                      {.write = true, .operation = "hostile-test"});
  ASSERT_TRUE(repo.has_value());
  ASSERT_TRUE((*repo)->load_index().has_value());
  {
    store::ChunkWriter w(**repo, 1);
    auto cid = w.put(store::ChunkType::kData, bytes_of("short"));
    ASSERT_TRUE(cid.has_value());
    entries[1].type = EntryType::kFile;
    entries[1].mode = 0644;
    entries[1].size = 1 << 20;
    entries[1].chunks = {store::ChunkRef{*cid, 5}};
    auto page = w.put(store::ChunkType::kManifestPage, store::encode_page(entries));
    ASSERT_TRUE(page.has_value());
    store::ManifestRoot mr{2, 1 << 20, {store::RootPage{"", 0, 2, *page}}};
    auto root = w.put(store::ChunkType::kManifestRoot, store::encode_root(mr));
    ASSERT_TRUE(root.has_value());
    auto next = (*repo)->next_point_id();
    ASSERT_TRUE(next.has_value());
    catalog::PointRow point;
    point.id = *next;
    catalog::SnapshotRow row{point.id, "/data", "files", "other", {"/data"}, root->to_hex(),
                             2,        1 << 20, 0,       0,       {}};
    ASSERT_TRUE((*repo)->commit_point(w, point, {row}).has_value());
  }
  repo->reset();
  expect_refused(2, "do not add up", {});
}

}  // namespace
}  // namespace rwd
