// SPDX-License-Identifier: Apache-2.0
// `run --confirm-within` and `rewind confirm`: a provisional change is
// recorded as a pending confirmation; confirmed, it stays; not confirmed by
// its deadline, enforce_confirmations (here through the hidden `confirm
// --enforce`, what rewindd does) rolls it back to its pre point.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

// A listening UNIX socket standing in for rewindd (connections are never
// accepted: run only needs connect(2) to succeed).
class FakeDaemon {
 public:
  explicit FakeDaemon(const std::string& path) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    EXPECT_LT(path.size(), sizeof(a.sun_path)) << path;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
    EXPECT_EQ(::listen(fd_, 16), 0);
  }
  ~FakeDaemon() { ::close(fd_); }

 private:
  int fd_ = -1;
};

class ConfirmFixture {
 public:
  ConfirmFixture() : box("rewind-confirm") {
    rwd::testing::write_file(box.at("/etc/app/app.conf"), "version = 1\n");
    rwd::testing::write_file(box.at("/etc/rewind/rewind.toml"),
                             "[[component]]\nname = \"etc\"\npaths = [\"/etc/app\"]\n");
    EXPECT_EQ(box.init().exit_code, 0);
  }
  RunResult run_setting(const std::string& version, const std::string& within) const {
    return box.rw({"run", "--confirm-within", within, "--", "sh", "-c",
                   "echo 'version = " + version + "' > " + box.at("/etc/app/app.conf")});
  }
  std::string conf() const { return rwd::testing::read_file(box.at("/etc/app/app.conf")); }
  json confirmations() const {
    RunResult r = box.rw({"--json", "confirm", "--list"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json::parse(r.out, nullptr, false);
  }
  Sandbox box;
};

TEST(Confirm, ConfirmedChangeStaysAndAnExpiredOneIsRolledBack) {
  ConfirmFixture f;
  FakeDaemon daemon(f.box.at("/run/rewind/rewindd.sock"));
  // First change, confirmed in time.
  RunResult r = f.run_setting("2", "1h");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json c = f.confirmations();
  ASSERT_EQ(c.size(), 1u) << c.dump(1);
  EXPECT_EQ(c[0]["state"], "pending");
  r = f.box.rw({"confirm"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  // Second change, left unconfirmed past its deadline: long enough for the
  // checks below to run before it (also under the sanitizers), and waited
  // out from when the run began.
  const auto started = std::chrono::steady_clock::now();
  r = f.run_setting("3", "5s");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(f.conf(), "version = 3\n");
  // Its pre point is where the deadline rolls back to: it cannot be forgotten.
  c = f.confirmations();
  ASSERT_EQ(c.size(), 2u) << c.dump(1);
  RunResult fg = f.box.rw({"forget", std::to_string(c[1]["pre"].get<int64_t>()),
                           std::to_string(c[1]["post"].get<int64_t>())});
  EXPECT_EQ(fg.exit_code, 16) << describe(fg);
  EXPECT_NE(fg.err.find("unconfirmed change"), std::string::npos) << fg.err;
  // Before the deadline nothing happens.
  r = f.box.rw({"--json", "confirm", "--enforce"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out), json::array());
  std::this_thread::sleep_until(started + std::chrono::milliseconds(5200));
  r = f.box.rw({"--json", "confirm", "--enforce"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  json reps = json::parse(r.out, nullptr, false);
  ASSERT_EQ(reps.size(), 1u) << describe(r);
  EXPECT_EQ(reps[0]["trigger"], "unconfirmed");
  EXPECT_EQ(reps[0]["result"], "completed");
  EXPECT_EQ(f.conf(), "version = 2\n") << "the confirmed change stays, the unconfirmed one went";
  c = f.confirmations();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["state"], "confirmed");
  EXPECT_EQ(c[1]["state"], "rolled-back");
  // Enforcing again changes nothing; nothing is left to confirm.
  r = f.box.rw({"--json", "confirm", "--enforce"});
  EXPECT_EQ(json::parse(r.out), json::array());
  r = f.box.rw({"confirm"});
  EXPECT_EQ(r.exit_code, 14) << describe(r);
}

TEST(Confirm, RefusedWithoutADaemonAndUnknownIdIsNotFound) {
  ConfirmFixture f;
  RunResult r = f.run_setting("2", "10min");
  EXPECT_EQ(r.exit_code, 125) << describe(r);
  EXPECT_NE(r.err.find("nothing answers on " + f.box.at("/run/rewind/rewindd.sock")),
            std::string::npos)
      << r.err;
  EXPECT_EQ(f.conf(), "version = 1\n");
  r = f.box.rw({"confirm", "7"});
  EXPECT_EQ(r.exit_code, 14) << describe(r);
}

}  // namespace
}  // namespace rwd::itest
