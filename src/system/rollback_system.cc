// SPDX-License-Identifier: Apache-2.0
#include "rewind/rollback_system.h"

#include "engine/recovery_point_manager.h"
#include "io/fs.h"
#include "store/repository.h"

namespace rwd {

struct RollbackSystem::Impl {
  Impl(io::Fs& fs, SystemOptions o) : manager(fs, std::move(o)) {}
  engine::RecoveryPointManager manager;
};

const char* version() { return "0.1.0"; }
int repository_format_version() { return store::kRepoFormatVersion; }

Status RollbackSystem::init_repository(const SystemOptions& options, int compression_level) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  store::InitOptions io;
  io.compression_level = compression_level;
  REWIND_ASSIGN_OR_RETURN(auto repo, store::Repository::init(fs, options.repository, io));
  (void)repo;
  return ok();
}

Result<std::unique_ptr<RollbackSystem>> RollbackSystem::open(const SystemOptions& options) {
  io::Fs& fs = options.fs ? *options.fs : io::default_fs();
  return std::unique_ptr<RollbackSystem>(new RollbackSystem(std::make_unique<Impl>(fs, options)));
}

RollbackSystem::RollbackSystem(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RollbackSystem::~RollbackSystem() = default;

const SystemOptions& RollbackSystem::options() const { return impl_->manager.options(); }

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

Result<std::vector<RecoveryPointInfo>> RollbackSystem::list_recovery_points() {
  return impl_->manager.list();
}
Result<RecoveryPointInfo> RollbackSystem::get_recovery_point(const std::string& id) {
  return impl_->manager.get(id);
}
Result<int64_t> RollbackSystem::resolve(const std::string& id) {
  return impl_->manager.resolve(id);
}
Result<std::vector<DiffItem>> RollbackSystem::diff(const std::string& id,
                                                   const std::optional<std::string>& id2,
                                                   ProgressObserver& obs) {
  return impl_->manager.diff(id, id2, obs);
}
Result<RestoreReport> RollbackSystem::restore(const RestoreRequest& req, ProgressObserver& obs) {
  return impl_->manager.restore(req, obs);
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

}  // namespace rwd
