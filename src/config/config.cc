// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "config/automation.h"
#include "config/retention.h"

namespace rwd::config {
namespace {

constexpr std::array<std::string_view, 8> kAdapters = {"files",  "config",   "kernel",   "services",
                                                       "sqlite", "postgres", "packages", "command"};
constexpr std::array<std::string_view, 7> kCategories = {
    "kernel_core", "system_services", "device_drivers", "configuration",
    "user_data",   "database",        "other"};
constexpr std::array<std::string_view, 9> kTopLevel = {
    "repository", "component", "service_manager", "retention", "auto_rollback",
    "check",      "health",    "daemon",          "hooks"};
constexpr std::array<std::string_view, 11> kCommonKeys = {
    "name",       "adapter",  "category", "path",        "paths",       "exclude",
    "depends_on", "services", "critical", "pre_capture", "post_capture"};
constexpr std::array<std::string_view, 3> kServiceManagers = {"command", "systemd", "runit"};

// Largest configuration file read (a configuration, not a data file).
constexpr size_t kMaxConfigSize = 16 << 20;

template <typename List>
bool contains(const List& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

template <typename List>
std::string join(const List& list, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : list) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string where(const toml::source_region& r) {
  return fmt::format("{}:{}", r.path ? *r.path : std::string("<config>"), r.begin.line);
}

// A kUsage error located at `r`: "file:line: message".
template <typename... Args>
tl::unexpected<Error> err_at(const toml::source_region& r, fmt::format_string<Args...> f,
                             Args&&... args) {
  return fail(Error::usage("{}: {}", where(r), fmt::format(f, std::forward<Args>(args)...)));
}

bool before(const toml::source_region& a, const toml::source_region& b) {
  if (a.begin.line != b.begin.line) return a.begin.line < b.begin.line;
  return a.begin.column < b.begin.column;
}

struct Entry {
  const toml::key* key;
  const toml::node* node;
};

// A table's entries in the order they appear in the file (toml::table keeps
// them sorted by name), so that the first error reported is the first one in
// the file.
std::vector<Entry> entries(const toml::table& t) {
  std::vector<Entry> out;
  for (auto&& [k, v] : t) out.push_back({&k, &v});
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return before(a.key->source(), b.key->source());
  });
  return out;
}

nlohmann::json to_json(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: {
      nlohmann::json j = nlohmann::json::object();
      for (auto&& [k, v] : *n.as_table()) j[std::string(k.str())] = to_json(v);
      return j;
    }
    case toml::node_type::array: {
      nlohmann::json j = nlohmann::json::array();
      for (const toml::node& e : *n.as_array()) j.push_back(to_json(e));
      return j;
    }
    case toml::node_type::string:
      return n.as_string()->get();
    case toml::node_type::integer:
      return n.as_integer()->get();
    case toml::node_type::floating_point:
      return n.as_floating_point()->get();
    case toml::node_type::boolean:
      return n.as_boolean()->get();
    case toml::node_type::date: {
      std::ostringstream s;
      s << *n.as_date();
      return s.str();
    }
    case toml::node_type::time: {
      std::ostringstream s;
      s << *n.as_time();
      return s.str();
    }
    case toml::node_type::date_time: {
      std::ostringstream s;
      s << *n.as_date_time();
      return s.str();
    }
    case toml::node_type::none:
      break;
  }
  return nullptr;
}

Result<std::string> get_string(const toml::node& n, std::string_view what) {
  if (const auto* s = n.as_string()) return s->get();
  return err_at(n.source(), "{} must be a string", what);
}

Result<bool> get_bool(const toml::node& n, std::string_view what) {
  if (const auto* b = n.as_boolean()) return b->get();
  return err_at(n.source(), "{} must be true or false", what);
}

// The strings of an array of strings, each with where it was written.
Result<std::vector<std::pair<std::string, toml::source_region>>> get_string_array(
    const toml::node& n, std::string_view what) {
  const auto* arr = n.as_array();
  if (arr == nullptr) return err_at(n.source(), "{} must be an array of strings", what);
  std::vector<std::pair<std::string, toml::source_region>> out;
  for (const toml::node& e : *arr) {
    const auto* s = e.as_string();
    if (s == nullptr) return err_at(e.source(), "{} must be an array of strings", what);
    out.emplace_back(s->get(), e.source());
  }
  return out;
}

