// SPDX-License-Identifier: Apache-2.0
// Running other programs (service commands, pre/post-capture hooks): the
// process part of the io seam. A command runs in its own process group with a
// time limit; on timeout the group gets SIGTERM, then SIGKILL after a grace
// period.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "rewind/result.h"

namespace rwd::io {

struct ProcessResult {
  int exit_code = -1;      // the exit status, or -1 when killed by a signal
  int signal = 0;          // the signal that ended it, if any
  bool timed_out = false;  // ended by rewind because it ran out of time
  int interrupted_by = 0;  // a signal rewind received and passed on (forward_signals)
  std::string output;      // stdout and stderr, the first 64 KiB
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
  std::vector<std::string> env;  // "NAME=value", added to (or replacing in) rewind's environment
  std::string cwd;               // empty: rewind's own
  std::string stdin_path;        // empty: /dev/null
  // When set, stdout goes to this file (created 0600, truncated) and only
  // stderr is kept in `output`.
  std::string stdout_path;
  // When set, stdout and stderr are rewind's own (`rewind run`: the
  // command's output passes through untouched) and `output` stays empty;
  // so is stdin, unless stdin_path is given.
  bool inherit_output = false;
  // While the command runs, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
  // rewind are passed on to the command's process group (which a terminal's
  // Ctrl-C does not reach: it is not the foreground group), and rewind waits
  // for it to end instead of dying and leaving it running unwatched; what
  // is left of the group when its leader ends gets SIGKILL, as on a timeout.
  // The previous handlers are back when run_process returns.
  bool forward_signals = false;
};

// Runs argv (searched in PATH). Errors: kUsage for an empty argv, kNotFound
// when the program does not exist, kPermissionDenied when it cannot be run.
Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  std::chrono::milliseconds grace = std::chrono::seconds(5));

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessOptions& opts);

// "exited with status 3", "killed by signal 9", "timed out after 5s".
std::string describe(const ProcessResult& r);

}  // namespace rwd::io
