// SPDX-License-Identifier: Apache-2.0
#include "health/health.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <regex>

#include "components/services/manager.h"
#include "components/sqlite/database.h"
#include "components/unified_diff.h"
#include "io/durable.h"
#include "io/probe.h"
#include "io/process.h"
#include "store/repository.h"

namespace rwd {

std::string_view health_level_name(HealthLevel l) {
  switch (l) {
    case HealthLevel::kGood:
      return "good";
    case HealthLevel::kDegraded:
      return "degraded";
    case HealthLevel::kCritical:
      return "critical";
  }
  return "good";
}

std::optional<HealthLevel> parse_health_level(std::string_view name) {
  for (HealthLevel l : {HealthLevel::kGood, HealthLevel::kDegraded, HealthLevel::kCritical})
    if (health_level_name(l) == name) return l;
  return std::nullopt;
}

std::vector<std::string> HealthReport::failed_critical() const {
  std::vector<std::string> out;
  for (const auto& c : checks)
    if (!c.ok && c.critical) out.push_back(c.name);
  return out;
}

}  // namespace rwd

namespace rwd::health {

namespace {

using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr const char* kStateDir = "health";
constexpr const char* kLogStateFile = "kernel-log.json";
constexpr size_t kMaxLogRead = 64 << 20;  // more than this since the last look: the newest part
constexpr size_t kMaxMessage = 400;

std::string under_root(const std::string& root, const std::string& path) {
  if (root == "/" || root.empty()) return path;
  return root + path;
}

// The first line of a program's output, shortened, for a message.
std::string first_line(std::string_view out) {
  while (!out.empty() && (out.front() == '\n' || out.front() == ' ')) out.remove_prefix(1);
  std::string_view line = out.substr(0, out.find('\n'));
  if (line.size() > kMaxMessage) line = line.substr(0, kMaxMessage);
  return std::string(line);
}

struct Outcome {
  bool ok = false;
  std::string message;
};

Outcome check_command(const config::CheckConfig& c) {
  io::ProcessOptions o;
  o.timeout = duration_cast<milliseconds>(c.timeout);
  o.grace = std::chrono::seconds(2);
  auto r = io::run_process(c.command, o);
  if (!r) return {false, r.error().message()};
  if (r->timed_out)
    return {false,
            fmt::format("{} did not finish within {}ms", c.command.front(), o.timeout.count())};
  std::string out = first_line(r->output);
  if (r->exit_code == 0) return {true, out.empty() ? "exited with status 0" : out};
  return {false, fmt::format("{} {}{}", c.command.front(), io::describe(*r),
                             out.empty() ? "" : ": " + out)};
}

Outcome check_service(const config::CheckConfig& c, const Context& ctx) {
  json settings = ctx.service_manager;
  if (!settings.is_object()) settings = json::object();
  for (const auto& [k, v] : c.manager.items()) settings[k] = v;
  if (!settings.contains("timeout"))
    settings["timeout"] = fmt::format("{}ms", duration_cast<milliseconds>(c.timeout).count());
  auto ms = components::services::parse_manager_settings(settings, "check \"" + c.name + "\"");
  if (!ms) return {false, ms.error().message()};
  auto mgr = components::services::make_manager(*ms, ctx.fs, ctx.system_root);
  if (!mgr->tracks_activity())
    return {false, fmt::format("the {} manager cannot tell whether units under {} run", ms->kind,
                               ctx.system_root)};
  std::vector<std::string> down;
  for (const auto& u : c.units) {
    auto a = mgr->active(u);
    if (!a)
      down.push_back(fmt::format("{} ({})", u, a.error().message()));
    else if (!*a)
      down.push_back(u + " (not active)");
  }
  if (down.empty()) return {true, fmt::format("active: {}", fmt::join(c.units, ", "))};
  return {false, fmt::format("{}", fmt::join(down, "; "))};
}

Outcome check_sqlite(const config::CheckConfig& c, const Context& ctx) {
  const std::string path = under_root(ctx.system_root, c.path);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {false, fmt::format("{} does not exist", c.path)};
  auto db = components::sqlite::Db::open(path, SQLITE_OPEN_READONLY,
                                         duration_cast<milliseconds>(c.timeout));
  if (!db) return {false, db.error().message()};
  if (c.mode == "full") {
    auto r = components::sqlite::check(*db);
    if (!r) return {false, r.error().message()};
    if (r->empty()) return {true, "integrity_check: ok"};
    return {false, first_line(*r)};
  }
  auto r = db->column("PRAGMA quick_check");
  if (!r) return {false, r.error().message()};
  if (r->size() == 1 && r->front() == "ok") return {true, "quick_check: ok"};
  return {false, r->empty() ? std::string("quick_check gave no answer") : first_line(r->front())};
}

Outcome check_postgres(const config::CheckConfig& c, const Context& ctx) {
  std::string host = c.host;
  // A socket directory is a path within the system root.
  if (!host.empty() && host.front() == '/') host = under_root(ctx.system_root, host);
  const auto secs =
      std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(c.timeout).count());
  std::vector<std::string> argv = c.pg_isready;
  for (std::string a : {"-h", host.c_str()}) argv.push_back(a);
  argv.insert(argv.end(), {"-p", std::to_string(c.port), "-U", c.user, "-d", c.database, "-t",
                           std::to_string(secs)});
  auto r = io::run_process(argv, duration_cast<milliseconds>(c.timeout) + std::chrono::seconds(2));
  if (!r) return {false, r.error().message()};
  std::string out = first_line(r->output);
  if (!r->timed_out && r->exit_code == 0) return {true, out};
  return {false, out.empty() ? fmt::format("pg_isready {}", io::describe(*r)) : out};
}

Outcome check_free_space(const config::CheckConfig& c, const Context& ctx) {
  const std::string path = c.path.empty() ? ctx.repository : under_root(ctx.system_root, c.path);
  auto fd = ctx.fs.open_path(path, O_RDONLY | O_DIRECTORY);
  if (!fd) return {false, fd.error().message()};
  auto sp = ctx.fs.statfs(fd->get());
  if (!sp) return {false, sp.error().message()};
  const double pct =
      sp->total_bytes == 0 ? 0 : 100.0 * static_cast<double>(sp->free_bytes) / sp->total_bytes;
  std::string msg =
      fmt::format("{} free of {} ({:.1f}%) at {}", sp->free_bytes, sp->total_bytes, pct, path);
  bool good =
      c.min_free_percent > 0 ? pct >= c.min_free_percent : sp->free_bytes >= c.min_free_bytes;
  if (!good)
    msg += c.min_free_percent > 0 ? fmt::format("; needs {}%", c.min_free_percent)
                                  : fmt::format("; needs {} bytes", c.min_free_bytes);
  return {good, msg};
}

Outcome check_verify(const config::CheckConfig& c, const Context& ctx) {
  store::OpenOptions o;
  auto repo = store::Repository::open(ctx.fs, ctx.repository, o);
  if (!repo) return {false, repo.error().message()};
  auto v = (*repo)->catalog().get_meta(kVerifyMetaKey);
  if (!v) return {false, v.error().message()};
  if (!*v) return {false, "`rewind verify` has not run on this repository"};
  json j = json::parse(**v, nullptr, false);
  if (!j.is_object()) return {false, "the recorded verify result is unreadable"};
  const int64_t t = j.value("time_ns", int64_t{0});
  const bool passed = j.value("ok", false);
  const int64_t age_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() -
                         t;
  std::string msg = fmt::format(
      "last verify{} {} ({} problems), {}s ago", j.value("read_data", false) ? " --read-data" : "",
      passed ? "passed" : "FAILED", j.value("problems", 0), age_ns / 1000000000);
  if (!passed) return {false, msg};
  if (c.max_age.count() > 0 && age_ns > c.max_age.count())
    return {false, msg + "; older than max_age"};
  return {true, msg};
}

// <repository>/health, created when missing: the kernel-log positions,
// journalctl's cursors and its scratch output.
Result<io::Fd> state_dir(const Context& ctx) {
  REWIND_ASSIGN_OR_RETURN(io::Fd repo, ctx.fs.open_path(ctx.repository, O_RDONLY | O_DIRECTORY));
  if (auto st = ctx.fs.mkdir_at(repo.get(), kStateDir, 0700);
      !st && st.error().sys_errno() != EEXIST)
    return fail(st.error());
  return ctx.fs.open_at(repo.get(), kStateDir, O_RDONLY | O_DIRECTORY);
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view l : components::text::split(text, '\n')) out.emplace_back(l);
  return out;
}

