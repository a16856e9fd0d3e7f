// SPDX-License-Identifier: Apache-2.0
// Captured state of adapters that are not file trees (kernel tunables,
// package lists, service states, database images, a command's output): a
// set of named blobs, stored as the regular-file entries of a manifest, so
// that they are chunked, deduplicated, compressed, verified and shown like
// any other snapshot. Names are '/'-separated relative paths ("sysctl/vm.swappiness");
// the directories on the way are added by the writer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "components/adapter.h"

namespace rwd::components::state {

class Writer {
 public:
  Writer(Context& ctx, store::ChunkWriter& writer) : ctx_(ctx), writer_(writer) {}
  // One blob. Content-defined chunks, like files.
  Status add(const std::string& name, std::string_view data, uint32_t mode = 0600);
  // The content of an open file, read to its end. With `fixed_chunk` > 0 the
  // chunks are cut every `fixed_chunk` bytes (a database image: chunks
  // aligned to its pages, so a changed page changes one chunk).
  Status add_fd(const std::string& name, int fd, uint64_t fixed_chunk = 0, uint32_t mode = 0600);
  // Stores the manifest.
  Result<Captured> finish();

 private:
  Status add_entry(store::Entry e);
  Context& ctx_;
  store::ChunkWriter& writer_;
  std::map<std::string, store::Entry, bool (*)(const std::string&, const std::string&)> entries_{
      [](const std::string& a, const std::string& b) { return store::path_less(a, b); }};
  uint64_t size_ = 0, stored_ = 0, bytes_read_ = 0;
};

class Reader {
 public:
  static Result<Reader> open(Context& ctx, const store::ChunkId& manifest);
  // The blob names, in order (directories left out).
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return index_.contains(name); }
  // kNotFound when the snapshot has no such blob.
  Result<std::string> read(const std::string& name) const;
  // Writes a blob to `fd`.
  Status copy_to(const std::string& name, int fd) const;
  // Reads and hash-checks every chunk; kCorruptedData names the blob.
  Status validate() const;
  const std::vector<store::Entry>& entries() const { return entries_; }

 private:
  Reader(Context& ctx, std::vector<store::Entry> entries);
  Context* ctx_;
  std::vector<store::Entry> entries_;
  std::map<std::string, size_t> index_;
};

// A key=value text, one per line (values may hold '='); blank lines and
// lines starting with '#' are skipped. Used for recorded facts.
std::map<std::string, std::string> parse_lines(std::string_view text);
std::string format_lines(const std::map<std::string, std::string>& kv);

}  // namespace rwd::components::state
