// SPDX-License-Identifier: Apache-2.0
#include "support/fault_fs.h"

#include <fcntl.h>
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
  if (plan_.mode == FaultPlan::Mode::kCount) write_report(plan_.report, std::to_string(mutating_.load()) + "\n");
}

Status FaultFs::check(io::Op op, bool creates) {
  bool mut = io::op_is_mutating(op) || creates;
  uint64_t k = mut ? mutating_.fetch_add(1) + 1 : mutating_.load();
  switch (plan_.mode) {
    case FaultPlan::Mode::kNone:
    case FaultPlan::Mode::kCount: return ok();
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

Result<io::Fd> FaultFs::open_path(const std::string& path, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_path(path, flags, mode));
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_beneath(int dirfd, std::string_view rel, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_beneath(dirfd, rel, flags, mode));
  return io::Fd(this, fd.release());
}
Result<io::Fd> FaultFs::open_at(int dirfd, std::string_view name, int flags, mode_t mode) {
  CHECK_OP(io::Op::kOpen, (flags & O_CREAT) != 0);
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, base_.open_at(dirfd, name, flags, mode));
  return io::Fd(this, fd.release());
}
Status FaultFs::close(int fd) { return base_.close(fd); }
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
  return base_.fsync(fd);
}
Status FaultFs::syncfs(int fd) {
  CHECK_OP(io::Op::kSyncfs, false);
  return base_.syncfs(fd);
}
Status FaultFs::ftruncate(int fd, uint64_t length) {
  CHECK_OP(io::Op::kTruncate, false);
  return base_.ftruncate(fd, length);
}
Result<int64_t> FaultFs::seek_data(int fd, int64_t offset) { return base_.seek_data(fd, offset); }
Result<int64_t> FaultFs::seek_hole(int fd, int64_t offset) { return base_.seek_hole(fd, offset); }
Result<io::Stat> FaultFs::fstat(int fd) { return base_.fstat(fd); }
Result<io::Stat> FaultFs::stat_at(int dirfd, std::string_view name) { return base_.stat_at(dirfd, name); }
Result<io::FsSpace> FaultFs::statfs(int fd) { return base_.statfs(fd); }
Status FaultFs::rename_at(int olddir, std::string_view oldname, int newdir, std::string_view newname,
                          unsigned flags) {
  CHECK_OP(io::Op::kRename, false);
  return base_.rename_at(olddir, oldname, newdir, newname, flags);
}
Status FaultFs::unlink_at(int dirfd, std::string_view name, int flags) {
  CHECK_OP(io::Op::kUnlink, false);
  return base_.unlink_at(dirfd, name, flags);
}
Status FaultFs::mkdir_at(int dirfd, std::string_view name, mode_t mode) {
  CHECK_OP(io::Op::kMkdir, false);
  return base_.mkdir_at(dirfd, name, mode);
}
Status FaultFs::symlink_at(std::string_view target, int dirfd, std::string_view name) {
  CHECK_OP(io::Op::kSymlink, false);
  return base_.symlink_at(target, dirfd, name);
}
Result<std::string> FaultFs::readlink_at(int dirfd, std::string_view name) { return base_.readlink_at(dirfd, name); }
Status FaultFs::mknod_at(int dirfd, std::string_view name, mode_t mode, uint64_t dev) {
  CHECK_OP(io::Op::kMknod, false);
  return base_.mknod_at(dirfd, name, mode, dev);
}
Status FaultFs::link_at(int olddir, std::string_view oldname, int newdir, std::string_view newname) {
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
Result<std::string> FaultFs::get_xattr(int fd, const std::string& name) { return base_.get_xattr(fd, name); }
Status FaultFs::set_xattr(int fd, const std::string& name, std::string_view value) {
  CHECK_OP(io::Op::kSetXattr, false);
  return base_.set_xattr(fd, name, value);
}
Result<uint32_t> FaultFs::get_flags(int fd) { return base_.get_flags(fd); }
Status FaultFs::set_flags(int fd, uint32_t flags) {
  CHECK_OP(io::Op::kSetFlags, false);
  return base_.set_flags(fd, flags);
}
Result<std::vector<io::DirEntry>> FaultFs::list_dir(int dirfd) { return base_.list_dir(dirfd); }
Status FaultFs::flock(int fd, bool exclusive, bool wait) { return base_.flock(fd, exclusive, wait); }
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
