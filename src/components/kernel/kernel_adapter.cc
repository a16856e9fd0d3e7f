// SPDX-License-Identifier: Apache-2.0
// The kernel adapter behind the adapter seam (kernel.h says what it holds).
//
// A rollback loads the modules the snapshot had and the live kernel lacks,
// then writes the tunables whose value differs (a module's own keys exist
// only once it is loaded), then unloads the modules the snapshot did not
// have. Each of these is one action on a running kernel that either happens
// or not; one that fails (a refused value, a module that cannot be loaded,
// a module still in use) is reported as a warning and the others still
// apply: a kernel that keeps one setting is better served than a rollback
// that reverts every other component because of it.
#include <algorithm>
#include <set>

#include "components/kernel/kernel.h"
#include "components/state.h"
#include "io/process.h"

namespace rwd::components {

namespace {

using kernel::Settings;
using store::ChunkId;

constexpr std::string_view kSysctl = "sysctl/";
constexpr std::string_view kModules = "modules/";
constexpr std::string_view kRecorded = "recorded/";

// A snapshot, or the live system, as a comparison sees it.
struct State {
  Settings settings;
  std::map<std::string, std::string> sysctl;  // key -> value as the kernel printed it
  std::vector<std::string> modules;           // in /proc/modules order
  std::map<std::string, std::string> recorded;
  std::vector<store::Entry> entries;  // the snapshot's manifest
};

Result<Settings> settings_of(const ComponentSpec& spec) {
  auto s = kernel::parse_settings(spec.settings);
  if (!s) return fail(Error::usage("component \"{}\": {}", spec.name, s.error().message()));
  return s;
}

Result<State> load(Context& ctx, const ChunkId& manifest) {
  REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
  State st;
  REWIND_ASSIGN_OR_RETURN(std::string sj, r.read("settings.json"));
  auto s = kernel::parse_settings(nlohmann::json::parse(sj, nullptr, false));
  if (!s)
    return fail(Error::corrupted_data("the kernel snapshot's settings.json is damaged: {}",
                                      s.error().message()));
  st.settings = std::move(*s);
  for (const auto& name : r.names()) {
    if (!name.starts_with(kSysctl)) continue;
    REWIND_ASSIGN_OR_RETURN(std::string v, r.read(name));
    st.sysctl.emplace(name.substr(kSysctl.size()), std::move(v));
  }
  if (r.has("modules")) {
    REWIND_ASSIGN_OR_RETURN(std::string text, r.read("modules"));
    for (auto line : kernel::lines_of(text)) {
      std::string name(line);
      if (name.empty()) continue;
      if (!kernel::valid_module_name(name))
        return fail(Error::corrupted_data(
            "the kernel snapshot's module list holds '{}', which is not a module name", name));
      st.modules.push_back(std::move(name));
    }
  }
  if (r.has("recorded")) {
    REWIND_ASSIGN_OR_RETURN(std::string text, r.read("recorded"));
    st.recorded = state::parse_lines(text);
  }
  st.entries = r.entries();
  return st;
}

Result<State> live_state(Context& ctx, const Settings& s) {
  REWIND_ASSIGN_OR_RETURN(kernel::Live live, kernel::read_live(ctx, s));
  State st;
  st.settings = s;
  st.sysctl = std::move(live.sysctl);
  for (const auto& m : live.modules) st.modules.push_back(m.name);
  st.recorded = std::move(live.recorded);
  return st;
}

std::string shown(const std::string* value) {
  if (!value) return "(absent)";
  std::string v = kernel::normalize(*value);
  return v.empty() ? "\"\"" : v;
}

// One change per key of two maps whose normalized values differ.
void compare_maps(const std::map<std::string, std::string>& a,
                  const std::map<std::string, std::string>& b, std::string_view prefix,
                  bool recorded, std::vector<Change>& out) {
  std::set<std::string> keys;
  for (const auto& [k, _] : a) keys.insert(k);
  for (const auto& [k, _] : b) keys.insert(k);
  for (const auto& k : keys) {
    auto ia = a.find(k), ib = b.find(k);
    const std::string* va = ia == a.end() ? nullptr : &ia->second;
    const std::string* vb = ib == b.end() ? nullptr : &ib->second;
    if (va && vb && kernel::normalize(*va) == kernel::normalize(*vb)) continue;
    Change c;
    c.path = std::string(prefix) + k;
    c.kind = !va ? "added" : !vb ? "removed" : "content";
    c.detail = shown(va) + " -> " + shown(vb);
    if (recorded) {
      c.attributes.push_back("recorded");
      c.detail += " (recorded only: a rollback does not restore it)";
    }
    out.push_back(std::move(c));
  }
}

std::vector<Change> compare(const State& a, const State& b) {
  std::vector<Change> out;
  compare_maps(a.sysctl, b.sysctl, kSysctl, false, out);
  std::set<std::string> ma(a.modules.begin(), a.modules.end());
  std::set<std::string> mb(b.modules.begin(), b.modules.end());
  for (const auto& m : ma)
    if (!mb.contains(m))
      out.push_back(Change{std::string(kModules) + m, "removed", {}, "loaded -> not loaded"});
  for (const auto& m : mb)
    if (!ma.contains(m))
      out.push_back(Change{std::string(kModules) + m, "added", {}, "not loaded -> loaded"});
  compare_maps(a.recorded, b.recorded, kRecorded, true, out);
  return out;
}

// What apply does, decided by plan.
struct KernelPlan {
  ChunkId manifest;
  Settings settings;  // the snapshot's: its commands and timeout
  std::vector<std::pair<std::string, std::string>> writes;
  std::vector<std::string> load;    // oldest first
  std::vector<std::string> unload;  // newest first, so that users go before what they use
};

class KernelAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "kernel"; }

