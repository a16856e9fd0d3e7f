// SPDX-License-Identifier: Apache-2.0
#include "engine/recovery_point_manager.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "components/adapter.h"
#include "components/files/files.h"
#include "components/files/walk.h"
#include "engine/keys.h"
#include "engine/point_usage.h"
#include "engine/retention.h"
#include "io/process.h"
#include "store/manifest.h"

namespace rwd::engine {

using store::ChunkId;

namespace {

// The pre points of unconfirmed `run --confirm-within` changes, each with
// why it stays: rewindd (or boot-check) rolls back to it when the deadline
// passes, so neither retention nor `forget` may drop it.
Result<std::map<int64_t, std::string>> held_for_confirmation(catalog::Catalog& cat) {
  REWIND_ASSIGN_OR_RETURN(auto confirmations, cat.list_confirmations());
  std::map<int64_t, std::string> held;
  for (const auto& c : confirmations)
    if (c.state == "pending")
      held.emplace(c.pre_id, fmt::format("pre of unconfirmed change (confirmation {})", c.id));
  return held;
}

std::string current_user() {
  uid_t uid = ::geteuid();
  struct passwd pw;
  struct passwd* res = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) return pw.pw_name;
  return std::to_string(uid);
}

RecoveryPointInfo to_info(const catalog::PointRow& p,
                          const std::vector<catalog::SnapshotRow>& snaps) {
  RecoveryPointInfo r;
  r.id = p.id;
  r.name = p.name;
  r.description = p.description;
  r.kind = p.kind;
  r.cause = p.cause;
  r.time_ns = p.time_ns;
  r.user = p.user;
  r.host = p.host;
  r.kernel = p.kernel;
  r.tags = p.tags;
  r.pinned = p.pinned;
  r.pre_id = p.pre_id;
  r.health = p.health;
  for (const auto& s : snaps)
    r.components.push_back(ComponentInfo{
        s.component, s.adapter, s.category, s.paths, s.entries, s.size, s.stored, s.added, {}});
  return r;
}

store::ChunkSource source(store::Repository& repo) {
  return [&repo](const ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
    return repo.read_chunk(id, t, out);
  };
}

}  // namespace

Result<std::unique_ptr<store::Repository>> RecoveryPointManager::open_repo(bool write,
                                                                           const std::string& op) {
  store::OpenOptions o;
  o.write = write;
  o.wait = opts_.wait_for_lock;
  o.operation = op;
  o.passphrase = passphrase_source(fs_, opts_);
  o.key_cache = &key_cache_;
  return store::Repository::open(fs_, opts_.repository, o);
}

Result<int64_t> RecoveryPointManager::resolve(const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  return resolve_in(*repo, id);
}

Result<int64_t> RecoveryPointManager::resolve_in(store::Repository& repo, const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(auto points, repo.catalog().list_points());
  if (id == "latest" || id.rfind("latest:", 0) == 0) {
    // `latest` passes over the safety points a rollback takes of itself
    // (`latest:safety` names them): rolling back to `latest` twice must not
    // undo the first rollback.
    std::string kind = id == "latest" ? "" : id.substr(7);
    for (auto it = points.rbegin(); it != points.rend(); ++it)
      if (kind.empty() ? it->kind != "safety" : it->kind == kind) return it->id;
    if (kind.empty()) return fail(Error::not_found("the repository has no recovery points yet"));
    return fail(Error::not_found("no recovery point of kind '{}'", kind));
  }
  int64_t n = 0;
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return fail(
        Error::usage("'{}' is not a recovery point ID (a number, latest or latest:KIND)", id));
  n = std::stoll(id);
  for (const auto& p : points)
    if (p.id == n) return n;
  return fail(Error::not_found("recovery point {} does not exist (see `rewind list`)", n));
}

