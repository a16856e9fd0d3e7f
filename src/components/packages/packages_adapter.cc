// SPDX-License-Identifier: Apache-2.0
// The packages adapter: dpkg's view of the installed packages (name,
// version, architecture, selection, hold), captured from the status file.
//
// What it restores, and how: the package database and the packages' files
// are rolled back by the files component that covers /usr and
// /var/lib/dpkg (rewind config init writes one, and orders this component
// after it), so dpkg's view always matches the files. apply() therefore
// re-reads the live status file when its turn comes: after such a files
// component was restored there is nothing left to do. Otherwise it works
// out the apt-get lines that would bring the package set back; it only
// reports them (old versions may be gone from the mirrors) unless the
// rollback was asked to run them (rewind rollback --apply-packages).
#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "components/adapter.h"
#include "components/packages/status.h"
#include "components/state.h"
#include "config/config.h"
#include "io/durable.h"
#include "io/process.h"

namespace rwd::components {

namespace {

using packages::AptWork;
using packages::PackageSet;

constexpr const char* kPackagesBlob = "packages";
constexpr const char* kSettingsBlob = "settings";
constexpr const char* kDefaultStatus = "/var/lib/dpkg/status";
constexpr const char* kDefaultTimeout = "30m";
constexpr const char* kKnownKeys = "status_file, apt_get, timeout";

// The settings a restore needs, from the configuration or, when the
// configuration no longer has the component, from the snapshot.
struct Settings {
  std::string status_file = kDefaultStatus;
  std::vector<std::string> apt_get;  // empty: the default for the system root
  std::string timeout = kDefaultTimeout;
};

Settings settings_of(const ComponentSpec& spec) {
  Settings s;
  const auto& j = spec.settings;
  if (j.contains("status_file")) s.status_file = j["status_file"].get<std::string>();
  if (j.contains("apt_get")) s.apt_get = j["apt_get"].get<std::vector<std::string>>();
  if (j.contains("timeout")) s.timeout = j["timeout"].get<std::string>();
  return s;
}

// What the snapshot holds beside the package list.
struct Recorded {
  std::string architecture;
  Settings settings;
};

std::string format_recorded(const Recorded& r) {
  std::map<std::string, std::string> kv{{"architecture", r.architecture},
                                        {"status_file", r.settings.status_file},
                                        {"timeout", r.settings.timeout}};
  if (!r.settings.apt_get.empty()) kv["apt_get"] = nlohmann::json(r.settings.apt_get).dump();
  return state::format_lines(kv);
}

Result<Recorded> parse_recorded(std::string_view text) {
  auto kv = state::parse_lines(text);
  Recorded r;
  r.architecture = kv["architecture"];
  if (!kv["status_file"].empty()) r.settings.status_file = kv["status_file"];
  if (!kv["timeout"].empty()) r.settings.timeout = kv["timeout"];
  if (!kv["apt_get"].empty()) {
    try {
      r.settings.apt_get = nlohmann::json::parse(kv["apt_get"]).get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      return fail(
          Error::corrupted_data("the snapshot's apt_get setting is unreadable: {}", e.what()));
    }
  }
  return r;
}

// The live status file, read beneath the system root (symlinks on the way
// are not followed out of it).
Result<PackageSet> read_live(Context& ctx, const std::string& status_file) {
  size_t slash = status_file.rfind('/');
  std::string dir = status_file.substr(1, slash == 0 ? 0 : slash - 1);
  std::string name = status_file.substr(slash + 1);
  REWIND_ASSIGN_OR_RETURN(io::Fd root, ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
  auto d = ctx.fs.open_beneath(root.get(), dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
  auto text =
      d ? io::read_small_file(ctx.fs, d->get(), name) : Result<std::string>(fail(d.error()));
  if (!text) {
    if (text.error().sys_errno() == ENOENT)
      return fail(Error::not_found(
          "{} does not exist under {}: this system has no dpkg database (remove the packages "
          "component from the configuration, or set its status_file)",
          status_file, ctx.system_root));
    return fail(text.error().with_context(fmt::format("reading {}", status_file)));
  }
  auto set = packages::parse_status(*text);
  if (!set) return fail(Error::invalid_state("{}: {}", status_file, set.error().message()));
  return set;
}

struct Snapshot {
  PackageSet set;
  Recorded recorded;
};

Result<Snapshot> read_snapshot(const state::Reader& r) {
  Snapshot s;
  REWIND_ASSIGN_OR_RETURN(std::string list, r.read(kPackagesBlob));
  REWIND_ASSIGN_OR_RETURN(s.set, packages::parse_set(list));
  REWIND_ASSIGN_OR_RETURN(std::string rec, r.read(kSettingsBlob));
  REWIND_ASSIGN_OR_RETURN(s.recorded, parse_recorded(rec));
  return s;
}

Result<Snapshot> load_snapshot(Context& ctx, const store::ChunkId& manifest) {
  REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
  return read_snapshot(r);
}

// The restore's settings: the configuration's keys win, the snapshot's fill in.
Settings restore_settings(const ComponentSpec& spec, const Recorded& rec) {
  Settings s = rec.settings;
  Settings c = settings_of(spec);
  if (spec.settings.contains("status_file")) s.status_file = c.status_file;
  if (spec.settings.contains("apt_get")) s.apt_get = c.apt_get;
  if (spec.settings.contains("timeout")) s.timeout = c.timeout;
  return s;
}

// apt-get runs inside the system root: on "/" itself, else through chroot,
// so that a rollback of another root never installs on the host.
std::vector<std::string> apt_argv(const Settings& s, const std::string& root) {
  if (!s.apt_get.empty()) return s.apt_get;
  if (root == "/") return {"apt-get"};
  return {"chroot", root, "apt-get"};
}

// The commands that bring `work` about, as argv lists.
std::vector<std::vector<std::string>> apt_commands(const AptWork& work,
                                                   const std::vector<std::string>& apt) {
  std::vector<std::vector<std::string>> out;
  if (!work.install.empty()) {
    std::vector<std::string> c = apt;
    c.insert(c.end(), {"install", "-y"});
    if (work.downgrade) c.push_back("--allow-downgrades");
    c.insert(c.end(), work.install.begin(), work.install.end());
    out.push_back(std::move(c));
  }
  if (!work.remove.empty()) {
    std::vector<std::string> c = apt;
    c.insert(c.end(), {"remove", "-y"});
    c.insert(c.end(), work.remove.begin(), work.remove.end());
    out.push_back(std::move(c));
  }
  return out;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// What plan() hands to validate() and apply().
struct PackagesPlan {
  PackageSet target;
  Settings settings;
  std::string architecture;
  std::unique_ptr<state::Reader> reader;
};

class PackagesAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "packages"; }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<store::ChunkId>&) override {
    Settings s = settings_of(spec);
    REWIND_ASSIGN_OR_RETURN(PackageSet set, read_live(ctx, s.status_file));
    state::Writer w(ctx, writer);
    REWIND_TRY(w.add(kPackagesBlob, packages::format_set(set)));
    REWIND_TRY(w.add(kSettingsBlob, format_recorded(Recorded{packages::native_arch(set), s})));
    return w.finish();
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const store::ChunkId& manifest, bool) override {
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, load_snapshot(ctx, manifest));
    Settings s = restore_settings(spec, snap.recorded);
    REWIND_ASSIGN_OR_RETURN(PackageSet live, read_live(ctx, s.status_file));
    return packages::diff_sets(snap.set, live, snap.recorded.architecture);
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec&,
                                             const std::optional<store::ChunkId>& older,
                                             const std::optional<store::ChunkId>& newer) override {
    Snapshot a, b;
    if (older) {
      REWIND_ASSIGN_OR_RETURN(a, load_snapshot(ctx, *older));
    }
    if (newer) {
      REWIND_ASSIGN_OR_RETURN(b, load_snapshot(ctx, *newer));
    }
    const std::string& arch = newer ? b.recorded.architecture : a.recorded.architecture;
    return packages::diff_sets(a.set, b.set, arch);
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const store::ChunkId& manifest,
                    bool incremental, bool remove_extra, const std::vector<std::string>&) override {
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, read_snapshot(r));
    auto pp = std::make_shared<PackagesPlan>();
    pp->settings = restore_settings(spec, snap.recorded);
    pp->architecture = snap.recorded.architecture;
    pp->reader = std::make_unique<state::Reader>(std::move(r));
    REWIND_ASSIGN_OR_RETURN(PackageSet live, read_live(ctx, pp->settings.status_file));
    AptWork work = packages::apt_work(live, snap.set, pp->architecture);
    Plan plan;
    plan.incremental = incremental;
    plan.remove_extra = remove_extra;
    plan.replace = work.install;
    // A restore (not a rollback) brings packages back but removes none.
    if (remove_extra) plan.remove = work.remove;
    plan.entries = pp->reader->entries();
    pp->target = std::move(snap.set);
    plan.adapter_data = pp;
    return plan;
  }

