// SPDX-License-Identifier: Apache-2.0
// An SQLite VFS whose every file operation goes through an io::Fs, so that
// fault-injection and power-loss tests see the catalog's writes and syncs.
//
// Files are opened with Fs::open_path; locks are open-file-description
// byte-range locks at SQLite's standard offsets (PENDING_BYTE, RESERVED_BYTE,
// SHARED_FIRST; -shm locks at 120 + index, dead-man switch at 128), so the
// VFS interoperates with the standard unix VFS, with other connections in the
// same process and with other processes. WAL mode is supported (xShm*: the
// -shm file is opened and mapped through the Fs, once per connection). No
// memory-mapped database I/O: every page read and write is an Fs call.
//
// Paths are trusted (they come from rewind's configuration): xFullPathname
// makes them absolute but does not resolve symlinks.
#pragma once

#include <string>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::catalog {

// Returns the name of an SQLite VFS that forwards every file operation to
// `fs`, registering it on first use (thread-safe; one VFS per distinct Fs
// object; never the default VFS). `fs` must outlive every connection opened
// with the VFS. Pass the name to sqlite3_open_v2.
Result<std::string> vfs_name_for(io::Fs& fs);

// The errno of this thread's last failed VFS call (0 if none), so that a
// catalog error can say "no space" rather than SQLite's "disk I/O error".
int last_vfs_errno();
void clear_last_vfs_errno();

}  // namespace rwd::catalog
