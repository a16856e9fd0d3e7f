// SPDX-License-Identifier: Apache-2.0
// The rollback engine's operations as other processes see them (issue 3,
// "The rollback engine"): `cancel` and Ctrl-C end in the state before the
// rollback; `status` from a second process shows the phases and a rising
// percentage; an unfinished operation blocks every mutating command until
// `recover`; dpkg's locks are honoured and never captured; an in-place
// `restore` takes a safety point that `undo` returns to.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "integration/rollback_fixture.h"
#include "support/fault_fs.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// The fixture's configuration (a <- b <- c, d), with the stop command
// sleeping `stop_sleep` seconds before it logs, so that a rollback stays
// in flight long enough for another process to watch or cancel it.
void write_slow_config(const MultiFixture& f, const std::string& stop_sleep) {
  std::ostringstream cfg;
  cfg << "[service_manager]\n"
      << "stop = [\"sh\", \"-c\", \"sleep " << stop_sleep << "; echo stop {service} >> " << f.log
      << "\"]\n"
      << "start = [\"sh\", \"-c\", \"echo start {service} >> " << f.log << "\"]\n\n"
      << "[[component]]\nname = \"c\"\npaths = [\"/srv/c\"]\ndepends_on = [\"b\"]\n"
      << "services = [\"svc-c\"]\n\n"
      << "[[component]]\nname = \"a\"\npaths = [\"/srv/a\"]\nservices = [\"svc-a\"]\n"
      << "critical = true\n\n"
      << "[[component]]\nname = \"b\"\npaths = [\"/srv/b\"]\ndepends_on = [\"a\"]\n"
      << "services = [\"svc-b\"]\n\n"
      << "[[component]]\nname = \"d\"\npaths = [\"/srv/d\"]\nservices = [\"svc-d\"]\n";
  f.write_config(cfg.str());
}

std::vector<std::string> rewind_argv(const Sandbox& box, const std::vector<std::string>& args,
                                     const std::string& binary = rwd::testing::rewind_binary()) {
  std::vector<std::string> argv{binary, "--repo", box.repo, "--root", box.root};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// A rewind command running on another thread (its own process).
class Background {
 public:
  Background(const Sandbox& box, const std::vector<std::string>& args)
      : thread_([this, argv = rewind_argv(box, args)] {
          result_ = rwd::testing::run(argv, {}, 300);
          done_ = true;
        }) {}
  ~Background() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }
  RunResult join() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  RunResult result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// `status --json` (the recent operations, newest first); null on failure.
json status_list(const Sandbox& box) {
  RunResult r = box.rw({"--json", "status"});
  if (r.exit_code != 0) return json();
  auto j = json::parse(r.out, nullptr, false);
  return j.is_discarded() ? json() : j;
}

// The newest operation, or null.
json newest_op(const Sandbox& box) {
  json l = status_list(box);
  if (!l.is_array() || l.empty()) return json();
  json best = l[0];
  for (const auto& o : l)
    if (o["operation"].get<int64_t>() > best["operation"].get<int64_t>()) best = o;
  return best;
}

// Waits until an operation is running (or `bg` ends); returns it, or null.
json wait_running(const Sandbox& box, const Background& bg, const std::string& phase = "",
                  int timeout_s = 60) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline && !bg.done()) {
    json o = newest_op(box);
    if (o.is_object() && o["state"] == "running" && (phase.empty() || o["phase"] == phase))
      return o;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return json();
}

void expect_all_equal(const MultiFixture& f, const std::string& baseline,
                      const std::string& label) {
  for (const auto& c : fixture_components())
    EXPECT_EQ(f.diff_component(c, baseline), "") << label << ": component " << c;
}

bool log_has(const std::vector<std::string>& log, const std::string& line) {
  return std::find(log.begin(), log.end(), line) != log.end();
}

// Every service the rollback stopped was started again, after it was stopped.
void expect_services_started_again(const std::vector<std::string>& log) {
  for (const auto& c : fixture_components()) {
    auto stop = std::find(log.begin(), log.end(), "stop svc-" + c);
    if (stop == log.end()) continue;
    EXPECT_NE(std::find(stop, log.end(), "start svc-" + c), log.end())
        << "svc-" << c << " was stopped and not started again";
  }
}

