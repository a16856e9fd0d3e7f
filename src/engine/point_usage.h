// SPDX-License-Identifier: Apache-2.0
// What each recovery point costs: the stored bytes of the chunks it
// references (manifest roots, pages and data) that no other point
// references, i.e. what forgetting it alone frees once `prune` runs. The
// same walk is the structural check retention needs: a point whose manifest
// cannot be read or that names a chunk the index lacks is damaged.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "rewind/result.h"
#include "store/repository.h"

namespace rwd::engine {

struct PointUsage {
  uint64_t unique = 0;      // stored bytes only this point references
  uint64_t referenced = 0;  // stored bytes of every chunk it references
  std::string damaged;      // the first problem found; "" when it checks out
};

// Walks every point's manifests once; a page shared by several points is
// read and decoded once. Loads the repository's index. Errors: only the
// index's loading (a damaged or unreadable point is reported in its
// PointUsage, and the walk goes on).
Result<std::map<int64_t, PointUsage>> point_usage(store::Repository& repo,
                                                  const std::vector<catalog::PointRow>& points);

}  // namespace rwd::engine
