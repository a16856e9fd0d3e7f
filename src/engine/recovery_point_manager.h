// SPDX-License-Identifier: Apache-2.0
// RecoveryPointManager: recovery points over components, on top of the store
// and the adapters. The facade (system/) forwards to it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "components/adapter.h"
#include "components/services/manager.h"
#include "io/fs.h"
#include "rewind/retention.h"
#include "rewind/rollback_system.h"
#include "store/repository.h"

namespace rwd::engine {

// What the configuration gives the engine (system/ loads it).
struct Environment {
  std::vector<components::ComponentSpec> components;  // in dependency order
  // How the components' services are stopped and started ([service_manager]).
  // Without a configuration: commands, none given (nothing is run on the host).
  components::services::ManagerSettings service_manager = [] {
    components::services::ManagerSettings s;
    s.kind = "command";
    return s;
  }();
};

class RecoveryPointManager {
 public:
  RecoveryPointManager(io::Fs& fs, SystemOptions opts, Environment env)
      : fs_(fs), opts_(std::move(opts)), env_(std::move(env)) {}

  Result<CreateReport> create(const CreateOptions& req, ProgressObserver& obs);
  Result<std::vector<RecoveryPointInfo>> list();
  Result<RecoveryPointInfo> get(const std::string& id);
  Result<int64_t> resolve(const std::string& id);
  Result<std::vector<DiffItem>> diff(const std::string& id, const std::optional<std::string>& id2,
                                     ProgressObserver& obs, const DiffOptions& opts);
  Result<RestoreReport> restore(const RestoreRequest& req, ProgressObserver& obs);
  Result<VerifyReport> verify(bool read_data, ProgressObserver& obs);
  Status dump(const std::string& id, const std::string& path, int out_fd);
  Result<RepairReport> repair(ProgressObserver& obs);
  Status modify(const std::string& id, const PointChanges& changes);
  // Forgets the points `ids` (all resolved and checked before the first is
  // removed); returns their numbers. The data stays until prune.
  Result<std::vector<int64_t>> forget(const std::vector<std::string>& ids);
  // Applies a retention policy (engine/retention.h): decides for every point,
  // then, unless `dry_run`, forgets those to remove, oldest first. A damaged
  // point is reported (report.notes) and the policy still applies.
  Result<RetentionReport> apply_retention(const RetentionPolicy& policy, bool dry_run);
  const SystemOptions& options() const { return opts_; }
  const Environment& environment() const { return env_; }

  // For the engine: the repository, opened for reading or as the writer.
  Result<std::unique_ptr<store::Repository>> open_repo(bool write, const std::string& op);
  // Takes a recovery point of `specs` into an open (writer) repository.
  // Without `use_cache` every file is read, whatever its metadata says.
  Result<CreateReport> capture_into(store::Repository& repo,
                                    const std::vector<components::ComponentSpec>& specs,
                                    catalog::PointRow meta, ProgressObserver& obs,
                                    bool use_cache = true);
  // kSystemInInvalidState when an operation's journal is unfinished.
  static Status refuse_unfinished(store::Repository& repo);
  // A snapshot's component as a spec: the snapshot says what was captured
  // (adapter, category, paths, excludes); the configuration, where it still
  // names the component, adds the order, services, criticality and settings.
  components::ComponentSpec spec_of(const catalog::SnapshotRow& snap) const;
  // Resolves an ID against an open repository.
  static Result<int64_t> resolve_in(store::Repository& repo, const std::string& id);

 private:
  Result<std::vector<components::ComponentSpec>> specs_for(const CreateOptions& req) const;
  Status run_hook(const components::ComponentSpec& spec, const char* which,
                  const std::vector<std::string>& argv);
  io::Fs& fs_;
  SystemOptions opts_;
  store::KeyCache key_cache_;  // encrypted repositories unlocked so far
  Environment env_;
};

}  // namespace rwd::engine