// Waits until the (slow) stop command has stopped at least one service.
bool wait_first_stop(const MultiFixture& f, const Background& bg, int timeout_s = 60) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline && !bg.done()) {
    if (read_file(f.log).find("stop svc-") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Everything up to a rolled-back-to point: populated, point 1 taken, every
// component changed, a copy of the changed state in `before`.
struct Prepared {
  int64_t id = 0;
  std::string before, at_point;
};
Prepared prepare(MultiFixture& f, size_t big = 4096) {
  Prepared p;
  f.populate(1, big);
  p.id = f.create();
  p.at_point = f.box.dir.sub("at-point");
  f.copy_all(p.at_point);
  f.mutate();
  p.before = f.box.dir.sub("before");
  f.copy_all(p.before);
  f.take_log();
  return p;
}

// --------------------------------------------------------------------------
// cancel and Ctrl-C

// `rewind cancel` while the services are being stopped: the rollback ends
// with 130, every component is as it was, the services run again.
TEST(EngineCancel, CancelCommandRevertsToTheStateBeforeTheRollback) {
  MultiFixture f("rewind-ops");
  Prepared p = prepare(f);
  write_slow_config(f, "0.5");
  Background bg(f.box, {"rollback", std::to_string(p.id), "--yes"});
  json op = wait_running(f.box, bg);
  ASSERT_TRUE(op.is_object()) << "the rollback was never seen running: " << describe(bg.join());
  // A second rollback meanwhile is refused, naming the holder.
  RunResult second = f.rw({"rollback", std::to_string(p.id), "--yes"});
  EXPECT_EQ(second.exit_code, 11) << describe(second);
  EXPECT_THAT(second.err, HasSubstr(std::to_string(op["pid"].get<int64_t>())));
  // `status -w` follows the operation until it ends.
  Background watch(f.box, {"status", "-w", std::to_string(op["operation"].get<int64_t>())});
  // Once it is stopping the services (so that they must be started again).
  ASSERT_TRUE(wait_first_stop(f, bg)) << describe(bg.join());
  RunResult c = f.rw({"cancel"});
  EXPECT_EQ(c.exit_code, 0) << describe(c);
  RunResult r = bg.join();
  EXPECT_EQ(r.exit_code, 130) << describe(r);
  expect_all_equal(f, p.before, "after cancel");
  json st = newest_op(f.box);
  EXPECT_EQ(st["operation"], op["operation"]);
  EXPECT_EQ(st["state"], "cancelled") << st.dump();
  EXPECT_EQ(st["cancel_requested"], true) << st.dump();
  RunResult watched = watch.join();
  EXPECT_EQ(watched.exit_code, 0) << describe(watched);
  EXPECT_THAT(watched.out, HasSubstr("running"));
  EXPECT_THAT(watched.out, HasSubstr("cancelled"));
  std::vector<std::string> log = f.take_log();
  EXPECT_TRUE(log_has(log, "stop svc-d")) << "the services were being stopped when the cancel came";
  expect_services_started_again(log);
  // Nothing is left for recover, and the next command runs.
  RunResult rec = f.rw({"recover"});
  EXPECT_EQ(rec.exit_code, 0) << describe(rec);
  EXPECT_THAT(rec.out, HasSubstr("nothing to recover"));
  // With nothing running, cancel says so.
  RunResult again = f.rw({"cancel"});
  EXPECT_EQ(again.exit_code, 14) << describe(again);
}

// Ctrl-C (SIGINT to the rollback's process) does the same.
TEST(EngineCancel, SigintRevertsToTheStateBeforeTheRollback) {
  MultiFixture f("rewind-ops");
  Prepared p = prepare(f);
  write_slow_config(f, "0.5");
  Background bg(f.box, {"rollback", std::to_string(p.id), "--yes"});
  json op = wait_running(f.box, bg);
  ASSERT_TRUE(op.is_object()) << "the rollback was never seen running";
  const pid_t pid = op["pid"].get<pid_t>();
  ASSERT_GT(pid, 1);
  ASSERT_NE(pid, ::getpid());
  ASSERT_TRUE(wait_first_stop(f, bg)) << describe(bg.join());
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  RunResult r = bg.join();
  EXPECT_EQ(r.exit_code, 130) << describe(r);
  expect_all_equal(f, p.before, "after SIGINT");
  json st = newest_op(f.box);
  EXPECT_EQ(st["state"], "cancelled") << st.dump();
  std::vector<std::string> log = f.take_log();
  EXPECT_TRUE(log_has(log, "stop svc-d"));
  expect_services_started_again(log);
  RunResult rec = f.rw({"recover"});
  EXPECT_EQ(rec.exit_code, 0) << describe(rec);
  EXPECT_THAT(rec.out, HasSubstr("nothing to recover"));
}

// A cancel that arrives while a component is being restored: the engine
// stops at the next component and puts the restored one back. The rollback
// is held still through the io seam at its first utimens (a's first
// restored file) while the cancel is requested, so that it cannot finish
// first however slow `rewind cancel` starts (under the sanitizers).
TEST(EngineCancel, CancelDuringComponentRollbackRevertsRestoredComponents) {
  MultiFixture f("rewind-ops");
  f.populate(1, 4096);
  // a and b hold enough data that restoring them takes a while.
  for (int i = 0; i < 48; ++i) {
    write_file(f.dir_of("a") + "/bulk/f" + std::to_string(i),
               rwd::testing::random_bytes(1 << 20, 1000 + static_cast<uint64_t>(i)));
    write_file(f.dir_of("b") + "/bulk/f" + std::to_string(i),
               rwd::testing::random_bytes(1 << 20, 2000 + static_cast<uint64_t>(i)));
  }
  const int64_t id = f.create();
  ASSERT_GT(id, 0);
  f.mutate();
  std::filesystem::remove_all(f.dir_of("a") + "/bulk");
  std::filesystem::remove_all(f.dir_of("b") + "/bulk");
  const std::string before = f.box.dir.sub("before");
  f.copy_all(before);
  f.take_log();
  pid_t pid = spawn(rewind_argv(f.box, {"-q", "rollback", std::to_string(id), "--yes"},
                                rwd::testing::rewind_faulty_binary()),
                    {"REWIND_FAULT=stop:utimens:1"});
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  if (!WIFSTOPPED(status)) FAIL() << "the rollback ended before its first utimens: " << status;
  json op = newest_op(f.box);
  EXPECT_EQ(op["phase"], "ComponentRollback") << op.dump();
  RunResult c = f.rw({"cancel", std::to_string(op["operation"].get<int64_t>())});
  EXPECT_EQ(c.exit_code, 0) << describe(c);
  ::kill(pid, SIGCONT);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
  expect_all_equal(f, before, "after a cancel during ComponentRollback");
  EXPECT_FALSE(exists_nofollow(f.dir_of("a") + "/bulk"));
  json st = newest_op(f.box);
  EXPECT_EQ(st["state"], "cancelled") << st.dump();
  // a was restored and then put back (the revert really ran).
  bool a_reverted = false;
  for (const auto& comp : st["components"])
    if (comp["name"] == "a") a_reverted = comp["result"] == "reverted";
  EXPECT_TRUE(a_reverted) << st.dump();
  expect_services_started_again(f.take_log());
}

// --------------------------------------------------------------------------
// status from a second process

TEST(EngineStatus, SecondProcessSeesPhasesAndARisingPercentage) {
  MultiFixture f("rewind-ops");
  f.populate(1, 4096);
  for (int i = 0; i < 200; ++i)
    write_file(f.dir_of("d") + "/bulk/f" + std::to_string(i),
               rwd::testing::random_bytes(1 << 20, 5000 + static_cast<uint64_t>(i)));
  const int64_t id = f.create();
  ASSERT_GT(id, 0);
  const std::string at_point = f.box.dir.sub("at-point");
  f.copy_all(at_point);
  f.mutate();
  std::filesystem::remove_all(f.dir_of("d") + "/bulk");
  write_slow_config(f, "0.5");

  Background bg(f.box, {"rollback", std::to_string(id), "--yes"});
  std::vector<std::pair<std::string, double>> seen;  // (phase, percent) while running
  int64_t op_id = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!bg.done() && std::chrono::steady_clock::now() < deadline) {
    json o = newest_op(f.box);
    if (o.is_object() && (o["state"] == "running")) {
      if (op_id == 0) op_id = o["operation"].get<int64_t>();
      if (o["operation"].get<int64_t>() == op_id)
        seen.emplace_back(o["phase"].get<std::string>(), o["percent"].get<double>());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  RunResult r = bg.join();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_GT(op_id, 0) << "the running rollback was never seen";

  std::set<std::string> phases;
  std::set<double> below_100;
  std::string trace;
  for (size_t i = 0; i < seen.size(); ++i) {
    phases.insert(seen[i].first);
    if (seen[i].second < 100) below_100.insert(seen[i].second);
    trace += seen[i].first + " " + std::to_string(seen[i].second) + "\n";
    if (i > 0) {
      EXPECT_GE(seen[i].second, seen[i - 1].second) << "percentage fell:\n" << trace;
    }
  }
  std::string phase_list;
  for (const auto& ph : phases) phase_list += " " + ph;
  std::printf("status samples while running: %zu; phases:%s; distinct percentages below 100: %zu\n",
              seen.size(), phase_list.c_str(), below_100.size());
  EXPECT_GE(phases.size(), 2u) << trace;
  EXPECT_GE(below_100.size(), 2u) << trace;
  // The percentage rises with the work itself, not only from one phase to
  // the next: while the 200 MiB of d are written (nearly all of the
  // ComponentRollback band, 50-90), status shows values inside the band,
  // not 50 until the very end and then 90.
  std::vector<double> in_rollback;
  for (const auto& [ph, pct] : seen)
    if (ph == "ComponentRollback") in_rollback.push_back(pct);
  if (in_rollback.size() >= 5) {
    const auto inside = std::count_if(in_rollback.begin(), in_rollback.end(),
                                      [](double v) { return v >= 52 && v <= 88; });
    EXPECT_GE(inside, 1) << in_rollback.size()
                         << " samples during ComponentRollback, none between 52% and 88% while "
                            "200 MiB were restored:\n"
                         << trace;
  } else {
    std::printf("ComponentRollback too short to sample (%zu samples)\n", in_rollback.size());
  }
  // Phases only move forward, in the documented order. (The phase is
  // written a moment before the state, so the last sample of a running
  // operation may already say Completed.)
  const std::vector<std::string> order = {
      "Initializing",       "CreatingRecoveryPoint", "SnapshotValidation", "ComponentRollback",
      "ServiceRestoration", "Finalization",          "Completed"};
  size_t last = 0;
  for (const auto& [ph, pct] : seen) {
    auto it = std::find(order.begin(), order.end(), ph);
    ASSERT_NE(it, order.end()) << "unexpected phase " << ph << " while running";
    size_t idx = static_cast<size_t>(it - order.begin());
    EXPECT_GE(idx, last) << "phase went back:\n" << trace;
    last = std::max(last, idx);
  }

  RunResult one = f.rw({"--json", "status", std::to_string(op_id)});
  ASSERT_EQ(one.exit_code, 0) << describe(one);
  json fin = json::parse(one.out);
  EXPECT_EQ(fin["state"], "completed") << fin.dump();
  EXPECT_EQ(fin["phase"], "Completed") << fin.dump();
  EXPECT_EQ(fin["percent"], 100.0) << fin.dump();
  EXPECT_EQ(f.diff_component("d", at_point), "");
  // The text form shows the operation with its phase.
  RunResult text = f.rw({"status"});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_THAT(text.out, HasSubstr("Completed"));
  EXPECT_THAT(text.out, HasSubstr("100.0%"));
}

// --------------------------------------------------------------------------
// An unfinished operation

// cp -a of the system root and the repository, and back.
void save_state(const MultiFixture& f, const std::string& dir) {
  std::filesystem::create_directories(dir);
  copy_tree(f.box.root, dir + "/root");
  copy_tree(f.box.repo, dir + "/repo");
}
void load_state(const MultiFixture& f, const std::string& dir) {
  std::filesystem::remove_all(f.box.root);
  std::filesystem::remove_all(f.box.repo);
  copy_tree(dir + "/root", f.box.root);
  copy_tree(dir + "/repo", f.box.repo);
}

TEST(EngineUnfinished, MutatingCommandsRefuseUntilRecover) {
  MultiFixture f("rewind-ops");
  Prepared p = prepare(f);
  const std::string saved = f.box.dir.sub("saved");
  save_state(f, saved);
  const std::string report = f.box.dir.sub("fault-report");
  const auto faulty = rewind_argv(f.box, {"rollback", std::to_string(p.id), "--yes"},
                                  rwd::testing::rewind_faulty_binary());

  RunResult count =
      rwd::testing::run(faulty, {{"REWIND_FAULT", "count"}, {"REWIND_FAULT_REPORT", report}});
  ASSERT_EQ(count.exit_code, 0) << describe(count);
  const uint64_t n = std::stoull(read_file(report));
  ASSERT_GT(n, 10u);

  // Crash at a call in the middle; if that happens to fall before the
  // operation is recorded, try another.
  bool unfinished = false;
  uint64_t k = 0;
  for (double frac : {0.5, 0.6, 0.7, 0.4, 0.8}) {
    load_state(f, saved);
    k = static_cast<uint64_t>(static_cast<double>(n) * frac);
    RunResult crash = rwd::testing::run(
        faulty, {{"REWIND_FAULT", "crash:" + std::to_string(k)}, {"REWIND_FAULT_REPORT", report}});
    ASSERT_EQ(crash.exit_code, rwd::testing::kCrashExit) << "k=" << k << " " << describe(crash);
    json o = newest_op(f.box);
    if (o.is_object() && o["state"] == "running") {
      unfinished = true;
      break;
    }
  }
  ASSERT_TRUE(unfinished) << "no crash point left an unfinished operation (n=" << n << ")";
  SCOPED_TRACE("crashed before mutating call " + std::to_string(k) + " of " + std::to_string(n));
  f.take_log();

  // Mutating commands are refused with 5 and point at `rewind recover`.
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"create"},
                                             {"rollback", std::to_string(p.id), "--yes"},
                                             {"restore", std::to_string(p.id), "/srv/a/conf"},
                                             {"undo", "--yes"}}) {
    RunResult r = f.rw(args);
    EXPECT_EQ(r.exit_code, 5) << args[0] << ": " << describe(r);
    EXPECT_THAT(r.err, HasSubstr("rewind recover")) << args[0];
  }
  RunResult singles = f.rw({"--json", "list", "--kind", "single"});
  ASSERT_EQ(singles.exit_code, 0) << describe(singles);
  EXPECT_EQ(json::parse(singles.out).size(), 1u) << "create was refused, yet a point was taken";

  // Read-only commands work, and status shows the unfinished operation.
  RunResult list = f.rw({"list"});
  EXPECT_EQ(list.exit_code, 0) << describe(list);
  RunResult status = f.rw({"status"});
  EXPECT_EQ(status.exit_code, 0) << describe(status);
  EXPECT_THAT(status.out, HasSubstr("running"));
  EXPECT_THAT(status.out, HasSubstr("rewind recover"));
  json op = newest_op(f.box);
  EXPECT_EQ(op["state"], "running") << op.dump();
  EXPECT_EQ(op["point"], p.id);

  // recover says what it did.
  RunResult rec = f.rw({"recover"});
  EXPECT_EQ(rec.exit_code, 0) << describe(rec);
  EXPECT_THAT(rec.out, HasSubstr("operation " + std::to_string(op["operation"].get<int64_t>())));
  EXPECT_THAT(rec.out, AnyOf(HasSubstr("finished"), HasSubstr("reverted"),
                             HasSubstr("left every component as it was")));
  // Every component is in one of the two states, never a mix.
  for (const auto& c : fixture_components()) {
    std::string to_before = f.diff_component(c, p.before);
    std::string to_point = f.diff_component(c, p.at_point);
    EXPECT_TRUE(to_before.empty() || to_point.empty())
        << "component " << c << " is neither before nor at the point:\n"
        << to_before << "---\n"
        << to_point;
  }
  json after = newest_op(f.box);
  std::printf("crash at mutating call %llu of %llu; recover: %s",
              static_cast<unsigned long long>(k), static_cast<unsigned long long>(n),
              rec.out.c_str());
  EXPECT_NE(after["state"], "running") << after.dump();

  RunResult again = f.rw({"recover"});
  EXPECT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_THAT(again.out, HasSubstr("nothing to recover"));
  // And the repository takes points again.
  RunResult create = f.rw({"-q", "create"});
  EXPECT_EQ(create.exit_code, 0) << describe(create);
}

