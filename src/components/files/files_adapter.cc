// SPDX-License-Identifier: Apache-2.0
// The files adapter behind the adapter seam.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "components/adapter.h"
#include "components/files/files.h"
#include "components/files/walk.h"

namespace rwd::components {

namespace {

using store::ChunkId;
using store::Entry;

store::ChunkSource source(store::Repository& repo) {
  return [&repo](const ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
    return repo.read_chunk(id, t, out);
  };
}

Result<files::CaptureOptions> capture_options(Context& ctx, const ComponentSpec& spec) {
  if (spec.paths.empty()) return fail(Error::usage("component {} names no paths", spec.name));
  files::CaptureOptions co;
  co.system_root = ctx.system_root;
  co.path = component_root(spec.paths);
  if (spec.paths.size() > 1) co.include = spec.paths;
  co.exclude = spec.exclude;
  co.chunker = ctx.repo.config().chunker;
  co.data_id = [&repo = ctx.repo](std::span<const std::byte> d) {
    return repo.chunk_id(store::ChunkType::kData, d);
  };
  REWIND_ASSIGN_OR_RETURN(io::Stat rst, ctx.fs.fstat(ctx.repo.dirfd()));
  co.repo_dev = rst.dev;
  co.repo_ino = rst.ino;
  return co;
}

// Component-relative forms of the component's own paths (for a component of
// several paths rooted at their common ancestor).
std::vector<std::string> own_paths(const ComponentSpec& spec) {
  std::vector<std::string> out;
  if (spec.paths.size() <= 1) return out;
  std::string root = component_root(spec.paths);
  for (const auto& p : spec.paths) out.push_back(relative_path(root, p).value_or(p));
  return out;
}

bool in_own_paths(const std::vector<std::string>& own, const std::string& rel) {
  if (own.empty()) return true;
  return std::any_of(own.begin(), own.end(),
                     [&](const std::string& o) { return store::path_within(rel, o); });
}

// The directories on the way to the component must be directories: a
// symlink or file there is refused (rewind never writes through one, and
// replacing a directory outside the component is not its business).
Status check_way(Context& ctx, const std::string& root) {
  if (root == "/") return ok();
  size_t slash = root.rfind('/');
  std::string parent = slash == 0 ? "." : root.substr(1, slash - 1);
  REWIND_ASSIGN_OR_RETURN(io::Fd sysroot,
                          ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
  auto d = ctx.fs.open_beneath(sysroot.get(), parent, O_RDONLY | O_DIRECTORY);
  if (d || d.error().sys_errno() == ENOENT) return ok();
  if (d.error().sys_errno() == ELOOP || d.error().sys_errno() == ENOTDIR ||
      d.error().code() == ErrorCode::kInvalidState)
    return fail(Error::invalid_state(
        "{}: a directory on the way to {} is a symlink or not a directory; rewind does not "
        "write through it (make it a directory again, then retry)",
        parent == "." ? "/" : "/" + parent, root));
  return fail(d.error());
}

class FilesAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "files"; }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>& previous) override {
    REWIND_ASSIGN_OR_RETURN(files::CaptureOptions co, capture_options(ctx, spec));
    co.previous = previous;
    REWIND_ASSIGN_OR_RETURN(files::CaptureResult r,
                            files::capture(ctx.fs, ctx.repo, writer, co, ctx.obs));
    Captured c;
    c.manifest = r.manifest;
    c.entries = r.entries;
    c.size = r.size;
    c.stored = r.stored;
    c.files_read = r.files_read;
    c.bytes_read = r.bytes_read;
    c.warnings = std::move(r.warnings);
    return c;
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest, bool content) override {
    REWIND_ASSIGN_OR_RETURN(auto entries, store::load_manifest(source(ctx.repo), manifest));
    REWIND_ASSIGN_OR_RETURN(files::CaptureOptions co, capture_options(ctx, spec));
    auto changes = files::diff_live(ctx.fs, entries, co, ctx.obs, content);
    std::vector<Change> out;
    if (!changes) {
      if (changes.error().code() != ErrorCode::kNotFound) return fail(changes.error());
      out.push_back(Change{co.path, "removed", {}, {}});
      return out;
    }
    std::vector<std::string> own = own_paths(spec);
    for (const auto& c : *changes) {
      if (!in_own_paths(own, c.path)) continue;
      out.push_back(Change{join_path(co.path, c.path),
                           std::string(files::change_kind_name(c.kind)),
                           c.attributes,
                           {}});
    }
    return out;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest,
                    bool incremental, bool remove_extra,
                    const std::vector<std::string>& select) override {
    Plan plan;
    plan.incremental = incremental;
    plan.remove_extra = remove_extra;
    REWIND_ASSIGN_OR_RETURN(plan.entries, store::load_manifest(source(ctx.repo), manifest));
    REWIND_ASSIGN_OR_RETURN(files::CaptureOptions co, capture_options(ctx, spec));
    co.temp_leftovers = true;
    std::string root = co.path;
    REWIND_TRY(check_way(ctx, root));
    std::vector<std::string> own = own_paths(spec);
    auto rp = std::make_shared<files::RollbackPlan>();
    if (!remove_extra) {
      // A restore: the selection (or everything), nothing removed. A root
      // that is missing (or sits behind a non-directory) has nothing for the
      // safety point to keep.
      {
        REWIND_ASSIGN_OR_RETURN(io::Fd sysroot,
                                ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
        auto d = ctx.fs.open_beneath(sysroot.get(), root == "/" ? "." : root.substr(1),
                                     O_RDONLY | O_DIRECTORY);
        if (!d && d.error().sys_errno() == ENOENT) plan.absent = true;
      }
      plan.select = select.empty() ? own : select;
      for (const Entry& e : plan.entries) {
        bool sel = plan.select.empty() ||
                   std::any_of(plan.select.begin(), plan.select.end(),
                               [&](const std::string& s) { return store::path_within(e.path, s); });
        if (!sel) continue;
        plan.replace.push_back(join_path(root, e.path));
        if (e.type == store::EntryType::kFile) {
          ++plan.files;
          plan.bytes += e.size;
        }
      }
      plan.adapter_data = rp;
      return plan;
    }
    REWIND_ASSIGN_OR_RETURN(*rp,
                            files::plan_rollback(ctx.fs, plan.entries, co, incremental, ctx.obs));
    if (!own.empty()) {
      // Directories on the way to the component's paths are not its own.
      auto keep = [&](std::vector<std::string>& v) {
        std::erase_if(v, [&](const std::string& p) { return !in_own_paths(own, p); });
      };
      keep(rp->replace);
      keep(rp->add);
      keep(rp->remove);
      plan.select = own;
    }
    for (const auto& p : rp->replace) plan.replace.push_back(join_path(root, p));
    for (const auto& p : rp->add) plan.add.push_back(join_path(root, p));
    for (const auto& p : rp->remove) plan.remove.push_back(join_path(root, p));
    plan.bytes = rp->bytes;
    plan.files = rp->files;
    plan.absent = rp->missing;
    plan.adapter_data = rp;
    return plan;
  }

  Status remove(Context& ctx, const ComponentSpec& spec) override {
    return files::remove_component(ctx.fs, ctx.system_root, spec.paths);
  }

  Status validate(Context& ctx, const Plan& plan) override {
    REWIND_TRY(ctx.repo.load_index());
    const auto* rp = static_cast<const files::RollbackPlan*>(plan.adapter_data.get());
    std::vector<char> needed(plan.entries.size(), plan.remove_extra && plan.incremental ? 0 : 1);
    if (plan.remove_extra && plan.incremental && rp) {
      std::unordered_map<std::string_view, size_t> index;
      for (size_t i = 0; i < plan.entries.size(); ++i) index.emplace(plan.entries[i].path, i);
      for (const auto* v : {&rp->replace, &rp->add})
        for (const auto& p : *v)
          if (auto it = index.find(p); it != index.end()) needed[it->second] = 1;
    }
    auto data_of = [&](size_t i) -> const Entry* {
      const Entry* e = &plan.entries[i];
      if (e->type == store::EntryType::kHardlink && e->link_index < plan.entries.size())
        e = &plan.entries[e->link_index];
      return e->type == store::EntryType::kFile ? e : nullptr;
    };
    Progress pr;
    pr.operation = "validate";
    pr.phase = "read";
    for (size_t i = 0; i < plan.entries.size(); ++i)
      if (const Entry* e = needed[i] ? data_of(i) : nullptr) {
        ++pr.files_total;
        pr.bytes_total += e->size;
      }
    std::vector<std::byte> buf;
    for (size_t i = 0; i < plan.entries.size(); ++i) {
      const Entry* e = needed[i] ? data_of(i) : nullptr;
      if (!e) continue;
      for (const auto& c : e->chunks) {
        Status st = ctx.repo.read_chunk(c.id, store::ChunkType::kData, buf);
        if (!st)
          return fail(Error::corrupted_data("'{}' cannot be restored: {}", plan.entries[i].path,
                                            st.error().message()));
      }
      ++pr.files_done;
      pr.bytes_done += e->size;
      ctx.obs.on_progress(pr);
    }
    return ok();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    files::RestoreOptions ro;
    ro.component_path = component_root(spec.paths);
    ro.target_root = ctx.system_root;
    ro.select = plan.select;
    ro.threads = ctx.threads;
    files::RestoreResult r;
    if (plan.remove_extra) {
      const auto* rp = static_cast<const files::RollbackPlan*>(plan.adapter_data.get());
      if (!rp) return fail(Error::invalid_state("component {}: no rollback plan", spec.name));
      REWIND_ASSIGN_OR_RETURN(r, files::apply_rollback(ctx.fs, ctx.repo, plan.entries, *rp,
                                                       plan.incremental, ro, ctx.obs));
    } else {
      REWIND_ASSIGN_OR_RETURN(r, files::restore(ctx.fs, ctx.repo, plan.entries, ro, ctx.obs));
    }
    Applied a;
    a.files = r.files;
    a.bytes = r.bytes;
    a.entries = r.entries;
    a.removed = r.removed;
    a.warnings = std::move(r.warnings);
    return a;
  }
};

}  // namespace

Adapter& files_adapter() {
  static FilesAdapter a;
  return a;
}

std::optional<std::string> relative_path(const std::string& root, const std::string& abs) {
  if (root == "/") return abs == "/" ? std::string() : abs.substr(1);
  if (abs == root) return std::string();
  if (abs.size() > root.size() && abs.compare(0, root.size(), root) == 0 && abs[root.size()] == '/')
    return abs.substr(root.size() + 1);
  return std::nullopt;
}

std::string join_path(const std::string& root, const std::string& rel) {
  if (rel.empty()) return root;
  return root == "/" ? "/" + rel : root + "/" + rel;
}

std::string component_root(const std::vector<std::string>& paths) {
  if (paths.empty()) return "/";
  std::string root = paths[0];
  for (const auto& p : paths) {
    while (root != "/" && !store::path_within(p, root)) {
      size_t slash = root.rfind('/');
      root = slash == 0 ? "/" : root.substr(0, slash);
    }
  }
  return root;
}

}  // namespace rwd::components