  Status check_settings(const ComponentSpec& spec) const override {
    REWIND_TRY(settings_of(spec));
    return ok();
  }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>&) override {
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec));
    REWIND_ASSIGN_OR_RETURN(kernel::Live live, kernel::read_live(ctx, s));
    state::Writer w(ctx, writer);
    REWIND_TRY(w.add("settings.json", kernel::settings_json(s).dump()));
    for (const auto& [key, value] : live.sysctl)
      REWIND_TRY(w.add(std::string(kSysctl) + key, value));
    if (s.modules) {
      std::string names;
      for (const auto& m : live.modules) names += m.name + "\n";
      REWIND_TRY(w.add("modules", names));
    }
    REWIND_TRY(w.add("recorded", state::format_lines(live.recorded)));
    REWIND_ASSIGN_OR_RETURN(Captured c, w.finish());
    c.warnings = std::move(live.warnings);
    return c;
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec&, const ChunkId& manifest,
                                        bool) override {
    REWIND_ASSIGN_OR_RETURN(State snap, load(ctx, manifest));
    // The live system read as the snapshot was: the same parts and keys.
    REWIND_ASSIGN_OR_RETURN(State live, live_state(ctx, snap.settings));
    return compare(snap, live);
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec&,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    State a, b;
    if (older) {
      REWIND_ASSIGN_OR_RETURN(a, load(ctx, *older));
    }
    if (newer) {
      REWIND_ASSIGN_OR_RETURN(b, load(ctx, *newer));
    }
    return compare(a, b);
  }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec&,
                                  const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(State snap, load(ctx, manifest));
    nlohmann::json restorable = nlohmann::json::array();
    nlohmann::json d = nlohmann::json::object();
    if (snap.settings.sysctl) {
      restorable.push_back("sysctl");
      d["tunables"] = snap.sysctl.size();
    }
    if (snap.settings.modules) {
      restorable.push_back("modules");
      d["modules"] = snap.modules.size();
    }
    if (auto it = snap.recorded.find("release"); it != snap.recorded.end())
      d["kernel_release"] = it->second;
    std::set<std::string> groups;
    for (const auto& [k, _] : snap.recorded) groups.insert(k.substr(0, k.find('.')));
    d["restorable"] = restorable;
    d["recorded"] = groups;
    return d;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec&, const ChunkId& manifest, bool incremental,
                    bool remove_extra, const std::vector<std::string>& select) override {
    REWIND_ASSIGN_OR_RETURN(State snap, load(ctx, manifest));
    auto kp = std::make_shared<KernelPlan>();
    kp->manifest = manifest;
    kp->settings = snap.settings;
    Plan plan;
    plan.incremental = incremental;
    plan.remove_extra = remove_extra;
    plan.select = select;
    plan.entries = std::move(snap.entries);
    auto chosen = [&](const std::string& name) {
      return select.empty() || std::any_of(select.begin(), select.end(), [&](const auto& s) {
               return store::path_within(name, s);
             });
    };
    REWIND_ASSIGN_OR_RETURN(io::Fd root, kernel::open_root(ctx));
    // Only the values that differ are written, whatever `incremental` says:
    // writing a tunable again is not free (some act on every write).
    for (const auto& [key, value] : snap.sysctl) {
      std::string name = std::string(kSysctl) + key;
      if (!chosen(name)) continue;
      auto live = kernel::read_key(ctx, root.get(), key);
      if (live && kernel::normalize(*live) == kernel::normalize(value)) continue;
      kp->writes.emplace_back(key, value);
      plan.replace.push_back(name);
      ++plan.files;
      plan.bytes += value.size();
    }
    if (snap.settings.modules) {
      REWIND_ASSIGN_OR_RETURN(auto live, kernel::read_modules(ctx, root.get()));
      std::set<std::string> loaded, had(snap.modules.begin(), snap.modules.end());
      for (const auto& m : live) loaded.insert(m.name);
      // /proc/modules lists the newest first: load in the reverse order.
      for (auto it = snap.modules.rbegin(); it != snap.modules.rend(); ++it) {
        std::string name = std::string(kModules) + *it;
        if (loaded.contains(*it) || !chosen(name)) continue;
        kp->load.push_back(*it);
        plan.add.push_back(name);
      }
      // Listed whether in use or not: apply looks again before each unload
      // (unloading one module may free another) and keeps those in use.
      for (const auto& m : live) {
        std::string name = std::string(kModules) + m.name;
        if (!remove_extra || had.contains(m.name) || !chosen(name) ||
            !kernel::valid_module_name(m.name))
          continue;
        kp->unload.push_back(m.name);
        plan.remove.push_back(name);
      }
    }
    plan.adapter_data = kp;
    return plan;
  }

  Status validate(Context& ctx, const Plan& plan) override {
    const auto* kp = static_cast<const KernelPlan*>(plan.adapter_data.get());
    if (!kp) return fail(Error::invalid_state("the kernel component has no plan"));
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, kp->manifest));
    return r.validate();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* kp = static_cast<const KernelPlan*>(plan.adapter_data.get());
    if (!kp) return fail(Error::invalid_state("component {}: no rollback plan", spec.name));
    Applied a;
    io::ProcessOptions po;
    po.timeout = kp->settings.timeout_ms;
    // nullopt when the command succeeded, else what went wrong.
    auto run = [&](const std::vector<std::string>& cmd,
                   const std::string& module) -> std::optional<std::string> {
      std::vector<std::string> argv = cmd;
      argv.push_back(module);
      auto r = io::run_process(argv, po);
      if (!r) return r.error().message();
      if (r->exit_code == 0 && !r->timed_out) return std::nullopt;
      std::string out = kernel::normalize(r->output);
      return fmt::format("{} {}{}", argv[0], io::describe(*r), out.empty() ? "" : ": " + out);
    };
    for (const auto& m : kp->load) {
      if (auto err = run(kp->settings.modprobe, m))
        a.warnings.push_back(fmt::format("module {} was not loaded: {}", m, *err));
      else
        ++a.entries;
    }
    REWIND_ASSIGN_OR_RETURN(io::Fd root, kernel::open_root(ctx));
    for (const auto& [key, value] : kp->writes) {
      Status st = kernel::write_key(ctx, root.get(), key, value);
      if (!st) {
        a.warnings.push_back(fmt::format("tunable {} was not restored to {}: the write failed: {}",
                                         key, kernel::normalize(value),
                                         kernel::describe_errno(st.error())));
        continue;
      }
      ++a.files;
      a.bytes += value.size();
    }
    for (const auto& m : kp->unload) {
      REWIND_ASSIGN_OR_RETURN(auto live, kernel::read_modules(ctx, root.get()));
      auto it = std::find_if(live.begin(), live.end(),
                             [&](const kernel::Module& x) { return x.name == m; });
      if (it == live.end()) continue;  // gone with a module unloaded before it
      if (it->in_use) {
        a.warnings.push_back(
            fmt::format("module {} is in use (reference count {}{}); it stays loaded", m,
                        it->refcount, it->users.empty() ? "" : ", used by " + it->users));
        continue;
      }
      if (auto err = run(kp->settings.modprobe_remove, m))
        a.warnings.push_back(fmt::format("module {} was not unloaded: {}", m, *err));
      else
        ++a.removed;
    }
    return a;
  }

  // The running kernel is always there: there is nothing to make absent.
  Status remove(Context&, const ComponentSpec&) override { return ok(); }
};

}  // namespace

Adapter& kernel_adapter() {
  static KernelAdapter a;
  return a;
}

}  // namespace rwd::components
