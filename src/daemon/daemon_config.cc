// SPDX-License-Identifier: Apache-2.0
#include "daemon/daemon_config.h"

#include <fcntl.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

#include "components/adapter.h"
#include "config/config.h"
#include "io/durable.h"

namespace rwd::daemon {

const std::vector<std::string>& actions() {
  static const std::vector<std::string> kActions{"status",   "list",  "health", "create",
                                                 "rollback", "pause", "resume"};
  return kActions;
}

std::string at_root(const std::string& system_root, const std::string& path) {
  return components::join_path(system_root, path.empty() ? "" : path.substr(1));
}

namespace {

const std::vector<std::string> kKeys{"socket",
                                     "socket_group",
                                     "access",
                                     "verify_interval",
                                     "verify_read_data_interval",
                                     "retention_interval",
                                     "timeline_interval",
                                     "metrics_dir",
                                     "motd_dir",
                                     "state_dir"};

Result<std::string> string_key(const nlohmann::json& v, const std::string& key) {
  if (!v.is_string()) return fail(Error::usage("[daemon]: {} must be a string", key));
  return v.get<std::string>();
}

Result<std::string> absolute_key(const nlohmann::json& v, const std::string& key,
                                 bool may_be_empty) {
  REWIND_ASSIGN_OR_RETURN(std::string s, string_key(v, key));
  if (s.empty() && may_be_empty) return s;
  if (s.empty() || s.front() != '/' || s.find("/../") != std::string::npos || s.ends_with("/.."))
    return fail(
        Error::usage("[daemon]: {} must be an absolute path without \"..\", not \"{}\"", key, s));
  return s;
}

// A duration in systemd.time syntax; "off" and "0" turn a schedule off
// where that is allowed.
Result<Duration> duration_key(const nlohmann::json& v, const std::string& key, bool may_be_off) {
  REWIND_ASSIGN_OR_RETURN(std::string s, string_key(v, key));
  if (may_be_off && (s == "off" || s == "0")) return Duration(0);
  auto d = config::parse_duration(s);
  if (!d) return fail(Error::usage("[daemon]: {}: {}", key, d.error().message()));
  if (d->count() <= 0)
    return fail(Error::usage("[daemon]: {} must be longer than zero{}", key,
                             may_be_off ? " (or \"off\")" : ""));
  return *d;
}

// Users and groups: names, or numeric ids as numbers or strings.
Result<std::vector<std::string>> id_list(const nlohmann::json& v, const std::string& what) {
  if (!v.is_array()) return fail(Error::usage("[daemon]: {} must be an array", what));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (e.is_number_unsigned() || (e.is_number_integer() && e.get<int64_t>() >= 0))
      out.push_back(std::to_string(e.get<int64_t>()));
    else if (e.is_string() && !e.get<std::string>().empty())
      out.push_back(e.get<std::string>());
    else
      return fail(Error::usage("[daemon]: {}: each entry is a name or a numeric id, not {}", what,
                               e.dump()));
  }
  return out;
}

Status parse_access(const nlohmann::json& v, DaemonConfig& c) {
  if (!v.is_object())
    return fail(Error::usage("[daemon]: access must be a table ([daemon.access.ACTION])"));
  for (const auto& [action, rule] : v.items()) {
    if (std::find(actions().begin(), actions().end(), action) == actions().end())
      return fail(Error::usage("[daemon.access]: unknown action \"{}\" (known: {})", action,
                               fmt::join(actions(), ", ")));
    if (!rule.is_object())
      return fail(Error::usage("[daemon.access.{}] must be a table with users and groups", action));
    AccessRule r;
    for (const auto& [k, val] : rule.items()) {
      std::string what = fmt::format("[daemon.access.{}] {}", action, k);
      if (k == "users") {
        REWIND_ASSIGN_OR_RETURN(r.users, id_list(val, what));
      } else if (k == "groups") {
        REWIND_ASSIGN_OR_RETURN(r.groups, id_list(val, what));
      } else {
        return fail(Error::usage("[daemon.access.{}]: unknown key \"{}\" (known: users, groups)",
                                 action, k));
      }
    }
    c.access[action] = std::move(r);
  }
  return ok();
}

bool is_number(std::string_view s) {
  unsigned long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

// The numeric id of `name` in a passwd- or group-format file (field 3).
Result<unsigned long> lookup(io::Fs& fs, const std::string& system_root, const std::string& file,
                             const std::string& name, const char* what) {
  if (is_number(name)) return std::stoul(name);
  // Root is 0 everywhere, also in a system root without /etc/passwd.
  if (name == "root") return 0UL;
  std::string dir = at_root(system_root, "/etc");
  auto dfd = fs.open_path(dir, O_RDONLY | O_DIRECTORY);
  Result<std::string> text =
      dfd ? io::read_small_file(fs, dfd->get(), file) : Result<std::string>(fail(dfd.error()));
  if (!text)
    return fail(Error::usage("{} \"{}\": {}/{} cannot be read ({}); give the numeric id", what,
                             name, dir, file, text.error().message()));
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string_view line(text->data() + pos, end - pos);
    pos = end + 1;
    // name:x:id:...
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos || line.substr(0, c1) != name) continue;
    size_t c2 = line.find(':', c1 + 1);
    size_t c3 = c2 == std::string_view::npos ? c2 : line.find(':', c2 + 1);
    if (c3 == std::string_view::npos) continue;
    std::string_view id = line.substr(c2 + 1, c3 - c2 - 1);
    if (is_number(id)) return std::stoul(std::string(id));
  }
  return fail(Error::usage("{} \"{}\" is not in {}/{}; give the numeric id or add it", what, name,
                           dir, file));
}

}  // namespace

