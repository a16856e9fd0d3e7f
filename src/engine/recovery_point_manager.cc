// SPDX-License-Identifier: Apache-2.0
#include "engine/recovery_point_manager.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "components/files/files.h"
#include "components/files/walk.h"
#include "store/manifest.h"

namespace rwd::engine {

using store::ChunkId;

namespace {

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
  for (const auto& s : snaps)
    r.components.push_back(ComponentInfo{s.component, s.adapter, s.category, s.paths, s.entries,
                                         s.size, s.stored, s.added});
  return r;
}

store::ChunkSource source(store::Repository& repo) {
  return [&repo](const ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
    return repo.read_chunk(id, t, out);
  };
}

// The component-relative form of an absolute path, if the component holds it.
std::optional<std::string> relative_to(const std::string& comp, const std::string& abs) {
  if (comp == "/") return abs == "/" ? std::string() : abs.substr(1);
  if (abs == comp) return std::string();
  if (abs.size() > comp.size() && abs.compare(0, comp.size(), comp) == 0 && abs[comp.size()] == '/')
    return abs.substr(comp.size() + 1);
  return std::nullopt;
}

std::string absolute_in(const std::string& comp, const std::string& rel) {
  if (rel.empty()) return comp;
  return comp == "/" ? "/" + rel : comp + "/" + rel;
}

}  // namespace

Result<std::unique_ptr<store::Repository>> RecoveryPointManager::open_repo(bool write,
                                                                           const std::string& op) {
  store::OpenOptions o;
  o.write = write;
  o.wait = opts_.wait_for_lock;
  o.operation = op;
  return store::Repository::open(fs_, opts_.repository, o);
}

Result<int64_t> RecoveryPointManager::resolve(const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  if (id == "latest" || id.rfind("latest:", 0) == 0) {
    std::string kind = id == "latest" ? "" : id.substr(7);
    for (auto it = points.rbegin(); it != points.rend(); ++it)
      if (kind.empty() || it->kind == kind) return it->id;
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

Result<CreateReport> RecoveryPointManager::create(const CreateOptions& req, ProgressObserver& obs) {
  if (req.paths.empty()) return fail(Error::usage("nothing to capture: give at least one --path"));
  std::vector<std::string> paths;
  for (const auto& p : req.paths) {
    REWIND_ASSIGN_OR_RETURN(std::string n, components::files::normalize_abs(p));
    paths.push_back(n);
  }
  std::sort(paths.begin(), paths.end());
  for (size_t i = 1; i < paths.size(); ++i) {
    if (paths[i] == paths[i - 1]) return fail(Error::usage("--path {} is given twice", paths[i]));
    if (relative_to(paths[i - 1], paths[i]))
      return fail(
          Error::usage("--path {} lies inside --path {}; give only one", paths[i], paths[i - 1]));
  }
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(true, "create"));
  REWIND_TRY(repo->check_free_space(0));
  REWIND_TRY(repo->load_index());
  REWIND_ASSIGN_OR_RETURN(io::Stat repo_st, fs_.fstat(repo->dirfd()));
  REWIND_ASSIGN_OR_RETURN(int64_t id, repo->next_point_id());
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  // The previous snapshot of each component, for the metadata cache.
  std::map<std::string, ChunkId> previous;
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(it->id));
    for (const auto& s : snaps)
      if (!previous.contains(s.component))
        if (auto m = ChunkId::parse(s.manifest)) previous[s.component] = *m;
  }
  store::ChunkWriter writer(*repo, std::max(1, opts_.threads));
  CreateReport report;
  std::vector<catalog::SnapshotRow> rows;
  uint64_t added_before = 0;
  for (const std::string& path : paths) {
    components::files::CaptureOptions co;
    co.system_root = opts_.system_root;
    co.path = path;
    co.exclude = req.exclude;
    co.repo_dev = repo_st.dev;
    co.repo_ino = repo_st.ino;
    co.chunker = repo->config().chunker;
    if (auto it = previous.find(path); it != previous.end()) co.previous = it->second;
    auto res = components::files::capture(fs_, *repo, writer, co, obs);
    if (!res) return fail(res.error());
    catalog::SnapshotRow row;
    row.point_id = id;
    row.component = path;
    row.adapter = "files";
    row.category = "other";
    row.paths = {path};
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
  catalog::PointRow p;
  p.id = id;
  p.name = req.name;
  p.description = req.description;
  p.kind = req.kind;
  p.cause = req.cause;
  p.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  p.user = current_user();
  struct utsname u;
  if (::uname(&u) == 0) {
    p.host = u.nodename;
    p.kernel = u.release;
  }
  p.tags = req.tags;
  p.pinned = req.pinned;
  Progress pr;
  pr.operation = "create";
  pr.phase = "commit";
  obs.on_progress(pr);
  REWIND_TRY(repo->commit_point(writer, p, rows));
  report.id = id;
  report.added = writer.new_stored_bytes();
  return report;
}

