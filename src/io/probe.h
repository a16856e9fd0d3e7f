// SPDX-License-Identifier: Apache-2.0
// Small OS probes for health checks and `rewind run`, in the io layer like
// every other system call: whether a UNIX socket has a listener, and the
// records the kernel's log device holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rewind/result.h"

namespace rwd::io {

// Whether connect(2) to the UNIX stream socket at `path` succeeds (the
// connection is closed at once). false for a missing path, a refused
// connection or a path that is too long; never an error.
bool unix_socket_answers(const std::string& path);

// One record of /dev/kmsg: "PRIORITY,SEQUENCE,TIMESTAMP,FLAGS;MESSAGE".
struct KmsgRecord {
  uint64_t seq = 0;
  std::string message;
};

// Reads every record the kernel log device at `path` holds now (non-blocking:
// it stops at the newest). Errors: the open's (kNotFound, kPermissionDenied).
Result<std::vector<KmsgRecord>> read_kmsg(const std::string& path);

}  // namespace rwd::io
