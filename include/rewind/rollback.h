// SPDX-License-Identifier: Apache-2.0
// The value types of rollback operations: scope, phases, the request, the
// plan a dry run prints, the report, and the progress any process can read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/progress.h"
#include "rewind/result.h"

namespace rwd {

enum class ComponentCategory {
  kKernelCore,
  kSystemServices,
  kDeviceDrivers,
  kConfiguration,
  kUserData,
  kDatabase,
  kOther,
};
std::string_view category_name(ComponentCategory c);
std::optional<ComponentCategory> parse_category(std::string_view name);

enum class RollbackScope { kFull, kComponent, kPartial, kIncremental };
std::string_view scope_name(RollbackScope s);
std::optional<RollbackScope> parse_scope(std::string_view name);

enum class RollbackPhase {
  kInitializing,
  kCreatingRecoveryPoint,
  kSnapshotValidation,
  kComponentRollback,
  kServiceRestoration,
  kFinalization,
  kCompleted,
  kFailed,
};
std::string_view phase_name(RollbackPhase p);
std::optional<RollbackPhase> parse_phase(std::string_view name);

// Set from any thread (a signal handler may call cancel()): the engine stops
// at the next step boundary and reverts to the safety point.
class CancelToken {
 public:
  void cancel() { flag_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> flag_{false};
};

struct ComponentPlan {
  std::string name;
  std::string adapter;
  std::string category;
  bool critical = false;
  std::vector<std::string> depends_on;
  std::vector<std::string> services;
  std::vector<std::string> replace;  // absolute paths written again
  std::vector<std::string> add;      // absolute paths the live system lacks
  std::vector<std::string> remove;   // absolute paths the point lacks
  uint64_t bytes = 0;                // content to write
  uint64_t files = 0;
};

struct RollbackPlan {
  int64_t point = 0;
  std::string scope;
  std::vector<ComponentPlan> components;  // in the order they are restored
  std::vector<std::string> stop;          // services, in the order they are stopped
  std::vector<std::string> start;         // and started
  uint64_t bytes = 0;
};

struct RollbackRequest {
  std::string point = "latest";  // number, latest, latest:KIND
  RollbackScope scope = RollbackScope::kFull;
  std::vector<std::string> components;  // component and partial scopes; incremental: empty = all
  std::vector<std::string> categories;  // adds the point's components of these categories
  bool with_dependents = false;
  bool dry_run = false;
  // Lets the packages component run apt-get to bring the package set back
  // (otherwise it prints the commands); see components/packages.
  bool apply_packages = false;
  ProgressObserver* observer = nullptr;
  CancelToken* cancel = nullptr;
  // Asked with the plan before anything changes; false leaves everything as it is.
  std::function<bool(const RollbackPlan&)> confirm;
};

struct ComponentOutcome {
  std::string name;
  std::string result;  // restored, reverted, skipped, failed, unchanged, planned
  std::string message;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t removed = 0;
};

struct RollbackReport {
  int64_t operation = 0;  // 0 for a dry run
  std::string kind;       // rollback, undo, restore
  int64_t point = 0;
  int64_t safety = 0;  // the safety point taken first
  // completed, partial, reverted, cancelled, failed (nothing changed), planned (dry run)
  std::string state;
  RollbackPlan plan;
  std::vector<ComponentOutcome> components;
  std::vector<std::string> warnings;
  std::string message;
  std::optional<Error> error;  // what made it fail or revert
};

struct RollbackProgress {
  int64_t operation = 0;
  std::string kind;   // rollback, undo
  std::string state;  // running, reverting, completed, partial, reverted, cancelled, failed
  RollbackPhase phase = RollbackPhase::kInitializing;
  double percent = 0;
  int64_t point = 0;
  int64_t safety = 0;
  int64_t pid = 0;
  int64_t started_ns = 0;
  int64_t updated_ns = 0;
  bool cancel_requested = false;
  std::string message;
  std::vector<ComponentOutcome> components;
};

}  // namespace rwd