// --------------------------------------------------------------------------
// dpkg's locks

// A system root with a dpkg database, configured as one component; with
// `slow_service`, the component names a service whose stop takes a second.
class DpkgFixture {
 public:
  explicit DpkgFixture(bool slow_service = false)
      : box("rewind-dpkg"), dpkg(box.root + "/var/lib/dpkg") {
    std::string cfg =
        "[[component]]\nname = \"pkgdb\"\ncategory = \"system_services\"\n"
        "paths = [\"/var/lib/dpkg\"]\n";
    if (slow_service)
      cfg = "[service_manager]\nstop = [\"sh\", \"-c\", \"sleep 1\"]\nstart = [\"true\"]\n\n" +
            cfg + "services = [\"pkg-svc\"]\n";
    write_file(box.root + "/etc/rewind/rewind.toml", cfg);
    write_file(dpkg + "/status", "Package: foo\nVersion: 1.0\n");
    write_file(dpkg + "/info/foo.list", "/usr/bin/foo\n");
    write_file(dpkg + "/lock-frontend", "frontend-at-point");
    write_file(dpkg + "/lock", "lock-at-point");
    write_file(dpkg + "/triggers/Lock", "");
    EXPECT_EQ(box.init().exit_code, 0);
  }

  Sandbox box;
  std::string dpkg;
};

