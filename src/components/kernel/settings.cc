// SPDX-License-Identifier: Apache-2.0
// The kernel adapter's settings, which keys it captures, and the parsers of
// the /proc files it reads.
#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "components/kernel/kernel.h"
#include "components/unified_diff.h"
#include "config/config.h"

namespace rwd::components::kernel {

namespace {

constexpr std::array<std::string_view, 6> kKeys = {"parts",    "sysctl_prefixes", "sysctl_exclude",
                                                   "modprobe", "modprobe_remove", "timeout"};

std::string known_keys() {
  std::string out;
  for (auto k : kKeys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

Result<std::vector<std::string>> strings(const nlohmann::json& j, std::string_view key,
                                         bool nonempty) {
  auto bad = [&] {
    return fail(Error::usage("key \"{}\": expected {}array of strings", key,
                             nonempty ? "a non-empty " : "an "));
  };
  if (!j.is_array()) return bad();
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get<std::string>().empty()) return bad();
    out.push_back(v.get<std::string>());
  }
  if (nonempty && out.empty()) return bad();
  return out;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The per-interface trees: the component after these names an interface.
constexpr std::array<std::string_view, 4> kPerInterface = {"net.ipv4.conf.", "net.ipv6.conf.",
                                                           "net.ipv4.neigh.", "net.ipv6.neigh."};

bool per_interface(std::string_view key) {
  for (auto tree : kPerInterface) {
    if (!key.starts_with(tree)) continue;
    std::string_view rest = key.substr(tree.size());
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return false;
    std::string_view iface = rest.substr(0, dot);
    return iface != "all" && iface != "default";
  }
  return false;
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& key) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return ::fnmatch(p.c_str(), key.c_str(), 0) == 0;
  });
}

}  // namespace

const std::vector<std::string>& default_prefixes() {
  static const std::vector<std::string> v = {"kernel.",
                                             "vm.",
                                             "fs.",
                                             "net.core.",
                                             "net.ipv4.",
                                             "net.ipv6.conf.all.",
                                             "net.ipv6.conf.default."};
  return v;
}

const std::vector<std::string>& builtin_volatile() {
  static const std::vector<std::string> v = {
      // Changed by the kernel itself or random per boot.
      "kernel.ns_last_pid", "kernel.random.*", "kernel.cad_pid",
      "kernel.tainted",  // writing sets taint flags
      "kernel.perf_event_max_sample_rate", "net.ipv4.tcp_fastopen_key",
      // Writes that are actions, not settings.
      "vm.drop_caches", "vm.compact_memory", "vm.stat_refresh", "net.ipv4.route.flush",
      "fs.binfmt_misc.*",  // "status" = -1 unregisters every format
  };
  return v;
}

Result<Settings> parse_settings(const nlohmann::json& j) {
  Settings s;
  s.prefixes = default_prefixes();
  if (!j.is_object()) return fail(Error::usage("the kernel settings are not a table"));
  for (const auto& [key, v] : j.items()) {
    if (key == "parts") {
      REWIND_ASSIGN_OR_RETURN(auto parts, strings(v, key, true));
      s.sysctl = s.modules = false;
      for (const auto& p : parts) {
        if (p == "sysctl")
          s.sysctl = true;
        else if (p == "modules")
          s.modules = true;
        else
          return fail(
              Error::usage("key \"parts\": unknown part \"{}\" (valid: sysctl, modules)", p));
      }
    } else if (key == "sysctl_prefixes") {
      REWIND_ASSIGN_OR_RETURN(s.prefixes, strings(v, key, true));
    } else if (key == "sysctl_exclude") {
      REWIND_ASSIGN_OR_RETURN(s.exclude, strings(v, key, false));
    } else if (key == "modprobe") {
      REWIND_ASSIGN_OR_RETURN(s.modprobe, strings(v, key, true));
    } else if (key == "modprobe_remove") {
      REWIND_ASSIGN_OR_RETURN(s.modprobe_remove, strings(v, key, true));
    } else if (key == "timeout") {
      if (!v.is_string())
        return fail(Error::usage("key \"timeout\": expected a duration string such as \"30s\""));
      s.timeout = v.get<std::string>();
      auto d = config::parse_duration(s.timeout);
      if (!d) return fail(Error::usage("key \"timeout\": {}", d.error().message()));
      if (d->count() <= 0) return fail(Error::usage("key \"timeout\": must be more than 0"));
      s.timeout_ms = std::chrono::ceil<std::chrono::milliseconds>(*d);
    } else {
      return fail(Error::usage("unknown key \"{}\" (known: {})", key, known_keys()));
    }
  }
  return s;
}

nlohmann::json settings_json(const Settings& s) {
  nlohmann::json parts = nlohmann::json::array();
  if (s.sysctl) parts.push_back("sysctl");
  if (s.modules) parts.push_back("modules");
  return nlohmann::json{{"parts", parts},
                        {"sysctl_prefixes", s.prefixes},
                        {"sysctl_exclude", s.exclude},
                        {"modprobe", s.modprobe},
                        {"modprobe_remove", s.modprobe_remove},
                        {"timeout", s.timeout}};
}

