// SPDX-License-Identifier: Apache-2.0
#include "engine/rollback_engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "components/adapter.h"
#include "components/files/walk.h"
#include "store/manifest.h"

namespace rwd::engine {

using components::ComponentSpec;
using nlohmann::json;
using store::ChunkId;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// The journal: what the operation will do and how far it got. Component
// states: pending, started, done, failed, reverted, skipped.

struct JournalComponent {
  ComponentSpec spec;
  std::string state = "pending";
  std::string message;
  uint64_t files = 0, bytes = 0, removed = 0;
  std::vector<std::string> select;  // a restore's selection (component-relative)
  bool absent = false;       // did not exist before: reverting removes it (no safety snapshot)
  bool make_absent = false;  // the target state is "does not exist" (undo of such a rollback)
};

struct Journal {
  std::string scope;
  bool incremental = false;
  bool remove_extra = true;  // a rollback removes what the point lacks; a restore does not
  bool cancelled = false;
  std::vector<JournalComponent> components;
  std::vector<std::string> stop, start;
  std::string error_kind;  // the error that made it revert
  std::string error_message;
  std::vector<std::string> warnings;
};

json spec_json(const ComponentSpec& s) {
  return json{{"name", s.name},         {"adapter", s.adapter},   {"category", s.category},
              {"paths", s.paths},       {"exclude", s.exclude},   {"depends_on", s.depends_on},
              {"services", s.services}, {"critical", s.critical}, {"settings", s.settings}};
}

ComponentSpec spec_from(const json& j) {
  ComponentSpec s;
  s.name = j.at("name").get<std::string>();
  s.adapter = j.at("adapter").get<std::string>();
  s.category = j.at("category").get<std::string>();
  s.paths = j.at("paths").get<std::vector<std::string>>();
  s.exclude = j.at("exclude").get<std::vector<std::string>>();
  s.depends_on = j.at("depends_on").get<std::vector<std::string>>();
  s.services = j.at("services").get<std::vector<std::string>>();
  s.critical = j.at("critical").get<bool>();
  s.settings = j.value("settings", json::object());
  return s;
}

std::string journal_text(const Journal& jn) {
  json comps = json::array();
  for (const auto& c : jn.components) {
    json j = spec_json(c.spec);
    j["state"] = c.state;
    j["message"] = c.message;
    j["files"] = c.files;
    j["bytes"] = c.bytes;
    j["removed"] = c.removed;
    j["select"] = c.select;
    j["absent"] = c.absent;
    j["make_absent"] = c.make_absent;
    comps.push_back(j);
  }
  return json{{"scope", jn.scope},
              {"incremental", jn.incremental},
              {"remove_extra", jn.remove_extra},
              {"cancelled", jn.cancelled},
              {"components", comps},
              {"stop", jn.stop},
              {"start", jn.start},
              {"error_kind", jn.error_kind},
              {"error_message", jn.error_message},
              {"warnings", jn.warnings}}
      .dump();
}

Result<Journal> parse_journal(const std::string& text) {
  try {
    json j = json::parse(text);
    Journal jn;
    jn.scope = j.at("scope").get<std::string>();
    jn.incremental = j.at("incremental").get<bool>();
    jn.cancelled = j.value("cancelled", false);
    jn.remove_extra = j.value("remove_extra", true);
    for (const auto& c : j.at("components")) {
      JournalComponent jc;
      jc.spec = spec_from(c);
      jc.state = c.at("state").get<std::string>();
      jc.message = c.value("message", "");
      jc.files = c.value("files", uint64_t{0});
      jc.bytes = c.value("bytes", uint64_t{0});
      jc.removed = c.value("removed", uint64_t{0});
      jc.select = c.value("select", std::vector<std::string>{});
      jc.absent = c.value("absent", false);
      jc.make_absent = c.value("make_absent", false);
      jn.components.push_back(std::move(jc));
    }
    jn.stop = j.at("stop").get<std::vector<std::string>>();
    jn.start = j.at("start").get<std::vector<std::string>>();
    jn.error_kind = j.value("error_kind", "");
    jn.error_message = j.value("error_message", "");
    jn.warnings = j.value("warnings", std::vector<std::string>{});
    return jn;
  } catch (const std::exception& e) {
    return fail(Error::corrupted_data("the operation's journal is unreadable: {}", e.what()));
  }
}

std::vector<ComponentOutcome> outcomes(const Journal& jn) {
  std::vector<ComponentOutcome> out;
  for (const auto& c : jn.components) {
    std::string result = c.state;
    if (result == "done") result = "restored";
    out.push_back(ComponentOutcome{c.spec.name, result, c.message, c.files, c.bytes, c.removed});
  }
  return out;
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kNoRepository); ++i)
    if (error_code_name(static_cast<ErrorCode>(i)) == name) return static_cast<ErrorCode>(i);
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Progress: each phase owns a band of the percentage; the current band is
// filled by the work's own progress. The percentage goes to the catalog
// (for `rewind status` in other processes) at most every 200 ms, from the
// engine's thread only (the catalog connection is not shared).

struct Band {
  RollbackPhase phase;
  double lo, hi;
};
constexpr Band kBands[] = {
    {RollbackPhase::kInitializing, 0, 5},         {RollbackPhase::kCreatingRecoveryPoint, 5, 35},
    {RollbackPhase::kSnapshotValidation, 35, 50}, {RollbackPhase::kComponentRollback, 50, 90},
    {RollbackPhase::kServiceRestoration, 90, 96}, {RollbackPhase::kFinalization, 96, 100},
    {RollbackPhase::kCompleted, 100, 100},        {RollbackPhase::kFailed, 100, 100},
};

