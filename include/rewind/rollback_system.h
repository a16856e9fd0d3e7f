// SPDX-License-Identifier: Apache-2.0
// The public facade of rewind: recovery points of file trees in a
// repository. The CLI and the daemon use only this header and its value
// types; internals stay behind the pimpl.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rewind/progress.h"
#include "rewind/result.h"

namespace rwd {

namespace io {
class Fs;
}

struct ComponentInfo {
  std::string name;
  std::string adapter;
  std::string category;
  std::vector<std::string> paths;
  uint64_t entries = 0;
  uint64_t size = 0;    // logical bytes
  uint64_t stored = 0;  // stored bytes of the chunks it references
  uint64_t added = 0;   // stored bytes the point added
};

struct RecoveryPointInfo {
  int64_t id = 0;
  std::string name;
  std::string description;
  std::string kind;
  std::string cause;
  int64_t time_ns = 0;
  std::string user;
  std::string host;
  std::string kernel;
  std::vector<std::string> tags;
  bool pinned = false;
  int64_t pre_id = 0;
  std::vector<ComponentInfo> components;
};

struct SystemOptions {
  std::string repository;  // repository directory
  std::string system_root = "/";
  bool wait_for_lock = false;
  int threads = 2;
  io::Fs* fs = nullptr;  // default: the process-wide io::default_fs()
};

struct CreateOptions {
  std::vector<std::string> paths;  // absolute, within the system root
  std::vector<std::string> exclude;
  std::string name;
  std::string description;
  std::string kind = "single";
  std::string cause = "manual";
  std::vector<std::string> tags;
  bool pinned = false;
};

struct CreateReport {
  int64_t id = 0;
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t files_read = 0;
  uint64_t bytes_read = 0;
  uint64_t added = 0;
  std::vector<std::string> warnings;
};

struct DiffItem {
  std::string component;
  std::string path;  // absolute within the system root
  std::string kind;  // added, removed, content, metadata, type
  std::vector<std::string> attributes;
};

struct RestoreRequest {
  std::string point;               // an ID: number, latest, latest:KIND
  std::vector<std::string> paths;  // absolute within the system root; empty = all
  std::optional<std::string> to;   // restore into this directory instead of in place
  bool overwrite = false;          // allow a non-empty --to directory
};

struct RestoreReport {
  int64_t id = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  std::vector<std::string> warnings;
};

struct VerifyReport {
  uint64_t packs = 0;
  uint64_t chunks = 0;
  uint64_t points = 0;
  uint64_t bytes_read = 0;
  std::vector<std::string> problems;  // each fails verify
  std::vector<std::string> notes;     // harmless states, such as an interrupted create
};

struct RepairReport {
  uint64_t packs = 0;
  uint64_t chunks = 0;
  uint64_t points = 0;
  std::vector<std::string> problems;
};

class RollbackSystem {
 public:
  // Creates a new repository at options.repository.
  static Status init_repository(const SystemOptions& options, int compression_level = 3);
  static Result<std::unique_ptr<RollbackSystem>> open(const SystemOptions& options);
  ~RollbackSystem();

  // Takes a recovery point of the given paths (one files component each).
  Result<CreateReport> create_recovery_point(const CreateOptions& opts, ProgressObserver& obs);
  // Same with a name (the seed's helper).
  Result<CreateReport> create_recovery_point_with_name(const std::string& name,
                                                       const std::vector<std::string>& paths,
                                                       ProgressObserver& obs);
  Result<std::vector<RecoveryPointInfo>> list_recovery_points();
  Result<RecoveryPointInfo> get_recovery_point(const std::string& id);
  // Resolves a number, `latest` or `latest:KIND`. kNotFound, kUsage.
  Result<int64_t> resolve(const std::string& id);
  // Differences between two points, or between a point and the live system.
  Result<std::vector<DiffItem>> diff(const std::string& id, const std::optional<std::string>& id2,
                                     ProgressObserver& obs);
  Result<RestoreReport> restore(const RestoreRequest& req, ProgressObserver& obs);
  Result<VerifyReport> verify(bool read_data, ProgressObserver& obs);
  // Writes one file of a point to out_fd.
  Status dump(const std::string& id, const std::string& path, int out_fd);
  // Rebuilds the catalog's index and points from packs and root records.
  Result<RepairReport> repair(ProgressObserver& obs);

  const SystemOptions& options() const;

 private:
  struct Impl;
  explicit RollbackSystem(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Version strings for --version.
const char* version();
int repository_format_version();

}  // namespace rwd