// A classic POSIX (process-associated) write lock, as dpkg takes it.
class PosixLock {
 public:
  explicit PosixLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
    EXPECT_GE(fd_, 0) << path;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    EXPECT_EQ(::fcntl(fd_, F_SETLK, &fl), 0) << path;
  }
  ~PosixLock() { ::close(fd_); }

 private:
  int fd_;
};

TEST(EngineDpkg, RollbackRefusedWhileDpkgHoldsItsLocks) {
  DpkgFixture d;
  RunResult cr = d.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);
  const std::string id = "1";
  write_file(d.dpkg + "/status", "Package: foo\nVersion: 2.0\n");
  write_file(d.dpkg + "/info/bar.list", "/usr/bin/bar\n");

  {
    PosixLock held(d.dpkg + "/lock-frontend");
    RunResult r = d.box.rw({"rollback", id, "--yes"});
    EXPECT_EQ(r.exit_code, 11) << describe(r);
    EXPECT_THAT(r.err, HasSubstr("dpkg"));
    EXPECT_EQ(read_file(d.dpkg + "/status"), "Package: foo\nVersion: 2.0\n");
    EXPECT_TRUE(exists_nofollow(d.dpkg + "/info/bar.list"));
  }
  {
    PosixLock held(d.dpkg + "/lock");
    RunResult r = d.box.rw({"rollback", id, "--yes"});
    EXPECT_EQ(r.exit_code, 11) << describe(r);
    EXPECT_THAT(r.err, HasSubstr("dpkg"));
    EXPECT_EQ(read_file(d.dpkg + "/status"), "Package: foo\nVersion: 2.0\n");
  }
  // Without the locks the rollback runs.
  RunResult ok = d.box.rw({"rollback", id, "--yes"});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_EQ(read_file(d.dpkg + "/status"), "Package: foo\nVersion: 1.0\n");
  EXPECT_FALSE(exists_nofollow(d.dpkg + "/info/bar.list"));
}