class Tracker final : public ProgressObserver {
 public:
  Tracker(ProgressObserver& user, CancelToken* cancel) : user_(user), cancel_(cancel) {}

  void attach(catalog::Catalog* cat, int64_t op) {
    cat_ = cat;
    op_ = op;
    owner_ = std::this_thread::get_id();
  }
  void phase(RollbackPhase p) {
    phase_ = p;
    for (const auto& b : kBands)
      if (b.phase == p) band_ = b;
    // Within ComponentRollback the band is split among the components.
    sub_lo_ = band_.lo;
    sub_hi_ = band_.hi;
    set_percent(band_.lo, true);
  }
  // The share [a, b) of the current band that the next work fills.
  void share(double a, double b) {
    sub_lo_ = band_.lo + (band_.hi - band_.lo) * a;
    sub_hi_ = band_.lo + (band_.hi - band_.lo) * b;
    set_percent(sub_lo_, false);
  }
  RollbackPhase current() const { return phase_; }
  // The first failed progress write, once.
  std::optional<Error> take_write_error() {
    auto e = std::move(write_error_);
    write_error_.reset();
    return e;
  }
  double percent() const { return percent_; }
  bool cancel_requested() {
    if (cancel_ && cancel_->cancelled()) return true;
    if (cat_ && op_ != 0 && std::this_thread::get_id() == owner_) {
      auto o = cat_->get_operation(op_);
      if (o && *o && (*o)->cancel) return true;
    }
    return false;
  }

  void on_progress(const Progress& p) override {
    double frac = 0;
    if (p.bytes_total > 0)
      frac = static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total);
    else if (p.files_total > 0)
      frac = static_cast<double>(p.files_done) / static_cast<double>(p.files_total);
    frac = std::clamp(frac, 0.0, 1.0);
    set_percent(sub_lo_ + (sub_hi_ - sub_lo_) * frac, false);
    Progress q = p;
    q.operation = "rollback";
    q.phase = fmt::format("{} ({})", phase_name(phase_), p.phase);
    q.percent = percent_;
    user_.on_progress(q);
  }
  void on_warning(std::string_view m) override { user_.on_warning(m); }

 private:
  void set_percent(double v, bool force) {
    percent_ = std::max(percent_, v);
    if (!cat_ || op_ == 0 || std::this_thread::get_id() != owner_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_write_ < std::chrono::milliseconds(200)) return;
    last_write_ = now;
    // The progress row lives in the journal's file: a failed write or fsync
    // there fails the operation at its next journal write (DESIGN.md: an
    // fsync error is never retried or ignored).
    Status st =
        cat_->set_operation_progress(op_, std::string(phase_name(phase_)), percent_, now_ns());
    if (!st && !write_error_) write_error_ = st.error();
    Progress q;
    q.operation = "rollback";
    q.phase = std::string(phase_name(phase_));
    q.percent = percent_;
    user_.on_progress(q);
  }

  ProgressObserver& user_;
  CancelToken* cancel_;
  catalog::Catalog* cat_ = nullptr;
  int64_t op_ = 0;
  std::thread::id owner_;
  RollbackPhase phase_ = RollbackPhase::kInitializing;
  Band band_ = kBands[0];
  double sub_lo_ = 0, sub_hi_ = 5;
  double percent_ = 0;
  std::chrono::steady_clock::time_point last_write_{};
  std::optional<Error> write_error_;
};

// ---------------------------------------------------------------------------
// dpkg's locks: a rollback of a component that covers /var/lib/dpkg holds
// them the way dpkg does (fcntl write locks on lock-frontend, then lock;
// open file description locks conflict with dpkg's classic ones).

class DpkgLocks {
 public:
  static bool frontend_locked_by_parent() {
    const char* v = std::getenv("DPKG_FRONTEND_LOCKED");
    return v != nullptr && *v != '\0';
  }

  Status take(io::Fs& fs, const std::string& root) {
    auto dir = fs.open_path(root == "/" ? "/var/lib/dpkg" : root + "/var/lib/dpkg",
                            O_RDONLY | O_DIRECTORY);
    if (!dir) return ok();  // no dpkg database here
    for (const char* name : {"lock-frontend", "lock"}) {
      // As dpkg: apt sets DPKG_FRONTEND_LOCKED for the programs it runs while
      // it holds the frontend lock itself, which is then not taken again.
      if (std::string_view(name) == "lock-frontend" && frontend_locked_by_parent()) continue;
      REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs.open_at(dir->get(), name, O_RDWR | O_CREAT, 0640));
      Status st = fs.ofd_lock(fd.get(), F_WRLCK, 0, 0, false);
      if (!st) {
        if (st.error().code() == ErrorCode::kBusy)
          return fail(Error::busy(
              "dpkg or apt is running (it holds /var/lib/dpkg/{}); try again when it has "
              "finished",
              name));
        return fail(st.error());
      }
      fds_.push_back(std::move(fd));
    }
    return ok();
  }

  void release() { fds_.clear(); }

 private:
  std::vector<io::Fd> fds_;
};

// Package state: a packages component (dpkg's status), or files over
// /var/lib/dpkg.
bool covers_dpkg(const ComponentSpec& s) {
  if (s.adapter == "packages") return true;
  return std::any_of(s.paths.begin(), s.paths.end(), [](const std::string& p) {
    return store::path_within("/var/lib/dpkg", p) || p == "/" ||
           store::path_within(p, "/var/lib/dpkg");
  });
}

// ---------------------------------------------------------------------------

