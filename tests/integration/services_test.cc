// SPDX-License-Identifier: Apache-2.0
// The services adapter against real service managers: a runit supervision
// tree (runsvdir on a service directory under the sandbox root), real
// `systemctl --root` for systemd enablement with a stand-in systemctl for
// start/stop/is-active (no test touches the host's services), and the
// command manager. Also the engine's [service_manager] kind = "runit".
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "integration/integration_helpers.h"
#include "integration/runit_tree.h"

namespace rwd::itest {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

bool contains_line(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

void write_config(const Sandbox& box, const std::string& text) {
  rwd::testing::write_file(box.at("/etc/rewind/rewind.toml"), text);
}

int64_t create_point(const Sandbox& box) {
  RunResult r = box.rw({"-q", "create"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  return r.exit_code == 0 ? std::stoll(r.out) : -1;
}

json rw_json(const Sandbox& box, std::vector<std::string> args, RunResult* out = nullptr) {
  args.insert(args.begin(), "--json");
  RunResult r = box.rw(args);
  if (out) *out = r;
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "not one JSON document: " << describe(r);
  return j;
}

// The detail of the change of `path` with attribute `attr` ("" for any) in
// a diff's JSON, or "<none>".
std::string detail_of(const json& diff, const std::string& path, const std::string& attr = "") {
  if (!diff.contains("changes")) return "<none>";
  for (const auto& c : diff["changes"]) {
    if (c["path"] != path) continue;
    if (!attr.empty() &&
        std::find(c["attributes"].begin(), c["attributes"].end(), attr) == c["attributes"].end())
      continue;
    return c["detail"].get<std::string>();
  }
  return "<none>";
}

const char kSleeper[] = "#!/bin/sh\nexec sleep 1000\n";

// A runit services component. Its timeout leaves room for runsvdir's scan
// (every five seconds) when a link comes back.
std::string runit_component(const RunitTree& t, const std::string& units,
                            const std::string& timeout = "10s", const std::string& extra = "") {
  return "[[component]]\nname = \"svc\"\nadapter = \"services\"\ncategory = "
         "\"system_services\"\nmanager = \"runit\"\nunits = " +
         units + "\nsv = [\"" + t.wrapper() + "\"]\ntimeout = \"" + timeout + "\"\n" + extra + "\n";
}

TEST(ServicesRunit, RollbackRestoresOnlyWhatChanged) {
  // Three supervised services: alpha is stopped and its run script edited,
  // beta is disabled (its link removed), gamma is left alone. A rollback of
  // the component brings alpha and beta back (files byte for byte, the
  // link as it was, both running) and sends gamma no up or down.
  Sandbox box("rewind-svc");
  RunitTree t(box);
  for (const char* n : {"alpha", "beta", "gamma"}) t.add(n, kSleeper);
  write_config(box, runit_component(t, "[\"alpha\", \"beta\", \"gamma\"]"));
  ASSERT_EQ(box.init().exit_code, 0);
  t.start();
  for (const char* n : {"alpha", "beta", "gamma"}) ASSERT_TRUE(t.wait_running(n, true)) << n;
  const std::string beta_link = std::filesystem::read_symlink(t.service_dir() + "/beta");

  int64_t id = create_point(box);
  ASSERT_GT(id, 0);
  json show = rw_json(box, {"show", std::to_string(id)});
  EXPECT_THAT(show.dump(), HasSubstr("\"restorable\""));
  EXPECT_THAT(show.dump(), HasSubstr(t.sv_dir().substr(box.root.size()) + "/alpha/run"));

  t.sv("down", "alpha");
  ASSERT_TRUE(t.wait_running("alpha", false));
  std::filesystem::remove(t.sv_dir() + "/alpha/run");
  rwd::testing::write_file(t.sv_dir() + "/alpha/run", "#!/bin/sh\nexec sleep 2000\n", 0700);
  std::filesystem::remove(t.service_dir() + "/beta");

  json diff = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_EQ(detail_of(diff, "alpha", "active"), "active yes -> no") << diff.dump(1);
  EXPECT_EQ(detail_of(diff, "beta", "enabled"), "enabled yes (" + beta_link + ") -> no");
  EXPECT_THAT(detail_of(diff, "/etc/sv/alpha/run", ""),
              HasSubstr("-exec sleep 1000\n+exec sleep 2000"));
  EXPECT_EQ(detail_of(diff, "/etc/sv/alpha/run", "mode"), "mode 0755 -> 0700");
  EXPECT_EQ(detail_of(diff, "gamma"), "<none>");

  t.take_log();
  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);

  EXPECT_TRUE(t.running("alpha")) << t.status("alpha");
  EXPECT_TRUE(t.running("beta")) << t.status("beta");
  EXPECT_TRUE(t.running("gamma")) << t.status("gamma");
  EXPECT_EQ(rwd::testing::read_file(t.sv_dir() + "/alpha/run"), kSleeper);
  EXPECT_EQ(lstat_or_die(t.sv_dir() + "/alpha/run").st_mode & 07777, 0755u);
  EXPECT_EQ(std::filesystem::read_symlink(t.service_dir() + "/beta"), beta_link);
  const std::string log = t.take_log();
  EXPECT_TRUE(contains_line(log, "up " + t.service_dir() + "/alpha")) << log;
  EXPECT_TRUE(contains_line(log, "up " + t.service_dir() + "/beta")) << log;
  EXPECT_FALSE(contains_line(log, "up " + t.service_dir() + "/gamma")) << log;
  EXPECT_FALSE(contains_line(log, "down " + t.service_dir() + "/gamma")) << log;

  // Nothing differs any more.
  json after = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_TRUE(after["changes"].empty()) << after.dump(1);
}

// The changes of a diff's JSON with attribute `attr`, by path.
std::map<std::string, json> changes_with(const json& diff, const std::string& attr) {
  std::map<std::string, json> out;
  for (const auto& c : diff["changes"])
    if (std::find(c["attributes"].begin(), c["attributes"].end(), attr) != c["attributes"].end())
      out[c["path"].get<std::string>()] = c;
  return out;
}

TEST(ServicesRunit, EnvironmentIsRecordedAndShownWithoutSecrets) {
  // A service run with `chpst -e env` has env/ files (one empty: it unsets
  // its name). After the point one variable changes, one is added, one is
  // removed and a secret one changes. diff shows exactly those four as
  // recorded environment changes, and never a secret's value (neither
  // through the variable nor through the env/ file's content). The env/
  // files are also the unit's files, so the rollback restores them (as
  // files) -- and sends the service no sv up or down, since its state did
  // not change; afterwards nothing differs.
  Sandbox box("rewind-svc");
  RunitTree t(box);
  t.add("app", "#!/bin/sh\nexec chpst -e env sleep 1000\n");
  const std::string env = t.sv_dir() + "/app/env/";
  for (const auto& [name, value] :
       std::map<std::string, std::string>{{"MODE", "fast\n"},
                                          {"LEVEL", "3  \n"},
                                          {"OLD", "x\nignored\n"},
                                          {"API_TOKEN", "tok-old-1234\n"},
                                          {"UNSET", ""}})
    rwd::testing::write_file(env + name, value, 0644);
  write_config(box, runit_component(t, "[\"app\"]"));
  ASSERT_EQ(box.init().exit_code, 0);
  t.start();
  ASSERT_TRUE(t.wait_running("app", true));
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);

  json show = rw_json(box, {"show", std::to_string(id)});
  EXPECT_THAT(show.dump(), HasSubstr("\"recorded\":[\"environment\"]")) << show.dump(1);
  EXPECT_THAT(show.dump(), HasSubstr("\"environment_variables\":4")) << show.dump(1);
  EXPECT_THAT(show.dump(), Not(HasSubstr("tok-old-1234")));

  rwd::testing::write_file(env + "MODE", "slow\n", 0644);
  rwd::testing::write_file(env + "NEW", "y\n", 0644);
  std::filesystem::remove(env + "OLD");
  rwd::testing::write_file(env + "API_TOKEN", "tok-new-5678\n", 0644);

  RunResult r;
  json diff = rw_json(box, {"diff", std::to_string(id)}, &r);
  auto vars = changes_with(diff, "environment");
  ASSERT_EQ(vars.size(), 4u) << diff.dump(1);
  EXPECT_EQ(vars["app/env/MODE"]["change"], "content");
  EXPECT_EQ(vars["app/env/MODE"]["detail"], "fast -> slow");
  EXPECT_EQ(vars["app/env/NEW"]["change"], "added");
  EXPECT_EQ(vars["app/env/NEW"]["detail"], "(unset) -> y");
  EXPECT_EQ(vars["app/env/OLD"]["change"], "removed");
  EXPECT_EQ(vars["app/env/OLD"]["detail"], "x -> (unset)");
  EXPECT_EQ(vars["app/env/API_TOKEN"]["detail"], "value changed (secret)");
  for (const auto& [path, c] : vars) EXPECT_THAT(c.dump(), HasSubstr("\"recorded\"")) << path;
  // The env/ files as files: the secret one without its content.
  EXPECT_EQ(detail_of(diff, "/etc/sv/app/env/API_TOKEN"), "content changed (secret)");
  EXPECT_THAT(detail_of(diff, "/etc/sv/app/env/MODE"), HasSubstr("-fast\n+slow"));
  RunResult text = box.rw({"diff", std::to_string(id)});
  for (const RunResult* out : {&r, &text})
    for (const char* secret : {"tok-old-1234", "tok-new-5678"})
      EXPECT_THAT(out->out + out->err, Not(HasSubstr(secret))) << secret;

  t.take_log();
  RunResult rb = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(rb.exit_code, 0) << describe(rb);
  EXPECT_EQ(rwd::testing::read_file(env + "MODE"), "fast\n");
  EXPECT_EQ(rwd::testing::read_file(env + "OLD"), "x\nignored\n");
  EXPECT_EQ(rwd::testing::read_file(env + "API_TOKEN"), "tok-old-1234\n");
  EXPECT_FALSE(std::filesystem::exists(env + "NEW"));
  EXPECT_TRUE(t.running("app"));
  const std::string log = t.take_log();
  EXPECT_FALSE(contains_line(log, "up " + t.service_dir() + "/app")) << log;
  EXPECT_FALSE(contains_line(log, "down " + t.service_dir() + "/app")) << log;
  json after = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_TRUE(after["changes"].empty()) << after.dump(1);
}

TEST(ServicesRunit, ServiceThatDoesNotComeUpFailsTheComponent) {
  // A service was running at the point; since then something it reads is
  // broken, so its run script exits at once. The rollback's start does not
  // come up within the timeout: the (critical) component fails, the
  // operation reverts to the safety point, and the service is left down as
  // it was, not restarting for ever.
  Sandbox box("rewind-svc");
  RunitTree t(box);
  const std::string flag = box.dir.sub("broken");
  t.add("flaky", "#!/bin/sh\n[ -e " + flag + " ] && exit 1\nexec sleep 1000\n");
  write_config(box, runit_component(t, "[\"flaky\"]", "3s", "critical = true"));
  ASSERT_EQ(box.init().exit_code, 0);
  t.start();
  ASSERT_TRUE(t.wait_running("flaky", true));
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);

  t.sv("down", "flaky");
  ASSERT_TRUE(t.wait_running("flaky", false));
  rwd::testing::write_file(flag, "");

  RunResult r;
  json j = rw_json(box, {"rollback", std::to_string(id), "--yes"}, &r);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_THAT(j.dump(), HasSubstr("flaky did not come up")) << describe(r);
  EXPECT_THAT(j.dump(), HasSubstr("reverted")) << describe(r);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_THAT(t.status("flaky"), ::testing::StartsWith("down: ")) << t.status("flaky");
  EXPECT_THAT(t.status("flaky"), Not(HasSubstr("want up")));
}

// A stand-in systemctl: calls with --root go to the real systemctl
// (enablement works offline on a temporary root); start, stop and
// is-active answer from a state file per unit in `state`, show prints the
// unit's NAME.env file, and every call is logged. A unit with a NAME.fails
// file fails when started.
std::string standin_systemctl(const Sandbox& box, const std::string& state,
                              const std::string& log) {
  std::string path = box.dir.sub("systemctl");
  rwd::testing::write_file(path,
                           "#!/bin/sh\n"
                           "echo \"$*\" >> " +
                               log +
                               "\n"
                               "case \"$1\" in --root=*) exec /usr/bin/systemctl \"$@\";; esac\n"
                               "S=" +
                               state +
                               "\n"
                               "case \"$1\" in\n"
                               "is-active) st=$(cat \"$S/$2\" 2>/dev/null || echo inactive); "
                               "echo \"$st\"; [ \"$st\" = active ];;\n"
                               "start) if [ -e \"$S/$2.fails\" ]; then echo failed > \"$S/$2\"; "
                               "else echo active > \"$S/$2\"; fi;;\n"
                               "stop) echo inactive > \"$S/$2\";;\n"
                               "show) for u; do :; done; cat \"$S/$u.env\" 2>/dev/null;;\n"
                               "*) echo \"stand-in: $1 not supported\" >&2; exit 1;;\n"
                               "esac\n",
                           0755);
  return path;
}

std::string unit_file(const std::string& description) {
  return "[Unit]\nDescription=" + description +
         "\n\n[Service]\nExecStart=/bin/sleep 1000\n\n[Install]\nWantedBy=multi-user.target\n";
}

bool systemd_enabled(const Sandbox& box, const std::string& unit) {
  return rwd::testing::run({"systemctl", "--root=" + box.root, "is-enabled", unit}, {}, 60)
             .exit_code == 0;
}

TEST(ServicesSystemd, AnotherRootWithPlainSystemctlLeavesActivityAlone) {
  // Plain systemctl answers for the running host, not for the system under
  // --root: there rewind records and restores enablement (systemctl --root)
  // and unit files, never asks or changes whether a unit runs, and an
  // engine that would stop one says why it cannot.
  Sandbox box("rewind-svc");
  rwd::testing::write_file(box.at("/etc/systemd/system/demo.service"), unit_file("demo"));
  ASSERT_EQ(rwd::testing::run({"systemctl", "--root=" + box.root, "enable", "demo.service"}, {}, 60)
                .exit_code,
            0);
  write_config(box,
               "[[component]]\nname = \"units\"\nadapter = \"services\"\n"
               "units = [\"demo.service\"]\n");
  ASSERT_EQ(box.init().exit_code, 0);
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);
  json show = rw_json(box, {"show", std::to_string(id)});
  EXPECT_TRUE(show["components"][0]["details"]["units"][0]["active"].is_null()) << show.dump(1);