Result<std::vector<std::string>> get_strings(const toml::node& n, std::string_view what) {
  REWIND_ASSIGN_OR_RETURN(auto list, get_string_array(n, what));
  std::vector<std::string> out;
  out.reserve(list.size());
  for (auto& [s, r] : list) out.push_back(std::move(s));
  return out;
}

// argv as an array of strings, or a single string run by the shell.
Result<std::vector<std::string>> get_argv(const toml::node& n, std::string_view what) {
  if (const auto* s = n.as_string()) return std::vector<std::string>{"/bin/sh", "-c", s->get()};
  if (!n.is_array())
    return err_at(n.source(),
                  "{} must be an array of strings (argv) or a string (run by /bin/sh -c)", what);
  return get_strings(n, what);
}

// "/etc//app/" -> "/etc/app". Refuses relative paths, "." and "..".
Result<std::string> normalize_path(std::string_view p) {
  if (p.empty() || p.front() != '/') return fail(Error::usage("path \"{}\" is not absolute", p));
  if (p.find('\0') != std::string_view::npos)
    return fail(Error::usage("path \"{}\" contains a NUL byte", p));
  std::string out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part == "." || part == "..")
      return fail(Error::usage("path \"{}\" contains \"{}\"", p, part));
    if (!part.empty()) {
      out += '/';
      out += part;
    }
    i = j;
  }
  return out.empty() ? std::string("/") : out;
}

// Whether `child` lies strictly below `parent` (both normalized).
bool is_within(std::string_view child, std::string_view parent) {
  if (parent == "/") return child != "/";
  return child.size() > parent.size() && child.starts_with(parent) && child[parent.size()] == '/';
}

// The category a component of an adapter gets when it names none.
std::string default_category(std::string_view adapter) {
  if (adapter == "config") return "configuration";
  if (adapter == "kernel") return "kernel_core";
  if (adapter == "services") return "system_services";
  if (adapter == "sqlite" || adapter == "postgres") return "database";
  return "other";
}

bool path_based(const ComponentConfig& c) { return c.adapter == "files" || c.adapter == "config"; }

// One key of a component, from the definition that set it last.
struct KeyNode {
  toml::key key;
  const toml::node* node;
};

// A component as written, before validation: drop-ins override keys.
struct RawComponent {
  std::string name;
  toml::source_region origin;
  size_t document = 0;
  std::vector<KeyNode> keys;  // in order of first appearance; "name" not included

  const KeyNode* find(std::string_view k) const {
    for (const auto& kn : keys)
      if (kn.key.str() == k) return &kn;
    return nullptr;
  }
};

// A validated component plus where its parts were written, for the checks
// that span components.
struct Built {
  ComponentConfig c;
  toml::source_region origin;
  std::vector<toml::source_region> path_regions;  // parallel to c.paths
  std::vector<toml::source_region> dep_regions;   // parallel to c.depends_on
};

class Parser {
 public:
  explicit Parser(size_t documents) { tables_.reserve(documents); }

  Status add(const std::string& source, const std::string& text) {
    try {
      tables_.push_back(toml::parse(text, source));
    } catch (const toml::parse_error& e) {
      const auto& b = e.source().begin;
      return fail(Error::usage("{}:{}:{}: {}", source, b.line, b.column, e.description()));
    } catch (const std::exception& e) {
      return fail(Error::usage("{}: {}", source, e.what()));
    }
    config_.files.push_back(source);
    const size_t doc = tables_.size() - 1;
    for (const Entry& e : entries(tables_.back())) {
      const std::string_view k = e.key->str();
      if (k == "repository") {
        REWIND_TRY(repository(*e.node));
      } else if (k == "service_manager") {
        REWIND_TRY(service_manager(*e.node));
      } else if (k == "component") {
        REWIND_TRY(components(*e.node, doc));
      } else if (k == "check") {
        REWIND_TRY(array_section(k, *e.node));
      } else if (contains(kTopLevel, k)) {
        REWIND_TRY(table_section(k, *e.node));
      } else {
        return err_at(e.key->source(), "unknown top-level key \"{}\" (known: {})", k,
                      join(kTopLevel));
      }
    }
    return ok();
  }