// The read positions of kernel-log checks, by check name:
// {"offset", "ino", "dev"} for a file, {"seq"} for a kmsg device.
class LogState {
 public:
  explicit LogState(const Context& ctx) : ctx_(ctx) {
    auto dir = ctx.fs.open_path(ctx.repository + "/" + kStateDir, O_RDONLY | O_DIRECTORY);
    if (!dir) return;
    auto text = io::read_small_file(ctx.fs, dir->get(), kLogStateFile, 1 << 20);
    if (text) state_ = json::parse(*text, nullptr, false);
    if (!state_.is_object()) state_ = json::object();
  }
  json get(const std::string& name) const {
    auto it = state_.find(name);
    return it == state_.end() ? json::object() : *it;
  }
  void set(const std::string& name, json v) {
    state_[name] = std::move(v);
    dirty_ = true;
  }
  // Written once at the end; an error is reported by the checks that moved.
  Status save() {
    if (!dirty_ || !ctx_.advance_log_position) return ok();
    REWIND_ASSIGN_OR_RETURN(io::Fd dir, state_dir(ctx_));
    return io::write_file_atomic(ctx_.fs, dir.get(), kLogStateFile, io::as_bytes(state_.dump()),
                                 0600);
  }

 private:
  const Context& ctx_;
  json state_ = json::object();
  bool dirty_ = false;
};

