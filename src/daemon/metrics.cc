// SPDX-License-Identifier: Apache-2.0
#include "daemon/metrics.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <vector>

#include "io/durable.h"

namespace rwd::daemon {

namespace {

// Every trigger is always present, so a rate over a series that has been
// zero so far works and dashboards see the full set.
const std::vector<std::string> kTriggers{"update-failure", "critical-error", "service-failure",
                                         "timeout",        "corruption",     "health-critical",
                                         "unconfirmed"};

int level_value(const std::string& level) {
  if (level == "good") return 0;
  if (level == "degraded") return 1;
  if (level == "critical") return 2;
  return -1;
}

Result<uint64_t> tree_size(io::Fs& fs, int dirfd, int depth) {
  uint64_t total = 0;
  REWIND_ASSIGN_OR_RETURN(auto entries, fs.list_dir(dirfd));
  for (const auto& e : entries) {
    auto st = fs.stat_at(dirfd, e.name);
    if (!st) continue;  // removed while we looked (prune)
    if (S_ISREG(st->mode)) {
      total += st->size;
    } else if (S_ISDIR(st->mode) && depth > 0) {
      auto sub = fs.open_at(dirfd, e.name, O_RDONLY | O_DIRECTORY);
      if (!sub) continue;
      REWIND_ASSIGN_OR_RETURN(uint64_t s, tree_size(fs, sub->get(), depth - 1));
      total += s;
    }
  }
  return total;
}

}  // namespace

std::string render_metrics(const Metrics& m) {
  std::string out;
  auto gauge = [&](const char* name, const char* help, const std::string& value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
  };
  gauge("rewind_last_recovery_point_timestamp_seconds",
        "Time of the newest recovery point (0: none).",
        fmt::format("{:.3f}", static_cast<double>(m.last_point_ns) / 1e9));
  gauge("rewind_recovery_points", "Recovery points in the repository.", std::to_string(m.points));
  gauge("rewind_repository_size_bytes", "Bytes of the repository's files.",
        std::to_string(m.repository_bytes));
  gauge("rewind_health_level",
        "Overall health: 0 good, 1 degraded, 2 critical, -1 not checked yet.",
        std::to_string(level_value(m.health_level)));
  out +=
      "# HELP rewind_auto_rollbacks_total Automatic rollbacks by the trigger that fired.\n"
      "# TYPE rewind_auto_rollbacks_total counter\n";
  std::map<std::string, uint64_t> all;
  for (const auto& t : kTriggers) all[t] = 0;
  for (const auto& [t, n] : m.rollbacks_by_trigger) all[t] = n;
  for (const auto& [t, n] : all)
    out += fmt::format("rewind_auto_rollbacks_total{{trigger=\"{}\"}} {}\n", t, n);
  gauge("rewind_last_verify_success", "1 when the last verify found no problem, else 0.",
        m.last_verify_ok ? "1" : "0");
  gauge("rewind_last_verify_timestamp_seconds", "Time of the last verify (0: none yet).",
        fmt::format("{:.3f}", static_cast<double>(m.last_verify_ns) / 1e9));
  out +=
      "# HELP rewind_daemon_state The daemon's state (1 for the current one).\n"
      "# TYPE rewind_daemon_state gauge\n";
  for (const char* s : {"running", "paused", "attention"})
    out += fmt::format("rewind_daemon_state{{state=\"{}\"}} {}\n", s, m.state == s ? 1 : 0);
  return out;
}

Status write_metrics(io::Fs& fs, const std::string& dir, const Metrics& m) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dfd, fs.open_path(dir, O_RDONLY | O_DIRECTORY));
  std::string text = render_metrics(m);
  return io::write_file_atomic(fs, dfd.get(), "rewind.prom", io::as_bytes(text), 0644);
}

Result<uint64_t> repository_size(io::Fs& fs, const std::string& repo) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dfd, fs.open_path(repo, O_RDONLY | O_DIRECTORY));
  return tree_size(fs, dfd.get(), 3);
}

}  // namespace rwd::daemon
