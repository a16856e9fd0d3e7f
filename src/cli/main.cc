// SPDX-License-Identifier: Apache-2.0
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "io/fs.h"
#ifdef REWIND_FAULT_BUILD
#include "support/fault_fs.h"
#endif

int main(int argc, char** argv) {
  // Restore keeps one descriptor per directory of a batch open.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Modes are set explicitly; the umask must not change them.
  umask(022);
#ifdef REWIND_FAULT_BUILD
  rwd::testing::install_fault_fs_from_env();
#endif
  try {
    return rwd::cli::run_cli(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rewind: internal error: %s\n", e.what());
    return rwd::cli::kExitError;
  } catch (...) {
    std::fprintf(stderr, "rewind: internal error\n");
    return rwd::cli::kExitError;
  }
}