// The lines of a log file written since the last look (all of it the first
// time, or when the file was replaced or truncated).
Result<std::vector<std::string>> new_file_lines(const Context& ctx, const std::string& path,
                                                const std::string& name, LogState& state) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_path(path, O_RDONLY));
  REWIND_ASSIGN_OR_RETURN(io::Stat st, ctx.fs.fstat(fd.get()));
  json pos = state.get(name);
  uint64_t offset = 0;
  if (pos.value("ino", uint64_t{0}) == st.ino && pos.value("dev", uint64_t{0}) == st.dev &&
      pos.value("offset", uint64_t{0}) <= st.size)
    offset = pos.value("offset", uint64_t{0});
  if (st.size - offset > kMaxLogRead) offset = st.size - kMaxLogRead;
  std::string data(st.size - offset, '\0');
  size_t got = 0;
  while (got < data.size()) {
    REWIND_ASSIGN_OR_RETURN(
        size_t n, ctx.fs.pread(fd.get(),
                               std::span<std::byte>(reinterpret_cast<std::byte*>(data.data()) + got,
                                                    data.size() - got),
                               offset + got));
    if (n == 0) break;
    got += n;
  }
  data.resize(got);
  // A line still being written is read next time.
  size_t end = data.rfind('\n');
  end = end == std::string::npos ? 0 : end + 1;
  state.set(name, json{{"ino", st.ino}, {"dev", st.dev}, {"offset", offset + end}});
  return lines_of(std::string_view(data).substr(0, end));
}

Result<std::vector<std::string>> new_kmsg_lines(const std::string& path, const std::string& name,
                                                LogState& state) {
  REWIND_ASSIGN_OR_RETURN(auto recs, io::read_kmsg(path));
  json pos = state.get(name);
  const bool seen = pos.contains("seq");
  const uint64_t last = pos.value("seq", uint64_t{0});
  // Every sequence number below the last one seen: the machine rebooted
  // since, and every record is new.
  const bool rebooted = !recs.empty() && recs.back().seq < last;
  std::vector<std::string> lines;
  for (auto& r : recs)
    if (!seen || rebooted || r.seq > last) lines.push_back(std::move(r.message));
  const uint64_t newest = recs.empty() ? last : recs.back().seq;
  state.set(name, json{{"seq", newest}});
  return lines;
}

