// SPDX-License-Identifier: Apache-2.0
// rewindd's log: one line per event on standard error (which systemd puts
// in the journal), through spdlog. Events a person or a monitoring system
// must find again (an automatic rollback, the attention state, the guard
// stopping) carry a stable message id: as MESSAGE_ID= in the journal when
// it can be reached, and always as the line's "[MESSAGE_ID=...]" prefix, so
// `journalctl MESSAGE_ID=...` and `grep` both find them.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace rwd::daemon {

// The stable ids (128-bit, like systemd's catalog ids).
inline constexpr std::string_view kMsgAutoRollback = "3f5d2c8a9b1e4f07a6c2d9e8b7f1a042";
inline constexpr std::string_view kMsgAttention = "c71e0b6d4a2f4e59b8d3a1f6e2c9b713";
inline constexpr std::string_view kMsgGuardLimit = "8a4e6f2b1c9d4d3eb5f7a0c2e6d1b958";
inline constexpr std::string_view kMsgConfirmRollback = "5b9c3e1f7a2d4c68a0e4b2f9d6c1e327";

void log_info(const std::string& message);
void log_warn(const std::string& message);
void log_error(const std::string& message);
// A line with a stable message id (see above); `warning` picks the priority.
void log_event(std::string_view message_id, const std::string& message, bool warning = true);

}  // namespace rwd::daemon