Status RecoveryPointManager::modify(const std::string& id, const PointChanges& ch) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(true, "modify"));
  REWIND_ASSIGN_OR_RETURN(int64_t n, resolve_in(*repo, id));
  REWIND_ASSIGN_OR_RETURN(auto p, repo->catalog().get_point(n));
  if (!p) return fail(Error::not_found("recovery point {} does not exist", n));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(n));
  if (ch.name) p->name = *ch.name;
  if (ch.description) p->description = *ch.description;
  if (ch.pinned) p->pinned = *ch.pinned;
  for (const auto& t : ch.remove_tags) std::erase(p->tags, t);
  for (const auto& t : ch.add_tags)
    if (std::find(p->tags.begin(), p->tags.end(), t) == p->tags.end()) p->tags.push_back(t);
  // A new root record (next sequence number) carries the change, so that
  // `repair` keeps it.
  store::ChunkWriter writer(*repo, 1);
  return repo->commit_point(writer, *p, snaps);
}

Result<std::vector<int64_t>> RecoveryPointManager::forget(const std::vector<std::string>& ids) {
  if (ids.empty()) return fail(Error::usage("nothing to forget: give one or more point IDs"));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(true, "forget"));
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  std::set<int64_t> chosen;
  for (const auto& id : ids) {
    REWIND_ASSIGN_OR_RETURN(int64_t n, resolve_in(*repo, id));
    chosen.insert(n);
  }
  // An unfinished operation's target and safety point are what `recover`
  // needs: they cannot go.
  REWIND_ASSIGN_OR_RETURN(auto unfinished, repo->catalog().unfinished_operations());
  for (const auto& op : unfinished)
    for (int64_t n : {op.point, op.safety})
      if (chosen.contains(n))
        return fail(Error::system_invalid(
            "recovery point {} is used by unfinished operation {}: run `rewind recover` first", n,
            op.id));
  for (const auto& p : points) {
    if (!chosen.contains(p.id)) continue;
    if (p.pinned)
      return fail(Error::invalid_state(
          "recovery point {} is pinned: `rewind modify {} --unpin` first", p.id, p.id));
  }
  REWIND_ASSIGN_OR_RETURN(auto held, held_for_confirmation(repo->catalog()));
  for (const auto& [id, why] : held)
    if (chosen.contains(id))
      return fail(Error::invalid_state(
          "recovery point {} is the {}: `rewind confirm` it first, or let its deadline pass", id,
          why));
  // A post point without its pre cannot be undone the way `run` promises.
  for (const auto& p : points)
    if (p.pre_id != 0 && chosen.contains(p.pre_id) && !chosen.contains(p.id))
      return fail(
          Error::invalid_state("recovery point {} is the pre point of {}: forget both, or {} first",
                               p.pre_id, p.id, p.id));
  std::vector<int64_t> done;
  for (const auto& p : points) {
    if (!chosen.contains(p.id)) continue;
    REWIND_TRY(repo->forget_point(p));
    done.push_back(p.id);
  }
  return done;
}

Result<RetentionReport> RecoveryPointManager::apply_retention(const RetentionPolicy& policy,
                                                              bool dry_run) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(!dry_run, "forget"));
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  REWIND_ASSIGN_OR_RETURN(auto usage, point_usage(*repo, points));
  std::map<int64_t, int64_t> in_use;
  REWIND_ASSIGN_OR_RETURN(auto unfinished, repo->catalog().unfinished_operations());
  for (const auto& op : unfinished)
    for (int64_t n : {op.point, op.safety})
      if (n != 0) in_use.emplace(n, op.id);
  REWIND_ASSIGN_OR_RETURN(auto held, held_for_confirmation(repo->catalog()));
  std::vector<RetentionDecision> in;
  for (const auto& p : points) {
    RetentionDecision d;
    d.id = p.id;
    d.time_ns = p.time_ns;
    d.kind = p.kind;
    d.pinned = p.pinned;
    d.pre_id = p.pre_id;
    d.unique = usage[p.id].unique;
    d.damaged = usage[p.id].damaged;
    in.push_back(std::move(d));
  }
  std::optional<FileSystemSpace> space;
  if (policy.min_free) {
    REWIND_ASSIGN_OR_RETURN(io::FsSpace sp, fs_.statfs(repo->dirfd()));
    space = FileSystemSpace{sp.free_bytes, sp.total_bytes};
  }
  RetentionReport rep = decide_retention(std::move(in), policy, in_use, space, held);
  rep.dry_run = dry_run;
  if (dry_run) return rep;
  // Oldest first, each on its own (tombstone, then catalog): an error stops
  // the run, since what is on disk after a failed write is not known; the
  // points forgotten before it stay forgotten.
  std::vector<int64_t> done;
  for (int64_t id : rep.removed) {
    auto row = std::find_if(points.begin(), points.end(), [&](auto& p) { return p.id == id; });
    if (Status st = repo->forget_point(*row); !st)
      return fail(
          Error(st.error().code(),
                fmt::format("forgetting recovery point {} failed ({} forgotten before: {}): {}", id,
                            done.size(), fmt::join(done, ", "), st.error().message())));
    done.push_back(id);
  }
  return rep;
}

