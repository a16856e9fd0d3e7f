// SPDX-License-Identifier: Apache-2.0
// Which tunables the kernel adapter captures, its settings, and the parsers
// of the /proc files it reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "components/kernel/kernel.h"

namespace rwd::components::kernel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

Settings defaults() { return *parse_settings(nlohmann::json::object()); }

std::string error_of(const nlohmann::json& j) {
  auto s = parse_settings(j);
  EXPECT_FALSE(s) << j.dump();
  return s ? "" : s.error().message();
}

TEST(KernelKeys, DefaultAllowlistTakesTheDocumentedPrefixes) {
  Settings s = defaults();
  EXPECT_TRUE(captured_key(s, "kernel.sysrq"));
  EXPECT_TRUE(captured_key(s, "vm.swappiness"));
  EXPECT_TRUE(captured_key(s, "fs.file-max"));
  EXPECT_TRUE(captured_key(s, "net.core.somaxconn"));
  EXPECT_TRUE(captured_key(s, "net.ipv4.ip_forward"));
  EXPECT_TRUE(captured_key(s, "net.ipv6.conf.all.forwarding"));
  EXPECT_TRUE(captured_key(s, "net.ipv6.conf.default.accept_ra"));
  // Outside the allowlist.
  EXPECT_FALSE(captured_key(s, "dev.raid.speed_limit_max"));
  EXPECT_FALSE(captured_key(s, "net.ipv6.route.gc_interval"));
  EXPECT_FALSE(captured_key(s, "user.max_user_namespaces"));
  // A prefix is matched as a whole: "vm." does not take "vmx.a".
  EXPECT_FALSE(captured_key(s, "vmx.a"));
}

TEST(KernelKeys, VolatileKeysAreNeverCaptured) {
  Settings s = defaults();
  EXPECT_FALSE(captured_key(s, "kernel.ns_last_pid"));
  EXPECT_FALSE(captured_key(s, "kernel.random.boot_id"));
  EXPECT_FALSE(captured_key(s, "kernel.random.write_wakeup_threshold"));
  EXPECT_FALSE(captured_key(s, "vm.drop_caches"));
  EXPECT_FALSE(captured_key(s, "fs.binfmt_misc.status"));
  EXPECT_TRUE(captured_key(s, "kernel.randomize_va_space"));  // not kernel.random.*
}

TEST(KernelKeys, PerInterfaceKeysAreVolatileButAllAndDefaultAreNot) {
  Settings s = defaults();
  EXPECT_FALSE(captured_key(s, "net.ipv4.conf.eth0.rp_filter"));
  EXPECT_FALSE(captured_key(s, "net.ipv4.conf.eth0/100.rp_filter"));
  EXPECT_FALSE(captured_key(s, "net.ipv4.neigh.wlan0.gc_stale_time"));
  EXPECT_TRUE(captured_key(s, "net.ipv4.conf.all.rp_filter"));
  EXPECT_TRUE(captured_key(s, "net.ipv4.conf.default.rp_filter"));
  EXPECT_TRUE(captured_key(s, "net.ipv4.neigh.default.gc_thresh1"));
  s.prefixes = {"net.ipv6.conf."};
  EXPECT_FALSE(captured_key(s, "net.ipv6.conf.lo.disable_ipv6"));
  EXPECT_TRUE(captured_key(s, "net.ipv6.conf.all.disable_ipv6"));
}

TEST(KernelKeys, ConfiguredPrefixesReplaceAndExcludesAdd) {
  auto s = parse_settings({{"sysctl_prefixes", {"vm.", "dev.raid."}},
                           {"sysctl_exclude", {"vm.dirty_*", "*.raid.*_min"}}});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(captured_key(*s, "vm.swappiness"));
  EXPECT_TRUE(captured_key(*s, "dev.raid.speed_limit_max"));
  EXPECT_FALSE(captured_key(*s, "kernel.sysrq"));  // replaced, not added
  EXPECT_FALSE(captured_key(*s, "vm.dirty_ratio"));
  EXPECT_FALSE(captured_key(*s, "dev.raid.speed_limit_min"));
  EXPECT_FALSE(captured_key(*s, "vm.drop_caches"));  // the built-in ones stay
}

TEST(KernelKeys, DirectoriesAreWalkedOnlyWhenTheyMayHoldKeys) {
  Settings s = defaults();
  EXPECT_TRUE(may_hold_keys(s, "net"));
  EXPECT_TRUE(may_hold_keys(s, "net.ipv6"));
  EXPECT_TRUE(may_hold_keys(s, "net.ipv6.conf"));
  EXPECT_TRUE(may_hold_keys(s, "kernel.yama"));
  EXPECT_FALSE(may_hold_keys(s, "dev"));
  EXPECT_FALSE(may_hold_keys(s, "net.ipv6.route"));
}

