// SPDX-License-Identifier: Apache-2.0
// The capture walk shared by capture and diff: a depth-first walk in
// manifest order that produces entries with metadata, and asks a content
// function for the chunk list of regular files that changed.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "components/files/files.h"

namespace rwd::components::files {

// Reads a regular file's data (the extents, or all of it) and returns its
// chunk list. `fd` is open O_RDONLY.
using ContentFn = std::function<Result<std::vector<store::ChunkRef>>(
    int fd, const std::vector<store::Extent>& extents, bool sparse, uint64_t size)>;

struct WalkStats {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t files_read = 0;
  uint64_t bytes_read = 0;
};

class Walker {
 public:
  Walker(io::Fs& fs, const CaptureOptions& opts, ContentFn content,
         const std::vector<store::Entry>* previous, ProgressObserver& obs, std::string operation);
  // Calls emit for every entry, in path_less order.
  Status run(const std::function<Status(store::Entry&&)>& emit);
  const std::vector<std::string>& warnings() const { return warnings_; }
  const WalkStats& stats() const { return stats_; }

 private:
  Status walk_dir(int dirfd, const std::string& rel, const std::string& abs, uint64_t dev,
                  const std::function<Status(store::Entry&&)>& emit);
  Status make_entry(int parentfd, const std::string& name, const std::string& rel,
                    const io::Stat& st, store::Entry& e, io::Fd* keep_dir);
  Status read_file(int fd, const io::Stat& st, store::Entry& e, const std::string& abs);
  bool excluded(const std::string& abs, bool is_dir) const;
  void warn(std::string msg);

  io::Fs& fs_;
  const CaptureOptions& opts_;
  ContentFn content_;
  ProgressObserver& obs_;
  std::string operation_;
  std::vector<std::string> patterns_;
  std::unordered_map<std::string_view, const store::Entry*> prev_;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, uint64_t>>
      links_;  // dev -> ino -> index
  uint64_t index_ = 0;
  std::vector<std::string> warnings_;
  WalkStats stats_;
  Progress progress_;
};

// Normalizes an absolute path ("/a//b/" -> "/a/b"); kUsage if relative or
// holding "..".
Result<std::string> normalize_abs(std::string_view path);

}  // namespace rwd::components::files