Result<std::vector<components::ComponentSpec>> RecoveryPointManager::specs_for(
    const CreateOptions& req) const {
  std::vector<components::ComponentSpec> specs;
  if (!req.paths.empty()) {
    if (!req.components.empty())
      return fail(Error::usage("--path and -c do not mix: give configured components or paths"));
    std::vector<std::string> paths;
    for (const auto& p : req.paths) {
      REWIND_ASSIGN_OR_RETURN(std::string n, components::files::normalize_abs(p));
      paths.push_back(n);
    }
    std::sort(paths.begin(), paths.end());
    for (size_t i = 1; i < paths.size(); ++i) {
      if (paths[i] == paths[i - 1]) return fail(Error::usage("--path {} is given twice", paths[i]));
      if (components::relative_path(paths[i - 1], paths[i]))
        return fail(
            Error::usage("--path {} lies inside --path {}; give only one", paths[i], paths[i - 1]));
    }
    for (const auto& p : paths) {
      components::ComponentSpec s;
      s.name = p;
      s.paths = {p};
      s.exclude = req.exclude;
      specs.push_back(std::move(s));
    }
    return specs;
  }
  if (env_.components.empty())
    return fail(Error::usage(
        "nothing to capture: give --path, or configure components in {}/etc/rewind/rewind.toml",
        opts_.system_root == "/" ? "" : opts_.system_root));
  if (req.components.empty()) return env_.components;
  for (const auto& c : env_.components)
    if (std::find(req.components.begin(), req.components.end(), c.name) != req.components.end())
      specs.push_back(c);
  for (const auto& n : req.components)
    if (std::none_of(env_.components.begin(), env_.components.end(),
                     [&](const auto& c) { return c.name == n; }))
      return fail(Error::not_found("no component named '{}' in the configuration", n));
  return specs;
}

Result<CreateReport> RecoveryPointManager::create(const CreateOptions& req, ProgressObserver& obs) {
  REWIND_ASSIGN_OR_RETURN(auto specs, specs_for(req));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(true, "create"));
  REWIND_TRY(refuse_unfinished(*repo));
  catalog::PointRow p;
  p.name = req.name;
  p.description = req.description;
  p.kind = req.kind;
  p.cause = req.cause;
  p.tags = req.tags;
  p.pinned = req.pinned;
  p.pre_id = req.pre_id;
  p.health = req.health;
  if (req.pre_id != 0) {
    if (req.kind != "post")
      return fail(Error::usage("--pre links a post point to its pre point: give --kind post"));
    REWIND_ASSIGN_OR_RETURN(auto pre, repo->catalog().get_point(req.pre_id));
    if (!pre) return fail(Error::not_found("recovery point {} does not exist", req.pre_id));
    if (pre->kind != "pre")
      return fail(
          Error::usage("recovery point {} is a {} point, not a pre point", req.pre_id, pre->kind));
  }
  return capture_into(*repo, specs, p, obs);
}

Status RecoveryPointManager::run_hook(const components::ComponentSpec& spec, const char* which,
                                      const std::vector<std::string>& argv) {
  if (argv.empty()) return ok();
  auto r = io::run_process(argv, std::chrono::minutes(10));
  if (!r) return fail(r.error().with_context(fmt::format("{} of component {}", which, spec.name)));
  if (r->timed_out || r->exit_code != 0)
    return fail(Error::other("{} of component {} ({}) {}{}", which, spec.name, argv[0],
                             io::describe(*r), r->output.empty() ? "" : ": " + r->output));
  return ok();
}

