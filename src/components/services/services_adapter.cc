// SPDX-License-Identifier: Apache-2.0
// The services adapter: per unit, whether it is enabled, whether it is
// active, and its files (systemd unit files and drop-ins, runit service
// definitions). A snapshot holds, as state blobs:
//   settings.json                  the component's settings at capture
//   units/NAME/state               enabled=yes|no|unknown, link=, word=, active=yes|no
//   units/NAME/files/ABS/PATH      each regular file of the unit, with its mode
//   units/NAME/environment         KEY=VALUE lines, when the manager can tell
//   units/NAME/environment_files   systemd's EnvironmentFiles, one a line
// A rollback changes only what differs, unit by unit: files first, then
// enablement, then activity (a unit is enabled before it is started). The
// environment is recorded only: it follows from the unit's files (runit's
// env/, systemd's unit files and drop-ins) or from files of other
// components, which are what gets restored.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <optional>

#include "components/adapter.h"
#include "components/services/manager.h"
#include "components/state.h"
#include "components/unified_diff.h"
#include "io/durable.h"

namespace rwd::components {

namespace {

using services::Enablement;
using services::Environment;
using services::Manager;
using services::ManagerSettings;
using store::ChunkId;

constexpr std::string_view kSettingsBlob = "settings.json";
constexpr size_t kMaxUnitFile = 16 << 20;

struct UnitFile {
  uint32_t mode = 0644;
  std::string data;
  bool operator==(const UnitFile&) const = default;
};

struct UnitState {
  std::string name;
  bool tracks_enablement = true;
  bool tracks_activity = true;
  Enablement enabled;
  bool active = false;
  std::map<std::string, UnitFile> files;  // absolute path within the root
  // Not known to the manager, or not recorded (a snapshot older than it).
  std::optional<Environment> env;
};

// What the component's settings say: the units and their manager.
struct Settings {
  std::vector<std::string> units;
  ManagerSettings manager;
};

Result<Settings> parse_settings(const nlohmann::json& j, const std::string& component) {
  const std::string who = fmt::format("component \"{}\"", component);
  Settings s;
  for (const auto& [k, v] : j.items()) {
    if (k == "units") continue;
    const auto& known = services::manager_keys();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list = "units";
      for (const auto& n : known) list += ", " + n;
      return fail(Error::usage("{}: unknown key \"{}\" (known: {})", who, k, list));
    }
  }
  REWIND_ASSIGN_OR_RETURN(s.manager, services::parse_manager_settings(j, who));
  auto it = j.find("units");
  if (it == j.end())
    return fail(Error::usage("{}: \"units\" is required (an array of unit names)", who));
  if (!it->is_array() || it->empty())
    return fail(Error::usage("{}: units must be a non-empty array of strings", who));
  for (const auto& u : *it) {
    if (!u.is_string())
      return fail(Error::usage("{}: units must be a non-empty array of strings", who));
    std::string name = u.get<std::string>();
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos)
      return fail(
          Error::usage("{}: units: \"{}\" is not a unit name (a single file name)", who, name));
    if (std::find(s.units.begin(), s.units.end(), name) != s.units.end())
      return fail(Error::usage("{}: units: \"{}\" is named twice", who, name));
    s.units.push_back(std::move(name));
  }
  if (s.manager.kind == "command")
    for (const char* k : {"status", "start", "stop"})
      if (!s.manager.commands.contains(k))
        return fail(
            Error::usage("{}: manager \"command\" needs \"{}\" (an argv with {{unit}})", who, k));
  return s;
}

