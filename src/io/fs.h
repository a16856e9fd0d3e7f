// SPDX-License-Identifier: Apache-2.0
// The io seam: every OS call rewind makes on files goes through io::Fs.
//
// PosixFs is the real implementation. Tests wrap it with FaultFs
// (tests/support) to fail the n-th call of a kind, stop the process at the
// n-th mutating call, or simulate power loss. All calls are relative to
// directory descriptors: a name argument is a single path component unless a
// function says otherwise, and nothing follows a symlink it finds (O_NOFOLLOW,
// AT_SYMLINK_NOFOLLOW, openat2 RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH).
//
// Transient errors (EINTR, EAGAIN, short writes) are retried inside PosixFs;
// every other error is returned, never retried (an fsync error is final).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/result.h"

namespace rwd::io {

class Fs;

// Kinds of calls, for fault injection and call traces.
enum class Op {
  kOpen,
  kClose,
  kRead,
  kWrite,
  kFsync,
  kSyncfs,
  kTruncate,
  kRename,
  kUnlink,
  kMkdir,
  kSymlink,
  kLink,
  kMknod,
  kChown,
  kChmod,
  kUtimens,
  kSetXattr,
  kGetXattr,
  kSetFlags,
  kStat,
  kList,
  kReadlink,
  kLock,
  kMmap,
  kStatfs,
};
std::string_view op_name(Op op);
// A mutating op changes what is on disk (or, for kOpen, may create a file).
bool op_is_mutating(Op op);

struct Stat {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t mode = 0;  // type and permission bits, as st_mode
  uint64_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte blocks
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

struct DirEntry {
  std::string name;
  unsigned char type = 0;  // DT_* or DT_UNKNOWN
  uint64_t ino = 0;
};

struct FsSpace {
  uint64_t free_bytes = 0;  // available to unprivileged users (f_bavail)
  uint64_t total_bytes = 0;
  uint64_t fs_type = 0;  // f_type of statfs
};

// An owned file descriptor. Closing goes through the Fs that opened it; the
// destructor closes and ignores errors, so call close() where the error
// matters (it does for files that were written).
class Fd {
 public:
  Fd() = default;
  Fd(Fs* fs, int fd) : fs_(fs), fd_(fd) {}
  Fd(Fd&& o) noexcept : fs_(o.fs_), fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  Status close();
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  Fs* fs_ = nullptr;
  int fd_ = -1;
};

// Open flags understood by open_at / open_beneath are the O_* flags of
// open(2); O_CLOEXEC and O_NOFOLLOW are always added.
class Fs {
 public:
  virtual ~Fs() = default;
  Fs() = default;
  Fs(const Fs&) = delete;
  Fs& operator=(const Fs&) = delete;

  // Opens a trusted path (from the command line or configuration, absolute or
  // relative to the working directory). Symlinks in it are followed: it is
  // the user's own path. The last component is not followed when O_NOFOLLOW
  // is in flags.
  virtual Result<Fd> open_path(const std::string& path, int flags, mode_t mode = 0) = 0;

  // Opens `rel` (a relative path of one or more components) beneath `dirfd`:
  // openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
  // (an O_NOFOLLOW walk where openat2 is missing). A symlink anywhere in rel
  // fails with ELOOP (kInvalidState); ".." escapes fail with EXDEV.
  virtual Result<Fd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode = 0) = 0;

  // openat(dirfd, name, flags|O_NOFOLLOW|O_CLOEXEC, mode) on a single name.
  virtual Result<Fd> open_at(int dirfd, std::string_view name, int flags, mode_t mode = 0) = 0;

  virtual Status close(int fd) = 0;

  // Reads up to buf.size() bytes; returns 0 at end of file.
  virtual Result<size_t> read(int fd, std::span<std::byte> buf) = 0;
  virtual Result<size_t> pread(int fd, std::span<std::byte> buf, uint64_t offset) = 0;
  // Writes all of data (retrying short writes and EINTR).
  virtual Status write(int fd, std::span<const std::byte> data) = 0;
  virtual Status pwrite(int fd, std::span<const std::byte> data, uint64_t offset) = 0;
  virtual Status fsync(int fd) = 0;
  virtual Status syncfs(int fd) = 0;
  virtual Status ftruncate(int fd, uint64_t length) = 0;
  // lseek(SEEK_DATA / SEEK_HOLE); returns -1 past the end (ENXIO).
  virtual Result<int64_t> seek_data(int fd, int64_t offset) = 0;
  virtual Result<int64_t> seek_hole(int fd, int64_t offset) = 0;

