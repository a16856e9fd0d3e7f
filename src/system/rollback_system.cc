// SPDX-License-Identifier: Apache-2.0
#include "rewind/rollback_system.h"

#include <chrono>

#include "components/adapter.h"
#include "components/services/manager.h"
#include "config/config.h"
#include "config/retention.h"
#include "engine/auto_rollback.h"
#include "engine/keys.h"
#include "engine/recovery_point_manager.h"
#include "engine/rollback_engine.h"
#include "health/health.h"
#include "io/fs.h"
#include "store/prune.h"
#include "store/repository.h"
#include "system/audit_system.h"

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
  RetentionPolicy retention;
  config::HealthConfig health;
  AutoRollbackConfig auto_rollback;
  nlohmann::json service_manager = nlohmann::json::object();  // [service_manager] as manager keys
  std::string daemon_socket = "/run/rewind/rewindd.sock";
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
    // Each file's [retention] was checked as it loaded; the merged table is too.
    REWIND_ASSIGN_OR_RETURN(l.retention, config::parse_retention(cfg->sections.value(
                                             "retention", nlohmann::json::object())));
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
    l.service_manager = ms;
    REWIND_ASSIGN_OR_RETURN(l.health, config::health_config(*cfg));
    REWIND_ASSIGN_OR_RETURN(l.auto_rollback, config::auto_rollback_config(*cfg));
    if (auto d = cfg->sections.find("daemon");
        d != cfg->sections.end() && d->contains("socket") && (*d)["socket"].is_string())
      l.daemon_socket = (*d)["socket"].get<std::string>();
  }
  if (l.options.repository.empty())
    l.options.repository = under_root(in.system_root, "/var/lib/rewind");
  return l;
}

}  // namespace

struct RollbackSystem::Impl {
  Impl(io::Fs& fs, Loaded l)
      : retention(l.retention),
        configured(std::move(l.configured)),
        files(std::move(l.files)),
        health(std::move(l.health)),
        auto_rollback(std::move(l.auto_rollback)),
        service_manager(std::move(l.service_manager)),
        daemon_socket(std::move(l.daemon_socket)),
        fs_ptr(&fs),
        shred(l.shred),
        manager(fs, std::move(l.options), std::move(l.env)),
        engine(fs, manager) {}
  RetentionPolicy retention;
  std::vector<ConfiguredComponent> configured;
  std::vector<std::string> files;
  config::HealthConfig health;
  AutoRollbackConfig auto_rollback;
  nlohmann::json service_manager;
  std::string daemon_socket;
  io::Fs* fs_ptr;
  bool shred;
  engine::RecoveryPointManager manager;
  engine::RollbackEngine engine;
};

const char* version() { return "0.2.0"; }
int repository_format_version() { return store::kRepoFormatVersion; }

Result<std::string> RollbackSystem::init_repository(const SystemOptions& options,
                                                    std::optional<int> compression_level,
                                                    bool encrypt) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  REWIND_ASSIGN_OR_RETURN(Loaded l, load(fs, options));
  store::InitOptions io;
  io.compression_level = compression_level.value_or(l.compression);
  store::EncryptionOptions enc;
  if (encrypt) {
    REWIND_ASSIGN_OR_RETURN(
        enc.passphrase,
        engine::passphrase(fs, l.options,
                           fmt::format("new passphrase for repository {}", l.options.repository),
                           true));
  }
  REWIND_ASSIGN_OR_RETURN(
      auto repo, store::Repository::init(fs, l.options.repository, io, encrypt ? &enc : nullptr));
  (void)repo;
  return l.options.repository;
}

Result<std::unique_ptr<RollbackSystem>> RollbackSystem::open(const SystemOptions& options) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  REWIND_ASSIGN_OR_RETURN(Loaded l, load(fs, options));
  return std::unique_ptr<RollbackSystem>(
      new RollbackSystem(std::make_unique<Impl>(fs, std::move(l))));
}

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Confirmation to_confirmation(const catalog::ConfirmationRow& r) {
  return Confirmation{r.id, r.pre_id, r.post_id, r.deadline_ns, r.state};
}
}  // namespace

