// SPDX-License-Identifier: Apache-2.0
#include "io/syslog.h"

#include <syslog.h>

#include <string>

namespace rwd::io {

void syslog_message(LogLevel level, std::string_view ident, std::string_view message) {
  const std::string id(ident);
  const std::string msg(message);
  int priority = LOG_INFO;
  if (level == LogLevel::kWarning) priority = LOG_WARNING;
  if (level == LogLevel::kError) priority = LOG_ERR;
  ::openlog(id.c_str(), LOG_PID, LOG_DAEMON);
  ::syslog(priority, "%s", msg.c_str());
  ::closelog();
}

}  // namespace rwd::io
