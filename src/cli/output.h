// SPDX-License-Identifier: Apache-2.0
// Rendering for the CLI: a progress line on a terminal, JSON Lines progress
// events with --json, warnings on stderr.
#pragma once

#include <chrono>
#include <string>

#include "rewind/progress.h"

namespace rwd::cli {

struct OutputMode {
  bool json = false;
  bool quiet = false;
  int verbose = 0;
};

class CliObserver final : public ProgressObserver {
 public:
  explicit CliObserver(OutputMode mode);
  ~CliObserver() override;
  void on_progress(const Progress& p) override;
  void on_warning(std::string_view message) override;
  void finish();

 private:
  OutputMode mode_;
  bool tty_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

std::string format_time(int64_t time_ns);  // RFC 3339 UTC with Z
std::string human_bytes(uint64_t n);

}  // namespace rwd::cli
