// SPDX-License-Identifier: Apache-2.0
// rewindd's socket protocol (doc/daemon.md): a client connects, writes one
// JSON object on one line ({"action": "list", ...}), reads one JSON line
// back and the connection ends. A success is {"ok": true, "result": ...};
// a refusal or failure {"ok": false, "error": {"kind", "message",
// "exit_code"}} with the kinds and exit codes of DESIGN.md.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "rewind/result.h"

namespace rwd::daemon {

// Longest request line the daemon reads.
inline constexpr size_t kMaxRequestBytes = 64 * 1024;

nlohmann::json ok_response(nlohmann::json result);
nlohmann::json error_response(const Error& e, int exit_code);

// Sends `request` to the daemon at `socket_path` and returns the result of
// a success, or the daemon's error as an Error of the same kind (a refusal
// is kPermissionDenied). Errors of its own: kNotFound (no daemon answers),
// kPermissionDenied (the socket's mode refuses the caller), kTimeout.
Result<nlohmann::json> call(const std::string& socket_path, const nlohmann::json& request,
                            std::chrono::milliseconds timeout);

}  // namespace rwd::daemon
