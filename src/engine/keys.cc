// SPDX-License-Identifier: Apache-2.0
#include "engine/keys.h"

#include <fcntl.h>

#include <cstdlib>

#include "engine/recovery_point_manager.h"
#include "io/durable.h"
#include "store/repository.h"

namespace rwd::engine {

Result<std::string> read_password_file(io::Fs& fs, const std::string& file) {
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
  auto unreadable = [&](const Error& e) {
    return fail(Error::usage("cannot read the password file {}: {}", file, e.message()));
  };
  auto dfd = fs.open_path(dir, O_RDONLY | O_DIRECTORY);
  if (!dfd) return unreadable(dfd.error());
  auto text = io::read_small_file(fs, dfd->get(), base, 64 << 10);
  if (!text) return unreadable(text.error());
  std::string pass = text->substr(0, text->find('\n'));
  if (pass.empty()) return fail(Error::usage("the password file {} is empty", file));
  return pass;
}

Result<std::string> passphrase(io::Fs& fs, const SystemOptions& o, const std::string& prompt,
                               bool confirm) {
  if (!o.password.empty()) return o.password;
  if (!o.password_file.empty()) return read_password_file(fs, o.password_file);
  if (const char* env = std::getenv("REWIND_PASSWORD_FILE"); env && *env)
    return read_password_file(fs, env);
  if (o.ask_password) {
    REWIND_ASSIGN_OR_RETURN(std::string pass, o.ask_password(prompt, confirm));
    if (pass.empty()) return fail(Error::usage("an empty passphrase is not allowed"));
    return pass;
  }
  return fail(Error::wrong_key(
      "{}: no passphrase given; pass --password-file FILE or set REWIND_PASSWORD_FILE=FILE "
      "(or run rewind on a terminal to be asked)",
      prompt));
}

std::function<Result<std::string>()> passphrase_source(io::Fs& fs, const SystemOptions& o) {
  return [&fs, &o]() {
    return passphrase(fs, o, fmt::format("passphrase for repository {}", o.repository), false);
  };
}

Result<std::vector<RepositoryKey>> list_keys(RecoveryPointManager& m) {
  REWIND_ASSIGN_OR_RETURN(auto repo, m.open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto keys, repo->list_keys());
  std::vector<RepositoryKey> out;
  for (const auto& k : keys)
    out.push_back(RepositoryKey{k.id, k.created_ns, k.kdf.opslimit, k.kdf.memlimit, k.current});
  return out;
}

Result<std::string> add_key(RecoveryPointManager& m, const std::string& pass,
                            bool replace_current) {
  REWIND_ASSIGN_OR_RETURN(auto repo, m.open_repo(true, replace_current ? "key passwd" : "key add"));
  if (!repo->encrypted())
    return fail(Error::invalid_state("repository {} is not encrypted", repo->path()));
  std::string old = repo->key_id();
  // Add before remove: a crash in between leaves both keys, never none.
  REWIND_ASSIGN_OR_RETURN(std::string id, repo->add_key(pass, store::default_kdf_params()));
  if (replace_current) REWIND_TRY(repo->remove_key(old));
  return id;
}

Status remove_key(RecoveryPointManager& m, const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(auto repo, m.open_repo(true, "key remove"));
  return repo->remove_key(id);
}

}  // namespace rwd::engine