  Result<Config> finish() {
    std::vector<Built> built;
    built.reserve(raw_.size());
    for (const RawComponent& r : raw_) {
      REWIND_ASSIGN_OR_RETURN(Built b, build(r));
      built.push_back(std::move(b));
    }
    REWIND_TRY(check_dependencies(built));
    add_environment_files(built);
    REWIND_TRY(check_overlaps(built));
    config_.components = order(std::move(built));
    REWIND_TRY(check_automation(config_));
    return std::move(config_);
  }

 private:
  Status repository(const toml::node& n) {
    const auto* t = n.as_table();
    if (t == nullptr) return err_at(n.source(), "repository must be a table ([repository])");
    for (const Entry& e : entries(*t)) {
      const std::string_view k = e.key->str();
      const std::string what = fmt::format("repository: {}", k);
      if (k == "path") {
        REWIND_ASSIGN_OR_RETURN(std::string p, get_string(*e.node, what));
        if (p.empty() || p.front() != '/')
          return err_at(e.node->source(), "{} must be an absolute path, not \"{}\"", what, p);
        config_.repository.path = std::move(p);
      } else if (k == "compression") {
        REWIND_ASSIGN_OR_RETURN(std::string s, get_string(*e.node, what));
        int level = 0;
        if (s == "zstd") {
          level = 3;
        } else if (s.starts_with("zstd:")) {
          const char* first = s.data() + 5;
          const char* last = s.data() + s.size();
          auto [ptr, ec] = std::from_chars(first, last, level);
          if (ec != std::errc() || ptr != last || first == last) level = 0;
        }
        if (level < 1 || level > 19)
          return err_at(e.node->source(),
                        "{} must be \"zstd\" or \"zstd:N\" with N from 1 to 19, not \"{}\"", what,
                        s);
        config_.repository.compression_level = level;
      } else if (k == "shred") {
        REWIND_ASSIGN_OR_RETURN(config_.repository.shred, get_bool(*e.node, what));
      } else {
        return err_at(e.key->source(),
                      "repository: unknown key \"{}\" (known: path, compression, shred)", k);
      }
    }
    return ok();
  }

  Status service_manager(const toml::node& n) {
    const auto* t = n.as_table();
    if (t == nullptr)
      return err_at(n.source(), "service_manager must be a table ([service_manager])");
    ServiceManagerConfig& sm = config_.service_manager;
    for (const Entry& e : entries(*t)) {
      const std::string_view k = e.key->str();
      const std::string what = fmt::format("service_manager: {}", k);
      if (k == "kind" || k == "type") {
        REWIND_ASSIGN_OR_RETURN(std::string s, get_string(*e.node, what));
        if (!contains(kServiceManagers, s))
          return err_at(e.node->source(), "{}: unknown type \"{}\" (valid: {})", what, s,
                        join(kServiceManagers));
        sm.type = std::move(s);
      } else if (k == "stop") {
        REWIND_ASSIGN_OR_RETURN(sm.stop, get_strings(*e.node, what));
      } else if (k == "start") {
        REWIND_ASSIGN_OR_RETURN(sm.start, get_strings(*e.node, what));
      } else if (k == "status") {
        REWIND_ASSIGN_OR_RETURN(sm.status, get_strings(*e.node, what));
      } else if (k == "service_dir" || k == "sv_dir") {
        REWIND_ASSIGN_OR_RETURN(std::string s, get_string(*e.node, what));
        auto norm = normalize_path(s);
        if (!norm) return err_at(e.node->source(), "{}: {}", what, norm.error().message());
        (k == "service_dir" ? sm.service_dir : sm.sv_dir) = *norm;
      } else if (k == "sv") {
        REWIND_ASSIGN_OR_RETURN(sm.sv, get_strings(*e.node, what));
      } else if (k == "systemctl") {
        REWIND_ASSIGN_OR_RETURN(sm.systemctl, get_strings(*e.node, what));
      } else if (k == "timeout") {
        REWIND_ASSIGN_OR_RETURN(std::string s, get_string(*e.node, what));
        auto d = parse_duration(s);
        if (!d) return err_at(e.node->source(), "{}: {}", what, d.error().message());
        sm.timeout = std::move(s);
      } else {
        return err_at(
            e.key->source(),
            "service_manager: unknown key \"{}\" (known: kind, type, stop, start, status, "
            "service_dir, sv_dir, sv, systemctl, timeout)",
            k);
      }
    }
    return ok();
  }