// Whether another process holds a lock that conflicts with a write lock on
// the whole of `path` (classic and open file description locks alike).
bool write_locked_by_other(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  EXPECT_EQ(::fcntl(fd, F_GETLK, &fl), 0) << path;
  ::close(fd);
  return fl.l_type != F_UNLCK;
}

// While the rollback runs it holds both of dpkg's locks, as dpkg would, so
// that apt and dpkg wait; it lets go when it ends.
TEST(EngineDpkg, RollbackHoldsDpkgLocksWhileItRuns) {
  DpkgFixture d(/*slow_service=*/true);
  RunResult cr = d.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);
  write_file(d.dpkg + "/status", "Package: foo\nVersion: 2.0\n");
  EXPECT_FALSE(write_locked_by_other(d.dpkg + "/lock-frontend"));
  Background bg(d.box, {"rollback", "1", "--yes"});
  json op = wait_running(d.box, bg);
  ASSERT_TRUE(op.is_object()) << "the rollback was never seen running: " << describe(bg.join());
  EXPECT_TRUE(write_locked_by_other(d.dpkg + "/lock-frontend"));
  EXPECT_TRUE(write_locked_by_other(d.dpkg + "/lock"));
  EXPECT_FALSE(bg.done()) << "the rollback ended while the locks were checked";
  RunResult r = bg.join();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(d.dpkg + "/status"), "Package: foo\nVersion: 1.0\n");
  EXPECT_FALSE(write_locked_by_other(d.dpkg + "/lock-frontend"));
  EXPECT_FALSE(write_locked_by_other(d.dpkg + "/lock"));
}