class Operation {
 public:
  Operation(io::Fs& fs, RecoveryPointManager& points, store::Repository& repo,
            ProgressObserver& user, CancelToken* cancel)
      : fs_(fs),
        points_(points),
        repo_(repo),
        tracker_(user, cancel),
        ctx_{fs, repo, points.options().system_root, tracker_,
             std::max(1, points.options().threads)} {}

  Result<RollbackReport> run(const RollbackRequest& req, const std::string& kind);
  // An in-place restore of `paths` (absolute; empty = everything): like a
  // rollback with its safety point and journal, but it removes nothing.
  Result<RollbackReport> run_restore(const std::string& id, const std::vector<std::string>& paths,
                                     ProgressObserver& obs);
  Result<RollbackReport> recover(const catalog::OperationRow& row);
  // Undoes `last`: its components back to its safety point, and those it
  // created removed.
  Result<RollbackReport> run_undo(const catalog::OperationRow& last, const RollbackRequest& req);

 private:
  struct Item {
    ComponentSpec spec;
    components::Adapter* adapter = nullptr;
    ChunkId manifest;  // in the target point
    components::Plan plan;
    std::vector<std::string> select;  // a restore's selection
    bool make_absent = false;         // the target is "does not exist"
  };
  // Plans item i against the live system.
  Status plan_item(size_t i);
  Result<RollbackReport> carry_out(int64_t point, const RollbackRequest& req,
                                   const std::string& kind);

  Result<std::vector<Item>> select(int64_t point, const RollbackRequest& req);
  Status persist();
  Status set_state(const std::string& state);
  Status stop_services();
  std::vector<std::string> start_services();
  // Restores item i to the target point. Records the step.
  Status restore_one(size_t i, bool plan_again);
  // Brings every component that may have changed back to the safety point.
  Status revert_all();
  Status revert_one(size_t i);
  RollbackReport report() const;
  Result<RollbackReport> finish_components(bool plan_again);
  bool blocked(size_t i) const;

  io::Fs& fs_;
  RecoveryPointManager& points_;
  store::Repository& repo_;
  Tracker tracker_;
  components::Context ctx_;
  catalog::OperationRow row_;
  Journal jn_;
  std::vector<Item> items_;
  std::optional<Error> error_;
  DpkgLocks dpkg_;
};

Result<std::vector<Operation::Item>> Operation::select(int64_t point, const RollbackRequest& req) {
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo_.catalog().snapshots(point));
  // Every component of the point, as a spec: the snapshot says what was
  // captured (paths, excludes); the configuration adds the order, the
  // services and criticality.
  std::vector<ComponentSpec> all;
  for (const auto& s : snaps) all.push_back(points_.spec_of(s));
  auto find = [&](const std::string& n) {
    return std::find_if(all.begin(), all.end(),
                        [&](const ComponentSpec& c) { return c.name == n; });
  };
  std::set<std::string> chosen;
  bool all_of_them =
      req.scope == RollbackScope::kFull || (req.scope == RollbackScope::kIncremental &&
                                            req.components.empty() && req.categories.empty());
  if (req.scope == RollbackScope::kComponent && req.components.size() + req.categories.size() == 0)
    return fail(Error::usage("--scope component needs the component: -c NAME"));
  if (req.scope == RollbackScope::kComponent && req.components.size() > 1)
    return fail(
        Error::usage("--scope component takes one component; use --scope partial for "
                     "several"));
  if (req.scope == RollbackScope::kPartial && req.components.empty() && req.categories.empty())
    return fail(Error::usage("--scope partial needs the components: -c NAME..."));
  if (req.scope == RollbackScope::kFull && !req.components.empty())
    return fail(Error::usage("--scope full takes every component; use --scope partial with -c"));
  if (all_of_them) {
    for (const auto& s : all) chosen.insert(s.name);
  } else {
    for (const auto& n : req.components) {
      if (find(n) == all.end())
        return fail(Error::not_found("recovery point {} has no component '{}'", point, n));
      chosen.insert(n);
    }
    for (const auto& cat : req.categories) {
      bool any = false;
      for (const auto& s : all)
        if (s.category == cat) {
          chosen.insert(s.name);
          any = true;
        }
      if (!any)
        return fail(
            Error::not_found("recovery point {} has no component of category '{}'", point, cat));
    }
  }
  if (req.with_dependents) {
    bool grew = true;
    while (grew) {
      grew = false;
      for (const auto& s : all)
        if (!chosen.contains(s.name))
          for (const auto& d : s.depends_on)
            if (chosen.contains(d)) {
              chosen.insert(s.name);
              grew = true;
              break;
            }
    }
  }
  // Dependency order: a component after every chosen component it depends
  // on (the configuration refuses cycles; a leftover cycle keeps point order).
  std::vector<ComponentSpec> ordered;
  std::set<std::string> placed;
  while (ordered.size() < chosen.size()) {
    bool progress = false;
    for (const auto& s : all) {
      if (!chosen.contains(s.name) || placed.contains(s.name)) continue;
      bool ready = std::all_of(s.depends_on.begin(), s.depends_on.end(), [&](const std::string& d) {
        return !chosen.contains(d) || placed.contains(d);
      });
      if (!ready) continue;
      ordered.push_back(s);
      placed.insert(s.name);
      progress = true;
    }
    if (!progress)
      for (const auto& s : all)
        if (chosen.contains(s.name) && !placed.contains(s.name)) {
          ordered.push_back(s);
          placed.insert(s.name);
          break;
        }
  }
  std::vector<Item> items;
  for (auto& spec : ordered) {
    Item it;
    it.adapter = components::find_adapter(spec.adapter);
    if (!it.adapter)
      return fail(Error::invalid_state("component {}: adapter '{}' is not available in this build",
                                       spec.name, spec.adapter));
    auto snap = std::find_if(snaps.begin(), snaps.end(),
                             [&](const auto& s) { return s.component == spec.name; });
    REWIND_ASSIGN_OR_RETURN(it.manifest, ChunkId::parse(snap->manifest));
    it.spec = std::move(spec);
    items.push_back(std::move(it));
  }
  return items;
}

