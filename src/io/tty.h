// SPDX-License-Identifier: Apache-2.0
// Asking a person for a secret on the terminal (a repository passphrase).
// Only the CLI uses it, and only when interactive() says a person is there,
// so that a script without a passphrase fails instead of hanging.
#pragma once

#include <string>

#include "rewind/result.h"

namespace rwd::io {

// True when standard input and standard error are both terminals.
bool interactive();

// Writes `prompt` to the controlling terminal and reads one line with echo
// off (restored afterwards, also on error). kUsage when there is no
// terminal, kIo on a read error.
Result<std::string> read_secret(const std::string& prompt);

}  // namespace rwd::io