// The regular files beneath `abs` (a file or a directory), skipping
// directories named in `skip`. Links are enablement (systemd's aliases and
// masks, runit's service link), not unit files, and are not followed.
Status read_files(io::Fs& fs, int dirfd, const std::string& name, const std::string& abs,
                  const std::vector<std::string>& skip, std::map<std::string, UnitFile>& out) {
  auto st = fs.stat_at(dirfd, name);
  if (!st) {
    if (st.error().sys_errno() == ENOENT) return ok();
    return fail(st.error());
  }
  if (S_ISREG(st->mode)) {
    REWIND_ASSIGN_OR_RETURN(std::string data, io::read_small_file(fs, dirfd, name, kMaxUnitFile));
    out[abs] = UnitFile{st->mode & 07777, std::move(data)};
  } else if (S_ISDIR(st->mode)) {
    REWIND_ASSIGN_OR_RETURN(io::Fd d, fs.open_at(dirfd, name, O_RDONLY | O_DIRECTORY));
    REWIND_ASSIGN_OR_RETURN(auto entries, fs.list_dir(d.get()));
    for (const auto& e : entries) {
      if (std::find(skip.begin(), skip.end(), e.name) != skip.end()) continue;
      REWIND_TRY(read_files(fs, d.get(), e.name, abs + "/" + e.name, skip, out));
    }
  }
  return ok();
}

std::pair<std::string, std::string> split_path(const std::string& abs) {
  size_t slash = abs.rfind('/');
  return {slash == 0 ? std::string("/") : abs.substr(0, slash), abs.substr(slash + 1)};
}

Result<UnitState> read_live(Context& ctx, Manager& m, const std::string& unit) {
  UnitState u;
  u.name = unit;
  u.tracks_enablement = m.tracks_enablement();
  if (u.tracks_enablement) {
    REWIND_ASSIGN_OR_RETURN(u.enabled, m.enablement(unit));
  }
  u.tracks_activity = m.tracks_activity();
  if (u.tracks_activity) {
    REWIND_ASSIGN_OR_RETURN(u.active, m.active(unit));
  }
  REWIND_ASSIGN_OR_RETURN(u.env, m.environment(unit));
  for (const auto& root : m.file_roots(unit)) {
    auto [dir, name] = split_path(root);
    auto d = services::open_dir(ctx.fs, ctx.system_root, dir, false);
    // A way through a symlink (/lib on merged /usr) is not followed: the
    // files are captured under their real path. openat with O_NOFOLLOW and
    // O_DIRECTORY says ENOTDIR for a symlink, ELOOP without O_DIRECTORY.
    if (!d && (d.error().sys_errno() == ELOOP || d.error().sys_errno() == ENOTDIR)) continue;
    if (!d) return fail(d.error());
    if (!*d) continue;
    REWIND_TRY(read_files(ctx.fs, d->get(), name, root, m.skipped_dirs(), u.files));
  }
  return u;
}

std::string blob_prefix(const std::string& unit) { return "units/" + unit + "/"; }

std::string format_state(const UnitState& u) {
  return state::format_lines({{"enabled", !u.tracks_enablement ? "unknown"
                                          : u.enabled.on       ? "yes"
                                                               : "no"},
                              {"link", u.enabled.link},
                              {"word", u.enabled.word},
                              {"active", !u.tracks_activity ? "unknown"
                                         : u.active         ? "yes"
                                                            : "no"}});
}

std::string format_files(const std::vector<std::string>& files) {
  std::string out;
  for (const auto& f : files) out += f + "\n";
  return out;
}

