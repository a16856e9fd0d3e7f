// SPDX-License-Identifier: Apache-2.0
// dpkg itself against a root whose package state a rollback is changing:
// the rollback holds dpkg's locks the way dpkg does, so the real `dpkg
// --root=ROOT` is refused its lock while the rollback runs and gets it
// afterwards. The component's service is stopped by a command that runs
// that dpkg and records its exit status and message (the stop runs while
// the rollback holds the locks). When apt runs rewind with
// DPKG_FRONTEND_LOCKED set (apt holds the frontend lock for its process
// tree), rewind does not take that lock again, as dpkg would not, but still
// takes dpkg's inner lock.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "integration/dpkg_lock_fixture.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::HasSubstr;

// A classic POSIX write lock on a whole file, as apt and dpkg take them.
class PosixLock {
 public:
  explicit PosixLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
    EXPECT_GE(fd_, 0) << path;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    EXPECT_EQ(::fcntl(fd_, F_SETLK, &fl), 0) << path;
  }
  ~PosixLock() { ::close(fd_); }
  PosixLock(const PosixLock&) = delete;
  PosixLock& operator=(const PosixLock&) = delete;

 private:
  int fd_;
};

class DpkgLock : public ::testing::TestWithParam<std::string> {};

TEST_P(DpkgLock, RealDpkgIsRefusedItsLockWhileTheRollbackRunsAndGetsItAfter) {
  if (!have_dpkg()) GTEST_SKIP() << "no dpkg on this machine";
  if (::geteuid() != 0) GTEST_SKIP() << "dpkg --clear-avail needs root";
  DpkgLockFixture f(GetParam());
  // The stand-in works: without a rollback, dpkg gets its lock.
  RunResult before = f.dpkg_now();
  ASSERT_EQ(before.exit_code, 0) << describe(before);

  RunResult cr = f.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);
  write_file(f.dpkg + "/status", std::string(DpkgLockFixture::kStatus) +
                                     "Package: bar\nStatus: install ok installed\nPriority: "
                                     "optional\nArchitecture: all\nVersion: 2.0\nDescription: "
                                     "bar\n another one\n\n");
  RunResult rb = f.box.rw({"rollback", "1", "--yes"});
  // The files component restores the status file; the packages component
  // has nothing of its own to write and says what apt would have to do.
  ASSERT_EQ(rb.exit_code, 0) << describe(rb);
  if (GetParam() == "files") {
    EXPECT_EQ(read_file(f.dpkg + "/status"), DpkgLockFixture::kStatus);
  }

  // dpkg, run by the stop command while the rollback held the locks.
  f.expect_dpkg_was_refused(describe(rb));
  // And after the rollback it gets them again.
  RunResult after = f.dpkg_now();
  EXPECT_EQ(after.exit_code, 0) << describe(after);
}

INSTANTIATE_TEST_SUITE_P(PackageState, DpkgLock, ::testing::Values("files", "packages"));

TEST(DpkgLockFrontend, UnderAptWithDpkgFrontendLockedOnlyTheInnerLockIsTaken) {
  if (!have_dpkg()) GTEST_SKIP() << "no dpkg on this machine";
  if (::geteuid() != 0) GTEST_SKIP() << "dpkg --clear-avail needs root";
  DpkgLockFixture f("files");
  RunResult cr = f.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);
  write_file(f.dpkg + "/status", "Package: foo\nVersion: 2.0\n");
  write_file(f.dpkg + "/lock-frontend", "");
  // apt holds the frontend lock (this test stands in for it).
  PosixLock apt(f.dpkg + "/lock-frontend");
  auto rollback = [&](const std::map<std::string, std::string>& env) {
    return rwd::testing::run({rwd::testing::rewind_binary(), "--repo", f.box.repo, "--root",
                              f.box.root, "rollback", "1", "--yes"},
                             env, 120);
  };
  // Not run by apt: the frontend lock is someone else's, the rollback waits
  // for nobody and refuses.
  RunResult refused = rollback({});
  EXPECT_EQ(refused.exit_code, 11) << describe(refused);
  EXPECT_THAT(refused.err, HasSubstr("lock-frontend"));
  EXPECT_EQ(read_file(f.dpkg + "/status"), "Package: foo\nVersion: 2.0\n");
  // Run by apt (DPKG_FRONTEND_LOCKED): the rollback proceeds, holding dpkg's
  // inner lock, which the dpkg of the stop command (it inherits the
  // variable, so it skips the frontend lock too) is refused.
  RunResult ok = rollback({{"DPKG_FRONTEND_LOCKED", "1"}});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_EQ(read_file(f.dpkg + "/status"), DpkgLockFixture::kStatus);
  f.expect_dpkg_was_refused(describe(ok));
}

}  // namespace
}  // namespace rwd::itest
