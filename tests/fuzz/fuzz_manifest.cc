// SPDX-License-Identifier: Apache-2.0
// Fuzz target for the manifest decoders (store/manifest.h), which read
// untrusted repository data. Input: a little-endian u32 entry count, then
// the bytes of a page or a root. The bytes go to decode_page (with that
// count; a decoded page then to validate_entries and lookup_entry), to
// decode_root, and, as a root chunk, to load_manifest and lookup_entry.
// Errors are expected; a crash, a sanitizer report or a runaway allocation
// is a bug. Built as a libFuzzer target (scripts/fuzz.sh) and, with
// replay_main.cc, as a plain program that replays the corpus in the suite.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "store/manifest.h"

namespace {

using rwd::store::ChunkId;
using rwd::store::ChunkType;

void fuzz_one(std::span<const std::byte> in) {
  if (in.size() < 4) return;
  uint32_t count;
  std::memcpy(&count, in.data(), 4);  // little-endian hosts only, like rewind
  std::span<const std::byte> payload = in.subspan(4);

  auto page = rwd::store::decode_page(payload, count);
  if (page) {
    (void)rwd::store::validate_entries(*page);
    // The page as the only page of a manifest: lookups of its own paths.
    rwd::store::ManifestRoot root;
    root.entries = page->size();
    if (!page->empty()) root.pages.push_back({page->front().path, 0, page->size(), ChunkId{}});
    std::vector<std::byte> root_bytes = rwd::store::encode_root(root);
    ChunkId root_id;
    root_id.bytes[0] = 1;
    rwd::store::ChunkSource src = [&](const ChunkId& id, ChunkType type,
                                      std::vector<std::byte>& out) -> rwd::Status {
      if (id == root_id && type == ChunkType::kManifestRoot)
        out.assign(root_bytes.begin(), root_bytes.end());
      else if (type == ChunkType::kManifestPage)
        out.assign(payload.begin(), payload.end());
      else
        return rwd::fail(rwd::Error::not_found("no such chunk"));
      return rwd::ok();
    };
    (void)rwd::store::load_manifest(src, root_id);
    for (size_t i = 0; i < page->size() && i < 8; ++i)
      (void)rwd::store::lookup_entry(src, root_id, (*page)[i].path);
  }

  auto root = rwd::store::decode_root(payload);
  if (root) {
    // The root's pages are not there: loading must fail cleanly, after
    // whatever the root made it reserve.
    rwd::store::ChunkSource src = [&](const ChunkId&, ChunkType type,
                                      std::vector<std::byte>& out) -> rwd::Status {
      if (type != ChunkType::kManifestRoot)
        return rwd::fail(rwd::Error::not_found("no such chunk"));
      out.assign(payload.begin(), payload.end());
      return rwd::ok();
    };
    (void)rwd::store::load_manifest(src, ChunkId{});
    if (!root->pages.empty()) (void)rwd::store::lookup_entry(src, ChunkId{}, "x");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_one({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
