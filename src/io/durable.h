// SPDX-License-Identifier: Apache-2.0
// The one module that creates and replaces files durably (STYLE.md §5 rule 1):
// write a temporary file in the target directory, fsync it, rename it over
// the target, fsync the directory. Nothing else in rewind writes files by
// hand. Callers that publish many files may batch durability (one syncfs
// before the renames and one after) with StagedFile::publish_unsynced.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "io/fs.h"

namespace rwd::io {

// Prefix of every temporary name rewind creates; `recover` and `verify`
// recognise leftovers by it.
inline constexpr std::string_view kTempPrefix = ".rw-tmp-";

// A unique temporary name in the kTempPrefix namespace.
std::string temp_name();

// A file being written under a temporary name in `dirfd`.
// Errors: kNoSpace, kPermissionDenied, kIo. On error or crash, the target is
// untouched; the temporary file is unlinked on a best-effort basis (a crash
// may leave it behind for recover/prune to remove).
class StagedFile {
 public:
  // Creates `.rw-tmp-*` in dirfd with O_CREAT|O_EXCL|O_WRONLY and `mode`
  // (0600 by default: nothing is readable by others while it is written).
  static Result<StagedFile> create(Fs& fs, int dirfd, mode_t mode = 0600);

  StagedFile(StagedFile&&) noexcept;
  StagedFile& operator=(StagedFile&&) = delete;
  StagedFile(const StagedFile&) = delete;
  ~StagedFile();

  int fd() const { return fd_.get(); }
  const std::string& temp() const { return temp_; }
  Status append(std::span<const std::byte> data);
  uint64_t size() const { return size_; }

  // fsync(file), close, rename over `name`, fsync(dir). After a failed fsync
  // or rename the file is abandoned: nothing is retried.
  Status publish(std::string_view name);
  // For batched durability: the caller has made the data durable (syncfs)
  // before calling; renames and closes without per-file fsyncs. The caller
  // syncs the file system again before anything references the file.
  Status publish_unsynced(std::string_view name);
  // Closes the file, keeping it under its temporary name (for callers that
  // rename later, after one syncfs for many files).
  Status close_keep();
  // Unlinks the temporary file (best effort).
  void abandon();

 private:
  StagedFile(Fs& fs, int dirfd, Fd fd, std::string temp)
      : fs_(&fs), dirfd_(dirfd), fd_(std::move(fd)), temp_(std::move(temp)) {}
  Fs* fs_;
  int dirfd_;
  Fd fd_;
  std::string temp_;
  uint64_t size_ = 0;
  bool done_ = false;
};

// Replaces dirfd/name with `data` (mode applied at creation), atomically and
// durably. Errors: kNoSpace, kPermissionDenied, kIo; on error or crash the old
// file is intact.
Status write_file_atomic(Fs& fs, int dirfd, std::string_view name, std::span<const std::byte> data,
                         mode_t mode = 0600);

// Reads a whole small file (at most max_size bytes, else kCorruptedData).
Result<std::string> read_small_file(Fs& fs, int dirfd, std::string_view name,
                                    size_t max_size = 64 << 20);

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace rwd::io
