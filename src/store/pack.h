// SPDX-License-Identifier: Apache-2.0
// Pack files: immutable files of appended chunks that describe their own
// contents (a trailer index), so that the catalog can be rebuilt from them.
// Format in doc/format.md ("Pack file").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/durable.h"
#include "io/fs.h"
#include "store/codec.h"
#include "store/hash.h"

namespace rwd::store {

enum class ChunkType : uint8_t { kData = 1, kManifestPage = 2, kManifestRoot = 3 };

inline constexpr char kPackMagic[8] = {'R', 'W', 'P', 'A', 'C', 'K', '0', '1'};
inline constexpr char kPackEndMagic[8] = {'R', 'W', 'P', 'E', 'N', 'D', '0', '1'};
inline constexpr uint32_t kBlobMagic = 0x4b435752;  // "RWCK"
inline constexpr size_t kBlobHeaderSize = 48;
inline constexpr size_t kIndexEntrySize = 56;
inline constexpr size_t kPackFooterSize = 48;
inline constexpr uint64_t kDefaultMaxPackSize = 32ull << 20;

struct PackEntry {
  ChunkId id;
  ChunkType type = ChunkType::kData;
  ChunkCodec codec = ChunkCodec::kRaw;
  uint32_t raw_len = 0;
  uint32_t stored_len = 0;
  uint64_t offset = 0;  // of the blob header
};

// Writes one pack under a temporary name in the packs directory; finish()
// makes it durable and gives it its final name (the SHA-256 of its bytes).
class PackWriter {
 public:
  static Result<PackWriter> create(io::Fs& fs, int packs_dirfd);
  PackWriter(PackWriter&&) noexcept = default;

  Status add(const ChunkId& id, ChunkType type, ChunkCodec codec, uint32_t raw_len,
             std::span<const std::byte> stored);
  uint64_t size() const { return size_; }
  size_t count() const { return entries_.size(); }
  const std::vector<PackEntry>& entries() const { return entries_; }

  // Writes the trailer, fsyncs, renames to "<hash>.pack", fsyncs the
  // directory. Returns the pack's name (without ".pack").
  Result<std::string> finish();
  void abandon() { file_.abandon(); }

 private:
  PackWriter(io::StagedFile f) : file_(std::move(f)) {}
  Status write(std::span<const std::byte> b);
  io::StagedFile file_;
  std::unique_ptr<Sha256> hash_ = std::make_unique<Sha256>();
  std::vector<PackEntry> entries_;
  uint64_t size_ = 0;
};

// Reads a pack's trailer index and checks it against the file size.
Result<std::vector<PackEntry>> read_pack_index(io::Fs& fs, int fd, std::string_view pack_name);

class RepoKeys;

// Reads and decodes one chunk at `offset`: the blob header must match the
// expected id, the data must decompress to raw_len, and its SHA-256 must be
// the id. With `keys` (an encrypted repository) the data is opened first
// and the id is the keyed one. Errors name the pack and the chunk
// (kCorruptedData).
Status read_chunk(io::Fs& fs, int fd, std::string_view pack_name, const PackEntry& e,
                  Decompressor& dec, std::vector<std::byte>& scratch, std::vector<std::byte>& out,
                  const RepoKeys* keys = nullptr);

}  // namespace rwd::store