Status Operation::persist() {
  if (auto e = tracker_.take_write_error())
    return fail(e->with_context("recording the operation's progress"));
  row_.journal = journal_text(jn_);
  row_.updated_ns = now_ns();
  row_.phase = std::string(phase_name(tracker_.current()));
  row_.percent = tracker_.percent();
  return repo_.catalog().update_operation(row_);
}

Status Operation::set_state(const std::string& state) {
  row_.state = state;
  // Every end but success is phase Failed (DESIGN.md: "Completed — or Failed").
  if (state == "reverted" || state == "cancelled" || state == "failed")
    tracker_.phase(RollbackPhase::kFailed);
  return persist();
}

Status Operation::stop_services() {
  auto m = components::services::make_manager(points_.environment().service_manager, fs_,
                                              points_.options().system_root);
  for (const auto& svc : jn_.stop) REWIND_TRY(m->stop(svc));
  return ok();
}

std::vector<std::string> Operation::start_services() {
  auto m = components::services::make_manager(points_.environment().service_manager, fs_,
                                              points_.options().system_root);
  std::vector<std::string> problems;
  for (const auto& svc : jn_.start)
    if (Status st = m->start(svc); !st) problems.push_back(st.error().message());
  return problems;
}

bool Operation::blocked(size_t i) const {
  for (const auto& d : items_[i].spec.depends_on)
    for (size_t j = 0; j < i; ++j)
      if (items_[j].spec.name == d && jn_.components[j].state != "done") return true;
  return false;
}

Status Operation::restore_one(size_t i, bool plan_again) {
  Item& it = items_[i];
  JournalComponent& jc = jn_.components[i];
  if (plan_again) {
    REWIND_TRY(plan_item(i));
    if (!it.make_absent) REWIND_TRY(it.adapter->validate(ctx_, it.plan));
  }
  jc.state = "started";
  REWIND_TRY(persist());
  if (it.make_absent) {
    REWIND_TRY(it.adapter->remove(ctx_, it.spec));
    jc.state = "done";
    jc.removed = it.plan.remove.size();
    return persist();
  }
  REWIND_ASSIGN_OR_RETURN(components::Applied a, it.adapter->apply(ctx_, it.spec, it.plan));
  jc.state = "done";
  jc.files = a.files;
  jc.bytes = a.bytes;
  jc.removed = a.removed;
  for (auto& w : a.warnings) jn_.warnings.push_back(fmt::format("{}: {}", it.spec.name, w));
  return persist();
}

Status Operation::revert_one(size_t i) {
  Item& it = items_[i];
  JournalComponent& jc = jn_.components[i];
  if (jc.absent) {
    // It did not exist before: back to not existing.
    REWIND_TRY(it.adapter->remove(ctx_, it.spec));
    jc.state = "reverted";
    return persist();
  }
  if (row_.safety == 0)
    return fail(
        Error::system_invalid("component {} changed, but there is no safety point to "
                              "revert it to",
                              it.spec.name));
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo_.catalog().snapshots(row_.safety));
  auto snap = std::find_if(snaps.begin(), snaps.end(),
                           [&](const auto& s) { return s.component == it.spec.name; });
  if (snap == snaps.end())
    return fail(
        Error::system_invalid("safety point {} lacks component {}", row_.safety, it.spec.name));
  REWIND_ASSIGN_OR_RETURN(ChunkId m, ChunkId::parse(snap->manifest));
  REWIND_ASSIGN_OR_RETURN(auto plan, it.adapter->plan(ctx_, it.spec, m, false, true, {}));
  REWIND_TRY(it.adapter->validate(ctx_, plan));
  REWIND_ASSIGN_OR_RETURN(components::Applied a, it.adapter->apply(ctx_, it.spec, plan));
  (void)a;
  jc.state = "reverted";
  return persist();
}

Status Operation::revert_all() {
  row_.state = "reverting";
  if (error_) {
    jn_.error_kind = std::string(error_code_name(error_->code()));
    jn_.error_message = error_->message();
  }
  REWIND_TRY(persist());
  for (size_t i = items_.size(); i-- > 0;) {
    const std::string& st = jn_.components[i].state;
    if (st == "started" || st == "done" || st == "failed") REWIND_TRY(revert_one(i));
  }
  return ok();
}

RollbackReport Operation::report() const {
  RollbackReport r;
  r.operation = row_.id;
  r.kind = row_.kind;
  r.point = row_.point;
  r.safety = row_.safety;
  r.state = row_.state;
  r.components = outcomes(jn_);
  r.warnings = jn_.warnings;
  r.message = row_.message;
  r.error = error_;
  r.plan.point = row_.point;
  r.plan.scope = jn_.scope;
  r.plan.stop = jn_.stop;
  r.plan.start = jn_.start;
  for (const auto& it : items_) {
    ComponentPlan cp;
    cp.name = it.spec.name;
    cp.adapter = it.spec.adapter;
    cp.category = it.spec.category;
    cp.critical = it.spec.critical;
    cp.depends_on = it.spec.depends_on;
    cp.services = it.spec.services;
    cp.replace = it.plan.replace;
    cp.add = it.plan.add;
    cp.remove = it.plan.remove;
    cp.bytes = it.plan.bytes;
    cp.files = it.plan.files;
    r.plan.bytes += cp.bytes;
    r.plan.components.push_back(std::move(cp));
  }
  return r;
}