  virtual Result<Stat> fstat(int fd) = 0;
  // fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW); an empty name stats dirfd itself.
  virtual Result<Stat> stat_at(int dirfd, std::string_view name) = 0;
  virtual Result<FsSpace> statfs(int fd) = 0;

  // renameat2(olddir, oldname, newdir, newname, flags); flags are RENAME_*.
  virtual Status rename_at(int olddir, std::string_view oldname, int newdir,
                           std::string_view newname, unsigned flags = 0) = 0;
  // unlinkat; AT_REMOVEDIR in flags for directories.
  virtual Status unlink_at(int dirfd, std::string_view name, int flags = 0) = 0;
  virtual Status mkdir_at(int dirfd, std::string_view name, mode_t mode) = 0;
  virtual Status symlink_at(std::string_view target, int dirfd, std::string_view name) = 0;
  virtual Result<std::string> readlink_at(int dirfd, std::string_view name) = 0;
  virtual Status mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) = 0;
  // linkat without following symlinks.
  virtual Status link_at(int olddir, std::string_view oldname, int newdir,
                         std::string_view newname) = 0;

  virtual Status fchown(int fd, uint32_t uid, uint32_t gid) = 0;
  virtual Status fchmod(int fd, mode_t mode) = 0;
  virtual Status futimens(int fd, int64_t atime_ns, int64_t mtime_ns) = 0;
  // For entries that cannot be opened for writing metadata (symlinks):
  // fchownat / utimensat with AT_SYMLINK_NOFOLLOW.
  virtual Status lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) = 0;
  virtual Status lutimens_at(int dirfd, std::string_view name, int64_t atime_ns,
                             int64_t mtime_ns) = 0;
  // fchmodat (follows a trailing symlink: use only on an entry rewind itself
  // just created under a temporary name, such as a FIFO or device node).
  virtual Status chmod_at(int dirfd, std::string_view name, mode_t mode) = 0;

  // Extended attributes through a descriptor (regular files and directories).
  virtual Result<std::vector<std::string>> list_xattrs(int fd) = 0;
  virtual Result<std::string> get_xattr(int fd, const std::string& name) = 0;
  virtual Status set_xattr(int fd, const std::string& name, std::string_view value) = 0;
  virtual Status remove_xattr(int fd, const std::string& name) = 0;

  // Inode flags (FS_IOC_GETFLAGS / FS_IOC_SETFLAGS). Unsupported -> 0 / kInvalidState.
  virtual Result<uint32_t> get_flags(int fd) = 0;
  virtual Status set_flags(int fd, uint32_t flags) = 0;

  // Lists a directory (without "." and ".."), in the order getdents returns.
  virtual Result<std::vector<DirEntry>> list_dir(int dirfd) = 0;

  // flock(); exclusive or shared; without wait a held lock is kBusy.
  virtual Status flock(int fd, bool exclusive, bool wait) = 0;
  virtual Status funlock(int fd) = 0;
  // Open-file-description byte-range locks (F_OFD_SETLK/F_OFD_SETLKW).
  // type is F_RDLCK, F_WRLCK or F_UNLCK. A conflict without wait is kBusy.
  virtual Status ofd_lock(int fd, short type, int64_t start, int64_t len, bool wait) = 0;
  // Returns true when a lock of `type` on the range would conflict with
  // another open file description's lock (F_OFD_GETLK).
  virtual Result<bool> ofd_lock_conflicts(int fd, short type, int64_t start, int64_t len) = 0;

  // mmap(MAP_SHARED, PROT_READ|PROT_WRITE) of fd's [offset, offset+length).
  virtual Result<void*> mmap_shared(int fd, size_t length, uint64_t offset) = 0;
  virtual Status munmap(void* addr, size_t length) = 0;

  // Durability helpers -------------------------------------------------
  // fsync of a directory given by descriptor (same as fsync, separate name
  // for call traces and power-loss simulation).
  Status fsync_dir(int dirfd) { return fsync(dirfd); }
};

// The process-wide real filesystem.
Fs& posix_fs();

// The process-wide default: posix_fs(), unless a test build installed another
// one (see set_default_fs). main() reads this once and passes it down.
Fs& default_fs();
void set_default_fs(Fs* fs);

}  // namespace rwd::io