  Status components(const toml::node& n, size_t doc) {
    const auto* arr = n.as_array();
    if (arr == nullptr)
      return err_at(n.source(), "component must be an array of tables ([[component]])");
    for (const toml::node& elem : *arr) {
      const auto* t = elem.as_table();
      if (t == nullptr)
        return err_at(elem.source(), "component must be an array of tables ([[component]])");
      const toml::node* name_node = t->get("name");
      if (name_node == nullptr)
        return err_at(elem.source(), "component without a name (name = \"...\")");
      REWIND_ASSIGN_OR_RETURN(std::string name, get_string(*name_node, "component: name"));
      if (!valid_component_name(name))
        return err_at(name_node->source(),
                      "component \"{}\": invalid name (must match [a-z0-9][a-z0-9_.-]*)", name);
      RawComponent* rc = nullptr;
      if (auto it = index_.find(name); it != index_.end()) {
        rc = &raw_[it->second];
        // Only a later file may redefine a component: within one file a
        // second definition is a mistake.
        if (rc->document == doc)
          return err_at(elem.source(), "component \"{}\" is defined twice (first at {})", name,
                        where(rc->origin));
        rc->document = doc;
      } else {
        index_.emplace(name, raw_.size());
        raw_.push_back(RawComponent{name, elem.source(), doc, {}});
        rc = &raw_.back();
      }
      for (const Entry& e : entries(*t)) {
        if (e.key->str() == "name") continue;
        auto it = std::find_if(rc->keys.begin(), rc->keys.end(),
                               [&](const KeyNode& kn) { return kn.key.str() == e.key->str(); });
        if (it != rc->keys.end()) {
          it->key = *e.key;
          it->node = e.node;
        } else {
          rc->keys.push_back(KeyNode{*e.key, e.node});
        }
      }
    }
    return ok();
  }

  // [retention], [auto_rollback], [health], [daemon], [hooks]: later files override
  // single keys.
  Status table_section(std::string_view k, const toml::node& n) {
    if (!n.is_table()) return err_at(n.source(), "{} must be a table ([{}])", k, k);
    nlohmann::json& section = config_.sections[std::string(k)];
    if (!section.is_object()) section = nlohmann::json::object();
    const nlohmann::json value = to_json(n);
    // [retention] is checked key by key here, where the lines are known.
    if (k == "retention")
      for (const auto& [key, node] : *n.as_table())
        if (auto r = parse_retention({{std::string(key.str()), to_json(node)}}); !r)
          return err_at(key.source(), "{}", r.error().message());
    for (const auto& item : value.items()) section[item.key()] = item.value();
    return ok();
  }

  // [[check]]: later files add checks.
  Status array_section(std::string_view k, const toml::node& n) {
    const auto* arr = n.as_array();
    if (arr == nullptr) return err_at(n.source(), "{} must be an array of tables ([[{}]])", k, k);
    nlohmann::json& section = config_.sections[std::string(k)];
    if (!section.is_array()) section = nlohmann::json::array();
    for (const toml::node& e : *arr) {
      if (!e.is_table()) return err_at(e.source(), "{} must be an array of tables ([[{}]])", k, k);
      section.push_back(to_json(e));
    }
    return ok();
  }

