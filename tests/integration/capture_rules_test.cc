// SPDX-License-Identifier: Apache-2.0
// What capture takes and what it leaves: inode flags, files that change
// while they are read, other file systems mounted inside, cache directories
// (CACHEDIR.TAG) and sockets.
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "integration/integration_helpers.h"

extern char** environ;

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::RunResult;
using testing::write_file;

// The attribute letters lsattr prints for one file ("----ia----e----" -> "----ia----e----").
std::string lsattr_flags(const std::string& path) {
  auto r = testing::run({"lsattr", "-d", path});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  return r.out.substr(0, r.out.find(' '));
}

void chattr(const std::string& flags, const std::string& path) {
  auto r = testing::run({"chattr", flags, path});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
}

// Clears immutable/append-only flags under a directory, even when a test
// failed half-way (TempDir does the same, this makes it explicit and early).
struct FlagCleaner {
  std::vector<std::string> dirs;
  ~FlagCleaner() {
    for (const auto& d : dirs) testing::run({"chattr", "-R", "-i", "-a", d});
  }
};

// A process started in the background, killed on destruction.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    if (posix_spawnp(&pid_, argv[0].c_str(), nullptr, nullptr, cargv.data(), environ) != 0)
      pid_ = -1;
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

// A tmpfs mounted for the test, unmounted on destruction (also on failure).
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& at) : at_(at) {
    std::filesystem::create_directories(at);
    mounted_ = ::mount("none", at.c_str(), "tmpfs", 0, "size=16m") == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string at_;
  bool mounted_ = false;
};