  ASSERT_EQ(
      rwd::testing::run({"systemctl", "--root=" + box.root, "disable", "demo.service"}, {}, 60)
          .exit_code,
      0);
  json diff = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_EQ(detail_of(diff, "demo.service", "enabled"), "enabled yes -> no") << diff.dump(1);
  EXPECT_EQ(detail_of(diff, "demo.service", "active"), "<none>") << diff.dump(1);
  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(systemd_enabled(box, "demo.service"));

  // A component whose services the engine must stop, under systemd.
  write_config(box,
               "[service_manager]\nkind = \"systemd\"\n\n"
               "[[component]]\nname = \"units\"\nadapter = \"services\"\n"
               "units = [\"demo.service\"]\nservices = [\"demo.service\"]\n");
  id = create_point(box);
  ASSERT_GT(id, 0);
  r = box.rw({"rollback", std::to_string(id), "--yes"});
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("demo.service: systemctl cannot stop a unit of the system under " +
                               box.root))
      << describe(r);
}

TEST(ServicesSystemd, EnablementThroughRootAndActivityThroughSystemctl) {
  // demo.service is enabled (real systemctl --root) and active; other.service
  // is disabled and inactive. Then demo is disabled, stopped and its unit
  // file edited, and other is enabled. A rollback enables demo again with
  // the real systemctl, restores its file, starts it through systemctl, and
  // disables other without starting or stopping it.
  Sandbox box("rewind-svc");
  const std::string state = box.dir.sub("state"), log = box.dir.sub("systemctl.log");
  std::filesystem::create_directories(state);
  const std::string standin = standin_systemctl(box, state, log);
  rwd::testing::write_file(box.at("/etc/systemd/system/demo.service"), unit_file("demo"));
  rwd::testing::write_file(box.at("/etc/systemd/system/other.service"), unit_file("other"));
  rwd::testing::write_file(box.at("/etc/systemd/system/demo.service.d/override.conf"),
                           "[Service]\nNice=5\n");
  ASSERT_EQ(rwd::testing::run({"systemctl", "--root=" + box.root, "enable", "demo.service"}, {}, 60)
                .exit_code,
            0);
  rwd::testing::write_file(state + "/demo.service", "active\n");
  write_config(box,
               "[[component]]\nname = \"units\"\nadapter = \"services\"\ncategory = "
               "\"system_services\"\nunits = [\"demo.service\", \"other\"]\nsystemctl = [\"" +
                   standin + "\"]\n");
  ASSERT_EQ(box.init().exit_code, 0);
  ASSERT_TRUE(systemd_enabled(box, "demo.service"));
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);

  ASSERT_EQ(
      rwd::testing::run({"systemctl", "--root=" + box.root, "disable", "demo.service"}, {}, 60)
          .exit_code,
      0);
  ASSERT_EQ(
      rwd::testing::run({"systemctl", "--root=" + box.root, "enable", "other.service"}, {}, 60)
          .exit_code,
      0);
  rwd::testing::write_file(state + "/demo.service", "inactive\n");
  rwd::testing::write_file(box.at("/etc/systemd/system/demo.service"), unit_file("demo v2"));
  std::filesystem::remove_all(box.at("/etc/systemd/system/demo.service.d"));

  json diff = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_EQ(detail_of(diff, "demo.service", "enabled"), "enabled yes -> no") << diff.dump(1);
  EXPECT_EQ(detail_of(diff, "demo.service", "active"), "active yes -> no");
  EXPECT_EQ(detail_of(diff, "other", "enabled"), "enabled no -> yes");
  EXPECT_THAT(detail_of(diff, "/etc/systemd/system/demo.service"),
              HasSubstr("-Description=demo\n+Description=demo v2\n"));
  EXPECT_NE(detail_of(diff, "/etc/systemd/system/demo.service.d/override.conf"), "<none>");

  std::filesystem::remove(log);
  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(systemd_enabled(box, "demo.service"));
  EXPECT_FALSE(systemd_enabled(box, "other.service"));
  EXPECT_EQ(rwd::testing::read_file(box.at("/etc/systemd/system/demo.service")), unit_file("demo"));
  EXPECT_EQ(rwd::testing::read_file(box.at("/etc/systemd/system/demo.service.d/override.conf")),
            "[Service]\nNice=5\n");
  EXPECT_EQ(rwd::testing::read_file(state + "/demo.service"), "active\n");
  const std::string calls = rwd::testing::read_file(log);
  EXPECT_TRUE(contains_line(calls, "--root=" + box.root + " enable demo.service")) << calls;
  EXPECT_TRUE(contains_line(calls, "--root=" + box.root + " disable other")) << calls;
  EXPECT_TRUE(contains_line(calls, "start demo.service")) << calls;
  EXPECT_FALSE(contains_line(calls, "start other")) << calls;
  EXPECT_FALSE(contains_line(calls, "stop other")) << calls;

  // A unit that fails when started fails the rollback.
  rwd::testing::write_file(state + "/demo.service", "inactive\n");
  rwd::testing::write_file(state + "/demo.service.fails", "");
  RunResult f = box.rw({"rollback", std::to_string(id), "--yes"});
  EXPECT_NE(f.exit_code, 0) << describe(f);
  EXPECT_THAT(f.out + f.err, HasSubstr("demo.service did not come up")) << describe(f);
}

