// SPDX-License-Identifier: Apache-2.0
// Progress and warnings from long operations. The library never prints: it
// reports here, and the CLI renders text or JSON Lines, the daemon logs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rwd {

struct Progress {
  std::string operation;  // "create", "restore", "verify", ...
  std::string phase;      // "scan", "capture", "write", "commit", ...
  uint64_t files_done = 0;
  uint64_t files_total = 0;  // 0 when unknown
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 when unknown
  double percent = -1;       // of the whole operation, when known (rollback)
};

class ProgressObserver {
 public:
  virtual ~ProgressObserver() = default;
  virtual void on_progress(const Progress& p) = 0;
  virtual void on_warning(std::string_view message) = 0;
};

// An observer that ignores everything.
class NullObserver final : public ProgressObserver {
 public:
  void on_progress(const Progress&) override {}
  void on_warning(std::string_view) override {}
};

}  // namespace rwd