  Result<Built> build(const RawComponent& r) {
    Built b;
    ComponentConfig& c = b.c;
    c.name = r.name;
    c.origin = where(r.origin);
    b.origin = r.origin;
    const std::string who = fmt::format("component \"{}\"", r.name);
    auto what = [&](std::string_view key) { return fmt::format("{}: {}", who, key); };

    // The adapter decides which other keys are allowed.
    if (const KeyNode* a = r.find("adapter")) {
      REWIND_ASSIGN_OR_RETURN(c.adapter, get_string(*a->node, what("adapter")));
      if (!contains(kAdapters, c.adapter))
        return err_at(a->node->source(), "{}: unknown adapter \"{}\" (valid: {})", who, c.adapter,
                      join(kAdapters));
    }

    c.category = default_category(c.adapter);

    std::vector<std::pair<std::string, toml::source_region>> paths, path;
    for (const KeyNode& kn : r.keys) {
      const std::string_view k = kn.key.str();
      const toml::node& n = *kn.node;
      if (k == "adapter") {
        continue;
      } else if (k == "category") {
        REWIND_ASSIGN_OR_RETURN(c.category, get_string(n, what(k)));
        if (!contains(kCategories, c.category))
          return err_at(n.source(), "{}: unknown category \"{}\" (valid: {})", who, c.category,
                        join(kCategories));
      } else if (k == "paths") {
        REWIND_ASSIGN_OR_RETURN(paths, get_string_array(n, what(k)));
      } else if (k == "path") {
        REWIND_ASSIGN_OR_RETURN(std::string p, get_string(n, what(k)));
        path.emplace_back(std::move(p), n.source());
      } else if (k == "exclude") {
        REWIND_ASSIGN_OR_RETURN(c.exclude, get_strings(n, what(k)));
      } else if (k == "depends_on") {
        REWIND_ASSIGN_OR_RETURN(auto deps, get_string_array(n, what(k)));
        for (auto& [d, region] : deps) {
          c.depends_on.push_back(std::move(d));
          b.dep_regions.push_back(region);
        }
      } else if (k == "services") {
        REWIND_ASSIGN_OR_RETURN(c.services, get_strings(n, what(k)));
      } else if (k == "critical") {
        REWIND_ASSIGN_OR_RETURN(c.critical, get_bool(n, what(k)));
      } else if (k == "pre_capture") {
        REWIND_ASSIGN_OR_RETURN(c.pre_capture, get_argv(n, what(k)));
      } else if (k == "post_capture") {
        REWIND_ASSIGN_OR_RETURN(c.post_capture, get_argv(n, what(k)));
      } else if (c.adapter == "files") {
        return err_at(kn.key.source(), "{}: unknown key \"{}\" (known: {})", who, k,
                      join(kCommonKeys));
      } else {
        c.settings[std::string(k)] = to_json(n);
      }
    }

    paths.insert(paths.end(), path.begin(), path.end());
    for (auto& [p, region] : paths) {
      auto norm = normalize_path(p);
      if (!norm) return err_at(region, "{}: {}", who, norm.error().message());
      for (size_t i = 0; i < c.paths.size(); ++i) {
        if (c.paths[i] == *norm || is_within(*norm, c.paths[i]) || is_within(c.paths[i], *norm))
          return err_at(region, "{}: paths {} and {} overlap", who, c.paths[i], *norm);
      }
      c.paths.push_back(std::move(*norm));
      b.path_regions.push_back(region);
    }
    // A config component without paths is /etc.
    if (c.adapter == "config" && c.paths.empty()) {
      c.paths.emplace_back("/etc");
      b.path_regions.push_back(r.origin);
    }
    if (path_based(c) && c.paths.empty())
      return err_at(r.origin, "{}: adapter \"{}\" needs at least one path (paths = [...])", who,
                    c.adapter);
    return b;
  }

  // A config component also captures the environment files, each unless a
  // path of any path-based component already holds it or a part of it (that
  // component keeps it).
  static void add_environment_files(std::vector<Built>& built) {
    for (Built& b : built) {
      if (b.c.adapter != "config") continue;
      for (std::string_view env : {"/etc/environment", "/etc/default", "/etc/environment.d"}) {
        bool held = std::any_of(built.begin(), built.end(), [&](const Built& o) {
          return path_based(o.c) &&
                 std::any_of(o.c.paths.begin(), o.c.paths.end(), [&](const std::string& p) {
                   return p == env || is_within(env, p) || is_within(p, env);
                 });
        });
        if (held) continue;
        b.c.paths.emplace_back(env);
        b.path_regions.push_back(b.origin);
      }
    }
  }

