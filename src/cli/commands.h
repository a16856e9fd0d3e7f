// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace rwd::cli {
// Parses argv, runs the command, returns the exit code (exit_codes.h).
int run_cli(int argc, char** argv);
}  // namespace rwd::cli
