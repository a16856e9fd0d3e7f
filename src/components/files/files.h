// SPDX-License-Identifier: Apache-2.0
// The files adapter: captures file trees under the system root into a
// manifest plus content chunks, compares them with the live tree, and
// restores them (whole or a selection) in place or into another directory.
//
// Capture walks with descriptors and O_NOFOLLOW; restore acts only relative
// to directory descriptors opened beneath the target with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, never follows or opens what it finds in
// the target (a symlink, FIFO or device where a file belongs is replaced),
// and never writes into an existing inode.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/fs.h"
#include "rewind/progress.h"
#include "store/chunker.h"
#include "store/manifest.h"
#include "store/repository.h"

namespace rwd::components::files {

// Patterns every files component excludes (relative to the system root).
const std::vector<std::string>& default_excludes();

struct CaptureOptions {
  std::string system_root;  // absolute, trusted
  std::string path;         // absolute path within the system root, normalized ("/etc", "/")
  std::vector<std::string> exclude;  // gitignore-like globs; "/x" is anchored at the system root
  bool one_file_system = true;
  bool default_excludes = true;
  store::ChunkerParams chunker;  // the repository's (diff cuts the live files the same way)
  // Manifest of the previous snapshot of this component: files whose inode,
  // size, mtime and ctime are unchanged reuse its chunk lists.
  std::optional<store::ChunkId> previous;
  // The repository directory, never captured.
  uint64_t repo_dev = 0;
  uint64_t repo_ino = 0;
  // Report rewind's own ".rw-tmp-*" leftovers as entries (a rollback plans
  // to remove them); capture never does.
  bool temp_leftovers = false;
  // When not empty: only these absolute paths (and the directories on the
  // way to them) are walked; `path` is their common ancestor.
  std::vector<std::string> include;
  // How the repository names a data chunk (keyed when it is encrypted):
  // diff names the live content the same way. Unset: SHA-256.
  std::function<store::ChunkId(std::span<const std::byte>)> data_id;
};

struct CaptureResult {
  store::ChunkId manifest;
  uint64_t entries = 0;
  uint64_t size = 0;        // logical bytes of files
  uint64_t stored = 0;      // stored bytes of the distinct data chunks referenced
  uint64_t files_read = 0;  // files whose content was read (not reused)
  uint64_t bytes_read = 0;
  std::vector<std::string> warnings;
};

// Captures the tree into `writer`'s repository.
Result<CaptureResult> capture(io::Fs& fs, store::Repository& repo, store::ChunkWriter& writer,
                              const CaptureOptions& opts, ProgressObserver& obs);

struct RestoreOptions {
  std::string component_path;  // absolute path within the system root ("/etc")
  std::string target_root;     // directory that stands for the system root (in place: the root)
  std::vector<std::string> select;  // component-relative paths; empty = everything
  // When set: exactly these entries (component-relative), not their
  // subtrees; their directories are only made when missing. Hard-link
  // groups are restored whole. Overrides `select`.
  std::optional<std::vector<std::string>> exact;
  int threads = 2;
};

struct RestoreResult {
  uint64_t removed = 0;  // live entries a rollback removed
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  std::vector<std::string> warnings;
};

// Restores a validated manifest. Every chunk it needs is checked to exist
// before the first byte of the target changes.
Result<RestoreResult> restore(io::Fs& fs, store::Repository& repo,
                              const std::vector<store::Entry>& entries, const RestoreOptions& opts,
                              ProgressObserver& obs);

// kDamaged: other content under the same size and mtime.
enum class ChangeKind { kAdded, kRemoved, kContent, kMetadata, kType, kDamaged };
std::string_view change_kind_name(ChangeKind k);

struct Change {
  std::string path;  // component-relative
  ChangeKind kind;
  std::vector<std::string> attributes;  // for kMetadata: "mode", "owner", "mtime", "xattrs", ...
};

// Differences from `a` (older) to `b` (newer), both full validated manifests.
// Directory mtimes change with every name added or removed inside; they are
// compared only with `dir_mtimes`.
std::vector<Change> diff_manifests(const std::vector<store::Entry>& a,
                                   const std::vector<store::Entry>& b, bool dir_mtimes = false);

// Differences from a snapshot to the live tree. Content is compared by hash
// where inode, size, mtime or ctime changed, or for every file with
// `content` (finds damage that left the metadata alone).
Result<std::vector<Change>> diff_live(io::Fs& fs, const std::vector<store::Entry>& snapshot,
                                      const CaptureOptions& opts, ProgressObserver& obs,
                                      bool content = false, bool dir_mtimes = false);

// What a rollback does to one component's live tree. Paths are
// component-relative.
struct RollbackPlan {
  std::vector<std::string> replace;  // present in both and written again
  std::vector<std::string> add;      // in the snapshot, missing from the live tree
  std::vector<std::string> remove;   // live, not in the snapshot; deepest first
  uint64_t bytes = 0;                // file content to write
  uint64_t files = 0;                // regular files to write
  bool missing = false;              // the component's root itself is gone
};

// Plans a rollback of the live tree to `snapshot`. Not `incremental`: every
// entry of the snapshot is written again; `incremental`: only those whose
// content (hashed, whatever the metadata says), type or metadata differ.
// Either way the live entries the snapshot lacks (and ".rw-tmp-*" leftovers)
// are removed.
Result<RollbackPlan> plan_rollback(io::Fs& fs, const std::vector<store::Entry>& snapshot,
                                   const CaptureOptions& opts, bool incremental,
                                   ProgressObserver& obs);

// Carries out a plan: removes `plan.remove` (directories only when empty:
// one that still holds excluded entries is kept, with a warning), then
// restores the rest.
Result<RestoreResult> apply_rollback(io::Fs& fs, store::Repository& repo,
                                     const std::vector<store::Entry>& snapshot,
                                     const RollbackPlan& plan, bool incremental,
                                     const RestoreOptions& opts, ProgressObserver& obs);

// Removes the component's paths and everything beneath them (a component
// that did not exist before a rollback goes back to not existing).
Status remove_component(io::Fs& fs, const std::string& target_root,
                        const std::vector<std::string>& paths);

// Copies one file's content to `out_fd` (dump).
Status write_content(io::Fs& fs, store::Repository& repo, const store::Entry& e, int out_fd);

}  // namespace rwd::components::files
