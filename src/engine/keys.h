// SPDX-License-Identifier: Apache-2.0
// Passphrases of encrypted repositories: where the engine gets one
// (SystemOptions, a file, the environment, a prompt), and the key
// operations behind `rewind key`. The cryptography is store/crypto.h's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "io/fs.h"
#include "rewind/rollback_system.h"

namespace rwd::engine {

class RecoveryPointManager;

// The first line of `file` (a final newline is not part of the
// passphrase). kUsage when it cannot be read or is empty.
Result<std::string> read_password_file(io::Fs& fs, const std::string& file);

// The passphrase per SystemOptions' order (password, password_file,
// REWIND_PASSWORD_FILE, ask_password with `prompt`). kWrongKey naming the
// ways to give one when there is none.
Result<std::string> passphrase(io::Fs& fs, const SystemOptions& o, const std::string& prompt,
                               bool confirm);

// For store::OpenOptions::passphrase: asks only when called.
std::function<Result<std::string>()> passphrase_source(io::Fs& fs, const SystemOptions& o);

Result<std::vector<RepositoryKey>> list_keys(RecoveryPointManager& m);
// Adds a key for `pass`; with `replace_current`, then removes the key that
// opened the repository (`key passwd`). Returns the new key's id.
Result<std::string> add_key(RecoveryPointManager& m, const std::string& pass, bool replace_current);
Status remove_key(RecoveryPointManager& m, const std::string& id);

}  // namespace rwd::engine
