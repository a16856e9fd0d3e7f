// SPDX-License-Identifier: Apache-2.0
// The config adapter: configuration files (default /etc) plus the
// environment files (/etc/environment, /etc/default, /etc/environment.d).
// Capture, plan, validate, apply and remove are the files adapter's, called
// through the registry, so that the two never drift apart; what this adapter
// adds is what a person reads in `rewind diff`: a unified diff of each
// changed text file, and nothing of a secret's content.
//
// The configuration loader gives a config component its paths (/etc when it
// names none, plus the environment files its paths leave out), so that every
// part of rewind (restore of a path, show, the snapshot's record) sees the
// same paths the manifest is rooted at.
//
// Recording the environment that services run with (systemctl show -p
// Environment) is not done: the files adapter owns the component's one
// manifest, and an entry in it that is not a file under the paths would be
// restored, or removed, as one.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "components/adapter.h"
#include "components/state.h"
#include "components/unified_diff.h"

namespace rwd::components {

namespace {

using store::ChunkId;
using store::Entry;
using store::EntryType;

// The secret rules (DESIGN: "secrets are never shown"). A file is a secret
// when, in either version compared:
//  - its mode gives others no read permission (mode & 004 == 0): a file its
//    owner keeps from other users is not printed to whoever runs diff;
//  - its name is one of shadow, gshadow, shadow-, gshadow-, or ends in
//    ".key" or "_key" (ssh_host_*_key, TLS keys), or it lies in a directory
//    named "private" (/etc/ssl/private and its likes);
//  - its content holds a PEM private key ("PRIVATE KEY-----", whatever the
//    file is called: .pem bundles, keys with other names).
bool secret_name(std::string_view path) {
  std::string_view base = path.substr(path.rfind('/') + 1);
  static constexpr std::array<std::string_view, 4> kNames = {"shadow", "gshadow", "shadow-",
                                                             "gshadow-"};
  if (std::find(kNames.begin(), kNames.end(), base) != kNames.end()) return true;
  if (base.ends_with(".key") || base.ends_with("_key")) return true;
  return path.find("/private/") != std::string_view::npos;
}

bool secret_mode(uint32_t mode) { return (mode & S_IROTH) == 0; }

bool secret_content(std::string_view data) {
  return data.find("PRIVATE KEY-----") != std::string_view::npos;
}

// One side of a changed file: its mode, and its content when it is small
// enough to be shown (kMaxDiffText; nullopt otherwise, or when it is not a
// plain regular file).
struct Side {
  uint32_t mode = 0;
  std::optional<std::string> data;
};

// The regular-file entry that `rel` names in a manifest (a hard link's
// first name), if any.
const Entry* file_entry(const std::vector<Entry>& entries,
                        const std::map<std::string, size_t>& index, const std::string& rel) {
  auto it = index.find(rel);
  if (it == index.end()) return nullptr;
  const Entry* e = &entries[it->second];
  if (e->type == EntryType::kHardlink && e->link_index < entries.size())
    e = &entries[e->link_index];
  return e->type == EntryType::kFile ? e : nullptr;
}

// A snapshot's manifest, opened for reading files' content.
class SnapshotFiles {
 public:
  static Result<SnapshotFiles> open(Context& ctx, const ChunkId& manifest) {
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    return SnapshotFiles(std::move(r));
  }
  Result<std::optional<Side>> side(const std::string& rel, bool want_data) const {
    const Entry* e = file_entry(reader_.entries(), index_, rel);
    if (!e) return std::optional<Side>();
    Side s;
    s.mode = e->mode;
    if (want_data && !e->sparse && e->size <= text::kMaxDiffText) {
      REWIND_ASSIGN_OR_RETURN(s.data, reader_.read(e->path));
    }
    return std::optional<Side>(std::move(s));
  }