Result<CreateReport> RecoveryPointManager::capture_into(
    store::Repository& repo, const std::vector<components::ComponentSpec>& specs,
    catalog::PointRow p, ProgressObserver& obs, bool use_cache) {
  REWIND_TRY(repo.check_free_space(0));
  REWIND_TRY(repo.load_index());
  REWIND_ASSIGN_OR_RETURN(int64_t id, repo.next_point_id());
  REWIND_ASSIGN_OR_RETURN(auto points, repo.catalog().list_points());
  // The previous snapshot of each component, for the metadata cache.
  std::map<std::string, ChunkId> previous;
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    REWIND_ASSIGN_OR_RETURN(auto snaps, repo.catalog().snapshots(it->id));
    for (const auto& s : snaps)
      if (!previous.contains(s.component))
        if (auto m = ChunkId::parse(s.manifest)) previous[s.component] = *m;
  }
  store::ChunkWriter writer(repo, std::max(1, opts_.threads));
  CreateReport report;
  std::vector<catalog::SnapshotRow> rows;
  uint64_t added_before = 0;
  components::Context ctx{fs_, repo, opts_.system_root, obs, std::max(1, opts_.threads)};
  for (const auto& spec : specs) {
    components::Adapter* adapter = components::find_adapter(spec.adapter);
    if (!adapter)
      return fail(Error::usage("component {}: adapter '{}' is not available in this build",
                               spec.name, spec.adapter));
    std::optional<ChunkId> prev;
    if (auto it = previous.find(spec.name); use_cache && it != previous.end()) prev = it->second;
    REWIND_TRY(run_hook(spec, "pre_capture", spec.pre_capture));
    auto res = adapter->capture(ctx, spec, writer, prev);
    Status post = run_hook(spec, "post_capture", spec.post_capture);
    if (!res) return fail(res.error().with_context(fmt::format("component {}", spec.name)));
    if (!post) return fail(post.error());
    catalog::SnapshotRow row;
    row.point_id = id;
    row.component = spec.name;
    row.adapter = spec.adapter;
    row.category = spec.category;
    row.paths = spec.paths;
    row.exclude = spec.exclude;
    row.manifest = res->manifest.to_hex();
    row.entries = res->entries;
    row.size = res->size;
    row.stored = res->stored;
    row.added = writer.new_stored_bytes() - added_before;
    added_before = writer.new_stored_bytes();
    rows.push_back(row);
    report.entries += res->entries;
    report.size += res->size;
    report.files_read += res->files_read;
    report.bytes_read += res->bytes_read;
    for (auto& w : res->warnings) report.warnings.push_back(std::move(w));
  }
  p.id = id;
  p.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  p.user = current_user();
  struct utsname u;
  if (::uname(&u) == 0) {
    p.host = u.nodename;
    p.kernel = u.release;
  }
  Progress pr;
  pr.operation = "create";
  pr.phase = "commit";
  obs.on_progress(pr);
  REWIND_TRY(repo.commit_point(writer, p, rows));
  report.id = id;
  report.added = writer.new_stored_bytes();
  return report;
}

Status RecoveryPointManager::refuse_unfinished(store::Repository& repo) {
  REWIND_ASSIGN_OR_RETURN(auto ops, repo.catalog().unfinished_operations());
  if (ops.empty()) return ok();
  const auto& o = ops.front();
  return fail(Error::system_invalid(
      "{} operation {} (to recovery point {}) did not finish and left the system between two "
      "states; run `rewind recover` to finish or undo it",
      o.kind, o.id, o.point));
}

Result<std::vector<RecoveryPointInfo>> RecoveryPointManager::list() {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  REWIND_ASSIGN_OR_RETURN(auto usage, point_usage(*repo, points));
  std::vector<RecoveryPointInfo> out;
  for (const auto& p : points) {
    REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(p.id));
    out.push_back(to_info(p, snaps));
    out.back().unique = usage[p.id].unique;
  }
  return out;
}

