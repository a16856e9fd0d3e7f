// SPDX-License-Identifier: Apache-2.0
// `rewind config init`: a first, commented configuration for the system it
// finds under a root. It looks (through io::Fs, read-only) for /etc, the
// kernel, programs and package database (/boot, /usr, /var/lib/dpkg and the
// unmerged /bin, /sbin, /lib*), dpkg, kernel tunables and modules, enabled
// systemd units and runit services, SQLite databases under /var/lib
// (suggested, commented out) and a local PostgreSQL cluster (by its socket).
// Components never overlap and the repository is excluded where it would
// be captured. A component whose adapter this build lacks is written
// commented out, so that the file always loads in the rewind that wrote it.
#pragma once

#include <string>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::system {

struct ConfigInitOptions {
  std::string system_root = "/";
  // The repository as given with --repo (a host path); when it lies under
  // the system root the configuration names it, else /var/lib/rewind.
  std::string repository;
};

// The configuration text. Errors: kNotFound when the root does not exist.
Result<std::string> generate_config(io::Fs& fs, const ConfigInitOptions& o);

// Writes `text` to ROOT/etc/rewind/rewind.toml (mode 0644, atomically),
// creating etc/rewind. Errors: kInvalidState when the file exists and
// `force` is false.
Result<std::string> write_config(io::Fs& fs, const std::string& system_root,
                                 const std::string& text, bool force);

}  // namespace rwd::system
