// SPDX-License-Identifier: Apache-2.0
// Target-side traps for a restore in place: what rewind finds in the live
// root where the point has a file or directory (symlinks out of the root, a
// FIFO, a hard link to a file outside, a device) is replaced, never followed
// or opened, and nothing outside the root changes.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "integration/integration_helpers.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::tree_diff;
using testing::write_file;

struct Snap {
  std::string content;
  int64_t mtime;
  mode_t mode;
};

Snap snap(const std::string& p) {
  struct stat st = itest::lstat_or_die(p);
  return Snap{read_file(p), itest::mtime_ns(st), st.st_mode};
}

void expect_same(const Snap& before, const std::string& p) {
  Snap now = snap(p);
  EXPECT_TRUE(now.content == before.content) << p << " changed content";
  EXPECT_EQ(now.mtime, before.mtime) << p << " changed mtime";
  EXPECT_EQ(now.mode, before.mode) << p << " changed mode";
}

class Traps : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sb.init().exit_code, 0);
    write_file(sb.at("/data/a"), "point a\n");
    write_file(sb.at("/data/b"), "point b\n");
    write_file(sb.at("/data/c"), "point c\n");
    write_file(sb.at("/data/d"), "point d\n");
    write_file(sb.at("/data/e"), "point e\n");
    write_file(sb.at("/data/sub/x"), "point x\n");
    ASSERT_EQ(sb.create({"/data"}), 1);
    auto r = sb.rw({"restore", "1", "--to", ref});
    ASSERT_EQ(r.exit_code, 0) << describe(r);

    // Outside the root, on the same file system.
    write_file(outside + "/file-a", "outside a\n", 0600);
    write_file(outside + "/file-c", "outside c\n", 0600);
    write_file(outside + "/dir/x", "outside x\n", 0600);
    write_file(outside + "/dir/y", "outside y\n", 0600);
    itest::set_mtime(outside + "/file-a", 1500000000, 1);
    itest::set_mtime(outside + "/file-c", 1500000000, 2);
    itest::set_mtime(outside + "/dir/x", 1500000000, 3);
    itest::set_mtime(outside + "/dir", 1500000000, 4);
    itest::copy_tree(outside, outside_copy);
  }

  Sandbox sb;
  const std::string ref = sb.dir.sub("ref");
  const std::string outside = sb.dir.sub("outside");
  const std::string outside_copy = sb.dir.sub("outside-copy");
};

