// SPDX-License-Identifier: Apache-2.0
// FaultFs: an io::Fs that forwards to another and injects faults the real OS
// cannot produce on demand: fail the n-th call of a kind with an errno, stop
// the process at the n-th mutating call, or count the mutating calls.
//
// From the environment (test build of the CLI, rewind-faulty):
//   REWIND_FAULT="fail:OP:N:ERRNO"  e.g. fail:write:3:ENOSPC, fail:fsync:1:EIO
//   REWIND_FAULT="crash:K"           _exit(kCrashExit) before the K-th mutating call
//   REWIND_FAULT="stop:OP:N"         raise(SIGSTOP) before the N-th call of kind OP: a
//                                    process held still at a known step (the test
//                                    waits with WUNTRACED, then sends SIGCONT)
//   REWIND_FAULT="count"             count mutating calls
//   REWIND_FAULT="powerloss:K"       before the K-th mutating call, lose what was not
//                                    synced (LevelDB's model: files are cut back to their
//                                    last fsynced length, names created or renamed since
//                                    their directory's last fsync are undone), then
//                                    _exit(kCrashExit). syncfs makes everything durable.
//   REWIND_FAULT_REPORT=FILE         where the count or the crash point is written
//
// Trace mode, independent of REWIND_FAULT (it works alone or with any mode):
//   REWIND_FAULT_TRACE=FILE          appends one line per successful call that
//                                    changes a name or content, fields separated
//                                    by tabs, paths absolute (the directory
//                                    descriptor resolved through /proc/self/fd
//                                    plus "/" plus the name):
//     rename  FROM  TO  replace|new|exchange   replace: TO existed before the call
//                                              (fstatat before delegating);
//                                              exchange: RENAME_EXCHANGE
//     unlink  PATH  file|dir                   dir: AT_REMOVEDIR
//     mkdir   PATH
//     symlink PATH
//     link    PATH                             the new name
//     mknod   PATH
//     create  PATH                             an open with O_CREAT made a new name
//     write   PATH                             the first content change through a
//                                              descriptor (write, pwrite, ftruncate,
//                                              mmap_shared, or an O_TRUNC open of an
//                                              existing file); later ones through the
//                                              same descriptor are not repeated
//     meta    OP  PATH                         chown, chmod, utimens, setxattr (set
//                                              or remove), setflags: metadata only
// Consumers select the kinds they need and ignore the others. Lines are
// appended with O_APPEND under one mutex, one write(2) per line (worker
// threads and successive processes may share the file). A call that fails,
// is failed by injection, or is stopped by a crash leaves no line.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "io/fs.h"

