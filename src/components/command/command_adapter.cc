// SPDX-License-Identifier: Apache-2.0
// The command adapter, for state no other adapter knows: a capture command
// writes the component's state into a directory rewind gives it, a restore
// command reads it back, an optional validate command checks it first.
// rewind stores the directory's files as state blobs ("dir/<relative
// path>", modes kept) plus the settings the snapshot was taken with
// ("command.json"), so that a point restores without the configuration.
//
// Settings: capture, restore (argv, required), validate (argv, optional),
// timeout (duration, default "5m", for each command). "{dir}" in an argv is
// the directory; the commands also get REWIND_STATE_DIR, REWIND_ROOT (the
// system root) and REWIND_COMPONENT.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <map>

#include "components/adapter.h"
#include "components/files/files.h"
#include "components/state.h"
#include "components/unified_diff.h"
#include "config/config.h"
#include "io/durable.h"
#include "io/process.h"

namespace rwd::components {

namespace {

using store::ChunkId;

constexpr const char* kDirPrefix = "dir/";
constexpr const char* kSettingsBlob = "command.json";
constexpr std::array<std::string_view, 4> kKeys = {"capture", "restore", "validate", "timeout"};

struct Settings {
  std::vector<std::string> capture, restore, validate;
  std::string timeout_text = "5m";
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};

  nlohmann::json to_json() const {
    nlohmann::json j{{"capture", capture}, {"restore", restore}, {"timeout", timeout_text}};
    if (!validate.empty()) j["validate"] = validate;
    return j;
  }
};

Result<std::vector<std::string>> argv_of(const ComponentSpec& spec, const nlohmann::json& j,
                                         std::string_view key) {
  const auto bad = [&] {
    return fail(Error::usage(
        "component \"{}\": key \"{}\" must be a non-empty array of strings (a command's argv, "
        "e.g. [\"/usr/local/bin/app-state\", \"save\", \"{{dir}}\"])",
        spec.name, key));
  };
  if (!j.is_array() || j.empty()) return bad();
  std::vector<std::string> out;
  for (const auto& a : j) {
    if (!a.is_string()) return bad();
    out.push_back(a.get<std::string>());
  }
  return out;
}

Result<Settings> parse_settings(const ComponentSpec& spec, const nlohmann::json& j) {
  Settings s;
  for (const auto& item : j.items())
    if (std::find(kKeys.begin(), kKeys.end(), item.key()) == kKeys.end())
      return fail(
          Error::usage("component \"{}\": adapter \"command\" has no key \"{}\" (known: "
                       "capture, restore, validate, timeout)",
                       spec.name, item.key()));
  for (std::string_view required : {"capture", "restore"})
    if (!j.contains(required))
      return fail(Error::usage("component \"{}\": adapter \"command\" needs \"{}\" (an argv)",
                               spec.name, required));
  REWIND_ASSIGN_OR_RETURN(s.capture, argv_of(spec, j.at("capture"), "capture"));
  REWIND_ASSIGN_OR_RETURN(s.restore, argv_of(spec, j.at("restore"), "restore"));
  if (j.contains("validate")) {
    REWIND_ASSIGN_OR_RETURN(s.validate, argv_of(spec, j.at("validate"), "validate"));
  }
  if (j.contains("timeout")) {
    if (!j.at("timeout").is_string())
      return fail(Error::usage(
          "component \"{}\": key \"timeout\" must be a duration string (\"30s\", \"5m\")",
          spec.name));
    s.timeout_text = j.at("timeout").get<std::string>();
  }
  auto d = config::parse_duration(s.timeout_text);
  if (!d)
    return fail(
        Error::usage("component \"{}\": key \"timeout\": {}", spec.name, d.error().message()));
  s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  if (s.timeout.count() <= 0)
    return fail(Error::usage("component \"{}\": key \"timeout\" must be longer than 0", spec.name));
  return s;
}

// A private directory (0700) under $TMPDIR or /tmp for one command's state,
// removed with everything in it when it goes out of scope.
class StateDir {
 public:
  static Result<StateDir> make(Context& ctx) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp == '/' ? tmp : "/tmp";
    REWIND_ASSIGN_OR_RETURN(io::Fd b, ctx.fs.open_path(base, O_RDONLY | O_DIRECTORY));
    std::string name = "rewind-command" + io::temp_name();
    REWIND_TRY(ctx.fs.mkdir_at(b.get(), name, 0700));
    StateDir d(ctx, base, name);
    REWIND_ASSIGN_OR_RETURN(d.fd_, ctx.fs.open_at(b.get(), name, O_RDONLY | O_DIRECTORY));
    return d;
  }
  StateDir(StateDir&& o) noexcept
      : ctx_(o.ctx_), base_(std::move(o.base_)), name_(std::move(o.name_)), fd_(std::move(o.fd_)) {
    o.name_.clear();
  }
  StateDir& operator=(StateDir&&) = delete;
  ~StateDir() {
    // Best effort: a leftover in the temporary directory harms nothing.
    if (!name_.empty()) (void)files::remove_component(ctx_->fs, base_, {"/" + name_});
  }
  std::string path() const { return base_ + "/" + name_; }
  int fd() const { return fd_.get(); }

