// SPDX-License-Identifier: Apache-2.0
#include "daemon/access.h"

#include <algorithm>

namespace rwd::daemon {

Result<AccessPolicy> AccessPolicy::build(io::Fs& fs, const std::string& system_root,
                                         const DaemonConfig& config) {
  AccessPolicy p;
  for (const auto& [action, rule] : config.access) {
    Ids ids;
    for (const auto& u : rule.users) {
      REWIND_ASSIGN_OR_RETURN(uid_t id, resolve_user(fs, system_root, u));
      ids.uids.push_back(id);
    }
    for (const auto& g : rule.groups) {
      REWIND_ASSIGN_OR_RETURN(gid_t id, resolve_group(fs, system_root, g));
      ids.gids.push_back(id);
    }
    p.rules_[action] = std::move(ids);
  }
  return p;
}

bool AccessPolicy::allows(const std::string& action, const io::PeerCredentials& peer) const {
  if (peer.uid == 0) return true;
  auto it = rules_.find(action);
  if (it == rules_.end()) return false;
  const Ids& r = it->second;
  if (std::find(r.uids.begin(), r.uids.end(), peer.uid) != r.uids.end()) return true;
  for (gid_t g : r.gids) {
    if (g == peer.gid) return true;
    if (std::find(peer.groups.begin(), peer.groups.end(), g) != peer.groups.end()) return true;
  }
  return false;
}

}  // namespace rwd::daemon
