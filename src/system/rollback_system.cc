// SPDX-License-Identifier: Apache-2.0
#include "rewind/rollback_system.h"

#include "components/adapter.h"
#include "components/services/manager.h"
#include "config/config.h"
#include "engine/recovery_point_manager.h"
#include "engine/rollback_engine.h"
#include "io/fs.h"
#include "store/prune.h"
#include "store/repository.h"

namespace rwd {

namespace {

std::string under_root(const std::string& root, const std::string& path) {
  if (root == "/") return path;
  return path == "/" ? root : root + path;
}

struct Loaded {
  SystemOptions options;
  engine::Environment env;
  std::vector<ConfiguredComponent> configured;
  std::vector<std::string> files;
  int compression = 3;
  bool shred = false;  // [repository] shred
};

Result<Loaded> load(io::Fs& fs, const SystemOptions& in) {
  Loaded l;
  l.options = in;
  std::optional<config::Config> cfg;
  if (in.use_config) {
    REWIND_ASSIGN_OR_RETURN(cfg, config::load(fs, in.system_root, in.config_file));
  }
  if (cfg) {
    l.files = cfg->files;
    l.compression = cfg->repository.compression_level;
    l.shred = cfg->repository.shred;
    if (l.options.repository.empty() && !cfg->repository.path.empty())
      l.options.repository = under_root(in.system_root, cfg->repository.path);
    for (const auto& c : cfg->components) {
      components::ComponentSpec s;
      s.name = c.name;
      s.adapter = c.adapter;
      s.category = c.category;
      s.paths = c.paths;
      s.exclude = c.exclude;
      s.depends_on = c.depends_on;
      s.services = c.services;
      s.critical = c.critical;
      s.pre_capture = c.pre_capture;
      s.post_capture = c.post_capture;
      s.settings = c.settings;
      components::Adapter* adapter = components::find_adapter(c.adapter);
      if (!adapter)
        return fail(Error::usage("{}: component \"{}\": adapter \"{}\" is not part of this build",
                                 c.origin, c.name, c.adapter));
      if (Status st = adapter->check_settings(s); !st)
        return fail(
            Error(st.error().code(), fmt::format("{}: {}", c.origin, st.error().message())));
      l.env.components.push_back(s);
      l.configured.push_back(ConfiguredComponent{c.name, c.adapter, c.category, c.paths, c.exclude,
                                                 c.depends_on, c.services, c.critical, c.origin});
    }
    // The same keys as a services component's, read by the same code.
    const config::ServiceManagerConfig& sm = cfg->service_manager;
    nlohmann::json ms = {{"manager", sm.type}, {"timeout", sm.timeout}};
    for (const auto& [k, v] : {std::pair{"stop", &sm.stop}, std::pair{"start", &sm.start},
                               std::pair{"status", &sm.status}, std::pair{"sv", &sm.sv},
                               std::pair{"systemctl", &sm.systemctl}})
      if (!v->empty()) ms[k] = *v;
    if (!sm.service_dir.empty()) ms["service_dir"] = sm.service_dir;
    if (!sm.sv_dir.empty()) ms["sv_dir"] = sm.sv_dir;
    REWIND_ASSIGN_OR_RETURN(l.env.service_manager,
                            components::services::parse_manager_settings(ms, "service_manager"));
  }
  if (l.options.repository.empty())
    l.options.repository = under_root(in.system_root, "/var/lib/rewind");
  return l;
}

}  // namespace

struct RollbackSystem::Impl {
  Impl(io::Fs& fs, Loaded l)
      : configured(std::move(l.configured)),
        files(std::move(l.files)),
        shred(l.shred),
        manager(fs, std::move(l.options), std::move(l.env)),
        engine(fs, manager) {}
  std::vector<ConfiguredComponent> configured;
  std::vector<std::string> files;
  bool shred;
  engine::RecoveryPointManager manager;
  engine::RollbackEngine engine;
};

const char* version() { return "0.2.0"; }
int repository_format_version() { return store::kRepoFormatVersion; }

Result<std::string> RollbackSystem::init_repository(const SystemOptions& options,
                                                    std::optional<int> compression_level) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  REWIND_ASSIGN_OR_RETURN(Loaded l, load(fs, options));
  store::InitOptions io;
  io.compression_level = compression_level.value_or(l.compression);
  REWIND_ASSIGN_OR_RETURN(auto repo, store::Repository::init(fs, l.options.repository, io));
  (void)repo;
  return l.options.repository;
}