TEST(ServicesSystemd, EnvironmentFromSystemctlShowIsRecordedOnly) {
  // systemctl show gives demo's Environment (quoted values, a secret) and
  // EnvironmentFiles. Two variables change: diff shows the plain one's
  // values and not the secret's; show counts the variables; the rollback
  // starts, stops, enables or disables nothing, since only the environment
  // differs.
  Sandbox box("rewind-svc");
  const std::string state = box.dir.sub("state"), log = box.dir.sub("systemctl.log");
  std::filesystem::create_directories(state);
  const std::string standin = standin_systemctl(box, state, log);
  rwd::testing::write_file(box.at("/etc/systemd/system/demo.service"), unit_file("demo"));
  rwd::testing::write_file(state + "/demo.service", "active\n");
  const std::string files = "EnvironmentFiles=/etc/default/demo (ignore_errors=yes)\n";
  rwd::testing::write_file(
      state + "/demo.service.env",
      "Environment=LANG=C \"GREETING=hello world\" DB_PASSWORD=hunter2\n" + files);
  write_config(box,
               "[[component]]\nname = \"units\"\nadapter = \"services\"\ncategory = "
               "\"system_services\"\nunits = [\"demo.service\"]\nsystemctl = [\"" +
                   standin + "\"]\n");
  ASSERT_EQ(box.init().exit_code, 0);
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);
  json show = rw_json(box, {"show", std::to_string(id)});
  EXPECT_THAT(show.dump(), HasSubstr("\"environment_variables\":3")) << show.dump(1);
  EXPECT_THAT(show.dump(), HasSubstr("\"environment_files\":[\"/etc/default/demo "
                                     "(ignore_errors=yes)\"]"));

  rwd::testing::write_file(
      state + "/demo.service.env",
      "Environment=LANG=C 'GREETING=hi there' DB_PASSWORD=swordfish\n" + files);
  RunResult r;
  json diff = rw_json(box, {"diff", std::to_string(id)}, &r);
  auto vars = changes_with(diff, "environment");
  ASSERT_EQ(vars.size(), 2u) << diff.dump(1);
  EXPECT_EQ(vars["demo.service/env/GREETING"]["detail"], "hello world -> hi there");
  EXPECT_EQ(vars["demo.service/env/DB_PASSWORD"]["detail"], "value changed (secret)");
  EXPECT_THAT(r.out, Not(HasSubstr("hunter2")));
  EXPECT_THAT(r.out, Not(HasSubstr("swordfish")));

  std::filesystem::remove(log);
  RunResult rb = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(rb.exit_code, 0) << describe(rb);
  const std::string calls = rwd::testing::read_file(log);
  for (const char* verb : {"start ", "stop ", "enable ", "disable "})
    EXPECT_FALSE(contains_line(calls, verb + std::string("demo.service"))) << calls;
  // Still different: the environment is recorded, never set.
  json after = rw_json(box, {"diff", std::to_string(id)});
  EXPECT_EQ(changes_with(after, "environment").size(), 2u) << after.dump(1);
}

