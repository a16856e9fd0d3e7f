// SPDX-License-Identifier: Apache-2.0
// RollbackEngine: rollback operations that never leave a half-restored
// system (DESIGN.md "Rollback without half-states").
//
// An operation holds the repository's writer lock from start to end. It
// plans every component against the live system, takes a safety point of
// exactly the components in scope, hash-checks every chunk the plan needs,
// stops the components' services, restores the components in dependency
// order, starts the services again, and finishes. Its journal (the plan,
// then each step's completion) is in the catalog, written with
// synchronous=FULL before and after each step, so that `recover` can finish
// an interrupted operation (every restore step is idempotent: it brings a
// component to its snapshot from whatever state it is in) or revert it to
// the safety point.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/recovery_point_manager.h"
#include "rewind/rollback.h"

namespace rwd::engine {

class RollbackEngine {
 public:
  RollbackEngine(io::Fs& fs, RecoveryPointManager& points) : fs_(fs), points_(points) {}

  // `kind` is what the journal calls the operation: rollback or undo.
  Result<RollbackReport> execute(const RollbackRequest& req, const std::string& kind = "rollback");
  // Restores paths of a point in place, through the same journal and
  // safety point as a rollback (nothing is removed).
  Result<RollbackReport> restore(const RestoreRequest& req, ProgressObserver& obs);
  // Finishes or reverts every unfinished operation; empty when there was none.
  Result<std::vector<RollbackReport>> recover(ProgressObserver& obs);
  // Rolls back to the safety point of the newest rollback that changed something.
  Result<RollbackReport> undo(RollbackRequest req);
  // Operations, newest first (one when `op` is given).
  Result<std::vector<RollbackProgress>> status(std::optional<int64_t> op, int64_t limit);
  // Asks the running operation to stop and revert.
  Status cancel(std::optional<int64_t> op);

 private:
  io::Fs& fs_;
  RecoveryPointManager& points_;
};

}  // namespace rwd::engine