// ComponentRollback onwards, for a fresh run and for `recover` alike.
Result<RollbackReport> Operation::finish_components(bool plan_again) {
  tracker_.phase(RollbackPhase::kComponentRollback);
  REWIND_TRY(persist());
  uint64_t total = 0, done_bytes = 0;
  for (const auto& it : items_) total += it.plan.bytes + 1;
  bool partial = false;
  for (size_t i = 0; i < items_.size(); ++i) {
    JournalComponent& jc = jn_.components[i];
    if (jc.state == "done" || jc.state == "skipped" || jc.state == "reverted") {
      partial = partial || jc.state != "done";
      continue;
    }
    if (tracker_.cancel_requested()) {
      jn_.cancelled = true;
      error_ = Error::other("cancelled");
      REWIND_TRY(revert_all());
      row_.message = "cancelled; every component is back in its state before the rollback";
      REWIND_TRY(set_state("cancelled"));
      for (auto& p : start_services()) jn_.warnings.push_back(p);
      return report();
    }
    if (blocked(i)) {
      jc.state = "skipped";
      jc.message = "a component it depends on was not restored";
      partial = true;
      REWIND_TRY(persist());
      continue;
    }
    double a = static_cast<double>(done_bytes) / static_cast<double>(total);
    done_bytes += items_[i].plan.bytes + 1;
    tracker_.share(a, static_cast<double>(done_bytes) / static_cast<double>(total));
    // apt-get (rollback --apply-packages) takes dpkg's locks itself.
    if (ctx_.apply_packages && items_[i].spec.adapter == "packages") dpkg_.release();
    Status st =
        restore_one(i, plan_again || (jc.state == "started" && items_[i].plan.entries.empty()));
    if (st) continue;
    // The failure of a component: critical reverts everything, otherwise the
    // component alone goes back and its dependents are skipped.
    Error err = st.error().with_context(fmt::format("component {}", items_[i].spec.name));
    jc.message = err.message();
    if (items_[i].spec.critical) {
      jc.state = "failed";
      error_ = err;
      Status rv = revert_all();
      if (!rv)
        return fail(Error::system_invalid(
            "{}; reverting to safety point {} failed too: {}. Run `rewind recover` when the "
            "cause is fixed",
            err.message(), row_.safety, rv.error().message()));
      row_.message = fmt::format(
          "critical component {} failed; every component is back in its "
          "state before the rollback (safety point {})",
          items_[i].spec.name, row_.safety);
      for (auto& p : start_services()) jn_.warnings.push_back(p);
      REWIND_TRY(set_state("reverted"));
      return report();
    }
    jc.state = "failed";
    REWIND_TRY(persist());
    Status rv = revert_one(i);
    if (!rv) {
      error_ = err;
      return fail(Error::system_invalid(
          "{}; reverting it to safety point {} failed too: {}. Run `rewind recover` when the cause "
          "is fixed",
          err.message(), row_.safety, rv.error().message()));
    }
    jc.message = err.message();
    REWIND_TRY(persist());
    error_ = err;
    partial = true;
  }
  tracker_.phase(RollbackPhase::kServiceRestoration);
  REWIND_TRY(persist());
  for (auto& p : start_services()) jn_.warnings.push_back(p);
  tracker_.phase(RollbackPhase::kFinalization);
  REWIND_TRY(persist());
  tracker_.phase(RollbackPhase::kCompleted);
  row_.message = partial ? "some components were not restored (see each component)" : "";
  REWIND_TRY(set_state(partial ? "partial" : "completed"));
  return report();
}

Result<RollbackReport> Operation::run(const RollbackRequest& req, const std::string& kind) {
  tracker_.phase(RollbackPhase::kInitializing);
  REWIND_ASSIGN_OR_RETURN(int64_t point, RecoveryPointManager::resolve_in(repo_, req.point));
  REWIND_ASSIGN_OR_RETURN(items_, select(point, req));
  if (items_.empty()) return fail(Error::not_found("recovery point {} has no components", point));
  jn_.scope = std::string(scope_name(req.scope));
  jn_.incremental = req.scope == RollbackScope::kIncremental;
  return carry_out(point, req, kind);
}

Result<RollbackReport> Operation::run_restore(const std::string& id,
                                              const std::vector<std::string>& paths,
                                              ProgressObserver& /*obs*/) {
  tracker_.phase(RollbackPhase::kInitializing);
  REWIND_ASSIGN_OR_RETURN(int64_t point, RecoveryPointManager::resolve_in(repo_, id));
  RollbackRequest all;
  all.scope = RollbackScope::kFull;
  REWIND_ASSIGN_OR_RETURN(auto candidates, select(point, all));
  std::set<std::string> matched;
  for (auto& it : candidates) {
    std::string root = components::component_root(it.spec.paths);
    bool whole = paths.empty();
    std::vector<std::string> sel;
    if (!components::holds_file_tree(it.spec.adapter)) {
      // Adapter state is restored whole: named by its own path (a
      // database file) or a directory above it, never by a path inside.
      for (const auto& p : paths)
        for (const auto& own : it.spec.paths)
          if (components::relative_path(p, own)) {
            matched.insert(p);
            whole = true;
          }
      if (whole) items_.push_back(std::move(it));
      continue;
    }
    for (const auto& p : paths) {
      if (auto rel = components::relative_path(root, p)) {
        matched.insert(p);
        if (rel->empty())
          whole = true;
        else
          sel.push_back(*rel);
      } else if (components::relative_path(p, root)) {
        matched.insert(p);
        whole = true;
      }
    }
    if (!whole && sel.empty()) continue;
    if (!whole) it.select = std::move(sel);
    items_.push_back(std::move(it));
  }
  for (const auto& p : paths)
    if (!matched.contains(p))
      return fail(Error::not_found("{} is not in recovery point {}", p, point));
  jn_.scope = "restore";
  jn_.remove_extra = false;
  RollbackRequest req;
  req.point = id;
  return carry_out(point, req, "restore");
}