  Status validate(Context&, const Plan& plan) override {
    const auto* pp = static_cast<const PackagesPlan*>(plan.adapter_data.get());
    if (!pp) return fail(Error::invalid_state("packages: no plan to validate"));
    return pp->reader->validate();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* pp = static_cast<const PackagesPlan*>(plan.adapter_data.get());
    if (!pp) return fail(Error::invalid_state("component {}: no restore plan", spec.name));
    // Again, now: a files component restored before this one (dependency
    // order) may have brought the package database back already.
    REWIND_ASSIGN_OR_RETURN(PackageSet live, read_live(ctx, pp->settings.status_file));
    AptWork work = packages::apt_work(live, pp->target, pp->architecture);
    if (!plan.remove_extra) work.remove.clear();
    Applied a;
    if (work.empty()) return a;
    auto commands = apt_commands(work, apt_argv(pp->settings, ctx.system_root));
    if (!ctx.apply_packages) {
      a.warnings.push_back(fmt::format(
          "the installed packages differ from the recovery point ({} to install, {} to remove); "
          "rewind does not run apt unless asked (rewind rollback --apply-packages). To bring "
          "them back, run (old versions may be gone from the mirrors):",
          work.install.size(), work.remove.size()));
      for (const auto& c : commands) a.warnings.push_back("  " + joined(c));
      return a;
    }
    REWIND_ASSIGN_OR_RETURN(auto timeout, config::parse_duration(pp->settings.timeout));
    io::ProcessOptions po;
    po.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    po.env = {"DEBIAN_FRONTEND=noninteractive"};
    for (const auto& c : commands) {
      REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(c, po));
      if (r.timed_out) return fail(Error::timeout("{} {}", joined(c), io::describe(r)));
      if (r.exit_code != 0)
        return fail(Error::other(
            "{} {} (old versions may be gone from the mirrors; the safety point keeps the state "
            "before the rollback): {}",
            joined(c), io::describe(r), r.output));
    }
    REWIND_ASSIGN_OR_RETURN(PackageSet after, read_live(ctx, pp->settings.status_file));
    AptWork left = packages::apt_work(after, pp->target, pp->architecture);
    if (!plan.remove_extra) left.remove.clear();
    if (!left.empty())
      return fail(Error::invalid_state(
          "apt-get finished, but the packages still differ from the recovery point: {} to "
          "install ({}), {} to remove ({})",
          left.install.size(), joined(left.install), left.remove.size(), joined(left.remove)));
    a.entries = work.install.size();
    a.removed = work.remove.size();
    return a;
  }

  // Packages are never absent as a component: the status file is there or
  // capture failed.
  Status remove(Context&, const ComponentSpec&) override { return ok(); }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec&,
                                  const store::ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, load_snapshot(ctx, manifest));
    uint64_t installed = 0, held = 0;
    for (const auto& [key, p] : snap.set) {
      if (p.installed()) ++installed;
      if (p.held()) ++held;
    }
    return nlohmann::json{{"packages", snap.set.size()},
                          {"installed", installed},
                          {"held", held},
                          {"architecture", snap.recorded.architecture},
                          {"status_file", snap.recorded.settings.status_file},
                          // Restored by the files component of /var/lib/dpkg, or through
                          // apt-get with rollback --apply-packages.
                          {"restorable", {"installed packages"}},
                          {"recorded", {"holds", "selections"}}};
  }

  Status check_settings(const ComponentSpec& spec) const override {
    for (const auto& [key, value] : spec.settings.items()) {
      if (key == "status_file") {
        if (!value.is_string())
          return fail(
              Error::usage("component \"{}\": status_file must be a string (a path)", spec.name));
        std::string p = value.get<std::string>();
        if (p.size() < 2 || p.front() != '/' || p.back() == '/')
          return fail(Error::usage(
              "component \"{}\": status_file must be an absolute file path, not \"{}\"", spec.name,
              p));
      } else if (key == "apt_get") {
        bool argv = value.is_array() && !value.empty();
        if (argv)
          for (const auto& a : value) argv = argv && a.is_string() && !a.get<std::string>().empty();
        if (!argv)
          return fail(Error::usage(
              "component \"{}\": apt_get must be an array of strings (argv, e.g. [\"apt-get\"])",
              spec.name));
      } else if (key == "timeout") {
        if (!value.is_string())
          return fail(
              Error::usage("component \"{}\": timeout must be a string (a duration)", spec.name));
        if (auto d = config::parse_duration(value.get<std::string>()); !d)
          return fail(
              Error::usage("component \"{}\": timeout: {}", spec.name, d.error().message()));
      } else {
        return fail(
            Error::usage("component \"{}\": adapter \"packages\" takes no key \"{}\" "
                         "(known: {})",
                         spec.name, key, kKnownKeys));
      }
    }
    return ok();
  }
};

}  // namespace

Adapter& packages_adapter() {
  static PackagesAdapter a;
  return a;
}

}  // namespace rwd::components