Result<RecoveryPointInfo> RecoveryPointManager::get(const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(int64_t n, resolve(id));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto p, repo->catalog().get_point(n));
  if (!p) return fail(Error::not_found("recovery point {} does not exist", n));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(n));
  RecoveryPointInfo info = to_info(*p, snaps);
  // What each adapter says of its snapshot.
  REWIND_TRY(repo->load_index());
  NullObserver quiet;
  components::Context ctx{fs_, *repo, opts_.system_root, quiet, std::max(1, opts_.threads)};
  for (size_t i = 0; i < snaps.size(); ++i) {
    components::ComponentSpec spec = spec_of(snaps[i]);
    components::Adapter* adapter = components::find_adapter(spec.adapter);
    if (!adapter) continue;
    REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(snaps[i].manifest));
    REWIND_ASSIGN_OR_RETURN(nlohmann::json d, adapter->describe(ctx, spec, m));
    if (d.is_object() && !d.empty()) info.components[i].details = d.dump();
  }
  return info;
}

components::ComponentSpec RecoveryPointManager::spec_of(const catalog::SnapshotRow& snap) const {
  components::ComponentSpec spec;
  auto it =
      std::find_if(env_.components.begin(), env_.components.end(),
                   [&](const components::ComponentSpec& c) { return c.name == snap.component; });
  if (it != env_.components.end()) spec = *it;
  spec.name = snap.component;
  spec.adapter = snap.adapter;
  spec.category = snap.category;
  spec.paths = snap.paths.empty() && snap.adapter == "files"
                   ? std::vector<std::string>{snap.component}
                   : snap.paths;
  spec.exclude = snap.exclude;
  return spec;
}

Result<std::vector<DiffItem>> RecoveryPointManager::diff(const std::string& id,
                                                         const std::optional<std::string>& id2,
                                                         ProgressObserver& obs,
                                                         const DiffOptions& dopts) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(int64_t a, resolve_in(*repo, id));
  std::optional<int64_t> b;
  if (id2) {
    REWIND_ASSIGN_OR_RETURN(int64_t bb, resolve_in(*repo, *id2));
    b = bb;
  }
  REWIND_TRY(repo->load_index());
  REWIND_ASSIGN_OR_RETURN(auto sa, repo->catalog().snapshots(a));
  std::vector<catalog::SnapshotRow> sb;
  if (b) {
    REWIND_ASSIGN_OR_RETURN(sb, repo->catalog().snapshots(*b));
  }
  for (const auto& n : dopts.components) {
    auto has = [&](const std::vector<catalog::SnapshotRow>& v) {
      return std::any_of(v.begin(), v.end(), [&](const auto& s) { return s.component == n; });
    };
    if (!has(sa) && !has(sb))
      return fail(Error::not_found("recovery point {} has no component '{}'", a, n));
  }
  std::vector<DiffItem> out;
  std::set<std::string> names;
  for (auto& s : sa) names.insert(s.component);
  for (auto& s : sb) names.insert(s.component);
  auto find = [](const std::vector<catalog::SnapshotRow>& v,
                 const std::string& comp) -> const catalog::SnapshotRow* {
    for (auto& s : v)
      if (s.component == comp) return &s;
    return nullptr;
  };
  components::Context ctx{fs_, *repo, opts_.system_root, obs, std::max(1, opts_.threads)};
  for (const std::string& comp : names) {
    if (!dopts.components.empty() &&
        std::find(dopts.components.begin(), dopts.components.end(), comp) == dopts.components.end())
      continue;
    const catalog::SnapshotRow* ra = find(sa, comp);
    const catalog::SnapshotRow* rb = b ? find(sb, comp) : nullptr;
    if (!ra && !rb) continue;
    components::ComponentSpec spec = spec_of(ra ? *ra : *rb);
    components::Adapter* adapter = components::find_adapter(spec.adapter);
    if (!adapter)
      return fail(
          Error::invalid_state("component {}: adapter '{}' is not available", comp, spec.adapter));
    std::vector<components::Change> changes;
    if (b) {
      std::optional<ChunkId> ma, mb;
      if (ra) {
        REWIND_ASSIGN_OR_RETURN(ma, ChunkId::parse(ra->manifest));
      }
      if (rb) {
        REWIND_ASSIGN_OR_RETURN(mb, ChunkId::parse(rb->manifest));
      }
      auto d = adapter->diff_snapshots(ctx, spec, ma, mb);
      if (!d) return fail(d.error().with_context(fmt::format("component {}", comp)));
      changes = std::move(*d);
    } else {
      if (!ra) continue;
      REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(ra->manifest));
      auto d = adapter->diff_live(ctx, spec, m, dopts.content);
      if (!d) return fail(d.error().with_context(fmt::format("component {}", comp)));
      changes = std::move(*d);
    }
    for (auto& c : changes)
      out.push_back(DiffItem{comp, std::move(c.path), std::move(c.kind), std::move(c.attributes),
                             std::move(c.detail)});
  }
  return out;
}