// Symlinks, a FIFO, a hard link to an outside file and a device where the point has files or
// a directory: restore in place exits 0, replaces them, and changes nothing outside the root.
TEST_F(Traps, InPlaceRestoreReplacesWithoutFollowing) {
  const std::string d = sb.at("/data");
  Snap a = snap(outside + "/file-a"), c = snap(outside + "/file-c"), x = snap(outside + "/dir/x");
  std::filesystem::remove(d + "/a");
  ASSERT_EQ(::symlink((outside + "/file-a").c_str(), (d + "/a").c_str()), 0);
  std::filesystem::remove(d + "/b");
  ASSERT_EQ(::mkfifo((d + "/b").c_str(), 0644), 0);  // an open of it would block
  std::filesystem::remove(d + "/c");
  ASSERT_EQ(::link((outside + "/file-c").c_str(), (d + "/c").c_str()), 0);
  std::filesystem::remove(d + "/d");
  ASSERT_EQ(::mknod((d + "/d").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  std::filesystem::remove(d + "/e");  // a directory holding a symlink out, where a file belongs
  std::filesystem::create_directories(d + "/e");
  ASSERT_EQ(::symlink((outside + "/dir").c_str(), (d + "/e/out").c_str()), 0);
  std::filesystem::remove_all(d + "/sub");
  ASSERT_EQ(::symlink((outside + "/dir").c_str(), (d + "/sub").c_str()), 0);

  auto r = sb.rw({"restore", "1"}, /*timeout_seconds=*/60);
  ASSERT_NE(r.exit_code, 137) << "restore hung (killed after 60 s): it opened the FIFO?";
  EXPECT_EQ(r.exit_code, 0) << describe(r);

  expect_same(a, outside + "/file-a");
  expect_same(c, outside + "/file-c");
  expect_same(x, outside + "/dir/x");
  EXPECT_EQ(tree_diff(outside_copy, outside, /*ignore_root=*/false), "");
  EXPECT_EQ(tree_diff(ref + "/data", d, /*ignore_root=*/false), "");
  EXPECT_TRUE(S_ISDIR(itest::lstat_or_die(d + "/sub").st_mode));
  EXPECT_EQ(itest::lstat_or_die(d + "/c").st_nlink, 1u);
  EXPECT_EQ(read_file(d + "/c"), "point c\n");
}

// The same traps with a selective restore of each path: the same outcome.
TEST_F(Traps, SelectiveRestoreReplacesWithoutFollowing) {
  const std::string d = sb.at("/data");
  std::filesystem::remove(d + "/a");
  ASSERT_EQ(::symlink((outside + "/file-a").c_str(), (d + "/a").c_str()), 0);
  std::filesystem::remove(d + "/b");
  ASSERT_EQ(::mkfifo((d + "/b").c_str(), 0644), 0);
  std::filesystem::remove(d + "/c");
  ASSERT_EQ(::link((outside + "/file-c").c_str(), (d + "/c").c_str()), 0);
  std::filesystem::remove_all(d + "/sub");
  ASSERT_EQ(::symlink((outside + "/dir").c_str(), (d + "/sub").c_str()), 0);

  auto r = sb.rw({"restore", "1", "/data/a", "/data/b", "/data/c", "/data/sub/x"}, 60);
  ASSERT_NE(r.exit_code, 137) << "restore hung (killed after 60 s)";
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(tree_diff(outside_copy, outside, false), "");
  EXPECT_EQ(read_file(d + "/a"), "point a\n");
  EXPECT_TRUE(S_ISREG(itest::lstat_or_die(d + "/a").st_mode));
  EXPECT_TRUE(S_ISREG(itest::lstat_or_die(d + "/b").st_mode));
  EXPECT_EQ(read_file(d + "/b"), "point b\n");
  EXPECT_EQ(read_file(d + "/c"), "point c\n");
  EXPECT_TRUE(S_ISDIR(itest::lstat_or_die(d + "/sub").st_mode));
  EXPECT_EQ(read_file(d + "/sub/x"), "point x\n");
}

// The component's own directory replaced by a symlink out of the root: it is replaced, not
// followed.
TEST_F(Traps, ComponentRootSymlinkIsReplaced) {
  std::filesystem::remove_all(sb.at("/data"));
  ASSERT_EQ(::symlink((outside + "/dir").c_str(), sb.at("/data").c_str()), 0);
  auto r = sb.rw({"restore", "1"}, 60);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(tree_diff(outside_copy, outside, false), "");
  EXPECT_TRUE(S_ISDIR(itest::lstat_or_die(sb.at("/data")).st_mode));
  EXPECT_EQ(tree_diff(ref + "/data", sb.at("/data"), false), "");
}

// A parent of the component replaced by a symlink out of the root: nothing is written through it.
TEST_F(Traps, ParentOfComponentSymlinkIsNotFollowed) {
  Sandbox s2;
  ASSERT_EQ(s2.init().exit_code, 0);
  write_file(s2.at("/srv/data/f"), "point f\n");
  ASSERT_EQ(s2.create({"/srv/data"}), 1);
  std::filesystem::remove_all(s2.at("/srv"));
  ASSERT_EQ(::symlink(outside.c_str(), s2.at("/srv").c_str()), 0);
  auto r = s2.rw({"restore", "1"}, 60);
  // Refusing (invalid state) or replacing the symlink are both safe; following it is not.
  EXPECT_THAT(r.exit_code, ::testing::AnyOf(0, 16)) << describe(r);
  EXPECT_FALSE(itest::exists_nofollow(outside + "/data"));
  EXPECT_EQ(tree_diff(outside_copy, outside, false), "");
}

}  // namespace
}  // namespace rwd