  static Status check_dependencies(const std::vector<Built>& built) {
    std::map<std::string_view, size_t> index;
    for (size_t i = 0; i < built.size(); ++i) index.emplace(built[i].c.name, i);
    for (const Built& b : built) {
      for (size_t d = 0; d < b.c.depends_on.size(); ++d) {
        const std::string& dep = b.c.depends_on[d];
        if (dep == b.c.name)
          return err_at(b.dep_regions[d], "component \"{}\": depends on itself", b.c.name);
        if (!index.contains(dep))
          return err_at(b.dep_regions[d], "component \"{}\": unknown dependency \"{}\"", b.c.name,
                        dep);
      }
    }
    // Depth-first search; a dependency on a component still on the stack
    // closes a cycle.
    enum class Mark { kNew, kActive, kDone };
    std::vector<Mark> mark(built.size(), Mark::kNew);
    std::vector<size_t> stack;
    std::optional<std::vector<size_t>> cycle;
    auto visit = [&](auto& self, size_t i) -> void {
      mark[i] = Mark::kActive;
      stack.push_back(i);
      for (const std::string& dep : built[i].c.depends_on) {
        if (cycle) return;
        const size_t j = index.at(dep);
        if (mark[j] == Mark::kActive) {
          auto from = std::find(stack.begin(), stack.end(), j);
          cycle.emplace(from, stack.end());
          cycle->push_back(j);
          return;
        }
        if (mark[j] == Mark::kNew) self(self, j);
      }
      stack.pop_back();
      mark[i] = Mark::kDone;
    };
    for (size_t i = 0; i < built.size() && !cycle; ++i)
      if (mark[i] == Mark::kNew) visit(visit, i);
    if (cycle) {
      std::vector<std::string_view> names;
      for (size_t i : *cycle) names.push_back(built[i].c.name);
      return err_at(built[cycle->front()].origin, "dependency cycle: {}", join(names, " -> "));
    }
    return ok();
  }

  // Two path-based components may not capture the same files twice: the
  // outer one must exclude the inner one's path (or a parent of it).
  static Status check_overlaps(const std::vector<Built>& built) {
    auto excludes = [](const ComponentConfig& outer, std::string_view outer_path,
                       std::string_view inner_path) {
      for (const std::string& pattern : outer.exclude) {
        if (pattern.empty() || pattern.front() != '/') continue;  // not anchored
        auto e = normalize_path(pattern);
        if (!e) continue;
        if (*e == inner_path || (is_within(inner_path, *e) && is_within(*e, outer_path)))
          return true;
      }
      return false;
    };
    for (size_t i = 0; i < built.size(); ++i) {
      const ComponentConfig& a = built[i].c;
      if (!path_based(a)) continue;
      for (size_t j = i + 1; j < built.size(); ++j) {
        const ComponentConfig& b = built[j].c;
        if (!path_based(b)) continue;
        for (const std::string& pa : a.paths) {
          for (size_t q = 0; q < b.paths.size(); ++q) {
            const std::string& pb = b.paths[q];
            const toml::source_region& region = built[j].path_regions[q];
            if (pa == pb)
              return err_at(region, "components \"{}\" and \"{}\" both capture {}", a.name, b.name,
                            pa);
            const ComponentConfig* outer = nullptr;
            const ComponentConfig* inner = nullptr;
            std::string_view outer_path, inner_path;
            if (is_within(pb, pa)) {
              outer = &a;
              inner = &b;
              outer_path = pa;
              inner_path = pb;
            } else if (is_within(pa, pb)) {
              outer = &b;
              inner = &a;
              outer_path = pb;
              inner_path = pa;
            } else {
              continue;
            }
            if (!excludes(*outer, outer_path, inner_path))
              return err_at(
                  region, "components \"{}\" ({}) and \"{}\" ({}) overlap; exclude {} from \"{}\"",
                  outer->name, outer_path, inner->name, inner_path, inner_path, outer->name);
          }
        }
      }
    }
    return ok();
  }

  // Dependency order; among the components ready at each step, the first in
  // file order goes first. Requires check_dependencies to have passed.
  static std::vector<ComponentConfig> order(std::vector<Built> built) {
    std::set<std::string> placed;
    std::vector<bool> done(built.size(), false);
    std::vector<ComponentConfig> out;
    out.reserve(built.size());
    while (out.size() < built.size()) {
      for (size_t i = 0; i < built.size(); ++i) {
        if (done[i]) continue;
        const auto& deps = built[i].c.depends_on;
        if (std::all_of(deps.begin(), deps.end(),
                        [&](const std::string& d) { return placed.contains(d); })) {
          done[i] = true;
          placed.insert(built[i].c.name);
          out.push_back(std::move(built[i].c));
          break;
        }
      }
    }
    return out;
  }

