// SPDX-License-Identifier: Apache-2.0
#include "daemon/state.h"

#include <fcntl.h>

#include "io/durable.h"

namespace rwd::daemon {

namespace {

constexpr const char* kStateFile = "state.json";
constexpr size_t kMaxRecords = 100;

// mkdir -p through io::Fs, the last directory 0700.
Result<io::Fd> open_dir(io::Fs& fs, const std::string& dir, bool create) {
  if (create) {
    auto root = fs.open_path("/", O_RDONLY | O_DIRECTORY);
    if (!root) return fail(root.error());
    io::Fd cur = std::move(*root);
    size_t pos = 1;
    while (pos <= dir.size()) {
      size_t end = dir.find('/', pos);
      if (end == std::string::npos) end = dir.size();
      std::string name = dir.substr(pos, end - pos);
      pos = end + 1;
      if (name.empty()) continue;
      bool last = pos > dir.size();
      auto st = fs.mkdir_at(cur.get(), name, last ? 0700 : 0755);
      if (!st && st.error().code() != ErrorCode::kInvalidState)  // EEXIST
        return fail(st.error().with_context("creating " + dir));
      REWIND_ASSIGN_OR_RETURN(io::Fd next, fs.open_at(cur.get(), name, O_RDONLY | O_DIRECTORY));
      cur = std::move(next);
    }
    return cur;
  }
  return fs.open_path(dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace

nlohmann::json to_json(const DaemonState& s) {
  nlohmann::json rb = nlohmann::json::array();
  for (const auto& r : s.rollbacks)
    rb.push_back({{"time_ns", r.time_ns},
                  {"trigger", r.trigger},
                  {"reason", r.reason},
                  {"point", r.point},
                  {"operation", r.operation},
                  {"safety", r.safety},
                  {"result", r.result},
                  {"record", r.record}});
  return {{"version", 1},
          {"paused", s.paused},
          {"pause_reason", s.pause_reason},
          {"attention", s.attention},
          {"attention_reason", s.attention_reason},
          {"rollbacks", rb},
          {"last_run_ns", s.last_run_ns},
          {"last_verify_ns", s.last_verify_ns},
          {"last_verify_ok", s.last_verify_ok},
          {"last_verify_problems", s.last_verify_problems},
          {"health_level", s.health_level},
          {"health_ns", s.health_ns},
          {"last_refusal", s.last_refusal},
          {"boot_id", s.boot_id}};
}

DaemonState state_from_json(const nlohmann::json& j) {
  DaemonState s;
  s.paused = j.value("paused", false);
  s.pause_reason = j.value("pause_reason", "");
  s.attention = j.value("attention", false);
  s.attention_reason = j.value("attention_reason", "");
  if (j.contains("rollbacks") && j["rollbacks"].is_array())
    for (const auto& r : j["rollbacks"])
      s.rollbacks.push_back({r.value("time_ns", int64_t{0}), r.value("trigger", ""),
                             r.value("reason", ""), r.value("point", int64_t{0}),
                             r.value("operation", int64_t{0}), r.value("safety", int64_t{0}),
                             r.value("result", ""), r.value("record", int64_t{0})});
  if (j.contains("last_run_ns") && j["last_run_ns"].is_object())
    s.last_run_ns = j["last_run_ns"].get<std::map<std::string, int64_t>>();
  s.last_verify_ns = j.value("last_verify_ns", int64_t{0});
  s.last_verify_ok = j.value("last_verify_ok", true);
  if (j.contains("last_verify_problems") && j["last_verify_problems"].is_array())
    s.last_verify_problems = j["last_verify_problems"].get<std::vector<std::string>>();
  s.health_level = j.value("health_level", "unknown");
  s.health_ns = j.value("health_ns", int64_t{0});
  s.last_refusal = j.value("last_refusal", "");
  s.boot_id = j.value("boot_id", "");
  return s;
}

Result<DaemonState> load_state(io::Fs& fs, const std::string& dir) {
  auto dfd = open_dir(fs, dir, false);
  if (!dfd) {
    if (dfd.error().code() == ErrorCode::kNotFound) return DaemonState{};
    return fail(dfd.error());
  }
  auto text = io::read_small_file(fs, dfd->get(), kStateFile, 16 << 20);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) return DaemonState{};
    return fail(text.error());
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Error::corrupted_data(
        "{}/{} does not parse; move it away to start with a fresh daemon state (the pause, "
        "attention and guard history it held are then forgotten)",
        dir, kStateFile));
  return state_from_json(j);
}

Status save_state(io::Fs& fs, const std::string& dir, const DaemonState& s) {
  DaemonState trimmed = s;
  if (trimmed.rollbacks.size() > kMaxRecords)
    trimmed.rollbacks.erase(trimmed.rollbacks.begin(),
                            trimmed.rollbacks.end() - static_cast<ptrdiff_t>(kMaxRecords));
  REWIND_ASSIGN_OR_RETURN(io::Fd dfd, open_dir(fs, dir, true));
  std::string text = to_json(trimmed).dump(2) + "\n";
  return io::write_file_atomic(fs, dfd.get(), kStateFile, io::as_bytes(text), 0600);
}

}  // namespace rwd::daemon
