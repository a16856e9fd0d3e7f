// SPDX-License-Identifier: Apache-2.0
// A full disk is refused early with "need X, have Y" and exit 8, on a real
// small ext4 file system (a loop-mounted image), and loses nothing.
#include <sys/mount.h>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using rwd::testing::random_bytes;
using rwd::testing::run;
using rwd::testing::write_file;

// A 24 MiB ext4 image mounted at `mnt`, unmounted on destruction.
class SmallFs {
 public:
  explicit SmallFs(const std::string& dir) : image(dir + "/small.img"), mnt(dir + "/small") {
    std::filesystem::create_directories(mnt);
    ok = run({"truncate", "-s", "24M", image}).exit_code == 0 &&
         run({"mkfs.ext4", "-q", "-F", image}).exit_code == 0 &&
         run({"mount", "-o", "loop", image, mnt}).exit_code == 0;
  }
  ~SmallFs() {
    if (ok) run({"umount", "-l", mnt});
  }
  std::string image, mnt;
  bool ok = false;
};

TEST(Space, CreateOnAFullRepositoryDiskFailsEarlyWithNeedAndHave) {
  // A repository on a 24 MiB file system and 40 MiB of incompressible data:
  // create exits 8 naming what it needs and has; the repository still
  // verifies and keeps its first point.
  Sandbox sb;
  SmallFs small(sb.dir.path());
  if (!small.ok) GTEST_SKIP() << "cannot loop-mount an ext4 image here";
  std::string repo = small.mnt + "/repo";
  write_file(sb.root + "/data/small", "first point\n");
  auto rw = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{rwd::testing::rewind_binary(), "--repo", repo, "--root", sb.root};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  ASSERT_EQ(rw({"init", "-q"}).exit_code, 0);
  ASSERT_EQ(rw({"create", "--path", "/data", "-q"}).exit_code, 0);
  write_file(sb.root + "/data/big", random_bytes(40 << 20, 3));
  RunResult r = rw({"create", "--path", "/data", "-q"});
  EXPECT_EQ(r.exit_code, 8) << describe(r);
  EXPECT_NE(r.err.find("need"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("have"), std::string::npos) << r.err;
  RunResult v = rw({"verify", "--read-data"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
  RunResult l = rw({"--json", "list"});
  EXPECT_NE(l.out.find("\"id\": 1"), std::string::npos) << l.out;
  EXPECT_EQ(l.out.find("\"id\": 2"), std::string::npos) << l.out;
}

TEST(Space, RestoreIntoAFullDiskFailsBeforeWriting) {
  // Restoring 40 MiB into a 24 MiB file system exits 8 and writes nothing.
  Sandbox sb;
  SmallFs small(sb.dir.path());
  if (!small.ok) GTEST_SKIP() << "cannot loop-mount an ext4 image here";
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.root + "/data/big", random_bytes(40 << 20, 4));
  ASSERT_GT(sb.create({"/data"}), 0);
  std::string to = small.mnt + "/out";
  RunResult r = sb.rw({"restore", "latest", "--to", to, "-q"});
  EXPECT_EQ(r.exit_code, 8) << describe(r);
  EXPECT_NE(r.err.find("need"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(to + "/data/big"));
}

}  // namespace
}  // namespace rwd::itest
