// SPDX-License-Identifier: Apache-2.0
// A real rewindd for integration tests: started on the sandbox's root,
// repository and a configuration file of the test's own, with its socket
// under the sandbox root; stopped (SIGTERM, then SIGKILL) whatever the test
// did. Its standard error is kept in a log file the test can read.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "integration/integration_helpers.h"

namespace rwd::itest {

inline std::string rewindd_binary() {
  if (const char* p = std::getenv("REWINDD_BIN")) return p;
  // build/src/cli/rewind -> build/src/daemon/rewindd
  std::filesystem::path cli = rwd::testing::rewind_binary();
  return (cli.parent_path().parent_path() / "daemon" / "rewindd").string();
}

// Polls `pred` every 50 ms until it holds or `seconds` pass.
inline bool eventually(const std::function<bool()>& pred, double seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// The entries of `rewind audit --json` whose operation is `operation`
// ("daemon rollback", ...), oldest first.
inline nlohmann::json audit_entries(const Sandbox& box, const std::string& operation) {
  nlohmann::json out = nlohmann::json::array();
  RunResult r = box.rw({"--json", "audit"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  nlohmann::json all = nlohmann::json::parse(r.out, nullptr, false);
  if (all.is_array())
    for (const auto& e : all)
      if (e["operation"] == operation) out.push_back(e);
  return out;
}

// Whether an audit entry's arguments hold `argument`.
inline bool has_argument(const nlohmann::json& entry, const std::string& argument) {
  for (const auto& a : entry["arguments"])
    if (a == argument) return true;
  return false;
}

class TestDaemon {
 public:
  // `config` is the text of the configuration file (written beside the
  // sandbox's root).
  TestDaemon(const Sandbox& box, const std::string& config)
      : box_(box), config_(box.dir.sub("rewind.toml")), log_(box.dir.sub("rewindd.log")) {
    write_config(config);
  }
  ~TestDaemon() { stop(); }

  void write_config(const std::string& text) { rwd::testing::write_file(config_, text, 0644); }

  std::string socket() const { return box_.at("/run/rewind/rewindd.sock"); }
  const std::string& config() const { return config_; }
  pid_t pid() const { return pid_; }

  void start() {
    // Only this start's lines count (the log is appended to).
    size_t from = log().size();
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::string bin = rewindd_binary();
      ::execl(bin.c_str(), bin.c_str(), "--root", box_.root.c_str(), "--repo", box_.repo.c_str(),
              "--config", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_TRUE(eventually([&] { return log().find("listening on", from) != std::string::npos; }))
        << "rewindd did not start:\n"
        << log();
  }

  // SIGTERM and the exit status (or -1 when it had to be killed).
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

  // SIGKILL: a crash or a power cut, as far as the daemon can tell.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void hup() const { ::kill(pid_, SIGHUP); }

  std::string log() const {
    return std::filesystem::exists(log_) ? rwd::testing::read_file(log_) : std::string();
  }

  // rewind --root ROOT --config CONFIG daemon ARGS... (as root).
  RunResult client(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{
        rwd::testing::rewind_binary(), "--root", box_.root, "--config", config_, "daemon"};
    argv.insert(argv.end(), args.begin(), args.end());
    return rwd::testing::run(argv, {}, 120);
  }

  // `rewind daemon status --json`, parsed.
  nlohmann::json status() const {
    RunResult r = client({"--json", "status"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

 private:
  const Sandbox& box_;
  std::string config_, log_;
  pid_t pid_ = -1;
};

}  // namespace rwd::itest