namespace {
// Where a snapshot's entries go when it is restored as files: a file tree at
// its own paths; the state of other adapters (a database image, tunables, a
// command's directory) under /COMPONENT, so that `restore --to DIR` exports
// it as DIR/COMPONENT/... .
std::string restore_root(const catalog::SnapshotRow& s) {
  if (!components::holds_file_tree(s.adapter)) return "/" + s.component;
  return components::component_root(s.paths.empty() ? std::vector<std::string>{s.component}
                                                    : s.paths);
}
}  // namespace

Result<RestoreReport> RecoveryPointManager::restore(const RestoreRequest& req,
                                                    ProgressObserver& obs) {
  REWIND_ASSIGN_OR_RETURN(int64_t id, resolve(req.point));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(id));
  std::vector<std::string> want;
  for (const auto& p : req.paths) {
    REWIND_ASSIGN_OR_RETURN(std::string n, components::files::normalize_abs(p));
    want.push_back(n);
  }
  // Which components, with which selections.
  struct Work {
    const catalog::SnapshotRow* snap;
    std::vector<std::string> select;
  };
  std::vector<Work> work;
  std::set<std::string> matched;
  for (const auto& s : snaps) {
    const std::string comp = restore_root(s);
    if (want.empty()) {
      work.push_back(Work{&s, {}});
      continue;
    }
    Work w{&s, {}};
    bool whole = false;
    for (const auto& p : want) {
      if (auto rel = components::relative_path(comp, p)) {
        matched.insert(p);
        if (rel->empty())
          whole = true;
        else
          w.select.push_back(*rel);
      } else if (components::relative_path(p, comp)) {
        matched.insert(p);
        whole = true;
      }
    }
    if (whole) w.select.clear();
    if (whole || !w.select.empty()) work.push_back(std::move(w));
  }
  for (const auto& p : want)
    if (!matched.contains(p))
      return fail(Error::not_found("{} is not in recovery point {}", p, id));
  std::string target = opts_.system_root;
  if (req.to) {
    REWIND_ASSIGN_OR_RETURN(std::string to, components::files::normalize_abs(*req.to));
    target = to;
    auto d = fs_.open_path(to, O_RDONLY | O_DIRECTORY);
    if (d) {
      REWIND_ASSIGN_OR_RETURN(auto list, fs_.list_dir(d->get()));
      if (!list.empty() && !req.overwrite)
        return fail(Error::usage(
            "{} is not empty; choose a new or empty directory, or pass --overwrite", to));
    } else if (d.error().code() == ErrorCode::kNotFound) {
      // mkdir -p
      REWIND_ASSIGN_OR_RETURN(io::Fd cur, fs_.open_path("/", O_RDONLY | O_DIRECTORY));
      size_t pos = 1;
      while (pos <= to.size()) {
        size_t next = to.find('/', pos);
        if (next == std::string::npos) next = to.size();
        std::string comp = to.substr(pos, next - pos);
        pos = next + 1;
        if (comp.empty()) continue;
        Status st = fs_.mkdir_at(cur.get(), comp, 0755);
        if (!st && st.error().sys_errno() != EEXIST) return fail(st.error());
        REWIND_ASSIGN_OR_RETURN(io::Fd nxt,
                                fs_.open_path(to.substr(0, next), O_RDONLY | O_DIRECTORY));
        cur = std::move(nxt);
      }
    } else {
      return fail(d.error());
    }
  }
  // Load and validate every manifest before the first byte is written.
  std::vector<std::vector<store::Entry>> manifests;
  for (const auto& w : work) {
    REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(w.snap->manifest));
    auto entries = store::load_manifest(source(*repo), m);
    if (!entries)
      return fail(entries.error().with_context(fmt::format("snapshot of {}", w.snap->component)));
    manifests.push_back(std::move(*entries));
  }
  RestoreReport report;
  report.id = id;
  for (size_t i = 0; i < work.size(); ++i) {
    components::files::RestoreOptions ro;
    ro.component_path = restore_root(*work[i].snap);
    ro.target_root = target;
    ro.select = work[i].select;
    ro.threads = std::max(1, opts_.threads);
    auto r = components::files::restore(fs_, *repo, manifests[i], ro, obs);
    if (!r) return fail(r.error());
    report.files += r->files;
    report.bytes += r->bytes;
    report.entries += r->entries;
    for (auto& w : r->warnings) report.warnings.push_back(std::move(w));
  }
  return report;
}

