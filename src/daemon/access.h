// SPDX-License-Identifier: Apache-2.0
// Who may do what through rewindd's socket. The daemon checks every request
// against the kernel's word on the caller (SO_PEERCRED, SO_PEERGROUPS),
// never against anything the client says: a client that skips its own
// checks gets the same answer.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "daemon/daemon_config.h"
#include "io/daemon_io.h"

namespace rwd::daemon {

class AccessPolicy {
 public:
  // Resolves the configured names (daemon_config.h: resolve_user/group).
  // Errors: kUsage for a name that does not resolve.
  static Result<AccessPolicy> build(io::Fs& fs, const std::string& system_root,
                                    const DaemonConfig& config);

  // Root may do everything; others when their uid is listed for the
  // action or their primary or a supplementary group is.
  bool allows(const std::string& action, const io::PeerCredentials& peer) const;

 private:
  struct Ids {
    std::vector<uid_t> uids;
    std::vector<gid_t> gids;
  };
  std::map<std::string, Ids> rules_;
};

}  // namespace rwd::daemon