TEST(ServicesCommand, ShellCommandsManageTheUnit) {
  // The command manager: a unit is "on" and "enabled" when marker files
  // exist. The rollback runs the configured start and enable commands for
  // the unit that changed and nothing for the one that did not.
  Sandbox box("rewind-svc");
  const std::string d = box.dir.sub("markers"), log = box.dir.sub("cmd.log");
  std::filesystem::create_directories(d);
  auto cmd = [&](const std::string& verb, const std::string& script) {
    return verb + " = [\"sh\", \"-c\", \"echo " + verb + " {unit} >> " + log + "; " + script +
           "\"]\n";
  };
  write_config(box,
               "[[component]]\nname = \"web\"\nadapter = \"services\"\nmanager = \"command\"\n"
               "units = [\"web\", \"db\"]\n" +
                   cmd("status", "test -e " + d + "/{unit}.on") +
                   cmd("start", "touch " + d + "/{unit}.on") +
                   cmd("stop", "rm -f " + d + "/{unit}.on") +
                   cmd("is_enabled", "test -e " + d + "/{unit}.enabled") +
                   cmd("enable", "touch " + d + "/{unit}.enabled") +
                   cmd("disable", "rm -f " + d + "/{unit}.enabled") +
                   cmd("environment", "cat " + d + "/{unit}.env 2>/dev/null || true"));
  ASSERT_EQ(box.init().exit_code, 0);
  for (const char* f : {"web.on", "web.enabled", "db.on"})
    rwd::testing::write_file(d + "/" + f, "");
  rwd::testing::write_file(d + "/web.env", "PORT=80\nHOST=a\n");
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);
  std::filesystem::remove(d + "/web.on");
  std::filesystem::remove(d + "/web.enabled");
  rwd::testing::write_file(d + "/web.env", "PORT=8080\nHOST=a\n");
  // Between two points, the same per-unit details as against the live system.
  int64_t later = create_point(box);
  json between = rw_json(box, {"diff", std::to_string(id), std::to_string(later)});
  EXPECT_EQ(detail_of(between, "web", "enabled"), "enabled yes -> no") << between.dump(1);
  EXPECT_EQ(detail_of(between, "web", "active"), "active yes -> no");
  EXPECT_EQ(detail_of(between, "web/env/PORT", "environment"), "80 -> 8080");
  EXPECT_EQ(detail_of(between, "web/env/HOST"), "<none>");
  EXPECT_EQ(detail_of(between, "db"), "<none>");
  std::filesystem::remove(log);

  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(std::filesystem::exists(d + "/web.on"));
  EXPECT_TRUE(std::filesystem::exists(d + "/web.enabled"));
  const std::string calls = rwd::testing::read_file(log);
  EXPECT_TRUE(contains_line(calls, "start web")) << calls;
  EXPECT_TRUE(contains_line(calls, "enable web")) << calls;
  EXPECT_FALSE(contains_line(calls, "start db")) << calls;
  EXPECT_FALSE(contains_line(calls, "stop db")) << calls;
}