TEST(EngineDpkg, LockFilesAreNeverCapturedOrRestored) {
  DpkgFixture d;
  RunResult cr = d.box.rw({"-q", "create"});
  ASSERT_EQ(cr.exit_code, 0) << describe(cr);
  // An ad-hoc component above /var/lib/dpkg excludes them too.
  RunResult cr2 = d.box.rw({"-q", "create", "--path", "/var/lib"});
  ASSERT_EQ(cr2.exit_code, 0) << describe(cr2);
  for (const char* id : {"1", "2"}) {
    for (const char* lock :
         {"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/dpkg/triggers/Lock"}) {
      RunResult dump = d.box.rw({"dump", id, lock});
      EXPECT_EQ(dump.exit_code, 14)
          << "point " << id << " captured " << lock << ": " << describe(dump);
    }
    RunResult status = d.box.rw({"dump", id, "/var/lib/dpkg/status"});
    EXPECT_EQ(status.exit_code, 0) << describe(status);
    EXPECT_EQ(status.out, "Package: foo\nVersion: 1.0\n");
  }
  // The lock files change under dpkg; rewind neither reports nor restores them.
  write_file(d.dpkg + "/lock-frontend", "frontend-changed");
  write_file(d.dpkg + "/lock", "lock-changed");
  RunResult diff = d.box.rw({"--json", "diff", "1", "--content"});
  ASSERT_EQ(diff.exit_code, 0) << describe(diff);
  json changes = json::parse(diff.out)["changes"];
  for (const auto& c : changes)
    EXPECT_EQ(c["path"].get<std::string>().find("lock"), std::string::npos) << c.dump();
  write_file(d.dpkg + "/status", "Package: foo\nVersion: 2.0\n");
  RunResult rb = d.box.rw({"rollback", "1", "--yes"});
  ASSERT_EQ(rb.exit_code, 0) << describe(rb);
  EXPECT_EQ(read_file(d.dpkg + "/status"), "Package: foo\nVersion: 1.0\n");
  EXPECT_EQ(read_file(d.dpkg + "/lock-frontend"), "frontend-changed");
  EXPECT_EQ(read_file(d.dpkg + "/lock"), "lock-changed");
  EXPECT_TRUE(exists_nofollow(d.dpkg + "/triggers/Lock"));
  // Nor does the safety point of that rollback hold them.
  RunResult safety = d.box.rw({"dump", "latest:safety", "/var/lib/dpkg/lock-frontend"});
  EXPECT_EQ(safety.exit_code, 14) << describe(safety);
}

