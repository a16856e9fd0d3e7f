// SPDX-License-Identifier: Apache-2.0
#include "support/fault_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

FaultFs::~FaultFs() {
  if (plan_.mode == FaultPlan::Mode::kCount)
    write_report(plan_.report, std::to_string(mutating_.load()) + "\n");
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
  if (tracking() && (flags & O_CREAT)) existed = ::access(path.c_str(), F_OK) == 0;
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_path(path, flags, mode));
  if (tracking() && (flags & (O_WRONLY | O_RDWR)))
    track_open(fd.get(), fd_path(fd.get()), !existed);
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_beneath(dirfd, rel, flags, mode));
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_at(int dirfd, std::string_view name, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  bool existed = true;
  if (tracking() && (flags & O_CREAT)) existed = base_.stat_at(dirfd, name).has_value();
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_at(dirfd, name, flags, mode));
  if (tracking() && (flags & (O_WRONLY | O_RDWR)))
    track_open(fd.get(), fd_path(fd.get()), !existed);
  return io::Fd(this, fd.release());
}
Status FaultFs::close(int fd) {
  if (tracking()) {
    std::lock_guard lk(mu_);
    fd_paths_.erase(fd);
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
  return base_.write(fd, data);
}
Status FaultFs::pwrite(int fd, std::span<const std::byte> data, uint64_t offset) {
  CHECK_OP(io::Op::kWrite, false);
  return base_.pwrite(fd, data, offset);
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
  return base_.ftruncate(fd, length);
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
  REWIND_TRY(base_.rename_at(olddir, oldname, newdir, newname, flags));
  if (tracking()) track_dir_op(newdir, newname, from);
  return ok();
}
Status FaultFs::unlink_at(int dirfd, std::string_view name, int flags) {
  CHECK_OP(io::Op::kUnlink, false);
  return base_.unlink_at(dirfd, name, flags);
}
Status FaultFs::mkdir_at(int dirfd, std::string_view name, mode_t mode) {
  CHECK_OP(io::Op::kMkdir, false);
  REWIND_TRY(base_.mkdir_at(dirfd, name, mode));
  if (tracking()) track_dir_op(dirfd, name, "");
  return ok();
}
Status FaultFs::symlink_at(std::string_view target, int dirfd, std::string_view name) {
  CHECK_OP(io::Op::kSymlink, false);
  return base_.symlink_at(target, dirfd, name);
}
Result<std::string> FaultFs::readlink_at(int dirfd, std::string_view name) {
  return base_.readlink_at(dirfd, name);
}
Status FaultFs::mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) {
  CHECK_OP(io::Op::kMknod, false);
  return base_.mknod_at(dirfd, name, mode, dev);
}
Status FaultFs::link_at(int olddir, std::string_view oldname, int newdir,
                        std::string_view newname) {
  CHECK_OP(io::Op::kLink, false);
  return base_.link_at(olddir, oldname, newdir, newname);
}
Status FaultFs::fchown(int fd, uint32_t uid, uint32_t gid) {
  CHECK_OP(io::Op::kChown, false);
  return base_.fchown(fd, uid, gid);
}
Status FaultFs::fchmod(int fd, mode_t mode) {
  CHECK_OP(io::Op::kChmod, false);
  return base_.fchmod(fd, mode);
}
Status FaultFs::futimens(int fd, int64_t a, int64_t m) {
  CHECK_OP(io::Op::kUtimens, false);
  return base_.futimens(fd, a, m);
}
Status FaultFs::lchown_at(int dirfd, std::string_view name, uint32_t uid, uint32_t gid) {
  CHECK_OP(io::Op::kChown, false);
  return base_.lchown_at(dirfd, name, uid, gid);
}
Status FaultFs::lutimens_at(int dirfd, std::string_view name, int64_t a, int64_t m) {
  CHECK_OP(io::Op::kUtimens, false);
  return base_.lutimens_at(dirfd, name, a, m);
}
Status FaultFs::chmod_at(int dirfd, std::string_view name, mode_t mode) {
  CHECK_OP(io::Op::kChmod, false);
  return base_.chmod_at(dirfd, name, mode);
}
Result<std::vector<std::string>> FaultFs::list_xattrs(int fd) { return base_.list_xattrs(fd); }
Result<std::string> FaultFs::get_xattr(int fd, const std::string& name) {
  return base_.get_xattr(fd, name);
}
Status FaultFs::set_xattr(int fd, const std::string& name, std::string_view value) {
  CHECK_OP(io::Op::kSetXattr, false);
  return base_.set_xattr(fd, name, value);
}
Status FaultFs::remove_xattr(int fd, const std::string& name) {
  CHECK_OP(io::Op::kSetXattr, false);
  return base_.remove_xattr(fd, name);
}
Result<uint32_t> FaultFs::get_flags(int fd) { return base_.get_flags(fd); }
Status FaultFs::set_flags(int fd, uint32_t flags) {
  CHECK_OP(io::Op::kSetFlags, false);
  return base_.set_flags(fd, flags);
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
  return base_.mmap_shared(fd, length, offset);
}
Status FaultFs::munmap(void* addr, size_t length) { return base_.munmap(addr, length); }

void install_fault_fs_from_env() {
  const char* spec = std::getenv("REWIND_FAULT");
  if (spec == nullptr || *spec == '\0') return;
  auto plan = parse_fault_plan(spec);
  if (!plan) {
    std::fprintf(stderr, "rewind-faulty: %s\n", plan.error().message().c_str());
    std::exit(2);
  }
  if (const char* r = std::getenv("REWIND_FAULT_REPORT")) plan->report = r;
  // Lives until exit; the destructor writes the count report.
  static FaultFs fs(io::posix_fs(), *plan);
  io::set_default_fs(&fs);
}

}  // namespace rwd::testing
