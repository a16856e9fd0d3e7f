// SPDX-License-Identifier: Apache-2.0
// rewindd's metrics in the Prometheus text exposition format, for the node
// exporter's textfile collector (doc/daemon.md "Metrics" lists the
// series). The file is replaced atomically (io/durable.h), so the exporter
// never reads half of it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::daemon {

struct Metrics {
  int64_t last_point_ns = 0;  // 0: no point yet
  uint64_t points = 0;
  uint64_t repository_bytes = 0;
  std::string health_level = "unknown";  // good, degraded, critical, unknown
  std::map<std::string, uint64_t> rollbacks_by_trigger;
  int64_t last_verify_ns = 0;
  bool last_verify_ok = true;
  std::string state = "running";  // running, paused, attention
};

// The text of the metrics file.
std::string render_metrics(const Metrics& m);

// Writes <dir>/rewind.prom (0644: the exporter is not root). Errors: I/O
// codes; kNotFound when `dir` does not exist (it is not created: no
// exporter reads there).
Status write_metrics(io::Fs& fs, const std::string& dir, const Metrics& m);

// The bytes of the repository's files (packs, catalog, root records).
Result<uint64_t> repository_size(io::Fs& fs, const std::string& repo);

}  // namespace rwd::daemon
