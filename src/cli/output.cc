// SPDX-License-Identifier: Apache-2.0
#include "cli/output.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace rwd::cli {

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string format_time(int64_t time_ns) {
  time_t secs = static_cast<time_t>(time_ns / 1000000000LL);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

CliObserver::CliObserver(OutputMode mode)
    : mode_(mode),
      tty_(::isatty(2) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

CliObserver::~CliObserver() { finish(); }

void CliObserver::finish() {
  if (line_open_) {
    std::fputs("\r\033[K", stderr);
    line_open_ = false;
  }
}

void CliObserver::on_progress(const Progress& p) {
  auto now = std::chrono::steady_clock::now();
  if (mode_.json) {
    if (now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    nlohmann::json j{
        {"event", "progress"},         {"operation", p.operation},     {"phase", p.phase},
        {"files_done", p.files_done},  {"files_total", p.files_total}, {"bytes_done", p.bytes_done},
        {"bytes_total", p.bytes_total}};
    if (p.percent >= 0) j["percent"] = p.percent;
    std::fprintf(stderr, "%s\n", j.dump().c_str());
    return;
  }
  if (mode_.quiet || !tty_) return;
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  if (p.percent >= 0) {
    // A whole operation with a known share done (rollback): a bar.
    int filled = static_cast<int>(std::clamp(p.percent, 0.0, 100.0) / 100.0 * 30);
    std::fprintf(stderr, "\r\033[K%s [%s%s] %3.0f%% %s", p.operation.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(30 - filled), '.').c_str(), p.percent,
                 p.phase.c_str());
    line_open_ = true;
    return;
  }
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
  std::string eta;
  if (p.bytes_total > 0 && rate > 0 && p.bytes_done <= p.bytes_total)
    eta = fmt::format(", {:.0f}s left", static_cast<double>(p.bytes_total - p.bytes_done) / rate);
  std::string files = p.files_total ? fmt::format("{}/{}", p.files_done, p.files_total)
                                    : fmt::format("{}", p.files_done);
  std::fprintf(stderr, "\r\033[K%s %s: %s files, %s, %s/s, %.0fs%s", p.operation.c_str(),
               p.phase.c_str(), files.c_str(), human_bytes(p.bytes_done).c_str(),
               human_bytes(static_cast<uint64_t>(rate)).c_str(), secs, eta.c_str());
  line_open_ = true;
}

void CliObserver::on_warning(std::string_view message) {
  finish();
  if (mode_.json) {
    nlohmann::json j{{"event", "warning"}, {"message", message}};
    std::fprintf(stderr, "%s\n", j.dump().c_str());
    return;
  }
  if (mode_.quiet) return;
  std::fprintf(stderr, "warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

}  // namespace rwd::cli
