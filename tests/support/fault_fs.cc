// SPDX-License-Identifier: Apache-2.0
#include "support/fault_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rwd::testing {

namespace {
io::Op op_from_name(const std::string& s, bool* ok_) {
  for (int i = 0; i <= static_cast<int>(io::Op::kStatfs); ++i) {
    auto op = static_cast<io::Op>(i);
    if (io::op_name(op) == s) {
      *ok_ = true;
      return op;
    }
  }
  *ok_ = false;
  return io::Op::kWrite;
}

int errno_from_name(const std::string& s) {
  if (s == "ENOSPC") return ENOSPC;
  if (s == "EIO") return EIO;
  if (s == "EINTR") return EINTR;
  if (s == "EDQUOT") return EDQUOT;
  if (s == "EACCES") return EACCES;
  return std::atoi(s.c_str());
}

void write_report(const std::string& file, const std::string& text) {
  if (file.empty()) return;
  // Written with plain syscalls on purpose: the report is not rewind data.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t n = ::write(fd, text.data(), text.size());
  (void)n;
  ::close(fd);
}
}  // namespace

Result<FaultPlan> parse_fault_plan(const std::string& spec) {
  FaultPlan p;
  auto parts = [&] {
    std::vector<std::string> v;
    size_t s = 0;
    while (true) {
      size_t e = spec.find(':', s);
      v.push_back(spec.substr(s, e == std::string::npos ? std::string::npos : e - s));
      if (e == std::string::npos) break;
      s = e + 1;
    }
    return v;
  }();
  if (parts[0] == "count") {
    p.mode = FaultPlan::Mode::kCount;
  } else if (parts[0] == "powerloss" && parts.size() == 2) {
    p.mode = FaultPlan::Mode::kPowerLoss;
    p.n = std::strtoull(parts[1].c_str(), nullptr, 10);
  } else if (parts[0] == "crash" && parts.size() == 2) {
    p.mode = FaultPlan::Mode::kCrash;
    p.n = std::strtoull(parts[1].c_str(), nullptr, 10);
  } else if (parts[0] == "stop" && parts.size() == 3) {
    p.mode = FaultPlan::Mode::kStop;
    bool ok_ = false;
    p.op = op_from_name(parts[1], &ok_);
    if (!ok_) return fail(Error::usage("unknown op '{}'", parts[1]));
    p.n = std::strtoull(parts[2].c_str(), nullptr, 10);
  } else if (parts[0] == "fail" && parts.size() == 4) {
    p.mode = FaultPlan::Mode::kFail;
    if (parts[1] == "mutating") {
      p.any_mutating = true;
    } else {
      bool ok_ = false;
      p.op = op_from_name(parts[1], &ok_);
      if (!ok_) return fail(Error::usage("unknown op '{}'", parts[1]));
    }
    p.n = std::strtoull(parts[2].c_str(), nullptr, 10);
    p.err = errno_from_name(parts[3]);
  } else {
    return fail(Error::usage("bad REWIND_FAULT '{}'", spec));
  }
  return p;
}

