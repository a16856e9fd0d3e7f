// SPDX-License-Identifier: Apache-2.0
#include "config/automation.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <regex>
#include <set>

#include "config/config.h"

namespace rwd::config {

namespace {

using nlohmann::json;

const std::vector<std::string> kCheckKinds = {"command",    "service", "sqlite",    "postgres",
                                              "free_space", "verify",  "kernel_log"};

// The keys each kind of check takes besides the common ones.
const std::vector<std::string>& kind_keys(const std::string& kind) {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"command", {"command"}},
      {"service",
       {"units", "unit", "manager", "service_dir", "sv_dir", "sv", "systemctl", "status"}},
      {"sqlite", {"path", "mode"}},
      {"postgres", {"host", "port", "user", "database", "pg_isready"}},
      {"free_space", {"min_free", "path"}},
      {"verify", {"max_age"}},
      {"kernel_log", {"source", "path", "patterns", "journalctl"}},
  };
  return keys.at(kind);
}
const std::vector<std::string> kCommonCheckKeys = {"name", "kind", "critical", "timeout"};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Typed readers; `who` names the table and key in errors.
Result<std::string> str(const json& v, const std::string& who) {
  if (!v.is_string()) return fail(Error::usage("{} must be a string", who));
  return v.get<std::string>();
}
Result<bool> boolean(const json& v, const std::string& who) {
  if (!v.is_boolean()) return fail(Error::usage("{} must be true or false", who));
  return v.get<bool>();
}
Result<std::vector<std::string>> strings(const json& v, const std::string& who) {
  if (!v.is_array()) return fail(Error::usage("{} must be an array of strings", who));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return fail(Error::usage("{} must be an array of strings", who));
    out.push_back(e.get<std::string>());
  }
  return out;
}
// An argv: an array, or a string run by /bin/sh -c.
Result<std::vector<std::string>> argv(const json& v, const std::string& who) {
  if (v.is_string()) return std::vector<std::string>{"/bin/sh", "-c", v.get<std::string>()};
  REWIND_ASSIGN_OR_RETURN(auto a, strings(v, who));
  if (a.empty() || a.front().empty()) return fail(Error::usage("{} must not be empty", who));
  return a;
}
Result<std::chrono::nanoseconds> duration(const json& v, const std::string& who) {
  REWIND_ASSIGN_OR_RETURN(std::string s, str(v, who));
  auto d = parse_duration(s);
  if (!d) return fail(Error::usage("{}: {}", who, d.error().message()));
  return *d;
}
Result<std::string> abs_path(const json& v, const std::string& who) {
  REWIND_ASSIGN_OR_RETURN(std::string s, str(v, who));
  if (s.empty() || s.front() != '/')
    return fail(Error::usage("{} must be an absolute path, not \"{}\"", who, s));
  return s;
}