TEST(ServicesSettings, UnknownKeyAndWrongTypeAreConfigurationErrors) {
  // check_settings: an unknown key names itself and the known ones; a value
  // of the wrong type names the key and the expected type; units are
  // required. All are usage errors (exit code 2).
  Sandbox box("rewind-svc");
  const std::string head = "[[component]]\nname = \"s\"\nadapter = \"services\"\n";
  struct Case {
    std::string body, message;
  };
  for (const Case& c : {
           Case{"units = [\"a\"]\nmanger = \"runit\"\n",
                "unknown key \"manger\" (known: units, manager"},
           Case{"units = [\"a\"]\nsv = \"sv\"\n", "sv must be a non-empty array of strings"},
           Case{"units = [\"a\"]\nmanager = \"upstart\"\n",
                "manager must be \"systemd\", \"runit\""},
           Case{"units = [\"a\"]\ntimeout = 5\n", "timeout must be a string (a duration"},
           Case{"manager = \"runit\"\n", "\"units\" is required"},
           Case{"units = [\"../x\"]\n", "\"../x\" is not a unit name"},
           Case{"units = [\"a\"]\nmanager = \"command\"\nstart = [\"true\"]\n",
                "manager \"command\" needs \"status\""},
       }) {
    write_config(box, head + c.body);
    RunResult r = box.rw({"list"});
    EXPECT_EQ(r.exit_code, 2) << c.body << describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.body;
  }
}

