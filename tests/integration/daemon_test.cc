// SPDX-License-Identifier: Apache-2.0
// rewindd's socket, access rules, reload, pause, timeline points and
// metrics, against the real daemon binary on a temporary root. Callers that
// are not root run under setpriv with unused numeric ids, so the host's
// user database is never touched.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/daemon_fixture.h"
#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;

// Unused ids: the caller in the socket's group, its group, and outsiders.
constexpr const char* kUser = "64100";
constexpr const char* kSocketGroup = "64101";
constexpr const char* kOtherUser = "64102";
constexpr const char* kOtherGroup = "64103";

std::string base_config(const std::string& extra_daemon = "") {
  return "[[component]]\nname = \"data\"\nadapter = \"files\"\npaths = [\"/data\"]\n\n"
         "[health]\ninterval = \"200ms\"\n\n"
         "[daemon]\nsocket_group = \"" +
         std::string(kSocketGroup) +
         "\"\nverify_interval = \"off\"\n"
         "verify_read_data_interval = \"off\"\nretention_interval = \"off\"\n"
         "metrics_dir = \"/metrics\"\n" +
         extra_daemon;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box.init().exit_code, 0);
    rwd::testing::write_file(box.at("/data/a"), "alpha\n");
    std::filesystem::create_directories(box.at("/metrics"));
    // Others must traverse to the socket and run the binaries.
    ::chmod(box.dir.path().c_str(), 0755);
    ::chmod(box.root.c_str(), 0755);
  }

  // rewind ... daemon ARGS as uid:gid with the supplementary groups.
  RunResult as_user(const std::string& uid, const std::string& gid, const std::string& groups,
                    const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"setpriv",
                                  "--reuid=" + uid,
                                  "--regid=" + gid,
                                  groups.empty() ? "--clear-groups" : "--groups=" + groups,
                                  rwd::testing::rewind_binary(),
                                  "--root",
                                  box.root,
                                  "daemon",
                                  "--socket",
                                  box.at("/run/rewind/rewindd.sock")};
    argv.insert(argv.end(), args.begin(), args.end());
    return rwd::testing::run(argv, {}, 60);
  }

  // One raw protocol line written to the socket by a process of that
  // uid/gid (python's socket module, not rewind's client).
  json raw(const std::string& uid, const std::string& gid, const std::string& groups,
           const std::string& line) const {
    std::string py =
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[1])\n"
        "s.sendall(sys.argv[2].encode()+b'\\n')\n"
        "d=b''\n"
        "while not d.endswith(b'\\n'):\n"
        "  c=s.recv(65536)\n"
        "  if not c: break\n"
        "  d+=c\n"
        "sys.stdout.write(d.decode())\n";
    RunResult r =
        rwd::testing::run({"setpriv", "--reuid=" + uid, "--regid=" + gid,
                           groups.empty() ? "--clear-groups" : "--groups=" + groups,
                           "/usr/bin/python3", "-c", py, box.at("/run/rewind/rewindd.sock"), line},
                          {}, 60);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    auto j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << describe(r);
    return j;
  }

  Sandbox box{"rewind-daemon"};
};