Result<CheckConfig> check(const json& t, const HealthConfig& h, size_t index) {
  CheckConfig c;
  c.timeout = h.timeout;
  if (!t.contains("name"))
    return fail(Error::usage("[[check]] number {} has no name (name = \"...\")", index + 1));
  REWIND_ASSIGN_OR_RETURN(c.name, str(t.at("name"), "[[check]]: name"));
  if (!valid_component_name(c.name))
    return fail(
        Error::usage("[[check]] \"{}\": invalid name (must match [a-z0-9][a-z0-9_.-]*)", c.name));
  const std::string who = fmt::format("[[check]] \"{}\"", c.name);
  auto what = [&](const std::string& k) { return fmt::format("{}: {}", who, k); };
  if (t.contains("kind")) {
    REWIND_ASSIGN_OR_RETURN(c.kind, str(t.at("kind"), what("kind")));
    if (!contains(kCheckKinds, c.kind))
      return fail(
          Error::usage("{}: unknown kind \"{}\" (valid: {})", who, c.kind, join(kCheckKinds)));
  } else if (t.contains("command")) {
    c.kind = "command";
  } else {
    return fail(Error::usage("{}: no kind (kind = \"{}\") and no command", who, join(kCheckKinds)));
  }
  const auto& allowed = kind_keys(c.kind);
  bool has_min_free = false;
  for (const auto& [k, v] : t.items()) {
    if (!contains(kCommonCheckKeys, k) && !contains(allowed, k))
      return fail(Error::usage("{}: unknown key \"{}\" for kind {} (known: {}, {})", who, k, c.kind,
                               join(kCommonCheckKeys), join(allowed)));
    if (k == "name" || k == "kind") continue;
    if (k == "critical") {
      REWIND_ASSIGN_OR_RETURN(c.critical, boolean(v, what(k)));
    } else if (k == "timeout") {
      REWIND_ASSIGN_OR_RETURN(c.timeout, duration(v, what(k)));
      if (c.timeout.count() == 0) return fail(Error::usage("{} must be more than 0", what(k)));
    } else if (k == "command") {
      REWIND_ASSIGN_OR_RETURN(c.command, argv(v, what(k)));
    } else if (k == "units") {
      REWIND_ASSIGN_OR_RETURN(auto u, strings(v, what(k)));
      c.units.insert(c.units.end(), u.begin(), u.end());
    } else if (k == "unit") {
      REWIND_ASSIGN_OR_RETURN(std::string u, str(v, what(k)));
      c.units.push_back(std::move(u));
    } else if (c.kind == "service") {
      c.manager[k] = v;  // the services adapter's keys, checked by its parser at run time
    } else if (k == "path") {
      REWIND_ASSIGN_OR_RETURN(c.path, abs_path(v, what(k)));
    } else if (k == "mode") {
      REWIND_ASSIGN_OR_RETURN(c.mode, str(v, what(k)));
      if (c.mode != "quick" && c.mode != "full")
        return fail(Error::usage("{} must be \"quick\" or \"full\", not \"{}\"", what(k), c.mode));
    } else if (k == "host") {
      REWIND_ASSIGN_OR_RETURN(c.host, str(v, what(k)));
    } else if (k == "port") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65535)
        return fail(Error::usage("{} must be a port number (1-65535)", what(k)));
      c.port = v.get<int>();
    } else if (k == "user") {
      REWIND_ASSIGN_OR_RETURN(c.user, str(v, what(k)));
    } else if (k == "database") {
      REWIND_ASSIGN_OR_RETURN(c.database, str(v, what(k)));
    } else if (k == "pg_isready") {
      REWIND_ASSIGN_OR_RETURN(c.pg_isready, argv(v, what(k)));
    } else if (k == "min_free") {
      REWIND_ASSIGN_OR_RETURN(std::string s, str(v, what(k)));
      if (Status st = parse_min_free(s, c.min_free_bytes, c.min_free_percent); !st)
        return fail(Error::usage("{}: {}", what(k), st.error().message()));
      has_min_free = true;
    } else if (k == "max_age") {
      REWIND_ASSIGN_OR_RETURN(c.max_age, duration(v, what(k)));
    } else if (k == "source") {
      REWIND_ASSIGN_OR_RETURN(c.source, str(v, what(k)));
      if (c.source != "kmsg" && c.source != "file" && c.source != "journal")
        return fail(Error::usage("{} must be \"kmsg\", \"file\" or \"journal\", not \"{}\"",
                                 what(k), c.source));
    } else if (k == "patterns") {
      REWIND_ASSIGN_OR_RETURN(c.patterns, strings(v, what(k)));
    } else if (k == "journalctl") {
      REWIND_ASSIGN_OR_RETURN(c.journalctl, argv(v, what(k)));
    }
  }
  if (c.kind == "command" && c.command.empty())
    return fail(Error::usage("{}: a command check needs command = [...]", who));
  if (c.kind == "service" && c.units.empty())
    return fail(Error::usage("{}: a service check needs units = [...]", who));
  if (c.kind == "sqlite" && c.path.empty())
    return fail(Error::usage("{}: a sqlite check needs path = \"...\"", who));
  if (c.kind == "kernel_log") {
    if (c.source == "file" && c.path.empty())
      return fail(Error::usage("{}: source \"file\" needs path = \"...\"", who));
    if (c.source != "file" && !c.path.empty())
      return fail(Error::usage("{}: path is for source = \"file\"", who));
    if (c.patterns.empty()) c.patterns = default_kernel_patterns();
    for (const auto& p : c.patterns) {
      try {
        std::regex re(p, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return fail(Error::usage("{}: patterns: invalid regex \"{}\": {}", who, p, e.what()));
      }
    }
  }
  if (c.kind == "free_space" && !has_min_free) c.min_free_percent = 5;
  return c;
}

}  // namespace

const std::vector<std::string>& default_kernel_patterns() {
  static const std::vector<std::string> p = {
      // Block-layer and SCSI/ATA I/O errors.
      "I/O error", "blk_update_request: .*error", "critical medium error",
      // Filesystem errors and forced read-only remounts.
      "EXT4-fs error", "EXT4-fs \\(.*\\): Remounting filesystem read-only",
      "XFS \\(.*\\): .*[Cc]orrupt", "BTRFS (error|critical)", "Remounting filesystem read-only",
      // The OOM killer.
      "Out of memory: Kill", "oom-kill:", "Killed process [0-9]+ .*total-vm"};
  return p;
}