Status Operation::plan_item(size_t i) {
  Item& it = items_[i];
  if (it.make_absent) {
    // Whatever is at the component's paths goes.
    it.plan = components::Plan{};
    REWIND_ASSIGN_OR_RETURN(io::Fd root,
                            fs_.open_path(points_.options().system_root, O_RDONLY | O_DIRECTORY));
    it.plan.absent = true;
    for (const auto& p : it.spec.paths) {
      auto st = fs_.open_beneath(root.get(), p == "/" ? "." : p.substr(1), O_PATH);
      if (st) {
        it.plan.remove.push_back(p);
        it.plan.absent = false;
      }
    }
    return ok();
  }
  REWIND_ASSIGN_OR_RETURN(it.plan, it.adapter->plan(ctx_, it.spec, it.manifest, jn_.incremental,
                                                    jn_.remove_extra, it.select));
  return ok();
}

Result<RollbackReport> Operation::run_undo(const catalog::OperationRow& last,
                                           const RollbackRequest& req) {
  tracker_.phase(RollbackPhase::kInitializing);
  REWIND_ASSIGN_OR_RETURN(Journal old, parse_journal(last.journal));
  if (last.safety != 0) {
    RollbackRequest all;
    all.scope = RollbackScope::kFull;
    REWIND_ASSIGN_OR_RETURN(items_, select(last.safety, all));
  }
  // Components the operation created (they did not exist before it).
  for (const auto& jc : old.components) {
    if (!jc.absent || jc.state != "done") continue;
    Item it;
    it.spec = jc.spec;
    it.adapter = components::find_adapter(jc.spec.adapter);
    if (!it.adapter)
      return fail(Error::invalid_state("component {}: adapter '{}' is not available", jc.spec.name,
                                       jc.spec.adapter));
    it.make_absent = true;
    items_.push_back(std::move(it));
  }
  if (items_.empty())
    return fail(Error::not_found("operation {} changed nothing that can be undone", last.id));
  jn_.scope = "full";
  return carry_out(last.safety, req, "undo");
}