  std::vector<toml::table> tables_;  // owns the nodes raw_ points to
  Config config_;
  std::vector<RawComponent> raw_;  // in order of first definition
  std::map<std::string, size_t> index_;
};

// Reads a whole configuration file through a trusted path (symlinks followed:
// it is the administrator's own file).
Result<std::string> read_config_file(io::Fs& fs, const std::string& path) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs.open_path(path, O_RDONLY));
  REWIND_ASSIGN_OR_RETURN(io::Stat st, fs.fstat(fd.get()));
  if (!S_ISREG(st.mode)) return fail(Error::usage("{}: not a regular file", path));
  if (st.size > kMaxConfigSize)
    return fail(
        Error::usage("{}: {} bytes, more than the limit of {}", path, st.size, kMaxConfigSize));
  std::string out;
  std::array<std::byte, 65536> buf;
  for (;;) {
    REWIND_ASSIGN_OR_RETURN(size_t n, fs.read(fd.get(), buf));
    if (n == 0) break;
    if (out.size() + n > kMaxConfigSize)
      return fail(Error::usage("{}: more than the limit of {} bytes", path, kMaxConfigSize));
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return out;
}

// The *.toml files of `dir` in lexical order; none when dir does not exist.
Result<std::vector<std::string>> drop_ins(io::Fs& fs, const std::string& dir) {
  auto fd = fs.open_path(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    if (fd.error().code() == ErrorCode::kNotFound) return std::vector<std::string>{};
    return fail(fd.error().with_context("reading configuration drop-ins"));
  }
  REWIND_ASSIGN_OR_RETURN(std::vector<io::DirEntry> list, fs.list_dir(fd->get()));
  std::vector<std::string> names;
  for (const io::DirEntry& e : list) {
    // Hidden files are editors' and package managers' leftovers.
    if (e.name.starts_with(".") || !e.name.ends_with(".toml") || e.type == DT_DIR) continue;
    names.push_back(e.name);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> out;
  for (const std::string& n : names) out.push_back(dir + "/" + n);
  return out;
}

std::string dir_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return file.substr(0, slash);
}