Result<std::vector<std::string>> new_journal_lines(const config::CheckConfig& c,
                                                   const Context& ctx) {
  std::vector<std::string> argv = c.journalctl;
  argv.insert(argv.end(), {"-k", "-o", "cat", "--no-pager", "-q"});
  if (ctx.system_root != "/") argv.push_back("--directory=" + ctx.system_root + "/var/log/journal");
  const std::string cursor = ctx.repository + "/" + kStateDir + "/journal-" + c.name + ".cursor";
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, state_dir(ctx));
  if (ctx.advance_log_position) {
    // journalctl reads the cursor there and writes the newest one back.
    argv.push_back("--cursor-file=" + cursor);
  } else {
    auto text = io::read_small_file(ctx.fs, dir.get(), "journal-" + c.name + ".cursor", 4096);
    if (text && !text->empty()) argv.push_back("--after-cursor=" + first_line(*text));
  }
  io::ProcessOptions o;
  o.timeout = duration_cast<milliseconds>(c.timeout);
  o.stdout_path = ctx.repository + "/" + kStateDir + "/journal-" + c.name + ".out";
  // The output may be long: read it from the file rather than the 64 KiB capture.
  auto r = io::run_process(argv, o);
  if (!r) return fail(r.error());
  if (r->timed_out || r->exit_code != 0)
    return fail(Error::other("{} {}: {}", argv.front(), io::describe(*r), first_line(r->output)));
  REWIND_ASSIGN_OR_RETURN(
      std::string out,
      io::read_small_file(ctx.fs, dir.get(), "journal-" + c.name + ".out", kMaxLogRead));
  ignore_status(ctx.fs.unlink_at(dir.get(), "journal-" + c.name + ".out"),
                "a scratch file; the next run truncates it");
  return lines_of(out);
}

Outcome check_kernel_log(const config::CheckConfig& c, const Context& ctx, LogState& state) {
  Result<std::vector<std::string>> lines = std::vector<std::string>();
  std::string source;
  if (c.source == "journal") {
    source = "the kernel journal";
    lines = new_journal_lines(c, ctx);
  } else {
    source = c.source == "file" ? under_root(ctx.system_root, c.path)
                                : under_root(ctx.system_root, "/dev/kmsg");
    struct stat st;
    if (::stat(source.c_str(), &st) == 0 && S_ISCHR(st.st_mode))
      lines = new_kmsg_lines(source, c.name, state);
    else
      lines = new_file_lines(ctx, source, c.name, state);
  }
  if (!lines) return {false, fmt::format("cannot read {}: {}", source, lines.error().message())};
  std::vector<std::regex> res;
  for (const auto& p : c.patterns) res.emplace_back(p, std::regex::ECMAScript);
  size_t hits = 0;
  std::string first;
  for (const auto& l : *lines)
    for (const auto& re : res)
      if (std::regex_search(l, re)) {
        if (hits++ == 0) first = first_line(l);
        break;
      }
  if (hits == 0)
    return {true, fmt::format("{} new lines of {}, none critical", lines->size(), source)};
  return {false,
          fmt::format("{} critical line{} in {}: {}", hits, hits == 1 ? "" : "s", source, first)};
}

}  // namespace

Result<HealthReport> run_health(const config::HealthConfig& h, const Context& ctx,
                                const std::vector<std::string>& only) {
  for (const auto& n : only)
    if (std::none_of(h.checks.begin(), h.checks.end(),
                     [&](const config::CheckConfig& c) { return c.name == n; }))
      return fail(Error::not_found("no check named \"{}\" in the configuration", n));
  HealthReport rep;
  LogState state(ctx);
  for (const auto& c : h.checks) {
    if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
    Outcome o;
    if (c.kind == "command")
      o = check_command(c);
    else if (c.kind == "service")
      o = check_service(c, ctx);
    else if (c.kind == "sqlite")
      o = check_sqlite(c, ctx);
    else if (c.kind == "postgres")
      o = check_postgres(c, ctx);
    else if (c.kind == "free_space")
      o = check_free_space(c, ctx);
    else if (c.kind == "verify")
      o = check_verify(c, ctx);
    else if (c.kind == "kernel_log")
      o = check_kernel_log(c, ctx, state);
    rep.checks.push_back(HealthCheckResult{c.name, c.kind, o.ok, c.critical, std::move(o.message)});
    if (!o.ok)
      rep.level = c.critical ? HealthLevel::kCritical : std::max(rep.level, HealthLevel::kDegraded);
  }
  if (Status st = state.save(); !st) {
    // Without the saved position the same lines would fire again.
    return fail(st.error().with_context("saving the kernel-log read position"));
  }
  return rep;
}

}  // namespace rwd::health