Result<RollbackReport> Operation::carry_out(int64_t point, const RollbackRequest& req,
                                            const std::string& kind) {
  ctx_.apply_packages = req.apply_packages;
  for (size_t i = 0; i < items_.size(); ++i) {
    Item& it = items_[i];
    tracker_.share(static_cast<double>(i) / static_cast<double>(items_.size()),
                   static_cast<double>(i + 1) / static_cast<double>(items_.size()));
    Status planned = plan_item(i);
    if (!planned)
      return fail(planned.error().with_context(fmt::format("component {}", it.spec.name)));
    jn_.components.push_back(JournalComponent{it.spec, "pending", "", 0, 0, 0, it.select,
                                              it.plan.absent, it.make_absent});
  }
  // Services: stopped dependents first, started in dependency order.
  for (auto it = items_.rbegin(); it != items_.rend(); ++it)
    for (const auto& s : it->adapter->services(it->spec))
      if (std::find(jn_.stop.begin(), jn_.stop.end(), s) == jn_.stop.end()) jn_.stop.push_back(s);
  for (const auto& it : items_)
    for (const auto& s : it.adapter->services(it.spec))
      if (std::find(jn_.start.begin(), jn_.start.end(), s) == jn_.start.end())
        jn_.start.push_back(s);
  row_.point = point;
  row_.kind = kind;
  if (req.dry_run) {
    RollbackReport r = report();
    r.state = "planned";
    for (auto& c : r.components) c.result = "planned";
    return r;
  }
  if (req.confirm && !req.confirm(report().plan))
    return fail(Error::other("rollback not confirmed; nothing was changed"));
  if (std::any_of(items_.begin(), items_.end(), [](const Item& i) { return covers_dpkg(i.spec); }))
    REWIND_TRY(dpkg_.take(fs_, points_.options().system_root));
  // Free space, per target file system, before anything is staged.
  {
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> need;  // dev -> (need, free)
    REWIND_ASSIGN_OR_RETURN(io::Fd root,
                            fs_.open_path(points_.options().system_root, O_RDONLY | O_DIRECTORY));
    for (const auto& it : items_) {
      std::string comp = components::component_root(it.spec.paths);
      io::Fd dir;
      std::string rel = comp == "/" ? "." : comp.substr(1);
      // The nearest existing directory on the way to the component.
      while (true) {
        auto d = fs_.open_beneath(root.get(), rel, O_RDONLY | O_DIRECTORY);
        if (d) {
          dir = std::move(*d);
          break;
        }
        if (rel == ".") return fail(d.error());
        size_t slash = rel.rfind('/');
        rel = slash == std::string::npos ? "." : rel.substr(0, slash);
      }
      REWIND_ASSIGN_OR_RETURN(io::Stat st, fs_.fstat(dir.get()));
      REWIND_ASSIGN_OR_RETURN(io::FsSpace sp, fs_.statfs(dir.get()));
      auto& n = need[st.dev];
      n.first += it.plan.bytes;
      n.second = sp.free_bytes;
    }
    for (const auto& [dev, n] : need) {
      uint64_t want = n.first + (16ull << 20);
      if (n.second < want)
        return fail(Error::no_space(
            "not enough free space to stage the rollback: need {}, have {} (on the file system of "
            "device {}:{})",
            store::format_bytes(want), store::format_bytes(n.second), dev >> 8, dev & 0xff));
    }
  }
  // The journal, before anything changes.
  row_.kind = kind;
  row_.state = "running";
  row_.pid = ::getpid();
  row_.started_ns = now_ns();
  row_.journal = journal_text(jn_);
  REWIND_ASSIGN_OR_RETURN(row_.id, repo_.catalog().insert_operation(row_));
  tracker_.attach(&repo_.catalog(), row_.id);
  auto give_up = [&](const Error& e, const std::string& msg) -> Result<RollbackReport> {
    error_ = e;
    row_.message = msg;
    jn_.error_kind = std::string(error_code_name(e.code()));
    jn_.error_message = e.message();
    tracker_.phase(RollbackPhase::kFailed);
    REWIND_TRY(set_state("failed"));
    return fail(e);
  };
  // CreatingRecoveryPoint: a safety point of exactly these components.
  tracker_.phase(RollbackPhase::kCreatingRecoveryPoint);
  REWIND_TRY(persist());
  if (tracker_.cancel_requested()) {
    jn_.cancelled = true;
    row_.message = "cancelled before anything changed";
    REWIND_TRY(set_state("cancelled"));
    error_ = Error::other("cancelled");
    return report();
  }
  {
    // A component that does not exist has nothing to keep: reverting it
    // removes it (the journal says so).
    std::vector<ComponentSpec> specs;
    for (const auto& it : items_)
      if (!it.plan.absent) specs.push_back(it.spec);
    catalog::PointRow meta;
    meta.kind = "safety";
    meta.cause = fmt::format("{} {} to point {}", kind, row_.id, point);
    meta.name = fmt::format("before {} {}", kind, row_.id);
    // An incremental rollback distrusts metadata (it looks for damage that
    // left it alone), and so does its safety point.
    if (!specs.empty()) {
      auto made = points_.capture_into(repo_, specs, meta, tracker_, !jn_.incremental);
      if (!made)
        return give_up(made.error().with_context("taking the safety point"),
                       "the safety point could not be taken; nothing was changed");
      row_.safety = made->id;
      REWIND_TRY(persist());
    }
  }
  // SnapshotValidation: every chunk the plan needs, read and hash-checked.
  tracker_.phase(RollbackPhase::kSnapshotValidation);
  REWIND_TRY(persist());
  for (size_t i = 0; i < items_.size(); ++i) {
    tracker_.share(static_cast<double>(i) / static_cast<double>(items_.size()),
                   static_cast<double>(i + 1) / static_cast<double>(items_.size()));
    if (items_[i].make_absent) continue;
    Status st = items_[i].adapter->validate(ctx_, items_[i].plan);
    if (!st)
      return give_up(st.error().with_context(fmt::format("component {}", items_[i].spec.name)),
                     "the recovery point is damaged; nothing was changed");
  }
  if (tracker_.cancel_requested()) {
    jn_.cancelled = true;
    error_ = Error::other("cancelled");
    row_.message = "cancelled before anything changed";
    REWIND_TRY(set_state("cancelled"));
    return report();
  }
  Status stopped = stop_services();
  if (!stopped) {
    for (auto& p : start_services()) jn_.warnings.push_back(p);
    return give_up(stopped.error(), "a service could not be stopped; nothing was changed");
  }
  return finish_components(false);
}

Result<RollbackReport> Operation::recover(const catalog::OperationRow& row) {
  row_ = row;
  REWIND_ASSIGN_OR_RETURN(jn_, parse_journal(row.journal));
  if (!jn_.error_kind.empty())
    error_ =
        Error(error_code_from_name(jn_.error_kind).value_or(ErrorCode::kOther), jn_.error_message);
  tracker_.attach(&repo_.catalog(), row_.id);
  REWIND_ASSIGN_OR_RETURN(auto snaps, repo_.catalog().snapshots(row_.point));
  for (const auto& jc : jn_.components) {
    Item it;
    it.spec = jc.spec;
    it.adapter = components::find_adapter(jc.spec.adapter);
    if (!it.adapter)
      return fail(Error::invalid_state("component {}: adapter '{}' is not available", jc.spec.name,
                                       jc.spec.adapter));
    if (jc.make_absent) {
      it.make_absent = true;
      items_.push_back(std::move(it));
      continue;
    }
    auto snap = std::find_if(snaps.begin(), snaps.end(),
                             [&](const auto& s) { return s.component == jc.spec.name; });
    if (snap == snaps.end())
      return fail(Error::corrupted_data("operation {}: recovery point {} lacks component {}",
                                        row_.id, row_.point, jc.spec.name));
    REWIND_ASSIGN_OR_RETURN(it.manifest, ChunkId::parse(snap->manifest));
    it.select = jc.select;
    items_.push_back(std::move(it));
  }
  if (std::any_of(items_.begin(), items_.end(), [](const Item& i) { return covers_dpkg(i.spec); }))
    REWIND_TRY(dpkg_.take(fs_, points_.options().system_root));
  bool touched = std::any_of(jn_.components.begin(), jn_.components.end(),
                             [](const JournalComponent& c) { return c.state != "pending"; });
  if (row_.state == "reverting") {
    tracker_.phase(RollbackPhase::kComponentRollback);
    REWIND_TRY(revert_all());
    for (auto& p : start_services()) jn_.warnings.push_back(p);
    row_.message = "recover reverted it: every component is back in its state before the rollback";
    tracker_.phase(RollbackPhase::kFailed);
    REWIND_TRY(set_state(jn_.cancelled ? "cancelled" : "reverted"));
    return report();
  }
  if (!touched) {
    // Interrupted before the first component changed: only the services
    // may have been stopped.
    for (auto& p : start_services()) jn_.warnings.push_back(p);
    row_.message = "interrupted before anything changed; recover left every component as it was";
    tracker_.phase(RollbackPhase::kFailed);
    REWIND_TRY(set_state("failed"));
    RollbackReport r = report();
    return r;
  }
  auto r = finish_components(true);
  if (r) {
    if (r->state == "completed" || r->state == "partial") {
      row_.message = "recover finished it: " +
                     (row_.message.empty() ? std::string("every component is at the recovery point")
                                           : row_.message);
      REWIND_TRY(persist());
      r->message = row_.message;
    }
  }
  return r;
}

