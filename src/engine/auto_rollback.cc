// SPDX-License-Identifier: Apache-2.0
#include "engine/auto_rollback.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace rwd::engine {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Cancels `token` when `limit` has passed, unless stopped first.
class Watchdog {
 public:
  Watchdog(CancelToken& token, std::chrono::steady_clock::time_point deadline)
      : thread_([this, &token, deadline] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_until(lock, deadline, [this] { return stop_; })) {
            fired_ = true;
            token.cancel();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool fired() {
    std::lock_guard lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool fired_ = false;  // guarded by mu_
  std::thread thread_;  // last: started once the members above exist
};

Status record(RecoveryPointManager& points, catalog::AutoRollbackRow& row) {
  REWIND_ASSIGN_OR_RETURN(auto repo, points.open_repo(true, "auto-rollback"));
  if (row.id == 0) {
    REWIND_ASSIGN_OR_RETURN(row.id, repo->catalog().insert_auto_rollback(row));
    return ok();
  }
  return repo->catalog().update_auto_rollback(row);
}

}  // namespace

Result<AutoRollbackReport> auto_rollback(RecoveryPointManager& points, RollbackEngine& engine,
                                         const AutoRollbackConfig& cfg,
                                         const AutoRollbackRequest& req) {
  NullObserver null;
  ProgressObserver& obs = req.observer ? *req.observer : null;
  REWIND_ASSIGN_OR_RETURN(int64_t id, points.resolve(req.point));
  REWIND_ASSIGN_OR_RETURN(RecoveryPointInfo info, points.get(std::to_string(id)));
  AutoRollbackReport rep;
  rep.point = id;
  rep.trigger = req.trigger;
  rep.reason = req.reason;
  const bool partial = req.partial.value_or(cfg.partial);
  rep.scope = partial ? "partial" : "full";

  std::vector<std::string> scope;
  for (const auto& c : info.components)
    if (req.components.empty() ||
        std::find(req.components.begin(), req.components.end(), c.name) != req.components.end())
      scope.push_back(c.name);
  for (const auto& n : req.components)
    if (std::find(scope.begin(), scope.end(), n) == scope.end())
      return fail(Error::not_found("recovery point {} has no component \"{}\"", id, n));
  if (partial) {
    // Only what differs from the point: the live system against it.
    DiffOptions d;
    d.components = scope;
    REWIND_ASSIGN_OR_RETURN(auto items, points.diff(std::to_string(id), std::nullopt, obs, d));
    std::set<std::string> changed;
    for (const auto& i : items) changed.insert(i.component);
    std::erase_if(scope, [&](const std::string& n) { return !changed.contains(n); });
  }
  // Priority components first (in the configured order), then the rest.
  std::vector<std::vector<std::string>> groups;
  std::vector<std::string> first, rest;
  for (const auto& p : cfg.priority_components)
    if (std::find(scope.begin(), scope.end(), p) != scope.end()) first.push_back(p);
  for (const auto& n : scope)
    if (std::find(first.begin(), first.end(), n) == first.end()) rest.push_back(n);
  if (!first.empty()) groups.push_back(first);
  if (!rest.empty()) groups.push_back(rest);
  rep.components = first;
  rep.components.insert(rep.components.end(), rest.begin(), rest.end());

  catalog::AutoRollbackRow row;
  row.time_ns = now_ns();
  row.trigger = req.trigger;
  row.point = id;
  row.scope = rep.scope;
  row.components = rep.components;
  row.result = "running";
  row.reason = req.reason;
  if (groups.empty()) {
    rep.result = "nothing-to-do";
    rep.message = fmt::format("nothing differs from recovery point {}", id);
    row.result = rep.result;
    REWIND_TRY(record(points, row));
    rep.record = row.id;
    return rep;
  }
  // Recorded before anything changes, so a crash mid-way still counts for
  // rewindd's guards.
  REWIND_TRY(record(points, row));
  rep.record = row.id;

  CancelToken token;
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(cfg.max_rollback_time);
  size_t done = 0;
  {
    Watchdog dog(token, deadline);
    for (const auto& g : groups) {
      if (dog.fired()) break;
      RollbackRequest r;
      r.point = std::to_string(id);
      r.scope =
          g.size() == info.components.size() ? RollbackScope::kFull : RollbackScope::kComponent;
      if (r.scope == RollbackScope::kComponent) r.components = g;
      r.apply_packages = req.apply_packages;
      r.observer = req.observer;
      r.cancel = &token;
      auto out = engine.execute(r);
      if (!out) {
        rep.result = "failed";
        rep.message = out.error().message();
        break;
      }
      row.operations.push_back(out->operation);
      const bool good = out->state == "completed";
      rep.operations.push_back(std::move(*out));
      if (!good) {
        const RollbackReport& last = rep.operations.back();
        rep.message = last.error ? last.error->message() : last.message;
        break;
      }
      ++done;
    }
    if (dog.fired() && done < groups.size()) {
      rep.result = "timed-out";
      rep.message = fmt::format(
          "the rollback ran past max_rollback_time ({}s) and was stopped{}",
          std::chrono::duration_cast<std::chrono::seconds>(cfg.max_rollback_time).count(),
          rep.message.empty() ? "" : ": " + rep.message);
    }
  }
  if (rep.result.empty()) {
    if (done == groups.size())
      rep.result = "completed";
    else
      rep.result = done > 0 ? "partial" : "failed";
  }
  if (rep.message.empty() && rep.result == "completed")
    rep.message =
        fmt::format("rolled back {} to recovery point {}", fmt::join(rep.components, ", "), id);
  row.result = rep.result;
  if (rep.result != "completed") row.reason += rep.message.empty() ? "" : "; " + rep.message;
  if (Status st = record(points, row); !st)
    obs.on_warning(fmt::format("could not record the outcome of automatic rollback {}: {}", row.id,
                               st.error().message()));
  return rep;
}

}  // namespace rwd::engine