FaultFs::FaultFs(io::Fs& base, FaultPlan plan) : base_(base), plan_(std::move(plan)) {
  if (!plan_.trace.empty()) {
    // Plain syscalls on purpose: the trace is not rewind data.
    trace_fd_ = ::open(plan_.trace.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (trace_fd_ < 0) {
      std::fprintf(stderr, "rewind-faulty: cannot open trace file %s: %s\n", plan_.trace.c_str(),
                   std::strerror(errno));
      std::exit(2);
    }
  }
}

FaultFs::~FaultFs() {
  if (plan_.mode == FaultPlan::Mode::kCount)
    write_report(plan_.report, std::to_string(mutating_.load()) + "\n");
  if (trace_fd_ >= 0) ::close(trace_fd_);
}

void FaultFs::trace_line(const std::string& line) {
  std::string l = line + "\n";
  std::lock_guard lk(trace_mu_);
  // One write(2) per line with O_APPEND: lines never interleave, and each is
  // in the file (page cache) before the call returns, even if the process
  // _exits right after.
  ssize_t n = ::write(trace_fd_, l.data(), l.size());
  (void)n;
}

std::string FaultFs::at_path(int dirfd, std::string_view name) {
  if (!name.empty() && name.front() == '/') return std::string(name);
  std::string dir;
  if (dirfd == AT_FDCWD) {
    char buf[4096];
    if (::getcwd(buf, sizeof(buf)) != nullptr) dir = buf;
  } else {
    dir = fd_path(dirfd);
  }
  if (name.empty()) return dir;
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

bool FaultFs::exists_at(int dirfd, std::string_view name) {
  struct stat st;
  return ::fstatat(dirfd, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void FaultFs::trace_write(int fd) {
  {
    std::lock_guard lk(trace_mu_);
    if (!written_fds_.insert(fd).second) return;
  }
  trace_line("write\t" + fd_path(fd));
}

void FaultFs::trace_meta(io::Op op, const std::string& path) {
  trace_line(fmt::format("meta\t{}\t{}", io::op_name(op), path));
}

void FaultFs::trace_open(int fd, int flags, bool existed) {
  {
    // A new descriptor: whatever an earlier one of that number wrote is past.
    std::lock_guard lk(trace_mu_);
    written_fds_.erase(fd);
  }
  if ((flags & O_CREAT) && !existed) {
    trace_line("create\t" + fd_path(fd));
  } else if ((flags & O_TRUNC) && (flags & (O_WRONLY | O_RDWR))) {
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) trace_write(fd);
  }
}

Status FaultFs::check(io::Op op, bool creates) {
  bool mut = io::op_is_mutating(op) || creates;
  uint64_t k = mut ? mutating_.fetch_add(1) + 1 : mutating_.load();
  switch (plan_.mode) {
    case FaultPlan::Mode::kNone:
    case FaultPlan::Mode::kCount:
      return ok();
    case FaultPlan::Mode::kPowerLoss:
      if (mut && k == plan_.n) {
        write_report(plan_.report, fmt::format("power lost at {} {}\n", k, io::op_name(op)));
        lose_power();
        ::_exit(kCrashExit);
      }
      return ok();
    case FaultPlan::Mode::kCrash:
      if (mut && k == plan_.n) {
        write_report(plan_.report, fmt::format("crashed at {} {}\n", k, io::op_name(op)));
        ::_exit(kCrashExit);
      }
      return ok();
    case FaultPlan::Mode::kStop:
      if (op == plan_.op && per_op_.fetch_add(1) + 1 == plan_.n) {
        write_report(plan_.report, fmt::format("stopped at {} #{}\n", io::op_name(op), plan_.n));
        ::raise(SIGSTOP);
      }
      return ok();
    case FaultPlan::Mode::kFail: {
      bool match = plan_.any_mutating ? mut : op == plan_.op;
      if (!match) return ok();
      uint64_t n = per_op_.fetch_add(1) + 1;
      if (n != plan_.n) return ok();
      write_report(plan_.report, fmt::format("failed {} #{}\n", io::op_name(op), n));
      return fail(Error::from_errno(plan_.err, fmt::format("{} (injected)", io::op_name(op))));
    }
  }
  return ok();
}

#define CHECK_OP(op, creates) REWIND_TRY(check(op, creates))

std::string FaultFs::fd_path(int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

void FaultFs::track_open(int fd, const std::string& path, bool created) {
  std::lock_guard lk(mu_);
  fd_paths_[fd] = path;
  if (!synced_size_.contains(path)) {
    struct stat st;
    synced_size_[path] =
        created ? 0 : (::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
  }
  if (created) {
    std::string dir = path.substr(0, path.rfind('/'));
    unsynced_ops_.push_back(DirOp{dir, path, ""});
  }
}

void FaultFs::track_dir_op(int dirfd, std::string_view name, const std::string& from) {
  std::string dir = fd_path(dirfd);
  std::string path = dir + "/" + std::string(name);
  std::lock_guard lk(mu_);
  unsynced_ops_.push_back(DirOp{dir, path, from});
  if (!from.empty()) {
    auto it = synced_size_.find(from);
    if (it != synced_size_.end()) {
      synced_size_[path] = it->second;
      synced_size_.erase(it);
    }
  }
}

void FaultFs::lose_power() {
  std::lock_guard lk(mu_);
  // Unsynced data first, then the directory operations, newest first.
  for (const auto& [path, size] : synced_size_) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_size) > size)
      if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) continue;
  }
  for (auto it = unsynced_ops_.rbegin(); it != unsynced_ops_.rend(); ++it) {
    if (!it->from.empty()) {
      if (::rename(it->path.c_str(), it->from.c_str()) != 0) continue;
    } else if (::unlink(it->path.c_str()) != 0) {
      if (::rmdir(it->path.c_str()) != 0) continue;
    }
  }
}

Result<io::Fd> FaultFs::open_path(const std::string& path, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  bool existed = true;
  if ((tracking() || tracing()) && (flags & O_CREAT)) existed = exists_at(AT_FDCWD, path);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_path(path, flags, mode));
  if (tracking() && (flags & (O_WRONLY | O_RDWR)))
    track_open(fd.get(), fd_path(fd.get()), !existed);
  if (tracing()) trace_open(fd.get(), flags, existed);
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  bool existed = true;
  if (tracing() && (flags & O_CREAT)) existed = exists_at(dirfd, rel);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_beneath(dirfd, rel, flags, mode));
  if (tracing()) trace_open(fd.get(), flags, existed);
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_at(int dirfd, std::string_view name, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  bool existed = true;
  if ((tracking() || tracing()) && (flags & O_CREAT)) existed = exists_at(dirfd, name);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_at(dirfd, name, flags, mode));
  if (tracking() && (flags & (O_WRONLY | O_RDWR)))
    track_open(fd.get(), fd_path(fd.get()), !existed);
  if (tracing()) trace_open(fd.get(), flags, existed);
  return io::Fd(this, fd.release());
}
Status FaultFs::close(int fd) {
  if (tracking()) {
    std::lock_guard lk(mu_);
    fd_paths_.erase(fd);
  }
  if (tracing()) {
    std::lock_guard lk(trace_mu_);
    written_fds_.erase(fd);
  }
  return base_.close(fd);
}
Result<size_t> FaultFs::read(int fd, std::span<std::byte> buf) {
  CHECK_OP(io::Op::kRead, false);
  return base_.read(fd, buf);
}
Result<size_t> FaultFs::pread(int fd, std::span<std::byte> buf, uint64_t offset) {
  CHECK_OP(io::Op::kRead, false);
  return base_.pread(fd, buf, offset);
}
Status FaultFs::write(int fd, std::span<const std::byte> data) {
  CHECK_OP(io::Op::kWrite, false);
  REWIND_TRY(base_.write(fd, data));
  if (tracing()) trace_write(fd);
  return ok();
}
Status FaultFs::pwrite(int fd, std::span<const std::byte> data, uint64_t offset) {
  CHECK_OP(io::Op::kWrite, false);
  REWIND_TRY(base_.pwrite(fd, data, offset));
  if (tracing()) trace_write(fd);
  return ok();
}
Status FaultFs::fsync(int fd) {
  CHECK_OP(io::Op::kFsync, false);
  REWIND_TRY(base_.fsync(fd));
  if (tracking()) {
    std::string p = fd_path(fd);
    struct stat st;
    std::lock_guard lk(mu_);
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::erase_if(unsynced_ops_, [&](const DirOp& op) { return op.dir == p; });
    } else if (::stat(p.c_str(), &st) == 0) {
      synced_size_[p] = static_cast<uint64_t>(st.st_size);
    }
  }
  return ok();
}
Status FaultFs::syncfs(int fd) {
  CHECK_OP(io::Op::kSyncfs, false);
  REWIND_TRY(base_.syncfs(fd));
  if (tracking()) {
    std::lock_guard lk(mu_);
    unsynced_ops_.clear();
    for (auto& [path, size] : synced_size_) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) size = static_cast<uint64_t>(st.st_size);
    }
  }
  return ok();
}
Status FaultFs::ftruncate(int fd, uint64_t length) {
  CHECK_OP(io::Op::kTruncate, false);
  REWIND_TRY(base_.ftruncate(fd, length));
  if (tracing()) trace_write(fd);
  return ok();
}
Result<int64_t> FaultFs::seek_data(int fd, int64_t offset) { return base_.seek_data(fd, offset); }
Result<int64_t> FaultFs::seek_hole(int fd, int64_t offset) { return base_.seek_hole(fd, offset); }
Result<io::Stat> FaultFs::fstat(int fd) { return base_.fstat(fd); }
Result<io::Stat> FaultFs::stat_at(int dirfd, std::string_view name) {
  return base_.stat_at(dirfd, name);
}
Result<io::FsSpace> FaultFs::statfs(int fd) { return base_.statfs(fd); }
Status FaultFs::rename_at(int olddir, std::string_view oldname, int newdir,
                          std::string_view newname, unsigned flags) {
  CHECK_OP(io::Op::kRename, false);
  std::string from = tracking() ? fd_path(olddir) + "/" + std::string(oldname) : "";
  bool replaces = tracing() && exists_at(newdir, newname);
  REWIND_TRY(base_.rename_at(olddir, oldname, newdir, newname, flags));
  if (tracking()) track_dir_op(newdir, newname, from);
  if (tracing())
    trace_line(fmt::format("rename\t{}\t{}\t{}", at_path(olddir, oldname), at_path(newdir, newname),
                           (flags & RENAME_EXCHANGE) ? "exchange"
                           : replaces                ? "replace"
                                                     : "new"));
  return ok();
}
Status FaultFs::unlink_at(int dirfd, std::string_view name, int flags) {
  CHECK_OP(io::Op::kUnlink, false);
  std::string path = tracing() ? at_path(dirfd, name) : "";
  REWIND_TRY(base_.unlink_at(dirfd, name, flags));
  if (tracing())
    trace_line(fmt::format("unlink\t{}\t{}", path, (flags & AT_REMOVEDIR) ? "dir" : "file"));
  return ok();
}
Status FaultFs::mkdir_at(int dirfd, std::string_view name, mode_t mode) {
  CHECK_OP(io::Op::kMkdir, false);
  REWIND_TRY(base_.mkdir_at(dirfd, name, mode));
  if (tracking()) track_dir_op(dirfd, name, "");
  if (tracing()) trace_line("mkdir\t" + at_path(dirfd, name));
  return ok();
}
Status FaultFs::symlink_at(std::string_view target, int dirfd, std::string_view name) {
  CHECK_OP(io::Op::kSymlink, false);
  REWIND_TRY(base_.symlink_at(target, dirfd, name));
  if (tracing()) trace_line("symlink\t" + at_path(dirfd, name));
  return ok();
}
Result<std::string> FaultFs::readlink_at(int dirfd, std::string_view name) {
  return base_.readlink_at(dirfd, name);
}
Status FaultFs::mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) {
  CHECK_OP(io::Op::kMknod, false);
  REWIND_TRY(base_.mknod_at(dirfd, name, mode, dev));
  if (tracing()) trace_line("mknod\t" + at_path(dirfd, name));
  return ok();
}
Status FaultFs::link_at(int olddir, std::string_view oldname, int newdir,
                        std::string_view newname) {
  CHECK_OP(io::Op::kLink, false);
  REWIND_TRY(base_.link_at(olddir, oldname, newdir, newname));
  if (tracing()) trace_line("link\t" + at_path(newdir, newname));
  return ok();
}
Status FaultFs::fchown(int fd, uint32_t uid, uint32_t gid) {
  CHECK_OP(io::Op::kChown, false);
  REWIND_TRY(base_.fchown(fd, uid, gid));
  if (tracing()) trace_meta(io::Op::kChown, fd_path(fd));
  return ok();
}
Status FaultFs::fchmod(int fd, mode_t mode) {
  CHECK_OP(io::Op::kChmod, false);
  REWIND_TRY(base_.fchmod(fd, mode));
  if (tracing()) trace_meta(io::Op::kChmod, fd_path(fd));
  return ok();
}
Status FaultFs::futimens(int fd, int64_t a, int64_t m) {
  CHECK_OP(io::Op::kUtimens, false);
  REWIND_TRY(base_.futimens(fd, a, m));
  if (tracing()) trace_meta(io::Op::kUtimens, fd_path(fd));
  return ok();
}
Status FaultFs::lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) {
  CHECK_OP(io::Op::kChown, false);
  REWIND_TRY(base_.lchown_at(dirfd, name, uid, gid));
  if (tracing()) trace_meta(io::Op::kChown, at_path(dirfd, name));
  return ok();
}
Status FaultFs::lutimens_at(int dirfd, std::string_view name, int64_t a, int64_t m) {
  CHECK_OP(io::Op::kUtimens, false);
  REWIND_TRY(base_.lutimens_at(dirfd, name, a, m));
  if (tracing()) trace_meta(io::Op::kUtimens, at_path(dirfd, name));
  return ok();
}
Status FaultFs::chmod_at(int dirfd, std::string_view name, mode_t mode) {
  CHECK_OP(io::Op::kChmod, false);
  REWIND_TRY(base_.chmod_at(dirfd, name, mode));
  if (tracing()) trace_meta(io::Op::kChmod, at_path(dirfd, name));
  return ok();
}
Result<std::vector<std::string>> FaultFs::list_xattrs(int fd) { return base_.list_xattrs(fd); }
Result<std::string> FaultFs::get_xattr(int fd, const std::string& name) {
  return base_.get_xattr(fd, name);
}
Status FaultFs::set_xattr(int fd, const std::string& name, std::string_view value) {
  CHECK_OP(io::Op::kSetXattr, false);
  REWIND_TRY(base_.set_xattr(fd, name, value));
  if (tracing()) trace_meta(io::Op::kSetXattr, fd_path(fd));
  return ok();
}
Status FaultFs::remove_xattr(int fd, const std::string& name) {
  CHECK_OP(io::Op::kSetXattr, false);
  REWIND_TRY(base_.remove_xattr(fd, name));
  if (tracing()) trace_meta(io::Op::kSetXattr, fd_path(fd));
  return ok();
}
Result<uint32_t> FaultFs::get_flags(int fd) { return base_.get_flags(fd); }
Status FaultFs::set_flags(int fd, uint32_t flags) {
  CHECK_OP(io::Op::kSetFlags, false);
  REWIND_TRY(base_.set_flags(fd, flags));
  if (tracing()) trace_meta(io::Op::kSetFlags, fd_path(fd));
  return ok();
}
Result<std::vector<io::DirEntry>> FaultFs::list_dir(int dirfd) { return base_.list_dir(dirfd); }
Status FaultFs::flock(int fd, bool exclusive, bool wait) {
  return base_.flock(fd, exclusive, wait);
}
Status FaultFs::funlock(int fd) { return base_.funlock(fd); }
Status FaultFs::ofd_lock(int fd, short type, int64_t start, int64_t len, bool wait) {
  return base_.ofd_lock(fd, type, start, len, wait);
}
Result<bool> FaultFs::ofd_lock_conflicts(int fd, short type, int64_t start, int64_t len) {
  return base_.ofd_lock_conflicts(fd, type, start, len);
}
Result<void*> FaultFs::mmap_shared(int fd, size_t length, uint64_t offset) {
  REWIND_ASSIGN_OR_RETURN(void* p, base_.mmap_shared(fd, length, offset));
  if (tracing()) trace_write(fd);
  return p;
}
Status FaultFs::munmap(void* addr, size_t length) { return base_.munmap(addr, length); }

void install_fault_fs_from_env() {
  const char* spec = std::getenv("REWIND_FAULT");
  const char* trace = std::getenv("REWIND_FAULT_TRACE");
  bool has_spec = spec != nullptr && *spec != '\0';
  bool has_trace = trace != nullptr && *trace != '\0';
  if (!has_spec && !has_trace) return;
  auto plan = has_spec ? parse_fault_plan(spec) : Result<FaultPlan>(FaultPlan{});
  if (!plan) {
    std::fprintf(stderr, "rewind-faulty: %s\n", plan.error().message().c_str());
    std::exit(2);
  }
  if (const char* r = std::getenv("REWIND_FAULT_REPORT")) plan->report = r;
  if (has_trace) plan->trace = trace;
  // Lives until exit; the destructor writes the count report.
  static FaultFs fs(io::posix_fs(), *plan);
  io::set_default_fs(&fs);
}

}  // namespace rwd::testing