namespace rwd::testing {

inline constexpr int kCrashExit = 86;

struct FaultPlan {
  enum class Mode { kNone, kFail, kCrash, kCount, kPowerLoss, kStop } mode = Mode::kNone;
  io::Op op = io::Op::kWrite;  // kFail, kStop: which kind of call
  bool any_mutating = false;   // kFail with op "mutating": any mutating call
  uint64_t n = 0;              // the n-th call (1-based)
  int err = 0;
  std::string report;  // file for the count / crash point
  std::string trace;   // REWIND_FAULT_TRACE: file for the call trace ("" = none)
};

Result<FaultPlan> parse_fault_plan(const std::string& spec);

class FaultFs final : public io::Fs {
 public:
  FaultFs(io::Fs& base, FaultPlan plan);
  ~FaultFs() override;
  uint64_t mutating_calls() const { return mutating_.load(); }

#define REWIND_FAULT_DECL(ret, name, params) ret name params override;
  Result<io::Fd> open_path(const std::string& path, int flags, mode_t mode) override;
  Result<io::Fd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) override;
  Result<io::Fd> open_at(int dirfd, std::string_view name, int flags, mode_t mode) override;
  Status close(int fd) override;
  Result<size_t> read(int fd, std::span<std::byte> buf) override;
  Result<size_t> pread(int fd, std::span<std::byte> buf, uint64_t offset) override;
  Status write(int fd, std::span<const std::byte> data) override;
  Status pwrite(int fd, std::span<const std::byte> data, uint64_t offset) override;
  Status fsync(int fd) override;
  Status syncfs(int fd) override;
  Status ftruncate(int fd, uint64_t length) override;
  Result<int64_t> seek_data(int fd, int64_t offset) override;
  Result<int64_t> seek_hole(int fd, int64_t offset) override;
  Result<io::Stat> fstat(int fd) override;
  Result<io::Stat> stat_at(int dirfd, std::string_view name) override;
  Result<io::FsSpace> statfs(int fd) override;
  Status rename_at(int olddir, std::string_view oldname, int newdir, std::string_view newname,
                   unsigned flags) override;
  Status unlink_at(int dirfd, std::string_view name, int flags) override;
  Status mkdir_at(int dirfd, std::string_view name, mode_t mode) override;
  Status symlink_at(std::string_view target, int dirfd, std::string_view name) override;
  Result<std::string> readlink_at(int dirfd, std::string_view name) override;
  Status mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) override;
  Status link_at(int olddir, std::string_view oldname, int newdir,
                 std::string_view newname) override;
  Status fchown(int fd, uint32_t uid, uint32_t gid) override;
  Status fchmod(int fd, mode_t mode) override;
  Status futimens(int fd, int64_t atime_ns, int64_t mtime_ns) override;
  Status lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) override;
  Status lutimens_at(int dirfd, std::string_view name, int64_t atime_ns, int64_t mtime_ns) override;
  Status chmod_at(int dirfd, std::string_view name, mode_t mode) override;
  Result<std::vector<std::string>> list_xattrs(int fd) override;
  Result<std::string> get_xattr(int fd, const std::string& name) override;
  Status set_xattr(int fd, const std::string& name, std::string_view value) override;
  Status remove_xattr(int fd, const std::string& name) override;
  Result<uint32_t> get_flags(int fd) override;
  Status set_flags(int fd, uint32_t flags) override;
  Result<std::vector<io::DirEntry>> list_dir(int dirfd) override;
  Status flock(int fd, bool exclusive, bool wait) override;
  Status funlock(int fd) override;
  Status ofd_lock(int fd, short type, int64_t start, int64_t len, bool wait) override;
  Result<bool> ofd_lock_conflicts(int fd, short type, int64_t start, int64_t len) override;
  Result<void*> mmap_shared(int fd, size_t length, uint64_t offset) override;
  Status munmap(void* addr, size_t length) override;
#undef REWIND_FAULT_DECL

 private:
  // Returns an error to inject for this call, or ok.
  Status check(io::Op op, bool creates = false);
  // Power-loss bookkeeping (only in kPowerLoss mode).
  void track_open(int fd, const std::string& path, bool created);
  void track_dir_op(int dirfd, std::string_view name, const std::string& from);
  void lose_power();
  std::string fd_path(int fd);
  bool tracking() const { return plan_.mode == FaultPlan::Mode::kPowerLoss; }
  // Trace mode (REWIND_FAULT_TRACE).
  bool tracing() const { return trace_fd_ >= 0; }
  void trace_line(const std::string& line);
  std::string at_path(int dirfd, std::string_view name);
  // Traces "write PATH" for the first content change through fd.
  void trace_write(int fd);
  void trace_meta(io::Op op, const std::string& path);
  // Traces the creation of a name by an open; `existed` was checked before.
  void trace_open(int fd, int flags, bool existed);
  bool exists_at(int dirfd, std::string_view name);
  int trace_fd_ = -1;
  std::mutex trace_mu_;        // guards the trace file and written_fds_
  std::set<int> written_fds_;  // descriptors whose first write is traced
  struct DirOp {
    std::string dir;   // directory holding the new name
    std::string path;  // the new name's full path
    std::string from;  // for a rename: the old full path; "" for a creation
  };
  std::mutex mu_;  // guards the three members below
  std::map<int, std::string> fd_paths_;
  std::map<std::string, uint64_t> synced_size_;
  std::vector<DirOp> unsynced_ops_;

  io::Fs& base_;
  FaultPlan plan_;
  std::atomic<uint64_t> mutating_{0};
  std::atomic<uint64_t> per_op_{0};
};

// Installs a FaultFs as io::default_fs() when REWIND_FAULT is set.
void install_fault_fs_from_env();

}  // namespace rwd::testing