// The socket is 0660, owned by the configured group, in a directory others
// may traverse.
TEST_F(DaemonTest, SocketIsGroupOwnedAndItsDirectoryTraversable) {
  TestDaemon d(box, base_config());
  d.start();
  struct stat st {};
  ASSERT_EQ(::stat(d.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, static_cast<gid_t>(std::stoul(kSocketGroup)));
  EXPECT_EQ(st.st_uid, 0u);
  struct stat dst {};
  ASSERT_EQ(::stat(box.at("/run/rewind").c_str(), &dst), 0);
  EXPECT_EQ(dst.st_mode & 0001, 0001u) << "others cannot traverse the socket's directory";
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_FALSE(exists_nofollow(d.socket())) << "the socket stays after a clean shutdown";
}

// A non-root caller in the socket's group may list (the default rule for
// reading) but not roll back: refused by the daemon, through the client and
// through a raw request alike.
TEST_F(DaemonTest, GroupMemberCanListButNotRollBack) {
  int64_t id = box.create({"/data"});
  ASSERT_GT(id, 0);
  TestDaemon d(box, base_config());
  d.start();

  RunResult list = as_user(kUser, kUser, kSocketGroup, {"--json", "list"});
  ASSERT_EQ(list.exit_code, 0) << describe(list) << d.log();
  json pts = json::parse(list.out);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0]["id"], id);

  rwd::testing::write_file(box.at("/data/a"), "changed\n");
  RunResult rb = as_user(kUser, kUser, kSocketGroup, {"rollback", std::to_string(id)});
  EXPECT_EQ(rb.exit_code, 15) << describe(rb);
  EXPECT_NE(rb.err.find("refuses rollback to uid 64100"), std::string::npos) << describe(rb);

  // The same request without rewind's client: the daemon refuses it.
  json raw_list = raw(kUser, kUser, kSocketGroup, R"({"action":"list"})");
  EXPECT_EQ(raw_list["ok"], true) << raw_list.dump();
  json raw_rb = raw(kUser, kUser, kSocketGroup,
                    R"({"action":"rollback","point":")" + std::to_string(id) + R"("})");
  EXPECT_EQ(raw_rb["ok"], false) << raw_rb.dump();
  EXPECT_EQ(raw_rb["error"]["kind"], "PermissionDenied") << raw_rb.dump();
  EXPECT_EQ(raw_rb["error"]["exit_code"], 15);
  json raw_create = raw(kUser, kUser, kSocketGroup, R"({"action":"create"})");
  EXPECT_EQ(raw_create["error"]["kind"], "PermissionDenied") << raw_create.dump();
  json raw_pause = raw(kUser, kUser, kSocketGroup, R"({"action":"pause"})");
  EXPECT_EQ(raw_pause["error"]["kind"], "PermissionDenied") << raw_pause.dump();

  // Nothing was rolled back, paused or created.
  EXPECT_EQ(rwd::testing::read_file(box.at("/data/a")), "changed\n");
  EXPECT_EQ(d.status()["state"], "running");
  EXPECT_EQ(json::parse(box.rw({"--json", "list"}).out).size(), 1u);
  EXPECT_NE(d.log().find("refused rollback to uid 64100"), std::string::npos) << d.log();

  // Root through the same client may.
  RunResult root_rb = d.client({"rollback", std::to_string(id)});
  EXPECT_EQ(root_rb.exit_code, 0) << describe(root_rb) << d.log();
  EXPECT_EQ(rwd::testing::read_file(box.at("/data/a")), "alpha\n");
}

// A non-root user without an allowing rule: the socket lets it connect (it
// is in the socket's group) but the daemon refuses every action the rules
// do not give it; a user outside the group cannot even connect.
TEST_F(DaemonTest, UserWithoutRuleIsRefusedByTheDaemon) {
  TestDaemon d(box, base_config("[daemon.access.list]\ngroups = [\"64109\"]\n"
                                "[daemon.access.status]\nusers = [\"64108\"]\n"));
  d.start();
  json l = raw(kUser, kUser, kSocketGroup, R"({"action":"list"})");
  EXPECT_EQ(l["ok"], false) << l.dump();
  EXPECT_EQ(l["error"]["kind"], "PermissionDenied");
  RunResult st = as_user(kUser, kUser, kSocketGroup, {"status"});
  EXPECT_EQ(st.exit_code, 15) << describe(st);
  // The rule's own user may.
  RunResult ok = as_user("64108", "64108", kSocketGroup, {"status"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  // Outside the socket's group: the socket's mode refuses the connection.
  RunResult out = as_user(kOtherUser, kOtherGroup, "", {"list"});
  EXPECT_EQ(out.exit_code, 15) << describe(out);
}

// Requests that are not the protocol get an error answer, not a crash.
TEST_F(DaemonTest, MalformedRequestsAreAnsweredWithUsageErrors) {
  TestDaemon d(box, base_config());
  d.start();
  json a = raw("0", "0", "", "not json");
  EXPECT_EQ(a["error"]["kind"], "Usage");
  json b = raw("0", "0", "", R"({"action":"format-disk"})");
  EXPECT_EQ(b["error"]["kind"], "Usage");
  EXPECT_EQ(d.status()["state"], "running");
}

// SIGHUP reloads: a rule added to the file takes effect without a restart;
// a broken file is refused and the old settings stay.
TEST_F(DaemonTest, SighupReloadsTheConfiguration) {
  TestDaemon d(box, base_config("[daemon.access.create]\nusers = [\"root\"]\n"));
  d.start();
  EXPECT_EQ(as_user(kUser, kUser, kSocketGroup, {"create", "-n", "x"}).exit_code, 15);

  d.write_config(
      base_config("[daemon.access.create]\ngroups = [\"" + std::string(kSocketGroup) + "\"]\n"));
  d.hup();
  ASSERT_TRUE(eventually([&] {
    return d.log().find("configuration reloaded") != std::string::npos;
  })) << d.log();
  RunResult c = as_user(kUser, kUser, kSocketGroup, {"create", "-n", "by-group"});
  EXPECT_EQ(c.exit_code, 0) << describe(c) << d.log();
  json pts = json::parse(box.rw({"--json", "list"}).out);
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0]["name"], "by-group");
  EXPECT_EQ(pts[0]["tags"], json({"requested-by-uid-64100"}));
  // The audit log records it as the caller's, done through the daemon.
  json creates = audit_entries(box, "create");
  ASSERT_FALSE(creates.empty());
  EXPECT_EQ(creates.back()["uid"], 64100) << creates.back();
  EXPECT_EQ(creates.back()["arguments"][0], "via=rewindd") << creates.back();
  EXPECT_TRUE(has_argument(creates.back(), "name=by-group")) << creates.back();

  d.write_config(base_config("bogus_key = 1\n"));
  d.hup();
  ASSERT_TRUE(eventually([&] { return d.log().find("reload refused") != std::string::npos; }))
      << d.log();
  EXPECT_NE(d.log().find("unknown key \"bogus_key\""), std::string::npos) << d.log();
  EXPECT_EQ(as_user(kUser, kUser, kSocketGroup, {"create", "-n", "again"}).exit_code, 0);
}

