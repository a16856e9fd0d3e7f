// SPDX-License-Identifier: Apache-2.0
// A real runit supervision tree for tests: runsvdir from Debian's runit
// package supervising a service directory under a sandbox root, torn down
// (runsvdir, every runsv and every service) whatever the test did.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "integration/integration_helpers.h"

namespace rwd::itest {

// A runit tree under the sandbox root: <root>/etc/sv/NAME holds each
// service's run script, <root>/etc/service/NAME links to it, and a real
// runsvdir supervises <root>/etc/service. The destructor stops runsvdir and
// every process it started, whatever the test did.
class RunitTree {
 public:
  // The directories are absolute within the sandbox root.
  explicit RunitTree(const Sandbox& box, const std::string& sv_dir = "/etc/sv",
                     const std::string& service_dir = "/etc/service")
      : box_(box),
        sv_dir_(box.at(sv_dir)),
        service_dir_(box.at(service_dir)),
        sv_log_(box.dir.sub("sv.log")),
        sv_wrapper_(box.dir.sub("sv-logged.sh")) {
    std::filesystem::create_directories(sv_dir_);
    std::filesystem::create_directories(service_dir_);
    // Every sv call rewind makes is logged, then run by the real sv.
    rwd::testing::write_file(sv_wrapper_,
                             "#!/bin/sh\necho \"$*\" >> " + sv_log_ + "\nexec sv \"$@\"\n", 0755);
  }

  ~RunitTree() { stop(); }

  void add(const std::string& name, const std::string& run, bool linked = true) {
    rwd::testing::write_file(sv_dir_ + "/" + name + "/run", run, 0755);
    if (linked) std::filesystem::create_symlink(sv_dir_ + "/" + name, service_dir_ + "/" + name);
  }

  void start() {
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // Its own process group, so that the teardown reaches every runsv
      // and service even if runsvdir is gone.
      ::setpgid(0, 0);
      ::execlp("runsvdir", "runsvdir", service_dir_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
  }

  void stop() {
    if (pid_ <= 0) return;
    // HUP: runsvdir sends TERM to each runsv (which stops its service and
    // exits), then exits itself.
    ::kill(pid_, SIGHUP);
    for (int i = 0; i < 50; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, WNOHANG);
    pid_ = -1;
  }

  // The real sv's answer for a service (through its link or its
  // definition directory when the link is gone).
  std::string status(const std::string& name) const {
    std::string path = exists_nofollow(service_dir_ + "/" + name) ? service_dir_ + "/" + name
                                                                  : sv_dir_ + "/" + name;
    RunResult r = rwd::testing::run({"sv", "status", path}, {}, 30);
    return r.out + r.err;
  }
  bool running(const std::string& name) const { return status(name).starts_with("run: "); }

  // Polls until the service is (or is not) running, for up to `seconds`.
  bool wait_running(const std::string& name, bool want, int seconds = 10) const {
    for (int i = 0; i < seconds * 10; ++i) {
      if (running(name) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void sv(const std::string& cmd, const std::string& name) const {
    RunResult r = rwd::testing::run({"sv", cmd, service_dir_ + "/" + name}, {}, 30);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
  }

  std::string take_log() const {
    std::string s = std::filesystem::exists(sv_log_) ? rwd::testing::read_file(sv_log_) : "";
    std::filesystem::remove(sv_log_);
    return s;
  }

  const std::string& sv_dir() const { return sv_dir_; }
  const std::string& service_dir() const { return service_dir_; }
  const std::string& wrapper() const { return sv_wrapper_; }

 private:
  const Sandbox& box_;
  std::string sv_dir_, service_dir_, sv_log_, sv_wrapper_;
  pid_t pid_ = -1;
};

}  // namespace rwd::itest