 private:
  StateDir(Context& ctx, std::string base, std::string name)
      : ctx_(&ctx), base_(std::move(base)), name_(std::move(name)) {}
  Context* ctx_;
  std::string base_, name_;
  io::Fd fd_;
};

// Runs one of the component's commands on `dir`. A command that fails or
// runs out of time is an error of the component, with the end of what it
// printed.
Status run_command(Context& ctx, const ComponentSpec& spec, std::string_view what,
                   const std::vector<std::string>& argv_template, const Settings& s,
                   const StateDir& dir) {
  std::vector<std::string> argv;
  for (std::string a : argv_template) {
    size_t at = 0;
    while ((at = a.find("{dir}", at)) != std::string::npos) {
      a.replace(at, 5, dir.path());
      at += dir.path().size();
    }
    argv.push_back(std::move(a));
  }
  io::ProcessOptions po;
  po.timeout = s.timeout;
  po.env = {"REWIND_STATE_DIR=" + dir.path(), "REWIND_ROOT=" + ctx.system_root,
            "REWIND_COMPONENT=" + spec.name};
  auto r = io::run_process(argv, po);
  if (!r)
    return fail(Error(r.error().code(), fmt::format("the {} command {} cannot be run: {}", what,
                                                    argv[0], r.error().message())));
  if (r->timed_out)
    return fail(Error::timeout(
        "the {} command {} {}; raise the component's timeout ({}) if it needs longer", what,
        argv[0], io::describe(*r), s.timeout_text));
  if (r->exit_code != 0) {
    std::string tail =
        r->output.size() > 2000 ? "..." + r->output.substr(r->output.size() - 2000) : r->output;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    return fail(Error::other("the {} command {} {}{}{}", what, argv[0], io::describe(*r),
                             tail.empty() ? "" : "; its output ends: ", tail));
  }
  return ok();
}

// Calls `f(relative path, open fd, mode)` for every regular file under the
// directory; refuses anything but files and directories.
template <typename F>
Status walk(Context& ctx, const ComponentSpec& spec, int dirfd, const std::string& prefix, F& f) {
  REWIND_ASSIGN_OR_RETURN(auto names, ctx.fs.list_dir(dirfd));
  std::sort(names.begin(), names.end(),
            [](const io::DirEntry& a, const io::DirEntry& b) { return a.name < b.name; });
  for (const auto& d : names) {
    const std::string rel = prefix + d.name;
    REWIND_ASSIGN_OR_RETURN(io::Stat st, ctx.fs.stat_at(dirfd, d.name));
    if (S_ISDIR(st.mode)) {
      REWIND_ASSIGN_OR_RETURN(io::Fd sub, ctx.fs.open_at(dirfd, d.name, O_RDONLY | O_DIRECTORY));
      REWIND_TRY(walk(ctx, spec, sub.get(), rel + "/", f));
    } else if (S_ISREG(st.mode)) {
      REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_at(dirfd, d.name, O_RDONLY | O_NONBLOCK));
      REWIND_TRY(f(rel, fd.get(), st.mode & 07777));
    } else {
      return fail(Error::invalid_state(
          "the capture command left {} in the state directory, which is not a regular file or "
          "directory (symlinks, devices and FIFOs are not stored); make it write plain files",
          rel));
    }
  }
  return ok();
}

// The component's state as name -> (mode, content), for comparing.
struct Blob {
  uint32_t mode = 0;
  std::string data;
};
using Blobs = std::map<std::string, Blob>;

