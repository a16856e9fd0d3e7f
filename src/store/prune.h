// SPDX-License-Identifier: Apache-2.0
// Prune: removes the chunks and packs that no kept recovery point references,
// the root records that only superseded versions held, and leftover
// temporary files. Packs that are partly live are repacked: their live
// chunks are copied to new packs first.
//
// Crash-safe order (doc/format.md, "Prune"): the new packs durable, then one
// catalog transaction that moves the live chunks' index rows to them and
// drops the old packs, then the old packs unlinked and the directory
// fsynced. A crash before the transaction leaves new packs whose chunks are
// duplicates of indexed ones (harmless; the next prune removes them); a
// crash after it leaves old packs the catalog no longer lists, which the
// next writer re-imports (only their dead chunks get index rows) and the next
// prune removes. With shredding, a pack is first renamed out of the pack
// namespace, so a half-overwritten pack is never imported again.
//
// Encrypted, shredding, and no point left: last, the data key is replaced
// (the new one written durably first: from then on it is the one in use)
// and the old one shredded like a pack, so that chunks that overwriting
// could not reach stay sealed under a key that no longer exists.
//
// Safety over space: if any manifest or root record cannot be read, prune
// deletes nothing (kCorruptedData), since it cannot know what that point
// references.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/repository.h"

namespace rwd::store {

struct PruneOptions {
  bool dry_run = false;
  // Overwrite (zeros, then fsync) what is deleted before unlinking it.
  bool shred = false;
  // Called as the work goes on: phase ("scan", "repack", "delete"), done and
  // total in bytes (total 0 when unknown).
  std::function<void(const std::string& phase, uint64_t done, uint64_t total)> progress;
};

struct PruneStats {
  uint64_t points = 0;          // kept points whose data was walked
  uint64_t live_chunks = 0;     // chunks they reference
  uint64_t dead_chunks = 0;     // index rows removed
  uint64_t packs_before = 0;    // packs the catalog listed
  uint64_t packs_removed = 0;   // wholly dead packs deleted
  uint64_t packs_repacked = 0;  // partly live packs rewritten
  uint64_t packs_written = 0;   // new packs holding the repacked live chunks
  uint64_t bytes_before = 0;    // pack bytes before
  uint64_t bytes_after = 0;     // pack bytes after (estimated with dry_run)
  uint64_t bytes_repacked = 0;  // live stored bytes copied
  uint64_t roots_removed = 0;   // superseded root records deleted
  uint64_t temp_removed = 0;    // leftover temporary files deleted
  bool shredded = false;
  // Encrypted, shredding and no point left: a new data key was written and
  // the old one shredded (doc/format.md "Data key"); with dry_run, would be.
  bool key_forgotten = false;
  uint64_t data_key_generation = 0;  // in use after the prune (encrypted)
  uint64_t reclaimed() const { return bytes_before > bytes_after ? bytes_before - bytes_after : 0; }
};

// Prunes `repo`, which must be open as the writer (sync_catalog done).
Result<PruneStats> prune(Repository& repo, const PruneOptions& opts);

}  // namespace rwd::store