Result<std::vector<RecoveryPointInfo>> RecoveryPointManager::list() {
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto points, repo->catalog().list_points());
  std::vector<RecoveryPointInfo> out;
  for (const auto& p : points) {
    REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(p.id));
    out.push_back(to_info(p, snaps));
  }
  return out;
}

Result<RecoveryPointInfo> RecoveryPointManager::get(const std::string& id) {
  REWIND_ASSIGN_OR_RETURN(int64_t n, resolve(id));
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto p, repo->catalog().get_point(n));
  if (!p) return fail(Error::not_found("recovery point {} does not exist", n));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo->catalog().snapshots(n));
  return to_info(*p, snaps);
}

Result<std::vector<DiffItem>> RecoveryPointManager::diff(const std::string& id,
                                                         const std::optional<std::string>& id2,
                                                         ProgressObserver& obs) {
  REWIND_ASSIGN_OR_RETURN(int64_t a, resolve(id));
  std::optional<int64_t> b;
  if (id2) {
    REWIND_ASSIGN_OR_RETURN(int64_t bb, resolve(*id2));
    b = bb;
  }
  REWIND_ASSIGN_OR_RETURN(auto repo, open_repo(false, ""));
  REWIND_TRY(repo->load_index());
  REWIND_ASSIGN_OR_RETURN(auto sa, repo->catalog().snapshots(a));
  std::vector<catalog::SnapshotRow> sb;
  if (b) {
    REWIND_ASSIGN_OR_RETURN(sb, repo->catalog().snapshots(*b));
  }
  std::vector<DiffItem> out;
  auto emit = [&](const std::string& comp, const std::vector<components::files::Change>& changes) {
    for (const auto& c : changes)
      out.push_back(DiffItem{comp, absolute_in(comp, c.path),
                             std::string(components::files::change_kind_name(c.kind)),
                             c.attributes});
  };
  std::set<std::string> names;
  for (auto& s : sa) names.insert(s.component);
  for (auto& s : sb) names.insert(s.component);
  for (const std::string& comp : names) {
    auto find = [&](const std::vector<catalog::SnapshotRow>& v) -> const catalog::SnapshotRow* {
      for (auto& s : v)
        if (s.component == comp) return &s;
      return nullptr;
    };
    const catalog::SnapshotRow* ra = find(sa);
    std::vector<store::Entry> ea, eb;
    if (ra) {
      REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(ra->manifest));
      REWIND_ASSIGN_OR_RETURN(ea, store::load_manifest(source(*repo), m));
    }
    if (b) {
      const catalog::SnapshotRow* rb = find(sb);
      if (rb) {
        REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(rb->manifest));
        REWIND_ASSIGN_OR_RETURN(eb, store::load_manifest(source(*repo), m));
      }
      emit(comp, components::files::diff_manifests(ea, eb));
    } else {
      components::files::CaptureOptions co;
      co.system_root = opts_.system_root;
      co.path = comp;
      co.chunker = repo->config().chunker;
      REWIND_ASSIGN_OR_RETURN(io::Stat rst, fs_.fstat(repo->dirfd()));
      co.repo_dev = rst.dev;
      co.repo_ino = rst.ino;
      auto changes = components::files::diff_live(fs_, ea, co, obs);
      if (!changes) {
        if (changes.error().code() != ErrorCode::kNotFound) return fail(changes.error());
        // The whole component is gone from the live system.
        changes = std::vector<components::files::Change>{
            {"", components::files::ChangeKind::kRemoved, {}}};
      }
      emit(comp, *changes);
    }
  }
  return out;
}

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
    const std::string& comp = s.paths.empty() ? s.component : s.paths[0];
    if (want.empty()) {
      work.push_back(Work{&s, {}});
      continue;
    }
    Work w{&s, {}};
    bool whole = false;
    for (const auto& p : want) {
      if (auto rel = relative_to(comp, p)) {
        matched.insert(p);
        if (rel->empty())
          whole = true;
        else
          w.select.push_back(*rel);
      } else if (relative_to(p, comp)) {
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
    ro.component_path =
        work[i].snap->paths.empty() ? work[i].snap->component : work[i].snap->paths[0];
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
    const std::string& comp = s.paths.empty() ? s.component : s.paths[0];
    auto rel = relative_to(comp, abs);
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
    if (entries->size() != chunks_per_pack[p.id])
      rep.problems.push_back(fmt::format("pack {}: holds {} chunks, the catalog indexes {}", p.name,
                                         entries->size(), chunks_per_pack[p.id]));
    for (const auto& e : *entries) {
      ++rep.chunks;
      // A chunk stored twice (in two packs) is harmless; one the catalog
      // does not know is a problem.
      if (!repo->locate(e.id))
        rep.problems.push_back(
            fmt::format("pack {} chunk {}: not in the catalog", p.name, e.id.to_hex()));
      if (read_data) {
        Status cs = store::read_chunk(fs_, fd->get(), p.name, e, dec, scratch, out);
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