struct Unit {
  std::string_view name;
  int64_t ns;
};
constexpr int64_t kSec = 1'000'000'000;
constexpr std::array<Unit, 32> kUnits = {{
    {"ns", 1},
    {"nsec", 1},
    {"us", 1'000},
    {"usec", 1'000},
    {"µs", 1'000},
    {"μs", 1'000},
    {"ms", 1'000'000},
    {"msec", 1'000'000},
    {"s", kSec},
    {"sec", kSec},
    {"second", kSec},
    {"seconds", kSec},
    {"m", 60 * kSec},
    {"min", 60 * kSec},
    {"minute", 60 * kSec},
    {"minutes", 60 * kSec},
    {"h", 3600 * kSec},
    {"hr", 3600 * kSec},
    {"hour", 3600 * kSec},
    {"hours", 3600 * kSec},
    {"d", 86400 * kSec},
    {"day", 86400 * kSec},
    {"days", 86400 * kSec},
    {"w", 7 * 86400 * kSec},
    {"week", 7 * 86400 * kSec},
    {"weeks", 7 * 86400 * kSec},
    {"M", 2'629'800 * kSec},  // 30.44 days, as systemd
    {"month", 2'629'800 * kSec},
    {"months", 2'629'800 * kSec},
    {"y", 31'557'600 * kSec},  // 365.25 days, as systemd
    {"year", 31'557'600 * kSec},
    {"years", 31'557'600 * kSec},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// Unit names are letters; "µ" is UTF-8, so bytes >= 0x80 count as letters.
bool is_unit_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

const ComponentConfig* Config::find(std::string_view name) const {
  for (const ComponentConfig& c : components)
    if (c.name == name) return &c;
  return nullptr;
}

Result<Config> parse(const std::vector<std::pair<std::string, std::string>>& documents) {
  Parser p(documents.size());
  for (const auto& [source, text] : documents) REWIND_TRY(p.add(source, text));
  return p.finish();
}

Result<std::optional<Config>> load(io::Fs& fs, const std::string& system_root,
                                   const std::optional<std::string>& config_file) {
  std::vector<std::pair<std::string, std::string>> documents;
  std::string dir;
  if (config_file) {
    auto text = read_config_file(fs, *config_file);
    if (!text) {
      if (text.error().code() == ErrorCode::kNotFound)
        return fail(Error::not_found("configuration file {} does not exist", *config_file));
      return fail(text.error().with_context("reading configuration"));
    }
    documents.emplace_back(*config_file, std::move(*text));
    dir = dir_of(*config_file);
  } else {
    std::string root = system_root;
    while (!root.empty() && root.back() == '/') root.pop_back();
    dir = root + "/etc/rewind";
    const std::string main_file = dir + "/rewind.toml";
    auto text = read_config_file(fs, main_file);
    if (text) {
      documents.emplace_back(main_file, std::move(*text));
    } else if (text.error().code() != ErrorCode::kNotFound) {
      return fail(text.error().with_context("reading configuration"));
    }
  }
  REWIND_ASSIGN_OR_RETURN(std::vector<std::string> extra,
                          drop_ins(fs, (dir == "/" ? std::string() : dir) + "/conf.d"));
  for (const std::string& file : extra) {
    auto text = read_config_file(fs, file);
    if (!text) return fail(text.error().with_context("reading configuration"));
    documents.emplace_back(file, std::move(*text));
  }
  if (documents.empty()) return std::optional<Config>();
  REWIND_ASSIGN_OR_RETURN(Config c, parse(documents));
  return std::optional<Config>(std::move(c));
}

Result<std::vector<std::string>> with_dependents(const Config& c,
                                                 const std::vector<std::string>& names) {
  std::set<std::string_view> selected;
  for (const std::string& n : names) {
    if (c.find(n) == nullptr) return fail(Error::usage("unknown component \"{}\"", n));
    selected.insert(n);
  }
  // Until nothing changes, so that the order of `components` does not matter
  // for which are selected (it does for the order of the result).
  for (bool changed = true; changed;) {
    changed = false;
    for (const ComponentConfig& comp : c.components) {
      if (selected.contains(comp.name)) continue;
      for (const std::string& dep : comp.depends_on) {
        if (selected.contains(dep)) {
          selected.insert(comp.name);
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::string> out;
  for (const ComponentConfig& comp : c.components)
    if (selected.contains(comp.name)) out.push_back(comp.name);
  return out;
}

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(
        Error::usage("invalid duration \"{}\": {} (examples: 30s, 5min, 1h 30min, 7d)", text, why));
  };
  size_t i = 0;
  const size_t n = text.size();
  auto skip_space = [&] {
    size_t start = i;
    while (i < n && is_space(text[i])) ++i;
    return i > start;
  };
  skip_space();
  if (i == n) return bad("empty");
  int64_t total = 0;
  while (i < n) {
    // A number: digits, optionally a fraction.
    int64_t whole = 0;
    size_t digits = 0;
    while (i < n && is_digit(text[i])) {
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, text[i] - '0', &whole))
        return bad("too large");
      ++i, ++digits;
    }
    long double fraction = 0;
    if (i < n && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < n && is_digit(text[i])) {
        fraction += scale * (text[i] - '0');
        scale /= 10;
        ++i, ++digits;
      }
    }
    if (digits == 0) return bad("expected a number");
    const bool spaced = skip_space();
    const size_t unit_start = i;
    while (i < n && is_unit_char(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t scale = kSec;
    if (unit.empty()) {
      // A bare number (seconds) must end there: "1.5.5" is not two numbers.
      if (i < n && !spaced) return bad("expected a unit");
    } else {
      auto u =
          std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& x) { return x.name == unit; });
      if (u == kUnits.end()) return bad(fmt::format("unknown unit \"{}\"", unit));
      scale = u->ns;
    }
    int64_t value = 0;
    const long double frac_ns = std::round(fraction * static_cast<long double>(scale));
    if (__builtin_mul_overflow(whole, scale, &value) ||
        frac_ns > static_cast<long double>(std::numeric_limits<int64_t>::max() - value) ||
        __builtin_add_overflow(total, value + static_cast<int64_t>(frac_ns), &total))
      return bad("too large");
    skip_space();
  }
  return std::chrono::nanoseconds(total);
}

bool valid_component_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || is_digit(c); };
  if (!lower_or_digit(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '.' || c == '-'; });
}

}  // namespace rwd::config