 private:
  explicit SnapshotFiles(state::Reader r) : reader_(std::move(r)) {
    for (size_t i = 0; i < reader_.entries().size(); ++i)
      index_.emplace(reader_.entries()[i].path, i);
  }
  state::Reader reader_;
  std::map<std::string, size_t> index_;
};

// The live file at `abs` (within the system root), read without following
// symlinks anywhere on the way.
Result<std::optional<Side>> live_side(Context& ctx, const std::string& abs, bool want_data) {
  REWIND_ASSIGN_OR_RETURN(io::Fd root, ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
  auto fd = ctx.fs.open_beneath(root.get(), abs.substr(1), O_RDONLY | O_NONBLOCK);
  if (!fd) return std::optional<Side>();  // gone, or not a file we may read: no detail
  REWIND_ASSIGN_OR_RETURN(io::Stat st, ctx.fs.fstat(fd->get()));
  if (!S_ISREG(st.mode)) return std::optional<Side>();
  Side s;
  s.mode = st.mode & 07777;
  if (!want_data || st.size > text::kMaxDiffText) return std::optional<Side>(std::move(s));
  std::string data;
  std::vector<std::byte> buf(64 << 10);
  while (data.size() <= text::kMaxDiffText) {
    REWIND_ASSIGN_OR_RETURN(size_t n, ctx.fs.read(fd->get(), buf));
    if (n == 0) break;
    data.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  if (data.size() <= text::kMaxDiffText) s.data = std::move(data);
  return std::optional<Side>(std::move(s));
}

// Marks secrets and gives every other changed text file its unified diff.
// `older` and `newer` read one side each.
template <typename Older, typename Newer>
Status annotate(std::vector<Change>& changes, Older older, Newer newer) {
  for (Change& c : changes) {
    if (c.kind != "content" && c.kind != "damaged") continue;
    bool secret = secret_name(c.path);
    REWIND_ASSIGN_OR_RETURN(std::optional<Side> a, older(c.path, !secret));
    REWIND_ASSIGN_OR_RETURN(std::optional<Side> b, newer(c.path, !secret));
    if (!a || !b) continue;  // a symlink's target, or a file that is gone meanwhile
    secret = secret || secret_mode(a->mode) || secret_mode(b->mode) ||
             (a->data && secret_content(*a->data)) || (b->data && secret_content(*b->data));
    if (secret) {
      c.attributes.push_back("secret");
      continue;
    }
    if (a->data && b->data && text::is_text(*a->data) && text::is_text(*b->data))
      c.detail = text::unified_diff(*a->data, *b->data, c.path.substr(1), c.path.substr(1));
  }
  return ok();
}

// The component with its paths (a spec that names none, not made by the
// configuration loader, gets /etc).
ComponentSpec with_paths(const ComponentSpec& spec) {
  ComponentSpec s = spec;
  if (s.paths.empty()) s.paths = {"/etc"};
  return s;
}

class ConfigAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "config"; }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>& previous) override {
    return files().capture(ctx, with_paths(spec), writer, previous);
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest, bool content) override {
    const ComponentSpec s = with_paths(spec);
    REWIND_ASSIGN_OR_RETURN(auto changes, files().diff_live(ctx, s, manifest, content));
    REWIND_ASSIGN_OR_RETURN(SnapshotFiles snap, SnapshotFiles::open(ctx, manifest));
    const std::string root = component_root(s.paths);
    REWIND_TRY(annotate(
        changes,
        [&](const std::string& abs, bool data) {
          return snap.side(relative_path(root, abs).value_or(abs), data);
        },
        [&](const std::string& abs, bool data) { return live_side(ctx, abs, data); }));
    return changes;
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    const ComponentSpec s = with_paths(spec);
    REWIND_ASSIGN_OR_RETURN(auto changes, Adapter::diff_snapshots(ctx, s, older, newer));
    // Content changes need both snapshots; a component added or dropped
    // between them has only added or removed entries.
    if (!older || !newer) return changes;
    REWIND_ASSIGN_OR_RETURN(SnapshotFiles a, SnapshotFiles::open(ctx, *older));
    REWIND_ASSIGN_OR_RETURN(SnapshotFiles b, SnapshotFiles::open(ctx, *newer));
    const std::string root = component_root(s.paths);
    auto side_of = [&](const SnapshotFiles& f) {
      return [&f, &root](const std::string& abs, bool data) {
        return f.side(relative_path(root, abs).value_or(abs), data);
      };
    };
    REWIND_TRY(annotate(changes, side_of(a), side_of(b)));
    return changes;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest,
                    bool incremental, bool remove_extra,
                    const std::vector<std::string>& select) override {
    return files().plan(ctx, with_paths(spec), manifest, incremental, remove_extra, select);
  }

  Status validate(Context& ctx, const Plan& plan) override { return files().validate(ctx, plan); }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    return files().apply(ctx, with_paths(spec), plan);
  }

  Status remove(Context& ctx, const ComponentSpec& spec) override {
    return files().remove(ctx, with_paths(spec));
  }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                  const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
    const ComponentSpec s = with_paths(spec);
    const std::string root = component_root(s.paths);
    // Secrets by name and mode (the content rule needs every file read).
    uint64_t secrets = 0;
    for (const Entry& e : r.entries())
      if (e.type == EntryType::kFile &&
          (secret_name(join_path(root, e.path)) || secret_mode(e.mode)))
        ++secrets;
    return nlohmann::json{{"paths", s.paths},
                          {"secrets", secrets},
                          {"restorable", {"files"}},
                          {"recorded", nlohmann::json::array()}};
  }

  Status check_settings(const ComponentSpec& spec) const override {
    if (!spec.settings.empty())
      return fail(Error::usage(
          "component \"{}\": adapter \"config\" has no key \"{}\" (known: the common keys only; "
          "recording services' environment, services_env, is not implemented)",
          spec.name, spec.settings.begin().key()));
    return ok();
  }

 private:
  static Adapter& files() { return *find_adapter("files"); }
};

}  // namespace

Adapter& config_adapter() {
  static ConfigAdapter a;
  return a;
}

}  // namespace rwd::components