Status RecoveryPointManager::dump(const std::string& id, const std::string& path, int out_fd) {
  REWIND_ASSIGN_OR_RETURN(int64_t n, resolve(id));
  REWIND_ASSIGN_OR_RETURN(std::string abs, components::files::normalize_abs(path));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(n));
  for (const auto& s : snaps) {
    const std::string comp = components::component_root(
        s.paths.empty() ? std::vector<std::string>{s.component} : s.paths);
    auto rel = components::relative_path(comp, abs);
    if (!rel) continue;
    REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(s.manifest));
    REWIND_ASSIGN_OR_RETURN(store::Entry e, store::lookup_entry(source(*repo), m, *rel));
    return components::files::write_content(fs_, *repo, e, out_fd);
  }
  return fail(Error::not_found("{} is not in recovery point {}", abs, n));
}

Result<VerifyReport> RecoveryPointManager::verify(bool read_data, ProgressObserver& obs) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  VerifyReport rep;
  REWIND_ASSIGN_OR_RETURN(auto packs, repo->catalog().list_packs());
  REWIND_TRY(repo->load_index());
  std::map<int64_t, uint64_t> chunks_per_pack;
  for (const auto& [id, loc] : repo->index()) ++chunks_per_pack[loc.pack];
  Progress pr;
  pr.operation = "verify";
  pr.phase = read_data ? "read-data" : "structure";
  pr.files_total = packs.size();
  for (const auto& p : packs) pr.bytes_total += p.size;
  store::Decompressor dec;
  std::vector<std::byte> scratch, out;
  for (const auto& p : packs) {
    ++rep.packs;
    auto fd = fs_.open_at(repo->packs_dirfd(), p.name + ".pack", O_RDONLY);
    if (!fd) {
      rep.problems.push_back(fmt::format("pack {}: {}", p.name, fd.error().message()));
      continue;
    }
    auto st = fs_.fstat(fd->get());
    if (st && st->size != p.size)
      rep.problems.push_back(
          fmt::format("pack {}: size {} differs from the catalog's {}", p.name, st->size, p.size));
    auto entries = store::read_pack_index(fs_, fd->get(), p.name);
    if (!entries) {
      rep.problems.push_back(entries.error().message());
      continue;
    }
    // Counted by where the index points: a pack may also hold copies of
    // chunks indexed in another pack (an interrupted prune leaves them).
    uint64_t indexed_here = 0;
    for (const auto& e : *entries) {
      auto loc = repo->locate(e.id);
      if (loc && loc->pack == p.id) ++indexed_here;
    }
    if (indexed_here != chunks_per_pack[p.id])
      rep.problems.push_back(
          fmt::format("pack {}: holds {} of the {} chunks the catalog indexes in it", p.name,
                      indexed_here, chunks_per_pack[p.id]));
    for (const auto& e : *entries) {
      ++rep.chunks;
      // A chunk stored twice (in two packs) is harmless; one the catalog
      // does not know is a problem.
      if (!repo->locate(e.id))
        rep.problems.push_back(
            fmt::format("pack {} chunk {}: not in the catalog", p.name, e.id.to_hex()));
      if (read_data) {
        Status cs = store::read_chunk(fs_, fd->get(), p.name, e, dec, scratch, out, repo->keys());
        if (!cs) rep.problems.push_back(cs.error().message());
        rep.bytes_read += e.stored_len;
      }
    }
    ++pr.files_done;
    pr.bytes_done += p.size;
    obs.on_progress(pr);
  }
  // Root records against the catalog, and every manifest.
  std::vector<std::string> problems;
  REWIND_ASSIGN_OR_RETURN(auto roots, repo->read_root_records(&problems));
  for (auto& pb : problems) rep.problems.push_back(pb);
  std::map<int64_t, const store::RootRecord*> by_id;
  for (const auto& r : roots) by_id[r.point.id] = &r;
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  for (const auto& p : points) {
    ++rep.points;
    auto it = by_id.find(p.id);
    if (it == by_id.end()) {
      rep.problems.push_back(fmt::format("recovery point {}: no valid root record", p.id));
    } else if (it->second->seq != p.root_seq) {
      rep.problems.push_back(
          fmt::format("recovery point {}: catalog is at root record {}, newest is {}", p.id,
                      p.root_seq, it->second->seq));
    }
    REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(p.id));
    for (const auto& s : snaps) {
      auto m = ChunkId::parse(s.manifest);
      if (!m) {
        rep.problems.push_back(
            fmt::format("recovery point {} component {}: bad manifest id", p.id, s.component));
        continue;
      }
      auto entries = store::load_manifest(source(*repo), *m);
      if (!entries) {
        rep.problems.push_back(fmt::format("recovery point {} component {}: {}", p.id, s.component,
                                           entries.error().message()));
        continue;
      }
      for (const auto& e : *entries)
        for (const auto& c : e.chunks)
          if (!repo->locate(c.id))
            rep.problems.push_back(
                fmt::format("recovery point {} component {}: '{}' needs chunk {}, which is missing",
                            p.id, s.component, e.path, c.id.to_hex()));
    }
  }
  for (const auto& r : roots)
    if (std::none_of(points.begin(), points.end(), [&](auto& p) { return p.id == r.point.id; }))
      // A create interrupted after its root record: complete, imported by
      // the next writer or `repair`.
      rep.notes.push_back(
          fmt::format("recovery point {} is complete but not yet in the catalog (root record {}); "
                      "the next create or `rewind repair` adds it",
                      r.point.id, r.file));
  return rep;
}