std::vector<std::string> parse_files(const std::string& text) {
  std::vector<std::string> out;
  for (size_t b = 0; b < text.size();) {
    size_t e = std::min(text.find('\n', b), text.size());
    if (e > b) out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

// A snapshot read back: its settings and its units.
struct Snapshot {
  nlohmann::json settings;
  std::vector<UnitState> units;
};

Result<Snapshot> read_snapshot(const state::Reader& r, const std::string& component) {
  Snapshot s;
  REWIND_ASSIGN_OR_RETURN(std::string text, r.read(std::string(kSettingsBlob)));
  s.settings = nlohmann::json::parse(text, nullptr, false);
  if (s.settings.is_discarded() || !s.settings.is_object())
    return fail(Error::corrupted_data("component {}: the snapshot's settings are not a JSON object",
                                      component));
  auto parsed = parse_settings(s.settings, component);
  if (!parsed)
    return fail(Error::corrupted_data("component {}: the snapshot's settings are invalid: {}",
                                      component, parsed.error().message()));
  std::map<std::string, uint32_t> modes;
  for (const auto& e : r.entries()) modes[e.path] = e.mode;
  for (const auto& unit : parsed->units) {
    UnitState u;
    u.name = unit;
    const std::string prefix = blob_prefix(unit);
    REWIND_ASSIGN_OR_RETURN(std::string st, r.read(prefix + "state"));
    auto kv = state::parse_lines(st);
    const std::string& en = kv["enabled"];
    const std::string& act = kv["active"];
    if ((en != "yes" && en != "no" && en != "unknown") ||
        (act != "yes" && act != "no" && act != "unknown"))
      return fail(
          Error::corrupted_data("component {}: the state of unit {} is damaged", component, unit));
    u.tracks_enablement = en != "unknown";
    u.enabled.on = en == "yes";
    u.enabled.link = kv["link"];
    u.enabled.word = kv["word"];
    u.tracks_activity = act != "unknown";
    u.active = act == "yes";
    if (r.has(prefix + "environment")) {
      REWIND_ASSIGN_OR_RETURN(std::string vars, r.read(prefix + "environment"));
      u.env = Environment{state::parse_lines(vars), {}};
      if (r.has(prefix + "environment_files")) {
        REWIND_ASSIGN_OR_RETURN(std::string files, r.read(prefix + "environment_files"));
        u.env->files = parse_files(files);
      }
    }
    const std::string files = prefix + "files/";
    for (const auto& name : r.names()) {
      if (!name.starts_with(files)) continue;
      REWIND_ASSIGN_OR_RETURN(std::string data, r.read(name));
      u.files["/" + name.substr(files.size())] = UnitFile{modes[name], std::move(data)};
    }
    s.units.push_back(std::move(u));
  }
  return s;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

std::string enablement_text(const Enablement& e) {
  if (!e.on) return "no";
  return e.link.empty() ? "yes" : "yes (" + e.link + ")";
}

// Whether a variable's (or an env/ file's) name says its value is a secret,
// never shown.
bool looks_secret(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  for (const char* word : {"PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"})
    if (name.find(word) != std::string::npos) return true;
  return false;
}

bool secret_env_file(const std::string& path) {
  auto [dir, name] = split_path(path);
  return split_path(dir).second == "env" && looks_secret(name);
}

// One change per variable that differs, and one for the EnvironmentFiles.
void compare_environment(const std::string& unit, const Environment& a, const Environment& b,
                         std::vector<Change>& out) {
  const std::vector<std::string> attrs = {"environment", "recorded"};
  auto shown = [](const std::string& key, const std::string* old_v, const std::string* new_v) {
    if (looks_secret(key)) {
      if (!old_v) return std::string("(unset) -> (secret)");
      if (!new_v) return std::string("(secret) -> (unset)");
      return std::string("value changed (secret)");
    }
    return fmt::format("{} -> {}", old_v ? *old_v : "(unset)", new_v ? *new_v : "(unset)");
  };
  for (const auto& [key, va] : a.vars) {
    auto it = b.vars.find(key);
    if (it == b.vars.end())
      out.push_back(Change{unit + "/env/" + key, "removed", attrs, shown(key, &va, nullptr)});
    else if (it->second != va)
      out.push_back(Change{unit + "/env/" + key, "content", attrs, shown(key, &va, &it->second)});
  }
  for (const auto& [key, vb] : b.vars)
    if (!a.vars.contains(key))
      out.push_back(Change{unit + "/env/" + key, "added", attrs, shown(key, nullptr, &vb)});
  if (a.files != b.files) {
    auto list = [](const std::vector<std::string>& f) {
      std::string joined;
      for (const auto& e : f) joined += (joined.empty() ? "" : ", ") + e;
      return joined.empty() ? std::string("(none)") : joined;
    };
    out.push_back(Change{unit + "/env-files", "content", attrs,
                         fmt::format("{} -> {}", list(a.files), list(b.files))});
  }
}

// The changes from `a` to `b` of one unit (either may be missing: the unit
// was added to or dropped from the component).
std::vector<Change> compare(const std::string& unit, const UnitState* a, const UnitState* b) {
  std::vector<Change> out;
  if (!a || !b) {
    out.push_back(Change{unit, a ? "removed" : "added", {"unit"}, {}});
    return out;
  }
  if (a->tracks_enablement && b->tracks_enablement && !(a->enabled == b->enabled))
    out.push_back(Change{
        unit,
        "metadata",
        {"enabled"},
        fmt::format("enabled {} -> {}", enablement_text(a->enabled), enablement_text(b->enabled))});
  if (a->tracks_activity && b->tracks_activity && a->active != b->active)
    out.push_back(Change{unit,
                         "metadata",
                         {"active"},
                         fmt::format("active {} -> {}", yes_no(a->active), yes_no(b->active))});
  for (const auto& [path, fa] : a->files) {
    auto it = b->files.find(path);
    if (it == b->files.end()) {
      out.push_back(Change{path, "removed", {}, {}});
      continue;
    }
    const UnitFile& fb = it->second;
    // An env/ file named like a secret (runit's env/DB_PASSWORD: the file
    // is the variable) shows no content.
    if (fa.data != fb.data)
      out.push_back(Change{path,
                           "content",
                           {},
                           secret_env_file(path) ? "content changed (secret)"
                           : text::is_text(fa.data) && text::is_text(fb.data)
                               ? text::unified_diff(fa.data, fb.data, path, path)
                               : std::string()});
    if (fa.mode != fb.mode)
      out.push_back(Change{
          path, "metadata", {"mode"}, fmt::format("mode {:04o} -> {:04o}", fa.mode, fb.mode)});
  }
  for (const auto& [path, fb] : b->files)
    if (!a->files.contains(path)) out.push_back(Change{path, "added", {}, {}});
  // Where either side does not know it (an older snapshot, a manager that
  // cannot tell), there is nothing to compare.
  if (a->env && b->env) compare_environment(unit, *a->env, *b->env, out);
  return out;
}

// What a rollback does to one unit.
struct UnitAction {
  std::string unit;
  std::vector<std::pair<std::string, UnitFile>> write;
  std::vector<std::string> remove;
  std::optional<Enablement> enable;
  std::optional<bool> activate;
};

struct ServicesPlan {
  ChunkId manifest;
  ManagerSettings manager;
  std::vector<UnitAction> units;
};

// Writes a unit file back under the root: temp file, fsync, rename, fsync
// of the directory (io/durable.h); missing directories are created.
Status write_unit_file(Context& ctx, const std::string& abs, const UnitFile& f) {
  auto [dir, name] = split_path(abs);
  REWIND_ASSIGN_OR_RETURN(io::Fd d, services::open_dir(ctx.fs, ctx.system_root, dir, true));
  REWIND_ASSIGN_OR_RETURN(io::StagedFile staged, io::StagedFile::create(ctx.fs, d.get()));
  REWIND_TRY(staged.append(io::as_bytes(f.data)));
  // Set through the descriptor: the mode given at creation is subject to
  // the umask.
  REWIND_TRY(ctx.fs.fchmod(staged.fd(), f.mode));
  return staged.publish(name);
}

Status remove_unit_file(Context& ctx, const std::string& abs) {
  auto [dir, name] = split_path(abs);
  REWIND_ASSIGN_OR_RETURN(io::Fd d, services::open_dir(ctx.fs, ctx.system_root, dir, false));
  if (!d) return ok();
  REWIND_TRY(ctx.fs.unlink_at(d.get(), name));
  return ctx.fs.fsync_dir(d.get());
}

class ServicesAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "services"; }

  Status check_settings(const ComponentSpec& spec) const override {
    return parse_settings(spec.settings, spec.name).map([](auto&&) {});
  }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>&) override {
    REWIND_ASSIGN_OR_RETURN(Settings s, parse_settings(spec.settings, spec.name));
    auto m = services::make_manager(s.manager, ctx.fs, ctx.system_root);
    state::Writer w(ctx, writer);
    REWIND_TRY(w.add(std::string(kSettingsBlob), spec.settings.dump()));
    for (const auto& unit : s.units) {
      REWIND_ASSIGN_OR_RETURN(UnitState u, read_live(ctx, *m, unit));
      const std::string prefix = blob_prefix(unit);
      REWIND_TRY(w.add(prefix + "state", format_state(u)));
      for (const auto& [path, f] : u.files)
        REWIND_TRY(w.add(prefix + "files" + path, f.data, f.mode));
      if (u.env) {
        REWIND_TRY(w.add(prefix + "environment", state::format_lines(u.env->vars)));
        if (!u.env->files.empty())
          REWIND_TRY(w.add(prefix + "environment_files", format_files(u.env->files)));
      }
    }
    return w.finish();
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest, bool) override {
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, read_snapshot(r, spec.name));
    REWIND_ASSIGN_OR_RETURN(ManagerSettings ms, manager_of(spec, snap));
    auto m = services::make_manager(ms, ctx.fs, ctx.system_root);
    std::vector<Change> out;
    for (const auto& u : snap.units) {
      REWIND_ASSIGN_OR_RETURN(UnitState live, read_live(ctx, *m, u.name));
      for (auto& c : compare(u.name, &u, &live)) out.push_back(std::move(c));
    }
    return out;
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    Snapshot a, b;
    for (auto [id, snap] : {std::pair{&older, &a}, std::pair{&newer, &b}}) {
      if (!*id) continue;
      REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, **id));
      REWIND_ASSIGN_OR_RETURN(*snap, read_snapshot(r, spec.name));
    }
    auto find = [](const Snapshot& s, const std::string& unit) -> const UnitState* {
      for (const auto& u : s.units)
        if (u.name == unit) return &u;
      return nullptr;
    };
    std::vector<Change> out;
    for (const auto& u : a.units)
      for (auto& c : compare(u.name, &u, find(b, u.name))) out.push_back(std::move(c));
    for (const auto& u : b.units)
      if (!find(a, u.name))
        for (auto& c : compare(u.name, nullptr, &u)) out.push_back(std::move(c));
    return out;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest,
                    bool incremental, bool remove_extra, const std::vector<std::string>&) override {
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, read_snapshot(r, spec.name));
    auto sp = std::make_shared<ServicesPlan>();
    sp->manifest = manifest;
    REWIND_ASSIGN_OR_RETURN(sp->manager, manager_of(spec, snap));
    auto m = services::make_manager(sp->manager, ctx.fs, ctx.system_root);
    Plan plan;
    plan.incremental = incremental;
    plan.remove_extra = remove_extra;
    plan.entries = r.entries();
    for (const auto& want : snap.units) {
      REWIND_ASSIGN_OR_RETURN(UnitState live, read_live(ctx, *m, want.name));
      UnitAction act;
      act.unit = want.name;
      for (const auto& [path, f] : want.files) {
        auto it = live.files.find(path);
        if (it != live.files.end() && it->second == f) continue;
        (it == live.files.end() ? plan.add : plan.replace).push_back(path);
        act.write.emplace_back(path, f);
        ++plan.files;
        plan.bytes += f.data.size();
      }
      if (remove_extra)
        for (const auto& [path, f] : live.files)
          if (!want.files.contains(path)) {
            plan.remove.push_back(path);
            act.remove.push_back(path);
          }
      if (want.tracks_enablement && live.tracks_enablement && !(want.enabled == live.enabled)) {
        act.enable = want.enabled;
        plan.replace.push_back(want.name + ":enabled");
      }
      if (want.tracks_activity && live.tracks_activity && want.active != live.active) {
        act.activate = want.active;
        plan.replace.push_back(want.name + ":active");
      }
      sp->units.push_back(std::move(act));
    }
    plan.adapter_data = sp;
    return plan;
  }

  Status validate(Context& ctx, const Plan& plan) override {
    const auto* sp = static_cast<const ServicesPlan*>(plan.adapter_data.get());
    if (!sp) return fail(Error::invalid_state("no services plan to validate"));
    REWIND_TRY(ctx.repo.load_index());
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, sp->manifest));
    return r.validate();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* sp = static_cast<const ServicesPlan*>(plan.adapter_data.get());
    if (!sp) return fail(Error::invalid_state("component {}: no services plan", spec.name));
    auto m = services::make_manager(sp->manager, ctx.fs, ctx.system_root);
    Applied a;
    // Files, then enablement, then activity: a unit's definition is in
    // place before it is enabled, and enabled before it is started.
    for (const auto& u : sp->units) {
      for (const auto& [path, f] : u.write) {
        REWIND_TRY(write_unit_file(ctx, path, f));
        ++a.files;
        a.bytes += f.data.size();
      }
      for (const auto& path : u.remove) {
        REWIND_TRY(remove_unit_file(ctx, path));
        ++a.removed;
      }
    }
    for (const auto& u : sp->units)
      if (u.enable) {
        REWIND_TRY(m->set_enablement(u.unit, *u.enable));
        ++a.entries;
      }
    for (const auto& u : sp->units)
      if (u.activate) {
        REWIND_TRY(*u.activate ? m->start(u.unit) : m->stop(u.unit));
        ++a.entries;
      }
    return a;
  }

  Status remove(Context&, const ComponentSpec&) override {
    // A services component is never absent (its snapshot always records
    // each unit's state), so a rollback never creates it.
    return ok();
  }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                  const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, read_snapshot(r, spec.name));
    nlohmann::json units = nlohmann::json::array();
    for (const auto& u : snap.units) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto& [path, f] : u.files) files.push_back(path);
      nlohmann::json j = {
          {"name", u.name},
          {"active", u.tracks_activity ? nlohmann::json(u.active) : nlohmann::json(nullptr)},
          {"enabled", u.tracks_enablement ? nlohmann::json(u.enabled.on) : nlohmann::json(nullptr)},
          {"files", files}};
      if (!u.enabled.link.empty()) j["link"] = u.enabled.link;
      if (!u.enabled.word.empty()) j["is_enabled"] = u.enabled.word;
      // How many variables, not their values (some are secrets).
      if (u.env) {
        j["environment_variables"] = u.env->vars.size();
        if (!u.env->files.empty()) j["environment_files"] = u.env->files;
      }
      units.push_back(std::move(j));
    }
    return nlohmann::json{{"manager", snap.settings.value("manager", "systemd")},
                          {"units", units},
                          {"restorable", {"files", "enabled", "active"}},
                          {"recorded", {"environment"}}};
  }

 private:
  // The configuration's manager settings where it still names the
  // component, else those the snapshot recorded.
  static Result<ManagerSettings> manager_of(const ComponentSpec& spec, const Snapshot& snap) {
    const nlohmann::json& j = spec.settings.empty() ? snap.settings : spec.settings;
    REWIND_ASSIGN_OR_RETURN(Settings s, parse_settings(j, spec.name));
    return s.manager;
  }
};

}  // namespace

Adapter& services_adapter() {
  static ServicesAdapter a;
  return a;
}

}  // namespace rwd::components