Result<uid_t> resolve_user(io::Fs& fs, const std::string& system_root, const std::string& user) {
  REWIND_ASSIGN_OR_RETURN(auto id, lookup(fs, system_root, "passwd", user, "user"));
  return static_cast<uid_t>(id);
}

Result<gid_t> resolve_group(io::Fs& fs, const std::string& system_root, const std::string& group) {
  REWIND_ASSIGN_OR_RETURN(auto id, lookup(fs, system_root, "group", group, "group"));
  return static_cast<gid_t>(id);
}

Result<DaemonConfig> parse_daemon_config(const nlohmann::json& section) {
  DaemonConfig c;
  if (!section.is_null()) {
    if (!section.is_object()) return fail(Error::usage("[daemon] must be a table"));
    for (const auto& [k, v] : section.items()) {
      if (k == "socket") {
        REWIND_ASSIGN_OR_RETURN(c.socket, absolute_key(v, k, false));
      } else if (k == "socket_group") {
        REWIND_ASSIGN_OR_RETURN(auto ids, id_list(nlohmann::json::array({v}), k));
        c.socket_group = ids.front();
      } else if (k == "access") {
        REWIND_TRY(parse_access(v, c));
      } else if (k == "verify_interval") {
        REWIND_ASSIGN_OR_RETURN(c.verify_interval, duration_key(v, k, true));
      } else if (k == "verify_read_data_interval") {
        REWIND_ASSIGN_OR_RETURN(c.verify_read_data_interval, duration_key(v, k, true));
      } else if (k == "retention_interval") {
        REWIND_ASSIGN_OR_RETURN(c.retention_interval, duration_key(v, k, true));
      } else if (k == "timeline_interval") {
        REWIND_ASSIGN_OR_RETURN(c.timeline_interval, duration_key(v, k, true));
      } else if (k == "metrics_dir") {
        REWIND_ASSIGN_OR_RETURN(c.metrics_dir, absolute_key(v, k, true));
      } else if (k == "motd_dir") {
        REWIND_ASSIGN_OR_RETURN(c.motd_dir, absolute_key(v, k, true));
      } else if (k == "state_dir") {
        REWIND_ASSIGN_OR_RETURN(c.state_dir, absolute_key(v, k, false));
      } else {
        return fail(
            Error::usage("[daemon]: unknown key \"{}\" (known: {})", k, fmt::join(kKeys, ", ")));
      }
    }
  }
  // Defaults for the actions the file does not mention: reading to root and
  // the socket's group, changing to root alone.
  for (const auto& a : actions()) {
    if (c.access.count(a)) continue;
    AccessRule r{{"root"}, {}};
    if ((a == "status" || a == "list" || a == "health") && !c.socket_group.empty())
      r.groups.push_back(c.socket_group);
    c.access[a] = std::move(r);
  }
  return c;
}

Result<LoadedConfig> load_daemon_config(io::Fs& fs, const std::string& system_root,
                                        const std::optional<std::string>& config_file) {
  REWIND_ASSIGN_OR_RETURN(auto cfg, config::load(fs, system_root, config_file));
  LoadedConfig out;
  nlohmann::json section;
  if (cfg) {
    out.files = cfg->files;
    if (cfg->sections.contains("daemon")) section = cfg->sections["daemon"];
    REWIND_ASSIGN_OR_RETURN(out.health, config::health_config(*cfg));
    REWIND_ASSIGN_OR_RETURN(out.auto_rollback, config::auto_rollback_config(*cfg));
    for (const auto& c : cfg->components)
      if (c.adapter == "services") out.services.emplace_back(c.name, c.settings);
  }
  auto d = parse_daemon_config(section);
  if (!d) {
    Error e = d.error();
    if (!out.files.empty()) e.context(fmt::format("{}", fmt::join(out.files, ", ")));
    return fail(e);
  }
  out.daemon = std::move(*d);
  // Names must resolve now, not when a caller knocks.
  if (!out.daemon.socket_group.empty())
    REWIND_TRY(resolve_group(fs, system_root, out.daemon.socket_group));
  for (const auto& [action, rule] : out.daemon.access) {
    for (const auto& u : rule.users) REWIND_TRY(resolve_user(fs, system_root, u));
    for (const auto& g : rule.groups) REWIND_TRY(resolve_group(fs, system_root, g));
  }
  return out;
}

}  // namespace rwd::daemon
