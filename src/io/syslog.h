// SPDX-License-Identifier: Apache-2.0
// The system log, the process side of the io seam: one message to syslog(3)
// (the journal reads /dev/log too). Used by the package-manager hook, whose
// lines must reach the log where an administrator looks after an upgrade.
#pragma once

#include <string_view>

namespace rwd::io {

enum class LogLevel { kInfo, kWarning, kError };

// Sends `message` under `ident` (facility daemon). Best effort: syslog(3)
// reports nothing, and a missing /dev/log (a chroot) drops the message.
void syslog_message(LogLevel level, std::string_view ident, std::string_view message);

}  // namespace rwd::io
