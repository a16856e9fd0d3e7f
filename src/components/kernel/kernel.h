// SPDX-License-Identifier: Apache-2.0
// The kernel adapter: the runtime state of the running kernel, never the
// files that configure it (/etc/sysctl.d, /etc/modules-load.d belong to the
// config component).
//
// Restorable parts:
// - "sysctl": the readable and writable keys under <root>/proc/sys whose
//   name starts with one of the allowlisted prefixes and matches no volatile
//   pattern. A key is named with dots ("net.ipv4.ip_forward" is
//   proc/sys/net/ipv4/ip_forward); a dot inside a path component (an
//   interface "eth0.100") becomes '/' in the key, as sysctl(8) writes it.
// - "modules": the names of the loaded modules in <root>/proc/modules.
// Recorded, shown by diff and show, never restored: the kernel release
// (with either part), the command line, memory totals and the I/O
// schedulers (with "sysctl"), the memory map and interrupt assignments
// (with "modules").
//
// A snapshot holds the blobs "settings.json" (the settings it was captured
// with: a restore uses them, not the configuration of the day),
// "sysctl/<key>" (the value exactly as the kernel printed it),
// "modules" (one name a line, in /proc/modules order) and "recorded"
// (key=value lines).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "components/adapter.h"

namespace rwd::components::kernel {

struct Settings {
  bool sysctl = true;
  bool modules = true;
  std::vector<std::string> prefixes;  // default_prefixes() unless configured
  std::vector<std::string> exclude;   // added to builtin_volatile()
  std::vector<std::string> modprobe{"modprobe"};
  std::vector<std::string> modprobe_remove{"modprobe", "-r"};
  std::string timeout = "30s";
  std::chrono::milliseconds timeout_ms{std::chrono::seconds(30)};
};

// The settings of a [[component]] table (or of a snapshot's settings.json);
// kUsage naming the key for an unknown key, a wrong type or a bad value.
Result<Settings> parse_settings(const nlohmann::json& j);
// The form parse_settings reads back.
nlohmann::json settings_json(const Settings& s);

// Key prefixes captured by default.
const std::vector<std::string>& default_prefixes();
// Glob patterns (fnmatch(3); '*' also matches dots) of keys that are never
// captured: values the kernel changes by itself, per-boot random values and
// keys whose write is an action rather than a setting.
const std::vector<std::string>& builtin_volatile();

// Whether a key is captured: it starts with an allowlisted prefix and is not
// volatile (a built-in pattern, a configured one, or a key of one network
// interface: net.ipv4.conf.eth0.* and the like, all but "all" and
// "default", since interfaces come and go).
bool captured_key(const Settings& s, std::string_view key);
// Whether anything beneath a directory key ("net.ipv4") can be captured.
bool may_hold_keys(const Settings& s, std::string_view dir_key);

// proc/sys-relative path components <-> key.
std::string key_of(const std::vector<std::string>& components);
// kInvalidState when the key cannot name a file beneath proc/sys.
Result<std::string> path_of(std::string_view key);

// A value with runs of whitespace (the kernel prints tabs between fields)
// made one space, and none at either end: how values are compared.
std::string normalize(std::string_view value);

// The lines of a text, without their '\n'.
std::vector<std::string_view> lines_of(std::string_view text);

struct Module {
  std::string name;
  bool in_use = false;  // a reference count above 0 (or none), or a "used by" list
  std::string users;    // the "used by" column, for messages
  std::string refcount;
};
// The lines of /proc/modules, in their order (most recently loaded first).
std::vector<Module> parse_modules(std::string_view text);
// A name modprobe can be given (never an option).
bool valid_module_name(std::string_view name);

// Recorded facts from the text of the files they come from.
std::map<std::string, std::string> meminfo_totals(std::string_view meminfo);
std::map<std::string, std::string> iomem_ranges(std::string_view iomem);
std::map<std::string, std::string> interrupt_assignments(std::string_view interrupts);

// The live state, read beneath ctx.system_root.
struct Live {
  std::map<std::string, std::string> sysctl;  // key -> value as read
  std::vector<Module> modules;
  std::map<std::string, std::string> recorded;
  std::vector<std::string> warnings;  // keys that could not be read
};
Result<Live> read_live(Context& ctx, const Settings& s);

// The system root, for the calls below.
Result<io::Fd> open_root(Context& ctx);
// The modules loaded now (an absent /proc/modules is a kernel without
// module support: none).
Result<std::vector<Module>> read_modules(Context& ctx, int root);
// One key's value as read now; kNotFound when the key does not exist.
Result<std::string> read_key(Context& ctx, int root, std::string_view key);
// "Invalid argument (EINVAL)": the errno of a failed call, for warnings.
std::string describe_errno(const Error& e);
// Writes one value back with a single write() of the whole value.
Status write_key(Context& ctx, int root, std::string_view key, std::string_view value);

}  // namespace rwd::components::kernel
