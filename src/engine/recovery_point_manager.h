// SPDX-License-Identifier: Apache-2.0
// RecoveryPointManager: recovery points over components, on top of the store
// and the adapters. The facade (system/) forwards to it.
#pragma once

#include <memory>
#include <string>

#include "io/fs.h"
#include "rewind/rollback_system.h"
#include "store/repository.h"

namespace rwd::engine {

class RecoveryPointManager {
 public:
  RecoveryPointManager(io::Fs& fs, SystemOptions opts) : fs_(fs), opts_(std::move(opts)) {}

  Result<CreateReport> create(const CreateOptions& req, ProgressObserver& obs);
  Result<std::vector<RecoveryPointInfo>> list();
  Result<RecoveryPointInfo> get(const std::string& id);
  Result<int64_t> resolve(const std::string& id);
  Result<std::vector<DiffItem>> diff(const std::string& id, const std::optional<std::string>& id2,
                                     ProgressObserver& obs);
  Result<RestoreReport> restore(const RestoreRequest& req, ProgressObserver& obs);
  Result<VerifyReport> verify(bool read_data, ProgressObserver& obs);
  Status dump(const std::string& id, const std::string& path, int out_fd);
  Result<RepairReport> repair(ProgressObserver& obs);
  const SystemOptions& options() const { return opts_; }

 private:
  Result<std::unique_ptr<store::Repository>> open_repo(bool write, const std::string& op);
  io::Fs& fs_;
  SystemOptions opts_;
};

}  // namespace rwd::engine
