// SPDX-License-Identifier: Apache-2.0
// Fuzz target for pack files (store/pack.h), which come from an untrusted
// repository directory. Input: the bytes of a pack file. They are put in a
// memfd; read_pack_index reads its trailer index and read_chunk every entry
// it returns. A second pass fixes the index checksum in the footer first, so
// that mutations of the index itself get past it. Errors are expected; a
// crash, a sanitizer report or a runaway allocation is a bug. Built as a
// libFuzzer target (scripts/fuzz.sh) and, with replay_main.cc, as a plain
// program that replays the corpus in the suite.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "io/fs.h"
#include "store/codec.h"
#include "store/hash.h"
#include "store/pack.h"

namespace {

using rwd::store::kPackFooterSize;

// Reads the pack held in fd as rewind does when it rebuilds or verifies.
void read_pack(int fd) {
  rwd::io::Fs& fs = rwd::io::posix_fs();
  auto entries = rwd::store::read_pack_index(fs, fd, "fuzz");
  if (!entries) return;
  rwd::store::Decompressor dec;
  std::vector<std::byte> scratch, out;
  for (const rwd::store::PackEntry& e : *entries)
    (void)rwd::store::read_chunk(fs, fd, "fuzz", e, dec, scratch, out);
}

int memfd_with(std::span<const std::byte> bytes) {
  int fd = ::memfd_create("rewind-fuzz-pack", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  int fd = memfd_with(in);
  read_pack(fd);
  ::close(fd);

  // Footer: u32 count, u32 index length, 32-byte SHA-256 of the index, magic.
  if (size < 8 + kPackFooterSize) return 0;
  uint32_t idx_len;
  std::memcpy(&idx_len, data + size - kPackFooterSize + 4, 4);
  if (idx_len > size - kPackFooterSize - 8) return 0;
  std::vector<std::byte> fixed(in.begin(), in.end());
  size_t idx_off = size - kPackFooterSize - idx_len;
  rwd::store::ChunkId h = rwd::store::sha256(std::span(fixed).subspan(idx_off, idx_len));
  std::byte* hash_at = fixed.data() + size - kPackFooterSize + 8;
  if (std::memcmp(hash_at, h.bytes.data(), 32) == 0) return 0;
  std::memcpy(hash_at, h.bytes.data(), 32);
  fd = memfd_with(fixed);
  read_pack(fd);
  ::close(fd);
  return 0;
}
