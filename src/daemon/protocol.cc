// SPDX-License-Identifier: Apache-2.0
#include "daemon/protocol.h"

#include "io/daemon_io.h"

namespace rwd::daemon {

namespace {

ErrorCode code_named(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kNoRepository); ++i)
    if (error_code_name(static_cast<ErrorCode>(i)) == name) return static_cast<ErrorCode>(i);
  return ErrorCode::kOther;
}

}  // namespace

nlohmann::json ok_response(nlohmann::json result) {
  return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
}

nlohmann::json error_response(const Error& e, int exit_code) {
  return nlohmann::json{{"ok", false},
                        {"error",
                         {{"kind", std::string(error_code_name(e.code()))},
                          {"message", e.message()},
                          {"exit_code", exit_code}}}};
}

Result<nlohmann::json> call(const std::string& socket_path, const nlohmann::json& request,
                            std::chrono::milliseconds timeout) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, io::connect_unix(socket_path));
  REWIND_TRY(io::send_all(fd.get(), request.dump() + "\n"));
  auto line = io::read_line(fd.get(), timeout, 256 << 20);
  if (!line) return fail(line.error().with_context("waiting for rewindd's answer"));
  auto j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok"))
    return fail(Error::corrupted_data("rewindd sent an answer that is not the protocol's JSON"));
  if (j["ok"] == true) return j.value("result", nlohmann::json());
  const auto& e = j["error"];
  return fail(Error(code_named(e.value("kind", "")), e.value("message", "rewindd refused")));
}

}  // namespace rwd::daemon