TEST(KernelKeys, NamesMapToPathsBothWays) {
  EXPECT_EQ(key_of({"net", "ipv4", "ip_forward"}), "net.ipv4.ip_forward");
  EXPECT_EQ(key_of({"net", "ipv4", "conf", "eth0.100", "rp_filter"}),
            "net.ipv4.conf.eth0/100.rp_filter");
  EXPECT_EQ(*path_of("net.ipv4.ip_forward"), "proc/sys/net/ipv4/ip_forward");
  EXPECT_EQ(*path_of("net.ipv4.conf.eth0/100.rp_filter"),
            "proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  EXPECT_FALSE(path_of("kernel..x"));
  EXPECT_FALSE(path_of("kernel.x."));
  EXPECT_FALSE(path_of(""));
}

TEST(KernelValues, WhitespaceIsNormalized) {
  EXPECT_EQ(normalize("4096\t131072\t6291456\n"), "4096 131072 6291456");
  EXPECT_EQ(normalize("  1 \n"), "1");
  EXPECT_EQ(normalize("\n"), "");
}

TEST(KernelSettings, DefaultsAndValidation) {
  Settings s = defaults();
  EXPECT_TRUE(s.sysctl);
  EXPECT_TRUE(s.modules);
  EXPECT_EQ(s.prefixes, default_prefixes());
  EXPECT_THAT(s.modprobe, ElementsAre("modprobe"));
  EXPECT_THAT(s.modprobe_remove, ElementsAre("modprobe", "-r"));
  EXPECT_EQ(s.timeout_ms, std::chrono::seconds(30));

  auto m = parse_settings({{"parts", {"modules"}}, {"timeout", "1min 30s"}});
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->sysctl);
  EXPECT_TRUE(m->modules);
  EXPECT_EQ(m->timeout_ms, std::chrono::seconds(90));
  // What a snapshot keeps reads back the same.
  auto again = parse_settings(settings_json(*m));
  ASSERT_TRUE(again);
  EXPECT_EQ(settings_json(*again), settings_json(*m));

  EXPECT_THAT(error_of({{"modprobes", {"x"}}}),
              HasSubstr("unknown key \"modprobes\" (known: parts, sysctl_prefixes"));
  EXPECT_THAT(error_of({{"parts", {"sysctl", "irq"}}}), HasSubstr("unknown part \"irq\""));
  EXPECT_THAT(error_of({{"parts", nlohmann::json::array()}}),
              HasSubstr("key \"parts\": expected a non-empty array of strings"));
  EXPECT_THAT(error_of({{"parts", "sysctl"}}), HasSubstr("key \"parts\": expected"));
  EXPECT_THAT(error_of({{"modprobe", {1, 2}}}), HasSubstr("key \"modprobe\": expected"));
  EXPECT_THAT(error_of({{"sysctl_exclude", 3}}), HasSubstr("key \"sysctl_exclude\": expected"));
  EXPECT_THAT(error_of({{"timeout", 30}}), HasSubstr("key \"timeout\": expected a duration"));
  EXPECT_THAT(error_of({{"timeout", "5 parsecs"}}), HasSubstr("key \"timeout\": invalid duration"));
}

TEST(KernelModules, InUseIsARefcountOrAUserList) {
  auto mods = parse_modules(
      "loop 32768 0 - Live 0x0000000000000000\n"
      "nf_conntrack 172032 2 nf_nat,nft_ct, Live 0x0000000000000000\n"
      "ext4 987136 1 - Live 0x0000000000000000\n"
      "builtin_like 16384 - - Live 0x0000000000000000\n");
  ASSERT_EQ(mods.size(), 4u);
  EXPECT_EQ(mods[0].name, "loop");
  EXPECT_FALSE(mods[0].in_use);
  EXPECT_TRUE(mods[1].in_use);
  EXPECT_EQ(mods[1].users, "nf_nat,nft_ct");
  EXPECT_TRUE(mods[2].in_use);
  EXPECT_TRUE(mods[3].in_use);
  EXPECT_TRUE(valid_module_name("nf_conntrack"));
  EXPECT_FALSE(valid_module_name("-r"));
  EXPECT_FALSE(valid_module_name("a b"));
  EXPECT_FALSE(valid_module_name("../x"));
}

TEST(KernelRecorded, TotalsRangesAndAssignmentsNotCounters) {
  EXPECT_THAT(
      meminfo_totals("MemTotal:       16318480 kB\nMemFree:  123 kB\n"
                     "SwapTotal:      0 kB\nHugepagesize:    2048 kB\n"),
      ElementsAre(Pair("meminfo.Hugepagesize", "2048 kB"), Pair("meminfo.MemTotal", "16318480 kB"),
                  Pair("meminfo.SwapTotal", "0 kB")));
  EXPECT_THAT(iomem_ranges("00000000-00000fff : Reserved\n00100000-bffdffff : System RAM\n"
                           "  01000000-01ffffff : Kernel code\n"),
              ElementsAre(Pair("iomem.00000000-00000fff", "Reserved"),
                          Pair("iomem.00100000-bffdffff", "System RAM")));
  EXPECT_THAT(interrupt_assignments("           CPU0       CPU1\n"
                                    "  0:         44          0   IO-APIC   2-edge      timer\n"
                                    " 24:     123456     654321   PCI-MSI 512000-edge      ahci\n"
                                    "NMI:          0          0   Non-maskable interrupts\n"
                                    "ERR:          0\n"),
              ElementsAre(Pair("interrupts.0", "IO-APIC 2-edge timer"),
                          Pair("interrupts.24", "PCI-MSI 512000-edge ahci"),
                          Pair("interrupts.NMI", "Non-maskable interrupts")));
}

}  // namespace
}  // namespace rwd::components::kernel
