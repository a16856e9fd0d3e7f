// SPDX-License-Identifier: Apache-2.0
// The kernel adapter through the rewind binary, in a temporary root whose
// proc/sys is a tree of plain files (0644 writable, 0444 read-only) and whose
// proc/modules is a text file that a stand-in modprobe edits: capture,
// `diff` (text and --json), `show`, and a component rollback that writes
// back exactly the tunables that differ, loads and unloads exactly the
// modules that differ and never one in use, reports a refused write and
// still applies the rest.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::string module_line(const std::string& name, const std::string& refcount,
                        const std::string& users) {
  return name + " 16384 " + refcount + " " + users + " Live 0x0000000000000000\n";
}

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(box.root + "/etc/rewind");
    // Tunables inside the allowlist ...
    key("kernel.sysrq", "176\n");
    key("vm.swappiness", "60\n");
    key("vm.overcommit_memory", "0\n");
    key("net.ipv4.ip_forward", "0\n");
    key("net.ipv4.tcp_rmem", "4096\t131072\t6291456\n");
    key("net.ipv4.conf.all.rp_filter", "2\n");
    key("fs.file-max", "9223372036854775807\n");
    // ... read-only, volatile, per-interface, outside the allowlist.
    key("kernel.osrelease", "6.1.0-18-amd64\n", 0444);
    key("fs.file-nr", "1024\t0\t9223372036854775807\n", 0444);
    key("kernel.ns_last_pid", "4242\n");
    key("kernel.random.write_wakeup_threshold", "256\n");
    key("kernel.random.boot_id", "6c1b0e6e-2a55-4f4e-9b8e-4a7cb2a1c2d3\n", 0444);
    key("net.ipv4.conf.eth0.rp_filter", "1\n");
    key("dev.raid.speed_limit_max", "200000\n");
    write_file(box.at("/proc/modules"), module_line("nf_conntrack", "1", "nf_nat,") +
                                            module_line("nf_nat", "0", "-") +
                                            module_line("loop", "0", "-"));
    write_file(box.at("/proc/cmdline"), "BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=/dev/sda1 ro\n");
    write_file(box.at("/proc/meminfo"),
               "MemTotal:       16318480 kB\nMemFree:         1234567 kB\nSwapTotal:  0 kB\n");
    write_file(box.at("/proc/interrupts"),
               "           CPU0       CPU1\n  0:         44          0   IO-APIC   2-edge      "
               "timer\n 24:     123456     654321   PCI-MSI 512000-edge      ahci\n");
    write_file(box.at("/sys/devices/pci0000:00/block/sda/queue/scheduler"),
               "[mq-deadline] kyber none\n");
    std::filesystem::create_directories(box.at("/sys/block"));
    std::filesystem::create_symlink("../devices/pci0000:00/block/sda", box.at("/sys/block/sda"));

    // modprobe NAME: logs "NAME" and adds the module ("broken" fails);
    // modprobe -r NAME: logs "-r NAME" and removes it.
    write_file(
        stand_in,
        "#!/bin/sh\n"
        "echo \"$*\" >> " +
            log +
            "\n"
            "m=" +
            box.at("/proc/modules") +
            "\n"
            "if [ \"$1\" = -r ]; then\n"
            "  grep -v \"^$2 \" \"$m\" > \"$m.new\"; mv \"$m.new\" \"$m\"; exit 0\n"
            "fi\n"
            "[ \"$1\" = broken ] && { echo \"modprobe: FATAL: Module $1 not found\" >&2; exit 1; "
            "}\n"
            "{ echo \"$1 16384 0 - Live 0x0\"; cat \"$m\"; } > \"$m.new\"; mv \"$m.new\" \"$m\"\n",
        0755);
    write_config("");
    ASSERT_EQ(box.init().exit_code, 0);
  }

  // A tunable: proc/sys/a/b/c for "a.b.c".
  void key(const std::string& name, const std::string& value, int mode = 0644) {
    write_file(key_path(name), value, mode);
  }
  std::string key_path(const std::string& name) const {
    std::string p = name;
    std::replace(p.begin(), p.end(), '.', '/');
    return box.at("/proc/sys/" + p);
  }

  void write_config(const std::string& extra, const std::string& parts = "") {
    write_file(box.at("/etc/rewind/rewind.toml"),
               "[[component]]\nname = \"kernel\"\nadapter = \"kernel\"\n"
               "category = \"kernel_core\"\n" +
                   parts + "modprobe = [\"" + stand_in + "\"]\nmodprobe_remove = [\"" + stand_in +
                   "\", \"-r\"]\ntimeout = \"20s\"\n" + extra);
  }

  int64_t create() const {
    RunResult r = box.rw({"-q", "create"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return r.exit_code == 0 ? std::stoll(r.out) : -1;
  }

  std::vector<std::string> modprobe_calls() const {
    std::vector<std::string> out;
    if (!exists_nofollow(log)) return out;
    std::istringstream in(read_file(log));
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  // The live system after the point: three tunables changed (one of them
  // only in its whitespace, which is no change), the volatile and ignored
  // keys changed too, loop unloaded, dummy loaded, btrfs loaded and in use,
  // and the kernel booted with another command line.
  void change_everything() {
    key("vm.swappiness", "10\n");
    key("net.ipv4.ip_forward", "1\n");
    key("net.ipv4.tcp_rmem", "4096\t87380\t6291456\n");
    key("vm.overcommit_memory", "0");  // whitespace only
    key("kernel.ns_last_pid", "9999\n");
    key("kernel.random.write_wakeup_threshold", "512\n");
    key("net.ipv4.conf.eth0.rp_filter", "0\n");
    key("dev.raid.speed_limit_max", "1000\n");
    write_file(box.at("/proc/modules"),
               module_line("dummy", "0", "-") + module_line("btrfs", "1", "-") +
                   module_line("nf_conntrack", "1", "nf_nat,") + module_line("nf_nat", "0", "-"));
    write_file(box.at("/proc/cmdline"),
               "BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=/dev/sda1 quiet\n");
  }

  Sandbox box{"rewind-kernel"};
  std::string log = box.dir.sub("modprobe.log");
  std::string stand_in = box.dir.sub("modprobe");
};

json changes_of(const RunResult& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << describe(r);
  return j.is_object() ? j["changes"] : json::array();
}

TEST_F(KernelTest, DiffShowsChangedTunablesModulesAndRecordedFacts) {
  int64_t id = create();
  change_everything();

  RunResult text = box.rw({"diff", std::to_string(id)});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("M sysctl/vm.swappiness\n    60 -> 10\n"));
  EXPECT_THAT(text.out, HasSubstr("M sysctl/net.ipv4.ip_forward\n    0 -> 1\n"));
  EXPECT_THAT(
      text.out,
      HasSubstr("M sysctl/net.ipv4.tcp_rmem\n    4096 131072 6291456 -> 4096 87380 6291456\n"));
  EXPECT_THAT(text.out, HasSubstr("- modules/loop\n    loaded -> not loaded\n"));
  EXPECT_THAT(text.out, HasSubstr("+ modules/dummy\n"));
  EXPECT_THAT(text.out, HasSubstr("M recorded/cmdline (recorded)\n"));
  EXPECT_THAT(text.out, HasSubstr("(recorded only: a rollback does not restore it)"));
  // Volatile keys, keys outside the allowlist and whitespace are not changes.
  for (const char* k : {"overcommit_memory", "ns_last_pid", "random", "eth0", "raid"})
    EXPECT_THAT(text.out, Not(HasSubstr(k))) << k;

  RunResult js = box.rw({"--json", "diff", std::to_string(id)});
  ASSERT_EQ(js.exit_code, 0) << describe(js);
  std::map<std::string, json> by_path;
  for (const auto& c : changes_of(js)) {
    EXPECT_EQ(c["component"], "kernel");
    by_path[c["path"]] = c;
  }
  std::vector<std::string> paths;
  for (const auto& [p, _] : by_path) paths.push_back(p);
  EXPECT_THAT(paths, UnorderedElementsAre("sysctl/vm.swappiness", "sysctl/net.ipv4.ip_forward",
                                          "sysctl/net.ipv4.tcp_rmem", "modules/loop",
                                          "modules/dummy", "modules/btrfs", "recorded/cmdline"));
  EXPECT_EQ(by_path["sysctl/vm.swappiness"]["change"], "content");
  EXPECT_EQ(by_path["sysctl/vm.swappiness"]["detail"], "60 -> 10");
  EXPECT_EQ(by_path["sysctl/vm.swappiness"]["attributes"], json::array());
  EXPECT_EQ(by_path["modules/loop"]["change"], "removed");
  EXPECT_EQ(by_path["modules/btrfs"]["change"], "added");
  EXPECT_EQ(by_path["recorded/cmdline"]["attributes"], json::array({"recorded"}));
  EXPECT_THAT(by_path["recorded/cmdline"]["detail"].get<std::string>(),
              HasSubstr("root=/dev/sda1 ro -> BOOT_IMAGE="));

  // Between two points: the same changes.
  int64_t id2 = create();
  RunResult between = box.rw({"--json", "diff", std::to_string(id), std::to_string(id2)});
  ASSERT_EQ(between.exit_code, 0) << describe(between);
  EXPECT_EQ(changes_of(between), changes_of(js));
}

TEST_F(KernelTest, ShowTellsCountsReleaseAndWhichPartsAreRestorable) {
  int64_t id = create();
  RunResult r = box.rw({"--json", "show", std::to_string(id)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out);
  ASSERT_EQ(j["components"].size(), 1u);
  const json& d = j["components"][0]["details"];
  // sysrq, swappiness, overcommit_memory, ip_forward, tcp_rmem,
  // conf.all.rp_filter, file-max: nothing read-only, volatile,
  // per-interface or outside the allowlist.
  EXPECT_EQ(d["tunables"], 7);
  EXPECT_EQ(d["modules"], 3);
  EXPECT_EQ(d["kernel_release"], "6.1.0-18-amd64");
  EXPECT_EQ(d["restorable"], json::array({"sysctl", "modules"}));
  EXPECT_EQ(d["recorded"],
            json::array({"cmdline", "interrupts", "meminfo", "release", "scheduler"}));

  RunResult text = box.rw({"show", std::to_string(id)});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("        restorable:          sysctl, modules\n"));
  EXPECT_THAT(text.out,
              HasSubstr("        recorded:            cmdline, interrupts, meminfo, release, "
                        "scheduler\n"));
  EXPECT_THAT(text.out, HasSubstr("        kernel_release:      6.1.0-18-amd64\n"));
}

TEST_F(KernelTest, RollbackWritesExactlyTheDifferenceAndNeverUnloadsAModuleInUse) {
  int64_t id = create();
  change_everything();
  // Keys that must not be written keep an old mtime a write would change.
  const std::vector<std::string> untouched = {"kernel.sysrq",
                                              "vm.overcommit_memory",
                                              "net.ipv4.conf.all.rp_filter",
                                              "fs.file-max",
                                              "kernel.ns_last_pid",
                                              "net.ipv4.conf.eth0.rp_filter",
                                              "dev.raid.speed_limit_max"};
  std::map<std::string, struct stat> before;
  for (const auto& k : untouched) {
    set_mtime(key_path(k), 1000000000, 0);
    before[k] = lstat_or_die(key_path(k));
  }
  std::string cmdline = read_file(box.at("/proc/cmdline"));

  RunResult r =
      box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "kernel", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("module btrfs is in use (reference count 1); it stays loaded"));

  // Written back byte for byte, as captured.
  EXPECT_EQ(read_file(key_path("vm.swappiness")), "60\n");
  EXPECT_EQ(read_file(key_path("net.ipv4.ip_forward")), "0\n");
  EXPECT_EQ(read_file(key_path("net.ipv4.tcp_rmem")), "4096\t131072\t6291456\n");
  for (const auto& k : untouched) {
    struct stat st = lstat_or_die(key_path(k));
    EXPECT_EQ(st.st_ino, before[k].st_ino) << k;
    EXPECT_EQ(mtime_ns(st), mtime_ns(before[k])) << k;
  }
  EXPECT_EQ(read_file(key_path("vm.overcommit_memory")), "0");
  EXPECT_EQ(read_file(key_path("kernel.ns_last_pid")), "9999\n");
  EXPECT_EQ(read_file(key_path("dev.raid.speed_limit_max")), "1000\n");
  // Recorded, not restored.
  EXPECT_EQ(read_file(box.at("/proc/cmdline")), cmdline);
  // The missing module loaded, the extra one unloaded, the one in use kept.
  EXPECT_THAT(modprobe_calls(), ElementsAre("loop", "-r dummy"));
  std::string mods = read_file(box.at("/proc/modules"));
  EXPECT_THAT(mods, HasSubstr("loop "));
  EXPECT_THAT(mods, HasSubstr("btrfs "));
  EXPECT_THAT(mods, Not(HasSubstr("dummy ")));

  // Nothing restorable differs any more.
  RunResult d = box.rw({"--json", "diff", std::to_string(id)});
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  std::vector<std::string> left;
  for (const auto& c : changes_of(d)) left.push_back(c["path"]);
  EXPECT_THAT(left, UnorderedElementsAre("modules/btrfs", "recorded/cmdline"));

  // The safety point holds the state before the rollback: undo returns to it.
  RunResult u = box.rw({"undo", "--yes"});
  ASSERT_EQ(u.exit_code, 0) << describe(u);
  EXPECT_EQ(read_file(key_path("vm.swappiness")), "10\n");
  EXPECT_EQ(read_file(key_path("net.ipv4.ip_forward")), "1\n");
  EXPECT_EQ(read_file(key_path("net.ipv4.tcp_rmem")), "4096\t87380\t6291456\n");
  EXPECT_THAT(modprobe_calls(), ElementsAre("loop", "-r dummy", "dummy", "-r loop"));
}