Status parse_min_free(std::string_view text, uint64_t& bytes, double& percent) {
  bytes = 0;
  percent = 0;
  if (text.empty()) return fail(Error::usage("empty (examples: 10%, 500M, 2G)"));
  const char last = text.back();
  std::string_view num = text;
  uint64_t scale = 1;
  bool pct = false;
  if (last == '%') {
    pct = true;
    num.remove_suffix(1);
  } else if (std::string_view("KMGT").find(last) != std::string_view::npos) {
    for (char u : std::string_view("KMGT")) {
      scale *= 1024;
      if (u == last) break;
    }
    num.remove_suffix(1);
  }
  double v = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || end != num.data() + num.size() || !(v >= 0) || !std::isfinite(v))
    return fail(Error::usage("\"{}\" is not a size (examples: 10%, 500M, 2G)", text));
  if (pct) {
    if (v > 100) return fail(Error::usage("\"{}\": more than 100%", text));
    percent = v;
  } else {
    const double b = v * static_cast<double>(scale);
    if (b > 1.8e19) return fail(Error::usage("\"{}\" is too large", text));
    bytes = static_cast<uint64_t>(b);
  }
  return ok();
}

Result<HealthConfig> health_config(const Config& c) {
  HealthConfig h;
  if (auto it = c.sections.find("health"); it != c.sections.end()) {
    for (const auto& [k, v] : it->items()) {
      const std::string what = "[health]: " + k;
      if (k == "timeout") {
        REWIND_ASSIGN_OR_RETURN(h.timeout, duration(v, what));
        if (h.timeout.count() == 0) return fail(Error::usage("{} must be more than 0", what));
      } else if (k == "interval") {
        REWIND_ASSIGN_OR_RETURN(h.interval, duration(v, what));
        if (h.interval.count() == 0) return fail(Error::usage("{} must be more than 0", what));
      } else {
        return fail(Error::usage("[health]: unknown key \"{}\" (known: timeout, interval)", k));
      }
    }
  }
  if (auto it = c.sections.find("check"); it != c.sections.end()) {
    std::set<std::string> names;
    for (size_t i = 0; i < it->size(); ++i) {
      REWIND_ASSIGN_OR_RETURN(CheckConfig cc, check((*it)[i], h, i));
      if (!names.insert(cc.name).second)
        return fail(Error::usage("[[check]] \"{}\" is defined twice", cc.name));
      h.checks.push_back(std::move(cc));
    }
  }
  return h;
}

Result<AutoRollbackConfig> auto_rollback_config(const Config& c) {
  AutoRollbackConfig a;
  auto it = c.sections.find("auto_rollback");
  if (it == c.sections.end()) return a;
  for (const auto& [k, v] : it->items()) {
    const std::string what = "[auto_rollback]: " + k;
    if (k == "enabled") {
      REWIND_ASSIGN_OR_RETURN(a.enabled, boolean(v, what));
    } else if (k == "triggers") {
      REWIND_ASSIGN_OR_RETURN(a.triggers, strings(v, what));
      for (const auto& t : a.triggers)
        if (std::none_of(std::begin(kAutoRollbackTriggers), std::end(kAutoRollbackTriggers),
                         [&](const char* x) { return t == x; }))
          return fail(Error::usage(
              "{}: unknown trigger \"{}\" (valid: {})", what, t,
              join({std::begin(kAutoRollbackTriggers), std::end(kAutoRollbackTriggers)})));
    } else if (k == "max_rollback_time") {
      REWIND_ASSIGN_OR_RETURN(a.max_rollback_time, duration(v, what));
      if (a.max_rollback_time.count() == 0)
        return fail(Error::usage("{} must be more than 0", what));
    } else if (k == "partial") {
      REWIND_ASSIGN_OR_RETURN(a.partial, boolean(v, what));
    } else if (k == "priority_components") {
      // Names that no point holds are simply never in scope (DESIGN.md's
      // example names components a machine may not configure).
      REWIND_ASSIGN_OR_RETURN(a.priority_components, strings(v, what));
    } else if (k == "max_rollbacks") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1000000)
        return fail(Error::usage("{} must be a whole number, 0 or more", what));
      a.max_rollbacks = v.get<int>();
    } else if (k == "window") {
      REWIND_ASSIGN_OR_RETURN(a.window, duration(v, what));
    } else {
      return fail(Error::usage(
          "[auto_rollback]: unknown key \"{}\" (known: enabled, triggers, max_rollback_time, "
          "partial, priority_components, max_rollbacks, window)",
          k));
    }
  }
  return a;
}

Status check_automation(const Config& c) {
  REWIND_TRY(health_config(c));
  REWIND_TRY(auto_rollback_config(c));
  return ok();
}

}  // namespace rwd::config

namespace rwd {

bool AutoRollbackConfig::armed(const std::string& trigger) const {
  return enabled && std::find(triggers.begin(), triggers.end(), trigger) != triggers.end();
}

}  // namespace rwd
