// SPDX-License-Identifier: Apache-2.0
#include "engine/point_usage.h"

#include <unordered_map>

#include "store/manifest.h"

namespace rwd::engine {

using store::ChunkId;
using store::ChunkType;

namespace {

// How many points reference a chunk, and the last one counted (so that a
// chunk a point references twice counts once for it).
struct Refs {
  uint32_t points = 0;
  int64_t last = 0;
};

}  // namespace

Result<std::map<int64_t, PointUsage>> point_usage(store::Repository& repo,
                                                  const std::vector<catalog::PointRow>& points) {
  REWIND_TRY(repo.load_index());
  std::unordered_map<ChunkId, Refs, store::ChunkIdHash> refs;
  // A page's chunk list, by the page's id: unchanged parts of a tree store
  // the same pages in every point, so most points decode little.
  std::unordered_map<ChunkId, std::vector<ChunkId>, store::ChunkIdHash> pages;
  std::map<int64_t, PointUsage> usage;
  std::map<int64_t, std::vector<ChunkId>> owned;  // each point's distinct chunks
  std::vector<std::byte> buf;
  for (const auto& p : points) {
    PointUsage& u = usage[p.id];
    std::vector<ChunkId>& mine = owned[p.id];
    auto count = [&](const ChunkId& id) {
      Refs& r = refs[id];
      if (r.points != 0 && r.last == p.id) return;
      ++r.points;
      r.last = p.id;
      mine.push_back(id);
    };
    auto damaged = [&](std::string why) {
      if (u.damaged.empty()) u.damaged = std::move(why);
    };
    auto snaps = repo.catalog().snapshots(p.id);
    if (!snaps) {
      damaged(fmt::format("its snapshots cannot be read: {}", snaps.error().message()));
      continue;
    }
    for (const auto& s : *snaps) {
      auto root_id = ChunkId::parse(s.manifest);
      if (!root_id) {
        damaged(fmt::format("component {}: bad manifest id", s.component));
        continue;
      }
      count(*root_id);
      auto root = [&]() -> Result<store::ManifestRoot> {
        REWIND_TRY(repo.read_chunk(*root_id, ChunkType::kManifestRoot, buf));
        return store::decode_root(buf);
      }();
      if (!root) {
        damaged(fmt::format("component {}: {}", s.component, root.error().message()));
        continue;
      }
      for (const store::RootPage& pg : root->pages) {
        count(pg.id);
        auto it = pages.find(pg.id);
        if (it == pages.end()) {
          auto entries = [&]() -> Result<std::vector<store::Entry>> {
            REWIND_TRY(repo.read_chunk(pg.id, ChunkType::kManifestPage, buf));
            return store::decode_page(buf, pg.count);
          }();
          if (!entries) {
            damaged(fmt::format("component {}: {}", s.component, entries.error().message()));
            continue;
          }
          std::vector<ChunkId> ids;
          for (const auto& e : *entries)
            for (const auto& c : e.chunks) ids.push_back(c.id);
          it = pages.emplace(pg.id, std::move(ids)).first;
        }
        for (const ChunkId& c : it->second) {
          if (!repo.locate(c)) {
            damaged(fmt::format("component {}: needs chunk {}, which is missing", s.component,
                                c.to_hex()));
            continue;
          }
          count(c);
        }
      }
    }
  }
  for (const auto& [id, chunks] : owned) {
    PointUsage& u = usage[id];
    for (const ChunkId& c : chunks) {
      auto loc = repo.locate(c);
      if (!loc) continue;  // a missing root or page, already reported
      u.referenced += loc->stored_len;
      if (refs[c].points == 1) u.unique += loc->stored_len;
    }
  }
  return usage;
}

}  // namespace rwd::engine