bool captured_key(const Settings& s, std::string_view key) {
  if (!std::any_of(s.prefixes.begin(), s.prefixes.end(),
                   [&](const std::string& p) { return key.starts_with(p); }))
    return false;
  if (per_interface(key)) return false;
  std::string k(key);
  return !matches_any(builtin_volatile(), k) && !matches_any(s.exclude, k);
}

bool may_hold_keys(const Settings& s, std::string_view dir_key) {
  std::string below = std::string(dir_key) + ".";
  return std::any_of(s.prefixes.begin(), s.prefixes.end(), [&](const std::string& p) {
    return p.starts_with(below) || below.starts_with(p);
  });
}

std::string key_of(const std::vector<std::string>& components) {
  std::string key;
  for (const auto& c : components) {
    if (!key.empty()) key += '.';
    std::string part = c;
    std::replace(part.begin(), part.end(), '.', '/');
    key += part;
  }
  return key;
}

Result<std::string> path_of(std::string_view key) {
  std::string path = "proc/sys";
  size_t b = 0;
  while (b <= key.size()) {
    size_t e = key.find('.', b);
    if (e == std::string_view::npos) e = key.size();
    std::string part(key.substr(b, e - b));
    std::replace(part.begin(), part.end(), '/', '.');
    if (part.empty() || part == "." || part == "..")
      return fail(Error::invalid_state("'{}' is not a kernel tunable's name", key));
    path += "/" + part;
    b = e + 1;
  }
  return path;
}

std::string normalize(std::string_view value) { return text::collapse_whitespace(value); }

std::vector<std::string_view> lines_of(std::string_view text) { return text::split(text, '\n'); }

std::vector<Module> parse_modules(std::string_view text) {
  std::vector<Module> out;
  for (auto line : lines_of(text)) {
    // name size refcount used-by state address
    std::string words = normalize(line);
    std::vector<std::string> f;
    for (size_t b = 0; b < words.size();) {
      size_t e = std::min(words.find(' ', b), words.size());
      f.push_back(words.substr(b, e - b));
      b = e + 1;
    }
    if (f.size() < 4) continue;
    Module m;
    m.name = f[0];
    m.refcount = f[2];
    m.users = f[3] == "-" ? "" : f[3];
    if (!m.users.empty() && m.users.back() == ',') m.users.pop_back();
    // "-" as the count: a kernel that cannot unload modules.
    m.in_use = m.refcount != "0" || !m.users.empty();
    out.push_back(std::move(m));
  }
  return out;
}

bool valid_module_name(std::string_view name) {
  return !name.empty() && name.front() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::map<std::string, std::string> meminfo_totals(std::string_view meminfo) {
  // Totals only: the free and used amounts change every moment.
  static constexpr std::array<std::string_view, 4> kTotals = {"MemTotal", "SwapTotal",
                                                              "HugePages_Total", "Hugepagesize"};
  std::map<std::string, std::string> out;
  for (auto line : lines_of(meminfo)) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    if (std::find(kTotals.begin(), kTotals.end(), name) != kTotals.end())
      out["meminfo." + std::string(name)] = normalize(line.substr(colon + 1));
  }
  return out;
}

std::map<std::string, std::string> iomem_ranges(std::string_view iomem) {
  // The top-level ranges ("00100000-bffdffff : System RAM"); nested ones
  // (indented) are the drivers' claims inside them.
  std::map<std::string, std::string> out;
  for (auto line : lines_of(iomem)) {
    if (line.empty() || is_space(line.front())) continue;
    size_t sep = line.find(" : ");
    if (sep == std::string_view::npos) continue;
    out["iomem." + normalize(line.substr(0, sep))] = normalize(line.substr(sep + 3));
  }
  return out;
}

std::map<std::string, std::string> interrupt_assignments(std::string_view interrupts) {
  // "IRQ: count per CPU... chip hwirq-type devices": the counts change all
  // the time, the rest is the assignment.
  std::map<std::string, std::string> out;
  auto lines = lines_of(interrupts);
  if (lines.empty()) return out;
  std::string header = normalize(lines[0]);
  size_t cpus =
      header.empty() ? 0 : 1 + static_cast<size_t>(std::count(header.begin(), header.end(), ' '));
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string line = normalize(lines[i]);
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::string irq = line.substr(0, colon);
    std::string rest = normalize(line.substr(colon + 1));
    size_t pos = 0;
    for (size_t c = 0; c < cpus && pos < rest.size(); ++c) {
      size_t end = rest.find(' ', pos);
      if (end == std::string::npos) end = rest.size();
      if (!std::all_of(rest.begin() + static_cast<ptrdiff_t>(pos),
                       rest.begin() + static_cast<ptrdiff_t>(end),
                       [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }))
        break;
      pos = end == rest.size() ? end : end + 1;
    }
    std::string assignment = rest.substr(pos);
    if (!assignment.empty()) out["interrupts." + irq] = assignment;
  }
  return out;
}

}  // namespace rwd::components::kernel