Result<RepairReport> RecoveryPointManager::repair(ProgressObserver& obs) {
  store::OpenOptions o;
  o.write = true;
  o.wait = opts_.wait_for_lock;
  o.operation = "repair";
  o.sync_catalog = false;
  o.passphrase = passphrase_source(fs_, opts_);
  o.key_cache = &key_cache_;
  auto repo = store::Repository::open(fs_, opts_.repository, o);
  if (!repo && repo.error().code() == ErrorCode::kCorruptedData) {
    // The catalog is unreadable: set it aside (never delete repository data)
    // and build a new one.
    REWIND_ASSIGN_OR_RETURN(io::Fd dir, fs_.open_path(opts_.repository, O_RDONLY | O_DIRECTORY));
    std::string aside = fmt::format("catalog.db.damaged-{}", ::time(nullptr));
    REWIND_TRY(fs_.rename_at(dir.get(), "catalog.db", dir.get(), aside));
    for (const char* ext : {"-wal", "-shm"}) {
      Status st = fs_.rename_at(dir.get(), std::string("catalog.db") + ext, dir.get(), aside + ext);
      ignore_status(st, "the side files may not exist");
    }
    REWIND_TRY(fs_.fsync_dir(dir.get()));
    obs.on_warning(fmt::format("the catalog was unreadable; kept as {}", aside));
    repo = store::Repository::open(fs_, opts_.repository, o);
  }
  if (!repo) return fail(repo.error());
  REWIND_ASSIGN_OR_RETURN(auto sync, (*repo)->sync_catalog(true));
  RepairReport rep;
  rep.packs = sync.packs_imported;
  rep.chunks = sync.chunks_imported;
  rep.points = sync.points_imported;
  rep.problems = sync.problems;
  return rep;
}

}  // namespace rwd::engine
