// SPDX-License-Identifier: Apache-2.0
#include "daemon/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "io/daemon_io.h"

namespace rwd::daemon {

namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = spdlog::stderr_logger_mt("rewindd");
    // journald adds its own time stamp; the level is enough.
    lg->set_pattern("rewindd: %l: %v");
    lg->flush_on(spdlog::level::info);
    return lg;
  }();
  return *l;
}

}  // namespace

void log_info(const std::string& message) { logger().info(message); }
void log_warn(const std::string& message) { logger().warn(message); }
void log_error(const std::string& message) { logger().error(message); }

void log_event(std::string_view message_id, const std::string& message, bool warning) {
  // LOG_WARNING = 4, LOG_NOTICE = 5 (syslog.h).
  bool sent = io::journal_send(message_id, warning ? 4 : 5, message);
  // Under systemd standard error goes to the journal too: once is enough.
  if (sent && std::getenv("JOURNAL_STREAM") != nullptr) return;
  std::string line = fmt::format("[MESSAGE_ID={}] {}", message_id, message);
  if (warning)
    logger().warn(line);
  else
    logger().info(line);
}

}  // namespace rwd::daemon
