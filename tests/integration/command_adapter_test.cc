// SPDX-License-Identifier: Apache-2.0
// The command adapter through the real binary: capture and restore commands
// that copy an application's state files (under the temporary system root)
// into and out of the directory rewind hands them; diff, rollback, failing
// and slow commands, a validate command that refuses, and bad settings.
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::HasSubstr;

// A TOML string holding `s` (no quotes or backslashes in the tests' scripts).
std::string q(const std::string& s) { return "\"" + s + "\""; }

class CommandAdapter : public ::testing::Test {
 protected:
  // The component "app": its state is /var/lib/app/state (mode 0640) and
  // /var/lib/app/conf.d/extra; `extra` adds keys to the component.
  void configure(const std::string& capture, const std::string& restore,
                 const std::string& extra = "") const {
    write_file(box.at("/etc/rewind/rewind.toml"),
               "[[component]]\nname = \"app\"\nadapter = \"command\"\n"
               "capture = [\"sh\", \"-c\", " +
                   q(capture) + "]\nrestore = [\"sh\", \"-c\", " + q(restore) + "]\n" + extra);
  }

  void SetUp() override {
    configure(kCapture, kRestore, "timeout = \"20s\"\n");
    ASSERT_EQ(box.init().exit_code, 0);
    write_file(box.at("/var/lib/app/state"), "counter = 1\nname = app\n", 0640);
    write_file(box.at("/var/lib/app/conf.d/extra"), "extra v1\n");
  }

  static constexpr const char* kCapture =
      "cp -p $REWIND_ROOT/var/lib/app/state {dir}/state && mkdir {dir}/conf.d && "
      "cp -p $REWIND_ROOT/var/lib/app/conf.d/extra $REWIND_STATE_DIR/conf.d/extra";
  // Also records what the restore saw: the state file's mode and the
  // component's name.
  static constexpr const char* kRestore =
      "stat -c %a {dir}/state > $REWIND_ROOT/restore-saw && "
      "echo $REWIND_COMPONENT >> $REWIND_ROOT/restore-saw && "
      "cp {dir}/state $REWIND_ROOT/var/lib/app/state && "
      "cp {dir}/conf.d/extra $REWIND_ROOT/var/lib/app/conf.d/extra";

  Sandbox box{"rewind-cmd"};
};

TEST_F(CommandAdapter, RollbackPutsTheStateBack) {
  int64_t id = box.create({});
  ASSERT_GT(id, 0);
  write_file(box.at("/var/lib/app/state"), "counter = 2\nname = app\n", 0640);
  write_file(box.at("/var/lib/app/conf.d/extra"), "extra v2\n");

  RunResult d = box.rw({"--json", "diff", std::to_string(id)});
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  json j = json::parse(d.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << d.out;
  std::map<std::string, json> changes;
  for (const auto& c : j["changes"]) changes[c.value("path", "")] = c;
  ASSERT_EQ(changes.size(), 2u) << d.out;
  EXPECT_EQ(changes["state"]["component"], "app");
  EXPECT_EQ(changes["state"]["change"], "content");
  EXPECT_EQ(changes["state"]["detail"],
            "--- a/state\n+++ b/state\n@@ -1,2 +1,2 @@\n-counter = 1\n+counter = 2\n name = app\n");
  EXPECT_EQ(changes["conf.d/extra"]["change"], "content");

  RunResult r =
      box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "app", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(box.at("/var/lib/app/state")), "counter = 1\nname = app\n");
  EXPECT_EQ(read_file(box.at("/var/lib/app/conf.d/extra")), "extra v1\n");
  EXPECT_EQ(read_file(box.at("/restore-saw")), "640\napp\n");  // mode kept, env given

  RunResult after = box.rw({"--json", "diff", std::to_string(id)});
  ASSERT_EQ(after.exit_code, 0) << describe(after);
  EXPECT_EQ(json::parse(after.out)["changes"], json::array()) << after.out;
}

// The snapshot keeps the commands: a point restores a component that the
// configuration no longer has.
TEST_F(CommandAdapter, APointRestoresWithoutTheConfiguration) {
  int64_t id = box.create({});
  ASSERT_GT(id, 0);
  write_file(box.at("/var/lib/app/state"), "counter = 2\n", 0640);
  write_file(box.at("/etc/rewind/rewind.toml"), "");
  RunResult d = box.rw({"diff", std::to_string(id)});
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  EXPECT_THAT(d.out, HasSubstr("-counter = 1\n-name = app\n+counter = 2\n"));
  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(box.at("/var/lib/app/state")), "counter = 1\nname = app\n");
}

TEST_F(CommandAdapter, FailingCaptureIsAnErrorWithItsOutput) {
  configure("echo the app is locked >&2; exit 3", kRestore);
  RunResult r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("component app: the capture command sh exited with status 3"));
  EXPECT_THAT(r.err, HasSubstr("the app is locked"));
}

TEST_F(CommandAdapter, SlowCaptureTimesOut) {
  configure("sleep 30", kRestore, "timeout = \"1s\"\n");
  auto start = std::chrono::steady_clock::now();
  RunResult r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 124) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("component app: the capture command sh ran out of time"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

TEST_F(CommandAdapter, CaptureMayNotLeaveASymlink) {
  configure("ln -s /etc/passwd {dir}/link", kRestore);
  RunResult r = box.rw({"create"});
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("left link in the state directory"));
}

TEST_F(CommandAdapter, ValidateFailureRefusesTheRestoreBeforeAnythingChanges) {
  configure(kCapture, kRestore, "validate = [\"grep\", \"-q\", \"good\", \"{dir}/state\"]\n");
  int64_t id = box.create({});  // the state says nothing "good"
  ASSERT_GT(id, 0);
  write_file(box.at("/var/lib/app/state"), "counter = 2 good\n", 0640);
  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);  // refused whole: not 3 (partial) nor 5 (reverted)
  EXPECT_THAT(r.err, HasSubstr("the validate command grep exited with status 1"));
  EXPECT_EQ(read_file(box.at("/var/lib/app/state")), "counter = 2 good\n");
  EXPECT_FALSE(exists_nofollow(box.at("/restore-saw")));  // the restore never ran
}

TEST_F(CommandAdapter, BadSettingsAreConfigurationErrors) {
  configure(kCapture, kRestore, "retries = 3\n");
  RunResult unknown = box.rw({"list"});
  EXPECT_EQ(unknown.exit_code, 2) << describe(unknown);
  EXPECT_THAT(unknown.err, HasSubstr("has no key \"retries\" (known: capture, restore, "
                                     "validate, timeout)"));
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"app\"\nadapter = \"command\"\ncapture = \"cp a b\"\n"
             "restore = [\"true\"]\n");
  RunResult type = box.rw({"list"});
  EXPECT_EQ(type.exit_code, 2) << describe(type);
  EXPECT_THAT(type.err, HasSubstr("key \"capture\" must be a non-empty array of strings"));
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"app\"\nadapter = \"command\"\ncapture = [\"true\"]\n");
  RunResult missing = box.rw({"list"});
  EXPECT_EQ(missing.exit_code, 2) << describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("needs \"restore\""));
  configure(kCapture, kRestore, "timeout = \"soon\"\n");
  RunResult duration = box.rw({"list"});
  EXPECT_EQ(duration.exit_code, 2) << describe(duration);
  EXPECT_THAT(duration.err, HasSubstr("key \"timeout\""));
}

}  // namespace
}  // namespace rwd::itest