Result<Blobs> blobs_of_dir(Context& ctx, const ComponentSpec& spec, const StateDir& dir) {
  Blobs out;
  auto read_one = [&](const std::string& rel, int fd, uint32_t mode) -> Status {
    Blob& b = out[rel];
    b.mode = mode;
    std::vector<std::byte> buf(64 << 10);
    while (true) {
      REWIND_ASSIGN_OR_RETURN(size_t n, ctx.fs.read(fd, buf));
      if (n == 0) break;
      b.data.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    return ok();
  };
  REWIND_TRY(walk(ctx, spec, dir.fd(), "", read_one));
  return out;
}

Result<Blobs> blobs_of_snapshot(const state::Reader& r) {
  Blobs out;
  const std::string prefix = kDirPrefix;
  for (const auto& e : r.entries()) {
    if (e.type != store::EntryType::kFile || !e.path.starts_with(prefix)) continue;
    Blob& b = out[e.path.substr(prefix.size())];
    b.mode = e.mode;
    REWIND_ASSIGN_OR_RETURN(b.data, r.read(e.path));
  }
  return out;
}

// Per file of the state directory: added, removed, content (with a unified
// diff for text) or metadata (mode).
std::vector<Change> compare(const Blobs& a, const Blobs& b) {
  std::vector<Change> out;
  for (const auto& [name, old] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      out.push_back(Change{name, "removed", {}, {}});
      continue;
    }
    const Blob& now = it->second;
    std::vector<std::string> attrs;
    if (old.mode != now.mode) attrs.push_back("mode");
    if (old.data != now.data) {
      std::string detail;
      if (text::is_text(old.data) && text::is_text(now.data))
        detail = text::unified_diff(old.data, now.data, name, name);
      out.push_back(Change{name, "content", attrs, detail});
    } else if (!attrs.empty()) {
      out.push_back(Change{name, "metadata", attrs, {}});
    }
  }
  for (const auto& [name, now] : b)
    if (!a.contains(name)) out.push_back(Change{name, "added", {}, {}});
  return out;
}

// The settings of a component: the configuration's when it has the
// component, else those recorded in its snapshot (a point restores, and a
// safety point captures, a component the configuration has dropped).
Result<Settings> settings_of(const ComponentSpec& spec, const state::Reader& r) {
  if (!spec.settings.empty()) return parse_settings(spec, spec.settings);
  REWIND_ASSIGN_OR_RETURN(std::string text, r.read(kSettingsBlob));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    return fail(Error::corrupted_data("component \"{}\": the snapshot's {} is not JSON", spec.name,
                                      kSettingsBlob));
  return parse_settings(spec, j);
}

// Lays the snapshot's state directory out in `dir`, modes kept.
Status materialize(Context& ctx, const state::Reader& r, const StateDir& dir) {
  const std::string prefix = kDirPrefix;
  for (const store::Entry& e : r.entries()) {
    if (e.type != store::EntryType::kFile || !e.path.starts_with(prefix)) continue;
    const std::string rel = e.path.substr(prefix.size());
    io::Fd parent;
    int at = dir.fd();
    size_t b = 0;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', b)) {
      const std::string part = rel.substr(b, slash - b);
      Status st = ctx.fs.mkdir_at(at, part, 0700);
      if (!st && st.error().sys_errno() != EEXIST) return st;
      REWIND_ASSIGN_OR_RETURN(parent, ctx.fs.open_at(at, part, O_RDONLY | O_DIRECTORY));
      at = parent.get();
      b = slash + 1;
    }
    REWIND_ASSIGN_OR_RETURN(
        io::Fd fd, ctx.fs.open_at(at, rel.substr(b), O_WRONLY | O_CREAT | O_EXCL, e.mode & 07777));
    REWIND_TRY(r.copy_to(e.path, fd.get()));
    REWIND_TRY(ctx.fs.fchmod(fd.get(), e.mode & 07777));  // past the umask
    REWIND_TRY(fd.close());
  }
  return ok();
}

// What plan() hands to validate() and apply().
struct CommandPlan {
  ComponentSpec spec;
  ChunkId manifest;
};

class CommandAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "command"; }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>& previous) override {
    Settings s;
    if (previous && spec.settings.empty()) {
      REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, *previous));
      REWIND_ASSIGN_OR_RETURN(s, settings_of(spec, r));
    } else {
      REWIND_ASSIGN_OR_RETURN(s, parse_settings(spec, spec.settings));
    }
    REWIND_ASSIGN_OR_RETURN(StateDir dir, StateDir::make(ctx));
    REWIND_TRY(run_command(ctx, spec, "capture", s.capture, s, dir));
    state::Writer w(ctx, writer);
    auto add = [&](const std::string& rel, int fd, uint32_t mode) {
      return w.add_fd(kDirPrefix + rel, fd, 0, mode);
    };
    REWIND_TRY(walk(ctx, spec, dir.fd(), "", add));
    REWIND_TRY(w.add(kSettingsBlob, s.to_json().dump()));
    return w.finish();
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest, bool) override {
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec, r));
    REWIND_ASSIGN_OR_RETURN(StateDir dir, StateDir::make(ctx));
    REWIND_TRY(run_command(ctx, spec, "capture", s.capture, s, dir));
    REWIND_ASSIGN_OR_RETURN(Blobs live, blobs_of_dir(ctx, spec, dir));
    REWIND_ASSIGN_OR_RETURN(Blobs snap, blobs_of_snapshot(r));
    return compare(snap, live);
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec&,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    Blobs a, b;
    if (older) {
      REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, *older));
      REWIND_ASSIGN_OR_RETURN(a, blobs_of_snapshot(r));
    }
    if (newer) {
      REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, *newer));
      REWIND_ASSIGN_OR_RETURN(b, blobs_of_snapshot(r));
    }
    return compare(a, b);
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest, bool,
                    bool remove_extra, const std::vector<std::string>& select) override {
    if (!select.empty())
      return fail(Error::usage(
          "component \"{}\": a command component is restored whole, not by paths", spec.name));
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    Plan plan;
    plan.remove_extra = remove_extra;
    plan.entries = r.entries();
    const std::string prefix = kDirPrefix;
    for (const auto& e : r.entries()) {
      if (e.type != store::EntryType::kFile || !e.path.starts_with(prefix)) continue;
      plan.replace.push_back(e.path.substr(prefix.size()));
      ++plan.files;
      plan.bytes += e.size;
    }
    plan.adapter_data = std::make_shared<CommandPlan>(CommandPlan{spec, manifest});
    return plan;
  }

  // Every chunk, then the validate command (if any) on the materialized
  // state: a refusal comes before any component is changed.
  Status validate(Context& ctx, const Plan& plan) override {
    const auto* cp = static_cast<const CommandPlan*>(plan.adapter_data.get());
    if (!cp) return fail(Error::invalid_state("command component: no plan"));
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, cp->manifest));
    REWIND_TRY(r.validate());
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(cp->spec, r));
    if (s.validate.empty()) return ok();
    REWIND_ASSIGN_OR_RETURN(StateDir dir, StateDir::make(ctx));
    REWIND_TRY(materialize(ctx, r, dir));
    return run_command(ctx, cp->spec, "validate", s.validate, s, dir);
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* cp = static_cast<const CommandPlan*>(plan.adapter_data.get());
    if (!cp) return fail(Error::invalid_state("component {}: no plan", spec.name));
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, cp->manifest));
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec, r));
    REWIND_ASSIGN_OR_RETURN(StateDir dir, StateDir::make(ctx));
    REWIND_TRY(materialize(ctx, r, dir));
    REWIND_TRY(run_command(ctx, spec, "restore", s.restore, s, dir));
    Applied a;
    a.files = plan.files;
    a.bytes = plan.bytes;
    a.entries = plan.entries.size();
    return a;
  }

  Status remove(Context&, const ComponentSpec& spec) override {
    return fail(Error::invalid_state(
        "component \"{}\": a command component cannot be made absent; its restore command is all "
        "rewind knows how to run",
        spec.name));
  }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                  const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec, r));
    uint64_t files = 0;
    for (const auto& n : r.names()) files += n.starts_with(kDirPrefix) ? 1 : 0;
    nlohmann::json j = s.to_json();
    j["files"] = files;
    j["restorable"] = {"state directory"};
    j["recorded"] = nlohmann::json::array();
    return j;
  }

  Status check_settings(const ComponentSpec& spec) const override {
    REWIND_TRY(parse_settings(spec, spec.settings));
    return ok();
  }
};

}  // namespace

Adapter& command_adapter() {
  static CommandAdapter a;
  return a;
}

}  // namespace rwd::components