TEST_F(KernelTest, RefusedWriteAndFailedModprobeAreReportedAndTheRestApplies) {
  write_file(box.at("/proc/modules"),
             module_line("broken", "0", "-") + read_file(box.at("/proc/modules")));
  int64_t id = create();
  key("vm.swappiness", "10\n");
  key("net.ipv4.ip_forward", "1\n");
  // A key whose write really fails: a directory where the file was.
  std::filesystem::remove(key_path("vm.overcommit_memory"));
  std::filesystem::create_directory(key_path("vm.overcommit_memory"));
  write_file(box.at("/proc/modules"),
             module_line("nf_conntrack", "1", "nf_nat,") + module_line("nf_nat", "0", "-"));

  RunResult r =
      box.rw({"rollback", std::to_string(id), "--scope", "component", "-c", "kernel", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("tunable vm.overcommit_memory was not restored to 0: the write "
                               "failed: Is a directory (EISDIR)"));
  EXPECT_THAT(r.err, HasSubstr("module broken was not loaded: "));
  EXPECT_THAT(r.err, HasSubstr("Module broken not found"));
  EXPECT_EQ(read_file(key_path("vm.swappiness")), "60\n");
  EXPECT_EQ(read_file(key_path("net.ipv4.ip_forward")), "0\n");
  EXPECT_TRUE(std::filesystem::is_directory(key_path("vm.overcommit_memory")));
  // Loaded oldest first: /proc/modules listed loop last.
  EXPECT_THAT(modprobe_calls(), ElementsAre("loop", "broken"));
  EXPECT_THAT(read_file(box.at("/proc/modules")), HasSubstr("loop "));
}

TEST_F(KernelTest, PartsMakeTwoComponentsAndASnapshotKeepsItsCommands) {
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"kernel_core\"\nadapter = \"kernel\"\n"
             "category = \"kernel_core\"\nparts = [\"sysctl\"]\n\n"
             "[[component]]\nname = \"device_drivers\"\nadapter = \"kernel\"\n"
             "category = \"device_drivers\"\nparts = [\"modules\"]\nmodprobe = [\"" +
                 stand_in + "\"]\nmodprobe_remove = [\"" + stand_in + "\", \"-r\"]\n");
  int64_t id = create();
  RunResult show = box.rw({"--json", "show", std::to_string(id)});
  ASSERT_EQ(show.exit_code, 0) << describe(show);
  std::map<std::string, json> details;
  json point = json::parse(show.out);
  for (const auto& c : point["components"]) details[c["name"].get<std::string>()] = c["details"];
  EXPECT_EQ(details["kernel_core"]["restorable"], json::array({"sysctl"}));
  EXPECT_FALSE(details["kernel_core"].contains("modules"));
  EXPECT_EQ(details["device_drivers"]["restorable"], json::array({"modules"}));
  EXPECT_FALSE(details["device_drivers"].contains("tunables"));

  change_everything();
  // The configuration of the day names a modprobe that does not exist; the
  // snapshot's own commands are used.
  write_file(box.at("/etc/rewind/rewind.toml"),
             "[[component]]\nname = \"kernel_core\"\nadapter = \"kernel\"\n"
             "category = \"kernel_core\"\nparts = [\"sysctl\"]\n\n"
             "[[component]]\nname = \"device_drivers\"\nadapter = \"kernel\"\n"
             "category = \"device_drivers\"\nparts = [\"modules\"]\n"
             "modprobe = [\"/nonexistent/modprobe\"]\n"
             "modprobe_remove = [\"/nonexistent/modprobe\", \"-r\"]\n");
  RunResult r = box.rw(
      {"rollback", std::to_string(id), "--scope", "component", "-c", "device_drivers", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(modprobe_calls(), ElementsAre("loop", "-r dummy"));
  // The tunables belong to the other component: untouched.
  EXPECT_EQ(read_file(key_path("vm.swappiness")), "10\n");
}

TEST_F(KernelTest, BadSettingsAreRefusedNamingTheKey) {
  write_config("modprobes = [\"x\"]\n");
  RunResult r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("component \"kernel\": unknown key \"modprobes\" (known: parts, "
                               "sysctl_prefixes, sysctl_exclude, modprobe, modprobe_remove, "
                               "timeout)"));
  write_config("", "parts = \"sysctl\"\n");
  r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("key \"parts\": expected a non-empty array of strings"));
  write_config("", "parts = [\"irq\"]\n");
  r = box.rw({"create"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown part \"irq\" (valid: sysctl, modules)"));
}

TEST_F(KernelTest, ConfiguredPrefixesAndExcludesChooseTheKeys) {
  write_config("sysctl_prefixes = [\"vm.\", \"dev.raid.\"]\nsysctl_exclude = [\"vm.over*\"]\n");
  int64_t id = create();
  key("vm.swappiness", "10\n");
  key("vm.overcommit_memory", "1\n");
  key("dev.raid.speed_limit_max", "1000\n");
  key("kernel.sysrq", "1\n");
  RunResult js = box.rw({"--json", "diff", std::to_string(id)});
  ASSERT_EQ(js.exit_code, 0) << describe(js);
  std::vector<std::string> paths;
  for (const auto& c : changes_of(js))
    if (c["path"].get<std::string>().starts_with("sysctl/")) paths.push_back(c["path"]);
  EXPECT_THAT(paths,
              UnorderedElementsAre("sysctl/vm.swappiness", "sysctl/dev.raid.speed_limit_max"));
}

}  // namespace
}  // namespace rwd::itest