// An unknown [daemon] key stops the daemon at start with exit code 2.
TEST_F(DaemonTest, InvalidConfigurationRefusedAtStart) {
  rwd::testing::write_file(box.dir.sub("bad.toml"), "[daemon]\ntimeline_interval = \"soon\"\n");
  RunResult r = rwd::testing::run({rewindd_binary(), "--root", box.root, "--repo", box.repo,
                                   "--config", box.dir.sub("bad.toml")},
                                  {}, 30);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("timeline_interval"), std::string::npos) << describe(r);
}

// Timeline points appear at the configured interval, kind "timeline".
TEST_F(DaemonTest, TimelinePointsAppearAtTheInterval) {
  TestDaemon d(box, base_config("timeline_interval = \"300ms\"\n"));
  d.start();
  ASSERT_TRUE(eventually(
      [&] {
        auto pts =
            json::parse(box.rw({"--json", "list", "--kind", "timeline"}).out, nullptr, false);
        return pts.is_array() && pts.size() >= 2;
      },
      20))
      << d.log();
  json pts = json::parse(box.rw({"--json", "list"}).out);
  for (const auto& p : pts) {
    EXPECT_EQ(p["kind"], "timeline");
    EXPECT_EQ(p["cause"], "timeline");
  }
}

// `daemon pause` and `resume` change the state, which survives a restart.
TEST_F(DaemonTest, PauseIsPersistedUntilResume) {
  TestDaemon d(box, base_config());
  d.start();
  RunResult p = d.client({"pause", "--reason", "maintenance window"});
  ASSERT_EQ(p.exit_code, 0) << describe(p) << d.log();
  EXPECT_EQ(d.status()["state"], "paused");
  EXPECT_EQ(d.status()["pause_reason"], "maintenance window");
  EXPECT_EQ(d.stop(), 0);
  d.start();
  EXPECT_EQ(d.status()["state"], "paused");
  ASSERT_EQ(d.client({"resume"}).exit_code, 0);
  EXPECT_EQ(d.status()["state"], "running");
}

// The metrics file holds every documented series after a round.
TEST_F(DaemonTest, MetricsFileHoldsTheDocumentedSeries) {
  ASSERT_GT(box.create({"/data"}), 0);
  TestDaemon d(box, base_config());
  d.start();
  std::string file = box.at("/metrics/rewind.prom");
  ASSERT_TRUE(eventually([&] { return exists_nofollow(file); })) << d.log();
  std::string m = rwd::testing::read_file(file);
  for (const char* series :
       {"rewind_last_recovery_point_timestamp_seconds ", "rewind_recovery_points 1\n",
        "rewind_repository_size_bytes ", "rewind_health_level ",
        "rewind_auto_rollbacks_total{trigger=\"service-failure\"} 0\n",
        "rewind_auto_rollbacks_total{trigger=\"health-critical\"} 0\n",
        "rewind_last_verify_success ", "rewind_last_verify_timestamp_seconds ",
        "rewind_daemon_state{state=\"running\"} 1\n"})
    EXPECT_NE(m.find(series), std::string::npos) << series << "\n" << m;
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // No temporary file is left beside it.
  for (const auto& e : std::filesystem::directory_iterator(box.at("/metrics")))
    EXPECT_EQ(e.path().filename(), "rewind.prom");
}

// A second daemon on the same socket is refused (exit code 11) and leaves
// the first one's socket alone.
TEST_F(DaemonTest, SecondDaemonOnTheSameSocketIsRefused) {
  TestDaemon d(box, base_config());
  d.start();
  RunResult r = rwd::testing::run(
      {rewindd_binary(), "--root", box.root, "--repo", box.repo, "--config", d.config()}, {}, 30);
  EXPECT_EQ(r.exit_code, 11) << describe(r);
  EXPECT_EQ(d.client({"status"}).exit_code, 0);
}

}  // namespace
}  // namespace rwd::itest
