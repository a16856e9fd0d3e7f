// SPDX-License-Identifier: Apache-2.0
// The real io::Fs: the only code in rewind (with process.cc) that makes
// file-system system calls.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/fs.h"

namespace rwd {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOther:
      return "Error";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kInvalidState:
      return "InvalidState";
    case ErrorCode::kCorruptedData:
      return "CorruptedData";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kSystemInInvalidState:
      return "SystemInInvalidState";
    case ErrorCode::kBusy:
      return "Busy";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kPermissionDenied:
      return "PermissionDenied";
    case ErrorCode::kIo:
      return "Io";
    case ErrorCode::kUsage:
      return "Usage";
    case ErrorCode::kWrongKey:
      return "WrongKey";
    case ErrorCode::kNoRepository:
      return "NoRepository";
  }
  return "Error";
}

Error Error::from_errno(int err, std::string_view what) {
  ErrorCode code = ErrorCode::kIo;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      code = ErrorCode::kNoSpace;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = ErrorCode::kPermissionDenied;
      break;
    case ENOENT:
    case ENOTDIR:
      code = ErrorCode::kNotFound;
      break;
    case EWOULDBLOCK:
      code = ErrorCode::kBusy;
      break;
    case ELOOP:
    case EXDEV:
    case EEXIST:
    case ENOTEMPTY:
    case EISDIR:
    case EINVAL:
    case ENOTSUP:
      code = ErrorCode::kInvalidState;
      break;
    default:
      code = ErrorCode::kIo;
      break;
  }
  return Error(code, fmt::format("{}: {}", what, std::strerror(err)), err);
}

}  // namespace rwd

namespace rwd::io {

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kOpen:
      return "open";
    case Op::kClose:
      return "close";
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kFsync:
      return "fsync";
    case Op::kSyncfs:
      return "syncfs";
    case Op::kTruncate:
      return "truncate";
    case Op::kRename:
      return "rename";
    case Op::kUnlink:
      return "unlink";
    case Op::kMkdir:
      return "mkdir";
    case Op::kSymlink:
      return "symlink";
    case Op::kLink:
      return "link";
    case Op::kMknod:
      return "mknod";
    case Op::kChown:
      return "chown";
    case Op::kChmod:
      return "chmod";
    case Op::kUtimens:
      return "utimens";
    case Op::kSetXattr:
      return "setxattr";
    case Op::kGetXattr:
      return "getxattr";
    case Op::kSetFlags:
      return "setflags";
    case Op::kStat:
      return "stat";
    case Op::kList:
      return "list";
    case Op::kReadlink:
      return "readlink";
    case Op::kLock:
      return "lock";
    case Op::kMmap:
      return "mmap";
    case Op::kStatfs:
      return "statfs";
  }
  return "?";
}

bool op_is_mutating(Op op) {
  switch (op) {
    case Op::kWrite:
    case Op::kFsync:
    case Op::kSyncfs:
    case Op::kTruncate:
    case Op::kRename:
    case Op::kUnlink:
    case Op::kMkdir:
    case Op::kSymlink:
    case Op::kLink:
    case Op::kMknod:
    case Op::kChown:
    case Op::kChmod:
    case Op::kUtimens:
    case Op::kSetXattr:
    case Op::kSetFlags:
      return true;
    default:
      return false;
  }
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0 && fs_ != nullptr) ignore_status(fs_->close(fd_), "replaced descriptor");
    fs_ = o.fs_;
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0 && fs_ != nullptr) ignore_status(fs_->close(fd_), "destructor: error unobservable");
}

Status Fd::close() {
  if (fd_ < 0) return ok();
  int f = fd_;
  fd_ = -1;
  return fs_->close(f);
}