Result<std::unique_ptr<RollbackSystem>> RollbackSystem::open(const SystemOptions& options) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  REWIND_ASSIGN_OR_RETURN(Loaded l, load(fs, options));
  return std::unique_ptr<RollbackSystem>(
      new RollbackSystem(std::make_unique<Impl>(fs, std::move(l))));
}

RollbackSystem::RollbackSystem(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollbackSystem::~RollbackSystem() = default;

const SystemOptions& RollbackSystem::options() const { return impl_->manager.options(); }
const std::vector<ConfiguredComponent>& RollbackSystem::configured_components() const {
  return impl_->configured;
}
const std::vector<std::string>& RollbackSystem::configuration_files() const { return impl_->files; }

Result<CreateReport> RollbackSystem::create_recovery_point(const CreateOptions& opts,
                                                           ProgressObserver& obs) {
  return impl_->manager.create(opts, obs);
}

Result<CreateReport> RollbackSystem::create_recovery_point_with_name(
    const std::string& name, const std::vector<std::string>& paths, ProgressObserver& obs) {
  CreateOptions o;
  o.name = name;
  o.paths = paths;
  return impl_->manager.create(o, obs);
}

Result<CreateReport> RollbackSystem::create_update_recovery_point(const std::string& name,
                                                                  ProgressObserver& obs) {
  CreateOptions o;
  o.name = name;
  o.kind = "pre";
  o.cause = "update";
  return impl_->manager.create(o, obs);
}

Result<std::vector<RecoveryPointInfo>> RollbackSystem::list_recovery_points() {
  return impl_->manager.list();
}
Result<RecoveryPointInfo> RollbackSystem::get_recovery_point(const std::string& id) {
  return impl_->manager.get(id);
}
Status RollbackSystem::modify_recovery_point(const std::string& id, const PointChanges& changes) {
  return impl_->manager.modify(id, changes);
}
Result<std::vector<int64_t>> RollbackSystem::forget_recovery_points(
    const std::vector<std::string>& ids) {
  return impl_->manager.forget(ids);
}
Result<int64_t> RollbackSystem::resolve(const std::string& id) {
  return impl_->manager.resolve(id);
}
Result<std::vector<DiffItem>> RollbackSystem::diff(const std::string& id,
                                                   const std::optional<std::string>& id2,
                                                   ProgressObserver& obs, const DiffOptions& opts) {
  return impl_->manager.diff(id, id2, obs, opts);
}
Result<RestoreReport> RollbackSystem::restore(const RestoreRequest& req, ProgressObserver& obs) {
  if (req.to) return impl_->manager.restore(req, obs);
  // In place: through the engine (safety point, journal).
  REWIND_ASSIGN_OR_RETURN(RollbackReport r, impl_->engine.restore(req, obs));
  if (r.state != "completed") {
    Error e = r.error.value_or(Error::system_invalid("the restore ended {}", r.state));
    return fail(e.with_context(r.message.empty() ? fmt::format("restore {}", r.state) : r.message));
  }
  RestoreReport out;
  out.id = r.point;
  out.safety = r.safety;
  out.operation = r.operation;
  for (const auto& c : r.components) {
    out.files += c.files;
    out.bytes += c.bytes;
  }
  for (const auto& c : r.plan.components) out.entries += c.replace.size() + c.add.size();
  out.warnings = r.warnings;
  return out;
}
Result<VerifyReport> RollbackSystem::verify(bool read_data, ProgressObserver& obs) {
  return impl_->manager.verify(read_data, obs);
}
Status RollbackSystem::dump(const std::string& id, const std::string& path, int out_fd) {
  return impl_->manager.dump(id, path, out_fd);
}
Result<RepairReport> RollbackSystem::repair(ProgressObserver& obs) {
  return impl_->manager.repair(obs);
}
Result<PruneReport> RollbackSystem::prune(const PruneRequest& req, ProgressObserver& obs) {
  // A writer: readers (list, show, diff, restore) go on while it runs.
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(!req.dry_run, "prune"));
  store::PruneOptions o;
  o.dry_run = req.dry_run;
  o.shred = req.shred.value_or(impl_->shred);
  o.progress = [&obs](const std::string& phase, uint64_t done, uint64_t total) {
    Progress p;
    p.operation = "prune";
    p.phase = phase;
    if (phase == "scan") {
      p.files_done = done;
      p.files_total = total;
    } else {
      p.bytes_done = done;
      p.bytes_total = total;
    }
    obs.on_progress(p);
  };
  REWIND_ASSIGN_OR_RETURN(store::PruneStats s, store::prune(*repo, o));
  PruneReport r;
  r.dry_run = req.dry_run;
  r.shredded = s.shredded;
  r.points = s.points;
  r.live_chunks = s.live_chunks;
  r.dead_chunks = s.dead_chunks;
  r.packs_before = s.packs_before;
  r.packs_removed = s.packs_removed;
  r.packs_repacked = s.packs_repacked;
  r.packs_written = s.packs_written;
  r.bytes_before = s.bytes_before;
  r.bytes_after = s.bytes_after;
  r.bytes_repacked = s.bytes_repacked;
  r.reclaimed = s.reclaimed();
  r.roots_removed = s.roots_removed;
  r.temp_removed = s.temp_removed;
  return r;
}