RollbackSystem::RollbackSystem(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollbackSystem::~RollbackSystem() = default;

const SystemOptions& RollbackSystem::options() const { return impl_->manager.options(); }

Result<std::vector<RepositoryKey>> RollbackSystem::list_keys() {
  return engine::list_keys(impl_->manager);
}

Result<std::string> RollbackSystem::add_key(const std::string& new_passphrase) {
  return engine::add_key(impl_->manager, new_passphrase, false);
}

Result<std::string> RollbackSystem::change_passphrase(const std::string& new_passphrase) {
  return engine::add_key(impl_->manager, new_passphrase, true);
}

Status RollbackSystem::remove_key(const std::string& id) {
  return engine::remove_key(impl_->manager, id);
}

Result<std::string> RollbackSystem::new_passphrase(const std::string& file) {
  const SystemOptions& o = impl_->manager.options();
  io::Fs& fs = o.fs ? *o.fs : io::default_fs();
  if (!file.empty()) return engine::read_password_file(fs, file);
  if (!o.ask_password)
    return fail(Error::usage("give the new passphrase with --new-password-file FILE"));
  REWIND_ASSIGN_OR_RETURN(
      std::string pass,
      o.ask_password(fmt::format("new passphrase for repository {}", o.repository), true));
  if (pass.empty()) return fail(Error::usage("an empty passphrase is not allowed"));
  return pass;
}
const std::vector<ConfiguredComponent>& RollbackSystem::configured_components() const {
  return impl_->configured;
}
const std::vector<std::string>& RollbackSystem::configuration_files() const { return impl_->files; }

Result<CreateReport> RollbackSystem::create_recovery_point(const CreateOptions& opts,
                                                           ProgressObserver& obs) {
  if (opts.health.empty() && !impl_->health.checks.empty()) {
    // The level at the time the point is taken, looked at in passing: the
    // kernel-log positions stay where `rewind health` left them.
    HealthOptions h;
    h.advance_log_position = false;
    REWIND_ASSIGN_OR_RETURN(HealthReport rep, check_health(h));
    CreateOptions with = opts;
    with.health = std::string(health_level_name(rep.level));
    return impl_->manager.create(with, obs);
  }
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
const RetentionPolicy& RollbackSystem::retention_policy() const { return impl_->retention; }
Result<RetentionReport> RollbackSystem::apply_retention(const RetentionPolicy& policy,
                                                        bool dry_run) {
  return impl_->manager.apply_retention(policy, dry_run);
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
  REWIND_ASSIGN_OR_RETURN(VerifyReport rep, impl_->manager.verify(read_data, obs));
  record_verify_result(rep, read_data, obs);
  return rep;
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
  r.key_forgotten = s.key_forgotten;
  r.data_key_generation = s.data_key_generation;
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
Result<HealthReport> RollbackSystem::check_health(const HealthOptions& opts) {
  health::Context ctx{*impl_->fs_ptr, options().system_root, options().repository,
                      impl_->service_manager, opts.advance_log_position};
  return health::run_health(impl_->health, ctx, opts.only);
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

Status RollbackSystem::audit(const AuditEntry& entry) {
  return system::append_audit(impl_->manager, entry);
}
Result<std::vector<AuditRecord>> RollbackSystem::audit_log(int64_t since_ns) {
  return system::read_audit(impl_->manager, since_ns);
}
Result<AuditVerifyReport> RollbackSystem::verify_audit() {
  return system::verify_audit(impl_->manager);
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

// The last verify's result, for the `verify` health check and rewindd's
// metrics. Best effort: a verify whose result cannot be recorded (the
// writer lock is held) still reports what it found.
void RollbackSystem::record_verify_result(const VerifyReport& rep, bool read_data,
                                          ProgressObserver& obs) {
  nlohmann::json j{{"time_ns", now_ns()},
                   {"ok", rep.problems.empty()},
                   {"read_data", read_data},
                   {"problems", rep.problems.size()}};
  auto repo = impl_->manager.open_repo(true, "verify");
  Status st = repo ? (*repo)->catalog().set_meta(health::kVerifyMetaKey, j.dump())
                   : Status(fail(repo.error()));
  if (!st)
    obs.on_warning(fmt::format("the verify result was not recorded: {}", st.error().message()));
}

Result<AutoRollbackReport> RollbackSystem::auto_rollback(const AutoRollbackRequest& req) {
  return engine::auto_rollback(impl_->manager, impl_->engine, impl_->auto_rollback, req);
}

Result<std::optional<std::string>> RollbackSystem::repository_lock_holder() {
  return store::Repository::lock_holder(*impl_->fs_ptr, options().repository);
}

Result<std::vector<AutoRollbackRecord>> RollbackSystem::list_auto_rollbacks(int64_t since_ns) {
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto rows, repo->catalog().list_auto_rollbacks(since_ns));
  std::vector<AutoRollbackRecord> out;
  for (auto& r : rows)
    out.push_back(AutoRollbackRecord{r.id, r.time_ns, r.trigger, r.point, r.scope, r.components,
                                     r.result, r.reason, r.operations});
  return out;
}

Result<int64_t> RollbackSystem::add_confirmation(int64_t pre_id, int64_t post_id,
                                                 int64_t deadline_ns) {
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(true, "run"));
  return repo->catalog().insert_confirmation(
      catalog::ConfirmationRow{0, pre_id, post_id, deadline_ns, "pending"});
}

Result<std::vector<Confirmation>> RollbackSystem::list_confirmations() {
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto rows, repo->catalog().list_confirmations());
  std::vector<Confirmation> out;
  for (const auto& r : rows) out.push_back(to_confirmation(r));
  return out;
}

Result<std::vector<Confirmation>> RollbackSystem::confirm(std::optional<int64_t> id) {
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(true, "confirm"));
  REWIND_ASSIGN_OR_RETURN(auto rows, repo->catalog().list_confirmations());
  std::vector<Confirmation> out;
  REWIND_TRY(repo->catalog().begin());
  for (auto& r : rows) {
    if (r.state != "pending" || (id && r.id != *id)) continue;
    if (Status st = repo->catalog().set_confirmation_state(r.id, "confirmed"); !st) {
      ignore_status(repo->catalog().rollback(), "the update failed already");
      return fail(st.error());
    }
    r.state = "confirmed";
    out.push_back(to_confirmation(r));
  }
  REWIND_TRY(repo->catalog().commit());
  if (id && out.empty())
    return fail(Error::not_found("no pending confirmation {} (see `rewind confirm --list`)", *id));
  return out;
}

Status RollbackSystem::set_confirmation_state(int64_t id, const std::string& state) {
  REWIND_ASSIGN_OR_RETURN(auto repo, impl_->manager.open_repo(true, "confirm"));
  return repo->catalog().set_confirmation_state(id, state);
}

const AutoRollbackConfig& RollbackSystem::auto_rollback_config() const {
  return impl_->auto_rollback;
}

std::string RollbackSystem::daemon_socket() const {
  return under_root(options().system_root, impl_->daemon_socket);
}

Result<std::vector<AutoRollbackReport>> enforce_confirmations(RollbackSystem& sys, int64_t now_ns,
                                                              ProgressObserver* obs) {
  REWIND_ASSIGN_OR_RETURN(auto all, sys.list_confirmations());
  std::vector<AutoRollbackReport> out;
  for (const auto& c : all) {
    if (c.state != "pending" || c.deadline_ns > now_ns) continue;
    AutoRollbackRequest req;
    req.point = std::to_string(c.pre_id);
    req.trigger = "unconfirmed";
    req.reason = fmt::format(
        "the change after recovery point {} (post point {}) was not confirmed "
        "by its deadline",
        c.pre_id, c.post_id);
    req.observer = obs;
    REWIND_ASSIGN_OR_RETURN(AutoRollbackReport rep, sys.auto_rollback(req));
    // A failed rollback stays pending, so the next enforcement tries again
    // (rewindd's guards bound how often).
    if (rep.succeeded()) REWIND_TRY(sys.set_confirmation_state(c.id, "rolled-back"));
    out.push_back(std::move(rep));
  }
  return out;
}

}  // namespace rwd