// Immutable and append-only files and an immutable directory keep their flags through restore --to.
TEST(Capture, InodeFlagsRoundTrip) {
  Sandbox sb;
  FlagCleaner clean{{sb.dir.path()}};
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/immutable"), "cannot change\n");
  write_file(sb.at("/data/append"), "only grows\n");
  write_file(sb.at("/data/plain"), "no flags\n");
  write_file(sb.at("/data/frozen/inside"), "inside an immutable directory\n");
  chattr("+i", sb.at("/data/immutable"));
  chattr("+a", sb.at("/data/append"));
  chattr("+i", sb.at("/data/frozen"));
  ASSERT_EQ(sb.create({"/data"}), 1);

  const std::string out = sb.dir.sub("out");
  auto r = sb.rw({"restore", "1", "--to", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(lsattr_flags(out + "/data/immutable"), ::testing::HasSubstr("i"));
  EXPECT_THAT(lsattr_flags(out + "/data/append"), ::testing::HasSubstr("a"));
  EXPECT_THAT(lsattr_flags(out + "/data/frozen"), ::testing::HasSubstr("i"));
  EXPECT_THAT(lsattr_flags(out + "/data/plain"), ::testing::Not(::testing::HasSubstr("i")));
  EXPECT_THAT(lsattr_flags(out + "/data/plain"), ::testing::Not(::testing::HasSubstr("a")));
  EXPECT_EQ(read_file(out + "/data/immutable"), "cannot change\n");
  EXPECT_EQ(read_file(out + "/data/frozen/inside"), "inside an immutable directory\n");
  EXPECT_EQ(testing::tree_diff(sb.at("/data"), out + "/data", false), "");
}

// A live file made immutable after the point is still replaced by an in-place restore.
TEST(Capture, InPlaceRestoreReplacesImmutableLiveFile) {
  Sandbox sb;
  FlagCleaner clean{{sb.dir.path()}};
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "point\n");
  ASSERT_EQ(sb.create({"/data"}), 1);
  write_file(sb.at("/data/f"), "live, then made immutable\n");
  chattr("+i", sb.at("/data/f"));
  auto r = sb.rw({"restore", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(sb.at("/data/f")), "point\n");
  EXPECT_THAT(lsattr_flags(sb.at("/data/f")), ::testing::Not(::testing::HasSubstr("i")));
}

// A live directory made immutable or append-only after the point (the point's has no flags):
// restore in place brings the directory and the file inside back, exit 0, no temporary left.
// DISABLED: rewind bug — files/restore.cc ensure_dir() keeps an existing directory without
// clearing FS_IMMUTABLE_FL/FS_APPEND_FL (only apply_dir_metadata does, at the very end), so
// creating the temporary inside fails with EPERM (exit 15); with +a the rename over the file
// fails and the temporary ".rw-tmp-*" is left in the live directory (unlink is refused too).
TEST(Capture, InPlaceRestoreThroughFlaggedLiveDirectory) {
  for (const char* flag : {"+i", "+a"}) {
    SCOPED_TRACE(flag);
    Sandbox sb;
    FlagCleaner clean{{sb.dir.path()}};
    ASSERT_EQ(sb.init().exit_code, 0);
    write_file(sb.at("/data/sub/f"), "point\n");
    ASSERT_EQ(sb.create({"/data"}), 1);
    write_file(sb.at("/data/sub/f"), "live\n");
    chattr(flag, sb.at("/data/sub"));
    auto r = sb.rw({"restore", "1"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(read_file(sb.at("/data/sub/f")), "point\n");
    EXPECT_THAT(lsattr_flags(sb.at("/data/sub")), ::testing::Not(::testing::HasSubstr(flag + 1)));
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(sb.at("/data/sub")))
      names.insert(e.path().filename());
    EXPECT_EQ(names, (std::set<std::string>{"f"}));
  }
}

// A file rewritten for the whole capture is reported as "changed while it was being captured".
TEST(Capture, FileChangingDuringCaptureIsReported) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  const std::string f = sb.at("/data/busy");
  write_file(f, testing::random_bytes(64 << 20, 8));
  write_file(sb.at("/data/quiet"), "still\n");
  const std::string script =
      "import os, random, sys\n"
      "fd = os.open(sys.argv[1], os.O_RDWR)\n"
      "size = os.fstat(fd).st_size\n"
      "buf = os.urandom(4096)\n"
      "open(sys.argv[2], 'w').close()\n"
      "while True:\n"
      "    os.pwrite(fd, buf, random.randrange(0, size - len(buf)))\n";
  const std::string started = sb.dir.sub("writer-started");
  Background writer({"python3", "-c", script, f, started});
  for (int i = 0; i < 200 && !itest::exists_nofollow(started); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(itest::exists_nofollow(started)) << "the writer did not start";
  ASSERT_TRUE(writer.running());

  auto r = sb.rw({"--json", "create", "--path", "/data"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_TRUE(j["warnings"].is_array()) << r.out;
  bool found = false;
  for (const auto& w : j["warnings"]) {
    std::string s = w.get<std::string>();
    if (s.find("changed while it was being captured") != std::string::npos &&
        s.find("/data/busy") != std::string::npos)
      found = true;
    EXPECT_EQ(s.find("/data/quiet"), std::string::npos) << "a quiet file was reported: " << s;
  }
  EXPECT_TRUE(found) << r.out;
  EXPECT_THAT(r.err, ::testing::HasSubstr("changed while it was being captured"));
}

// A tmpfs mounted inside the captured path is not crossed: the mount point is in the point, its
// contents are not.
TEST(Capture, OtherFileSystemIsNotCrossed) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "on the root file system\n");
  TmpfsMount mnt(sb.at("/data/mnt"));
  ASSERT_TRUE(mnt.mounted()) << "mount tmpfs failed: " << std::strerror(errno);
  write_file(sb.at("/data/mnt/inside"), "on the tmpfs\n");
  ASSERT_EQ(read_file(sb.at("/data/mnt/inside")), "on the tmpfs\n");

  RunResult cr;
  ASSERT_EQ(sb.create({"/data"}, {}, &cr), 1);
  auto in = sb.rw({"dump", "1", "/data/mnt/inside"});
  EXPECT_EQ(in.exit_code, 14) << describe(in);
  auto f = sb.rw({"dump", "1", "/data/f"});
  EXPECT_EQ(f.exit_code, 0) << describe(f);
  EXPECT_EQ(f.out, "on the root file system\n");

  const std::string out = sb.dir.sub("out");
  auto r = sb.rw({"restore", "1", "--to", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_TRUE(std::filesystem::is_directory(out + "/data/mnt"))
      << "the mount point itself belongs to the point";
  EXPECT_TRUE(std::filesystem::is_empty(out + "/data/mnt"));

  auto j = sb.rw({"--json", "create", "--path", "/data"});
  ASSERT_EQ(j.exit_code, 0) << describe(j);
  EXPECT_THAT(j.out, ::testing::HasSubstr("another file system is mounted here"));
}

// A directory with a valid CACHEDIR.TAG is skipped; one with a wrong signature is not.
TEST(Capture, CacheDirectoryIsSkipped) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "kept\n");
  write_file(
      sb.at("/data/cache/CACHEDIR.TAG"),
      "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n");
  write_file(sb.at("/data/cache/blob"), "cached\n");
  write_file(sb.at("/data/notcache/CACHEDIR.TAG"), "Signature: 0000000000000000000000000000000\n");
  write_file(sb.at("/data/notcache/blob"), "not a cache\n");
  RunResult cr;
  ASSERT_EQ(sb.create({"/data"}, {}, &cr), 1);
  auto c = sb.rw({"dump", "1", "/data/cache/blob"});
  EXPECT_EQ(c.exit_code, 14) << describe(c);
  auto n = sb.rw({"dump", "1", "/data/notcache/blob"});
  EXPECT_EQ(n.exit_code, 0) << describe(n);
  EXPECT_EQ(n.out, "not a cache\n");
  auto f = sb.rw({"dump", "1", "/data/f"});
  EXPECT_EQ(f.exit_code, 0) << describe(f);

  const std::string out = sb.dir.sub("out");
  auto r = sb.rw({"restore", "1", "--to", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_FALSE(itest::exists_nofollow(out + "/data/cache/blob"));
  EXPECT_EQ(read_file(out + "/data/notcache/blob"), "not a cache\n");
}

// A unix socket is skipped with a warning; the rest of the tree is captured.
TEST(Capture, SocketIsSkippedWithWarning) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "kept\n");
  const std::string sock = sb.at("/data/app.sock");
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(sock.size(), sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0)
        << std::strerror(errno);
    ::close(fd);
  }
  ASSERT_TRUE(S_ISSOCK(itest::lstat_or_die(sock).st_mode));
  auto r = sb.rw({"--json", "create", "--path", "/data"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  bool warned = false;
  for (const auto& w : j["warnings"])
    if (w.get<std::string>().find("app.sock") != std::string::npos &&
        w.get<std::string>().find("socket") != std::string::npos)
      warned = true;
  EXPECT_TRUE(warned) << r.out;
  auto d = sb.rw({"dump", "1", "/data/app.sock"});
  EXPECT_EQ(d.exit_code, 14) << describe(d);
  const std::string out = sb.dir.sub("out");
  auto rr = sb.rw({"restore", "1", "--to", out});
  ASSERT_EQ(rr.exit_code, 0) << describe(rr);
  EXPECT_FALSE(itest::exists_nofollow(out + "/data/app.sock"));
  EXPECT_EQ(read_file(out + "/data/f"), "kept\n");
}

TEST(Capture, LeftoverTemporaryFilesAreNotCaptured) {
  // A ".rw-tmp-*" file (what a crashed restore leaves behind) is not part of
  // a point; the files beside it are.
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "kept\n");
  write_file(sb.at("/data/.rw-tmp-4242-7-abc"), "half written\n");
  ASSERT_EQ(sb.create({"/data"}), 1);
  auto t = sb.rw({"dump", "1", "/data/.rw-tmp-4242-7-abc"});
  EXPECT_EQ(t.exit_code, 14) << describe(t);
  auto f = sb.rw({"dump", "1", "/data/f"});
  EXPECT_EQ(f.exit_code, 0) << describe(f);
  EXPECT_EQ(f.out, "kept\n");
}

}  // namespace
}  // namespace rwd