// The newest operation that finished and changed something.
Result<catalog::OperationRow> last_finished(store::Repository& repo) {
  REWIND_ASSIGN_OR_RETURN(auto ops, repo.catalog().list_operations(1000));
  for (const auto& o : ops)
    if (o.state == "completed" || o.state == "partial") return o;
  return fail(Error::not_found("no finished rollback or restore to undo (see `rewind status`)"));
}

RollbackProgress progress_of(const catalog::OperationRow& o) {
  RollbackProgress p;
  p.operation = o.id;
  p.kind = o.kind;
  p.state = o.state;
  p.phase = parse_phase(o.phase).value_or(RollbackPhase::kInitializing);
  p.percent = o.percent;
  p.point = o.point;
  p.safety = o.safety;
  p.pid = o.pid;
  p.started_ns = o.started_ns;
  p.updated_ns = o.updated_ns;
  p.cancel_requested = o.cancel;
  p.message = o.message;
  if (auto jn = parse_journal(o.journal)) p.components = outcomes(*jn);
  return p;
}

}  // namespace

Result<RollbackReport> RollbackEngine::execute(const RollbackRequest& req,
                                               const std::string& kind) {
  NullObserver null;
  ProgressObserver& obs = req.observer ? *req.observer : null;
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(!req.dry_run, kind));
  if (!req.dry_run) REWIND_TRY(RecoveryPointManager::refuse_unfinished(*repo));
  Operation op(fs_, points_, *repo, obs, req.cancel);
  return op.run(req, kind);
}

Result<RollbackReport> RollbackEngine::restore(const RestoreRequest& req, ProgressObserver& obs) {
  std::vector<std::string> paths;
  for (const auto& p : req.paths) {
    REWIND_ASSIGN_OR_RETURN(std::string n, components::files::normalize_abs(p));
    paths.push_back(n);
  }
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(true, "restore"));
  REWIND_TRY(RecoveryPointManager::refuse_unfinished(*repo));
  Operation op(fs_, points_, *repo, obs, nullptr);
  return op.run_restore(req.point, paths, obs);
}

Result<std::vector<RollbackReport>> RollbackEngine::recover(ProgressObserver& obs) {
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(true, "recover"));
  REWIND_ASSIGN_OR_RETURN(auto ops, repo->catalog().unfinished_operations());
  std::vector<RollbackReport> out;
  for (const auto& row : ops) {
    Operation op(fs_, points_, *repo, obs, nullptr);
    REWIND_ASSIGN_OR_RETURN(RollbackReport r, op.recover(row));
    out.push_back(std::move(r));
  }
  return out;
}

Result<RollbackReport> RollbackEngine::undo(RollbackRequest req) {
  NullObserver null;
  ProgressObserver& obs = req.observer ? *req.observer : null;
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(!req.dry_run, "undo"));
  if (!req.dry_run) REWIND_TRY(RecoveryPointManager::refuse_unfinished(*repo));
  REWIND_ASSIGN_OR_RETURN(auto last, last_finished(*repo));
  Operation op(fs_, points_, *repo, obs, req.cancel);
  return op.run_undo(last, req);
}

Result<std::vector<RollbackProgress>> RollbackEngine::status(std::optional<int64_t> op,
                                                             int64_t limit) {
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(false, ""));
  std::vector<RollbackProgress> out;
  if (op) {
    REWIND_ASSIGN_OR_RETURN(auto o, repo->catalog().get_operation(*op));
    if (!o) return fail(Error::not_found("operation {} does not exist", *op));
    out.push_back(progress_of(*o));
    return out;
  }
  REWIND_ASSIGN_OR_RETURN(auto ops, repo->catalog().list_operations(limit));
  for (const auto& o : ops) out.push_back(progress_of(o));
  return out;
}

Status RollbackEngine::cancel(std::optional<int64_t> op) {
  REWIND_ASSIGN_OR_RETURN(auto repo, points_.open_repo(false, ""));
  REWIND_ASSIGN_OR_RETURN(auto ops, repo->catalog().unfinished_operations());
  for (const auto& o : ops) {
    if (op && o.id != *op) continue;
    return repo->catalog().request_cancel(o.id);
  }
  if (op) return fail(Error::not_found("operation {} is not running", *op));
  return fail(Error::not_found("no operation is running"));
}

}  // namespace rwd::engine