Result<RollbackReport> RollbackSystem::execute_rollback(const RollbackRequest& req) {
  return impl_->engine.execute(req);
}
Result<std::vector<RollbackReport>> RollbackSystem::recover(ProgressObserver& obs) {
  return impl_->engine.recover(obs);
}
Result<RollbackReport> RollbackSystem::undo(const RollbackRequest& req) {
  return impl_->engine.undo(req);
}
Result<RollbackProgress> RollbackSystem::get_rollback_progress(int64_t operation) {
  REWIND_ASSIGN_OR_RETURN(auto v, impl_->engine.status(operation, 1));
  return v.front();
}
Result<std::vector<RollbackProgress>> RollbackSystem::list_operations(int64_t limit) {
  return impl_->engine.status(std::nullopt, limit);
}
Status RollbackSystem::cancel_rollback(std::optional<int64_t> operation) {
  return impl_->engine.cancel(operation);
}

Result<SystemState> RollbackSystem::validate_system_state() {
  SystemState s;
  REWIND_ASSIGN_OR_RETURN(auto ops, impl_->engine.status(std::nullopt, 1000));
  for (auto& o : ops)
    if (o.state == "running" || o.state == "reverting") {
      s.problems.push_back(
          fmt::format("{} operation {} did not finish; run `rewind recover`", o.kind, o.operation));
      s.unfinished.push_back(std::move(o));
    }
  NullObserver null;
  REWIND_ASSIGN_OR_RETURN(VerifyReport v, impl_->manager.verify(false, null));
  for (auto& p : v.problems) s.problems.push_back(std::move(p));
  s.consistent = s.problems.empty();
  return s;
}

Result<RollbackReport> quick_rollback(RollbackSystem& sys, ProgressObserver* obs) {
  RollbackRequest r;
  r.point = "latest";
  r.scope = RollbackScope::kFull;
  r.observer = obs;
  return sys.execute_rollback(r);
}

namespace {
Result<RollbackReport> rollback_category(RollbackSystem& sys, const std::string& point,
                                         ComponentCategory cat, ProgressObserver* obs) {
  RollbackRequest r;
  r.point = point;
  r.scope = RollbackScope::kPartial;
  r.categories = {std::string(category_name(cat))};
  r.observer = obs;
  return sys.execute_rollback(r);
}
}  // namespace

Result<RollbackReport> rollback_configuration(RollbackSystem& sys, const std::string& point,
                                              ProgressObserver* obs) {
  return rollback_category(sys, point, ComponentCategory::kConfiguration, obs);
}

Result<RollbackReport> rollback_kernel_state(RollbackSystem& sys, const std::string& point,
                                             ProgressObserver* obs) {
  return rollback_category(sys, point, ComponentCategory::kKernelCore, obs);
}

Result<RollbackReport> emergency_rollback(RollbackSystem& sys, ProgressObserver* obs) {
  REWIND_ASSIGN_OR_RETURN(auto points, sys.list_recovery_points());
  std::optional<Error> last;
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (it->kind == "safety") continue;
    RollbackRequest r;
    r.point = std::to_string(it->id);
    r.scope = RollbackScope::kFull;
    r.observer = obs;
    auto rep = sys.execute_rollback(r);
    // A point whose data does not verify fails before anything changes:
    // try the next older one.
    if (!rep && rep.error().code() == ErrorCode::kCorruptedData) {
      if (obs)
        obs->on_warning(fmt::format("recovery point {} is damaged ({}); trying an older one",
                                    it->id, rep.error().message()));
      last = rep.error();
      continue;
    }
    return rep;
  }
  if (last) return fail(*last);
  return fail(Error::not_found("the repository has no recovery point to roll back to"));
}

}  // namespace rwd