// --------------------------------------------------------------------------
// In-place restore goes through the engine

TEST(EngineRestore, InPlaceRestoreTakesASafetyPointThatUndoReturnsTo) {
  MultiFixture f("rewind-ops");
  Prepared p = prepare(f);
  RunResult r = f.rw({"restore", std::to_string(p.id), "/srv/a/conf", "/srv/b/data"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(f.dir_of("a") + "/conf"), "component a v1\n");
  EXPECT_EQ(read_file(f.dir_of("b") + "/data/nested/deep.txt"), "deep b\n");
  // A restore removes nothing.
  EXPECT_TRUE(exists_nofollow(f.dir_of("a") + "/added-v2.txt"));
  // Components it did not name are untouched.
  EXPECT_EQ(f.diff_component("c", p.before), "");
  EXPECT_EQ(f.diff_component("d", p.before), "");

  json op = newest_op(f.box);
  EXPECT_EQ(op["kind"], "restore") << op.dump();
  EXPECT_EQ(op["state"], "completed") << op.dump();
  ASSERT_TRUE(op["safety"].is_number_integer()) << op.dump();
  const int64_t safety = op["safety"].get<int64_t>();
  RunResult sl = f.rw({"--json", "list", "--kind", "safety"});
  ASSERT_EQ(sl.exit_code, 0) << describe(sl);
  json safeties = json::parse(sl.out);
  ASSERT_EQ(safeties.size(), 1u) << sl.out;
  EXPECT_EQ(safeties[0]["id"], safety);

  RunResult u = f.rw({"undo", "--yes"});
  ASSERT_EQ(u.exit_code, 0) << describe(u);
  expect_all_equal(f, p.before, "after undo of the restore");
}

}  // namespace
}  // namespace rwd::itest
