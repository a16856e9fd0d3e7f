// SPDX-License-Identifier: Apache-2.0
#include "io/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <random>

namespace rwd::io {

std::string temp_name() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return fmt::format("{}{}-{}-{:x}", kTempPrefix, ::getpid(), counter.fetch_add(1),
                     salt & 0xffffff);
}

Result<StagedFile> StagedFile::create(Fs& fs, int dirfd, mode_t mode) {
  std::string name = temp_name();
  REWIND_ASSIGN_OR_RETURN(Fd fd, fs.open_at(dirfd, name, O_CREAT | O_EXCL | O_WRONLY, mode));
  return StagedFile(fs, dirfd, std::move(fd), std::move(name));
}

StagedFile::StagedFile(StagedFile&& o) noexcept
    : fs_(o.fs_),
      dirfd_(o.dirfd_),
      fd_(std::move(o.fd_)),
      temp_(std::move(o.temp_)),
      size_(o.size_),
      done_(o.done_) {
  o.done_ = true;
}

StagedFile::~StagedFile() {
  if (!done_) abandon();
}

Status StagedFile::append(std::span<const std::byte> data) {
  Status st = fs_->write(fd_.get(), data);
  if (st) size_ += data.size();
  return st;
}

Status StagedFile::publish(std::string_view name) {
  // Rule 1: data durable before the name points at it.
  if (Status st = fs_->fsync(fd_.get()); !st) {
    abandon();
    return st;
  }
  if (Status st = fd_.close(); !st) {
    abandon();
    return st;
  }
  if (Status st = fs_->rename_at(dirfd_, temp_, dirfd_, name); !st) {
    abandon();
    return st;
  }
  done_ = true;
  return fs_->fsync_dir(dirfd_);
}

Status StagedFile::publish_unsynced(std::string_view name) {
  if (fd_.valid()) {
    if (Status st = fd_.close(); !st) {
      abandon();
      return st;
    }
  }
  if (Status st = fs_->rename_at(dirfd_, temp_, dirfd_, name); !st) {
    abandon();
    return st;
  }
  done_ = true;
  return ok();
}

Status StagedFile::close_keep() {
  if (!fd_.valid()) return ok();
  Status st = fd_.close();
  if (!st) {
    abandon();
    return st;
  }
  // The caller owns the temporary name from here on.
  done_ = true;
  return st;
}

void StagedFile::abandon() {
  if (done_) return;
  done_ = true;
  if (fd_.valid()) ignore_status(fd_.close(), "abandoning a temporary file");
  ignore_status(fs_->unlink_at(dirfd_, temp_), "best-effort cleanup of a temporary file");
}

Status write_file_atomic(Fs& fs, int dirfd, std::string_view name, std::span<const std::byte> data,
                         mode_t mode) {
  REWIND_ASSIGN_OR_RETURN(StagedFile f, StagedFile::create(fs, dirfd, mode));
  REWIND_TRY(f.append(data));
  return f.publish(name);
}

Result<std::string> read_small_file(Fs& fs, int dirfd, std::string_view name, size_t max_size) {
  REWIND_ASSIGN_OR_RETURN(Fd fd, fs.open_at(dirfd, name, O_RDONLY));
  REWIND_ASSIGN_OR_RETURN(Stat st, fs.fstat(fd.get()));
  if (st.size > max_size)
    return fail(Error::corrupted_data("{} is {} bytes, more than the limit of {}", name, st.size,
                                      max_size));
  std::string out(st.size, '\0');
  REWIND_ASSIGN_OR_RETURN(
      size_t n, fs.pread(fd.get(), {reinterpret_cast<std::byte*>(out.data()), out.size()}, 0));
  out.resize(n);
  return out;
}

}  // namespace rwd::io