TEST(ServicesEngine, RunitServiceManagerStopsAndStartsAroundAFilesRollback) {
  // [service_manager] kind = "runit": a files component's service is
  // stopped (sv down) before its files are restored and started again (sv
  // up, and it runs) afterwards.
  Sandbox box("rewind-svc");
  RunitTree t(box);
  t.add("app", kSleeper);
  rwd::testing::write_file(box.at("/srv/app/conf"), "v1\n");
  write_config(box, "[service_manager]\nkind = \"runit\"\nsv = [\"" + t.wrapper() +
                        "\"]\ntimeout = \"5s\"\n\n[[component]]\nname = \"app\"\npaths = "
                        "[\"/srv/app\"]\nservices = [\"app\"]\n");
  ASSERT_EQ(box.init().exit_code, 0);
  t.start();
  ASSERT_TRUE(t.wait_running("app", true));
  int64_t id = create_point(box);
  ASSERT_GT(id, 0);
  rwd::testing::write_file(box.at("/srv/app/conf"), "v2\n");
  t.take_log();

  RunResult r = box.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(rwd::testing::read_file(box.at("/srv/app/conf")), "v1\n");
  EXPECT_TRUE(t.running("app")) << t.status("app");
  const std::string log = t.take_log();
  const std::string path = t.service_dir() + "/app";
  size_t down = log.find("down " + path), up = log.find("up " + path);
  ASSERT_NE(down, std::string::npos) << log;
  ASSERT_NE(up, std::string::npos) << log;
  EXPECT_LT(down, up) << log;
}

}  // namespace
}  // namespace rwd::itest