namespace {

std::string z(std::string_view s) { return std::string(s); }

Error err(std::string_view what, std::string_view name) {
  int e = errno;
  if (name.empty()) return Error::from_errno(e, what);
  return Error::from_errno(e, fmt::format("{} {}", what, name));
}

bool has_openat2() {
  static const bool available = [] {
    struct open_how how {};
    how.flags = O_PATH | O_CLOEXEC;
    long r = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (r >= 0) {
      ::close(static_cast<int>(r));
      return true;
    }
    // ENOSYS (old kernel) or EPERM (a seccomp filter): use the O_NOFOLLOW walk.
    return errno != ENOSYS && errno != EPERM;
  }();
  return available;
}

class PosixFs final : public Fs {
 public:
  Result<Fd> open_path(const std::string& path, int flags, mode_t mode) override {
    int fd;
    do {
      fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail(err("open", path));
    return Fd(this, fd);
  }

  Result<Fd> open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) override {
    if (rel.empty() || rel == ".") return open_at(dirfd, ".", flags & ~(O_CREAT | O_EXCL), 0);
    if (has_openat2()) {
      struct open_how how {};
      how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
      how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      std::string p(rel);
      for (int attempt = 0; attempt < 16; ++attempt) {
        long r = syscall(SYS_openat2, dirfd, p.c_str(), &how, sizeof(how));
        if (r >= 0) return Fd(this, static_cast<int>(r));
        if (errno != EAGAIN && errno != EINTR) break;
      }
      return fail(err("open", rel));
    }
    // Fallback: walk one component at a time with O_NOFOLLOW.
    std::string_view rest = rel;
    Fd cur;
    int at = dirfd;
    while (true) {
      size_t slash = rest.find('/');
      std::string_view comp = rest.substr(0, slash);
      if (comp == "..") {
        errno = EXDEV;
        return fail(err("open", rel));
      }
      if (slash == std::string_view::npos) {
        auto r = open_at(at, comp, flags, mode);
        return r;
      }
      if (!comp.empty() && comp != ".") {
        int fd = ::openat(at, z(comp).c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return fail(err("open", rel));
        cur = Fd(this, fd);
        at = cur.get();
      }
      rest = rest.substr(slash + 1);
    }
  }

  Result<Fd> open_at(int dirfd, std::string_view name, int flags, mode_t mode) override {
    int fd;
    do {
      fd = ::openat(dirfd, z(name).c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail(err("open", name));
    return Fd(this, fd);
  }

  Status close(int fd) override {
    if (::close(fd) != 0 && errno != EINTR) return fail(err("close", ""));
    return ok();
  }

  Result<size_t> read(int fd, std::span<std::byte> buf) override {
    while (true) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return fail(err("read", ""));
    }
  }

  Result<size_t> pread(int fd, std::span<std::byte> buf, uint64_t offset) override {
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n =
          ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail(err("read", ""));
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Status write(int fd, std::span<const std::byte> data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail(err("write", ""));
      }
      done += static_cast<size_t>(n);
    }
    return ok();
  }

  Status pwrite(int fd, std::span<const std::byte> data, uint64_t offset) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return fail(err("write", ""));
      }
      done += static_cast<size_t>(n);
    }
    return ok();
  }

  Status fsync(int fd) override {
    // Never retried: after a failed fsync the kernel may have dropped the
    // dirty pages (fsyncgate), so the caller must fail the step.
    if (::fsync(fd) != 0) return fail(err("fsync", ""));
    return ok();
  }

  Status syncfs(int fd) override {
    if (::syncfs(fd) != 0) return fail(err("syncfs", ""));
    return ok();
  }

  Status ftruncate(int fd, uint64_t length) override {
    int r;
    do {
      r = ::ftruncate(fd, static_cast<off_t>(length));
    } while (r != 0 && errno == EINTR);
    if (r != 0) return fail(err("truncate", ""));
    return ok();
  }

  Result<int64_t> seek_data(int fd, int64_t offset) override {
    off_t r = ::lseek(fd, offset, SEEK_DATA);
    if (r < 0) {
      if (errno == ENXIO) return int64_t{-1};
      return fail(err("lseek", ""));
    }
    return static_cast<int64_t>(r);
  }

  Result<int64_t> seek_hole(int fd, int64_t offset) override {
    off_t r = ::lseek(fd, offset, SEEK_HOLE);
    if (r < 0) {
      if (errno == ENXIO) return int64_t{-1};
      return fail(err("lseek", ""));
    }
    return static_cast<int64_t>(r);
  }

  static Stat convert(const struct stat& st) {
    Stat s;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.mode = st.st_mode;
    s.nlink = st.st_nlink;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    s.rdev = st.st_rdev;
    s.size = static_cast<uint64_t>(st.st_size);
    s.blocks = static_cast<uint64_t>(st.st_blocks);
    s.atime_ns = st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec;
    s.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    s.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
    return s;
  }

  Result<Stat> fstat(int fd) override {
    struct stat st;
    if (::fstat(fd, &st) != 0) return fail(err("stat", ""));
    return convert(st);
  }

  Result<Stat> stat_at(int dirfd, std::string_view name) override {
    struct stat st;
    int flags = AT_SYMLINK_NOFOLLOW;
    if (name.empty()) flags |= AT_EMPTY_PATH;
    if (::fstatat(dirfd, z(name).c_str(), &st, flags) != 0) return fail(err("stat", name));
    return convert(st);
  }

  Result<FsSpace> statfs(int fd) override {
    struct statfs sf;
    if (::fstatfs(fd, &sf) != 0) return fail(err("statfs", ""));
    FsSpace s;
    s.free_bytes = static_cast<uint64_t>(sf.f_bavail) * static_cast<uint64_t>(sf.f_bsize);
    s.total_bytes = static_cast<uint64_t>(sf.f_blocks) * static_cast<uint64_t>(sf.f_bsize);
    s.fs_type = static_cast<uint64_t>(sf.f_type);
    return s;
  }

  Status rename_at(int olddir, std::string_view oldname, int newdir, std::string_view newname,
                   unsigned flags) override {
    int r = flags == 0 ? ::renameat(olddir, z(oldname).c_str(), newdir, z(newname).c_str())
                       : ::renameat2(olddir, z(oldname).c_str(), newdir, z(newname).c_str(), flags);
    if (r != 0) return fail(err("rename", newname));
    return ok();
  }

  Status unlink_at(int dirfd, std::string_view name, int flags) override {
    if (::unlinkat(dirfd, z(name).c_str(), flags) != 0) return fail(err("unlink", name));
    return ok();
  }

  Status mkdir_at(int dirfd, std::string_view name, mode_t mode) override {
    if (::mkdirat(dirfd, z(name).c_str(), mode) != 0) return fail(err("mkdir", name));
    return ok();
  }

  Status symlink_at(std::string_view target, int dirfd, std::string_view name) override {
    if (::symlinkat(z(target).c_str(), dirfd, z(name).c_str()) != 0)
      return fail(err("symlink", name));
    return ok();
  }

  Result<std::string> readlink_at(int dirfd, std::string_view name) override {
    std::string buf(256, '\0');
    while (true) {
      ssize_t n = ::readlinkat(dirfd, z(name).c_str(), buf.data(), buf.size());
      if (n < 0) return fail(err("readlink", name));
      if (static_cast<size_t>(n) < buf.size()) {
        buf.resize(static_cast<size_t>(n));
        return buf;
      }
      if (buf.size() > 65536)
        return fail(Error::invalid_state("readlink {}: target too long", name));
      buf.resize(buf.size() * 2);
    }
  }

  Status mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) override {
    if (::mknodat(dirfd, z(name).c_str(), mode, static_cast<dev_t>(dev)) != 0)
      return fail(err("mknod", name));
    return ok();
  }

  Status link_at(int olddir, std::string_view oldname, int newdir,
                 std::string_view newname) override {
    if (::linkat(olddir, z(oldname).c_str(), newdir, z(newname).c_str(), 0) != 0)
      return fail(err("link", newname));
    return ok();
  }

  Status fchown(int fd, uint32_t uid, uint32_t gid) override {
    if (::fchown(fd, uid, gid) != 0) return fail(err("chown", ""));
    return ok();
  }

  Status fchmod(int fd, mode_t mode) override {
    if (::fchmod(fd, mode) != 0) return fail(err("chmod", ""));
    return ok();
  }

  static void to_ts(int64_t ns, struct timespec& ts) {
    ts.tv_sec = ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    if (ts.tv_nsec < 0) {
      ts.tv_nsec += 1000000000LL;
      ts.tv_sec -= 1;
    }
  }

  Status futimens(int fd, int64_t atime_ns, int64_t mtime_ns) override {
    struct timespec ts[2];
    to_ts(atime_ns, ts[0]);
    to_ts(mtime_ns, ts[1]);
    if (::futimens(fd, ts) != 0) return fail(err("utimens", ""));
    return ok();
  }

  Status lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) override {
    if (::fchownat(dirfd, z(name).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      return fail(err("chown", name));
    return ok();
  }

  Status lutimens_at(int dirfd, std::string_view name, int64_t atime_ns,
                     int64_t mtime_ns) override {
    struct timespec ts[2];
    to_ts(atime_ns, ts[0]);
    to_ts(mtime_ns, ts[1]);
    if (::utimensat(dirfd, z(name).c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
      return fail(err("utimens", name));
    return ok();
  }

  Status chmod_at(int dirfd, std::string_view name, mode_t mode) override {
    if (::fchmodat(dirfd, z(name).c_str(), mode, 0) != 0) return fail(err("chmod", name));
    return ok();
  }

  Result<std::vector<std::string>> list_xattrs(int fd) override {
    std::vector<std::string> names;
    std::string buf(1024, '\0');
    while (true) {
      ssize_t n = ::flistxattr(fd, buf.data(), buf.size());
      if (n < 0) {
        if (errno == ERANGE) {
          buf.resize(buf.size() * 4);
          continue;
        }
        if (errno == ENOTSUP) return names;
        return fail(err("listxattr", ""));
      }
      size_t pos = 0;
      while (pos < static_cast<size_t>(n)) {
        size_t end = buf.find('\0', pos);
        if (end == std::string::npos || end > static_cast<size_t>(n)) break;
        names.emplace_back(buf.substr(pos, end - pos));
        pos = end + 1;
      }
      return names;
    }
  }

  Result<std::string> get_xattr(int fd, const std::string& name) override {
    std::string buf(256, '\0');
    while (true) {
      ssize_t n = ::fgetxattr(fd, name.c_str(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == ERANGE) {
          ssize_t need = ::fgetxattr(fd, name.c_str(), nullptr, 0);
          if (need < 0) return fail(err("getxattr", name));
          buf.resize(static_cast<size_t>(need) + 1);
          continue;
        }
        return fail(err("getxattr", name));
      }
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }

  Status set_xattr(int fd, const std::string& name, std::string_view value) override {
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0)
      return fail(err("setxattr", name));
    return ok();
  }

  Status remove_xattr(int fd, const std::string& name) override {
    if (::fremovexattr(fd, name.c_str()) != 0) return fail(err("removexattr", name));
    return ok();
  }

  Result<uint32_t> get_flags(int fd) override {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
      if (errno == ENOTTY || errno == ENOTSUP || errno == EINVAL) return 0u;
      return fail(err("getflags", ""));
    }
    return static_cast<uint32_t>(flags);
  }

  Status set_flags(int fd, uint32_t flags) override {
    int f = static_cast<int>(flags);
    if (::ioctl(fd, FS_IOC_SETFLAGS, &f) != 0) return fail(err("setflags", ""));
    return ok();
  }

  Result<std::vector<DirEntry>> list_dir(int dirfd) override {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(err("opendir", ""));
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      Error e = err("opendir", "");
      ::close(fd);
      return fail(e);
    }
    std::vector<DirEntry> out;
    errno = 0;
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n(de->d_name);
      if (n == "." || n == "..") continue;
      out.push_back(DirEntry{std::string(n), de->d_type, de->d_ino});
    }
    int e = errno;
    ::closedir(d);
    if (e != 0) {
      errno = e;
      return fail(err("readdir", ""));
    }
    return out;
  }

  Status flock(int fd, bool exclusive, bool wait) override {
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    while (::flock(fd, op) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK) return fail(Error::busy("lock is held by another process"));
      return fail(err("flock", ""));
    }
    return ok();
  }

  Status funlock(int fd) override {
    if (::flock(fd, LOCK_UN) != 0) return fail(err("flock", ""));
    return ok();
  }

  Status ofd_lock(int fd, short type, int64_t start, int64_t len, bool wait) override {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    while (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EACCES) return fail(Error::busy("byte range is locked"));
      return fail(err("fcntl lock", ""));
    }
    return ok();
  }

  Result<bool> ofd_lock_conflicts(int fd, short type, int64_t start, int64_t len) override {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (::fcntl(fd, F_OFD_GETLK, &fl) != 0) return fail(err("fcntl getlk", ""));
    return fl.l_type != F_UNLCK;
  }

  Result<void*> mmap_shared(int fd, size_t length, uint64_t offset) override {
    void* p =
        ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) return fail(err("mmap", ""));
    return p;
  }

  Status munmap(void* addr, size_t length) override {
    if (::munmap(addr, length) != 0) return fail(err("munmap", ""));
    return ok();
  }
};

Fs* g_default = nullptr;

}  // namespace

Fs& posix_fs() {
  static PosixFs fs;
  return fs;
}

Fs& default_fs() { return g_default != nullptr ? *g_default : posix_fs(); }
void set_default_fs(Fs* fs) { g_default = fs; }

}  // namespace rwd::io
