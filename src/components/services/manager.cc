// SPDX-License-Identifier: Apache-2.0
#include "components/services/manager.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <thread>

#include "components/adapter.h"
#include "components/state.h"
#include "config/config.h"
#include "io/durable.h"
#include "io/process.h"

namespace rwd::components::services {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kCommandKeys = {"status",  "start",      "stop",       "enable",
                                               "disable", "is_enabled", "environment"};

// How often a start or stop is checked while it takes effect.
constexpr milliseconds kPoll{100};
// Larger environment files (runit's env/) are not a value but a mistake.
constexpr size_t kMaxEnvFile = 1 << 20;

Result<std::vector<std::string>> argv_of(const nlohmann::json& v, const std::string& what) {
  if (!v.is_array() || v.empty())
    return fail(Error::usage("{} must be a non-empty array of strings (an argv)", what));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string())
      return fail(Error::usage("{} must be a non-empty array of strings (an argv)", what));
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<std::string> abs_dir_of(const nlohmann::json& v, const std::string& what) {
  if (!v.is_string()) return fail(Error::usage("{} must be a string (an absolute path)", what));
  const std::string s = v.get<std::string>();
  // Normalized: one slash between names, none at the end, no "." or "..".
  std::string out;
  bool valid = !s.empty() && s.front() == '/' && s.find('\0') == std::string::npos;
  for (size_t b = 1; valid && b < s.size();) {
    size_t e = std::min(s.find('/', b), s.size());
    std::string part = s.substr(b, e - b);
    valid = part != "." && part != "..";
    if (!part.empty()) out += "/" + part;
    b = e + 1;
  }
  if (!valid)
    return fail(
        Error::usage("{} must be an absolute path within the system root, not \"{}\"", what, s));
  return out.empty() ? std::string("/") : out;
}

Status check_unit(const std::string& unit) {
  if (unit.empty() || unit == "." || unit == ".." || unit.find('/') != std::string::npos ||
      unit.find('\0') != std::string::npos)
    return fail(Error::usage("\"{}\" is not a unit name (a single file name)", unit));
  return ok();
}

std::vector<std::string> expand(const std::vector<std::string>& tmpl, const std::string& unit) {
  std::vector<std::string> out;
  for (std::string a : tmpl) {
    for (std::string_view key : {"{unit}", "{service}"})
      for (size_t pos; (pos = a.find(key)) != std::string::npos;) a.replace(pos, key.size(), unit);
    out.push_back(std::move(a));
  }
  return out;
}

// Runs argv; a non-zero exit or a timeout is an error that says `what`.
Result<io::ProcessResult> run_checked(const std::vector<std::string>& argv, milliseconds timeout,
                                      const std::string& what) {
  auto r = io::run_process(argv, timeout);
  if (!r) return fail(r.error().with_context(what));
  if (r->timed_out) return fail(Error::timeout("{} ({}) {}", what, argv[0], io::describe(*r)));
  if (r->exit_code != 0)
    return fail(Error::other("{} failed: {} {}{}", what, argv[0], io::describe(*r),
                             r->output.empty() ? "" : ": " + r->output));
  return r;
}

std::string first_line(const std::string& s) {
  std::string out = s.substr(0, s.find('\n'));
  while (!out.empty() && (out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string under_root(const std::string& root, const std::string& abs) {
  return root == "/" ? abs : root + abs;
}

class SystemdManager final : public Manager {
 public:
  SystemdManager(ManagerSettings s, std::string root) : s_(std::move(s)), root_(std::move(root)) {}

  Result<Enablement> enablement(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    // is-enabled answers through its exit status (0 for enabled, static,
    // alias...; non-zero for disabled, masked, or no such unit).
    auto argv = with_root({"is-enabled", unit});
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    if (r.timed_out)
      return fail(
          Error::timeout("asking whether {} is enabled ({}) {}", unit, argv[0], io::describe(r)));
    Enablement e;
    e.on = r.exit_code == 0;
    e.word = first_line(r.output);
    return e;
  }

  Status set_enablement(const std::string& unit, const Enablement& want) override {
    REWIND_TRY(check_unit(unit));
    auto argv = with_root({want.on ? "enable" : "disable", unit});
    REWIND_TRY(run_checked(argv, s_.timeout,
                           fmt::format("{} {}", want.on ? "enabling" : "disabling", unit)));
    return ok();
  }

  bool tracks_activity() const override {
    return root_ == "/" || s_.systemctl != std::vector<std::string>{"systemctl"};
  }

  Result<bool> active(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_TRY(refuse_other_root("query", unit));
    REWIND_ASSIGN_OR_RETURN(std::string word, is_active(unit));
    return word == "active";
  }

  Status start(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_TRY(refuse_other_root("start", unit));
    REWIND_TRY(run_checked(plain({"start", unit}), s_.timeout, "starting " + unit));
    REWIND_ASSIGN_OR_RETURN(std::string word, is_active(unit));
    if (word == "failed" || word == "inactive")
      return fail(
          Error::other("{} did not come up: systemctl is-active says \"{}\" (see "
                       "`systemctl status {}` and its journal)",
                       unit, word, unit));
    return ok();
  }

  Status stop(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_TRY(refuse_other_root("stop", unit));
    REWIND_TRY(run_checked(plain({"stop", unit}), s_.timeout, "stopping " + unit));
    return ok();
  }

  // Plain systemctl acts on the running host, never on another root.
  Status refuse_other_root(std::string_view what, const std::string& unit) const {
    if (tracks_activity()) return ok();
    return fail(Error::usage(
        "{}: systemctl cannot {} a unit of the system under {}: it only reaches the running "
        "host's units; configure `systemctl` to a command that reaches that system, or leave "
        "the unit out of `services`",
        unit, what, root_));
  }

  std::vector<std::string> file_roots(const std::string& unit) const override {
    // A bare name is a service, as systemctl reads it.
    // /usr/lib as well: where /lib is a link to it (merged /usr) the way
    // through /lib is not followed, and the files are found there.
    std::string file = unit.find('.') == std::string::npos ? unit + ".service" : unit;
    std::vector<std::string> out;
    for (const char* dir :
         {"/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/"}) {
      out.push_back(dir + file);
      out.push_back(dir + file + ".d");
    }
    return out;
  }

  Result<std::optional<Environment>> environment(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    if (!tracks_activity()) return std::optional<Environment>();
    // The running manager's view: `systemctl --root` cannot answer show.
    auto argv = plain({"show", "--property=Environment", "--property=EnvironmentFiles", unit});
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    // No manager to ask (a tree that is not running, a stand-in): the
    // environment is not known, which a recorded-only part may be.
    if (r.timed_out || r.exit_code != 0) return std::optional<Environment>();
    Environment env;
    for (size_t b = 0; b < r.output.size();) {
      size_t e = std::min(r.output.find('\n', b), r.output.size());
      std::string_view line = std::string_view(r.output).substr(b, e - b);
      b = e + 1;
      if (line.starts_with("Environment="))
        for (auto& [k, v] : parse_systemd_environment(line.substr(12))) env.vars[k] = v;
      else if (line.starts_with("EnvironmentFiles=") && line.size() > 17)
        env.files.emplace_back(line.substr(17));
    }
    return std::optional<Environment>(std::move(env));
  }

 private:
  // Enablement is a matter of files under the root: --root works on any
  // tree, offline. On the running system (root "/") systemctl itself also
  // reloads the manager, so --root is left out there.
  std::vector<std::string> with_root(std::vector<std::string> args) const {
    std::vector<std::string> argv = s_.systemctl;
    if (root_ != "/") argv.push_back("--root=" + root_);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // Activity concerns the running system: there is no --root for it.
  std::vector<std::string> plain(std::vector<std::string> args) const {
    std::vector<std::string> argv = s_.systemctl;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Result<std::string> is_active(const std::string& unit) {
    auto argv = plain({"is-active", unit});
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    if (r.timed_out)
      return fail(
          Error::timeout("asking whether {} is active ({}) {}", unit, argv[0], io::describe(r)));
    std::string word = first_line(r.output);
    if (r.exit_code == 0) return word.empty() ? std::string("active") : word;
    return word.empty() ? std::string("inactive") : word;
  }

  ManagerSettings s_;
  std::string root_;
};

// The seconds a runit service has been up, from `sv status` ("run: x: (pid
// 12) 5s; ..."), or -1 when it is not running.
long run_seconds(const std::string& status) {
  if (!status.starts_with("run: ")) return -1;
  size_t p = status.find(") ");
  if (p == std::string::npos) return -1;
  p += 2;
  size_t e = p;
  while (e < status.size() && std::isdigit(static_cast<unsigned char>(status[e]))) ++e;
  if (e == p || e >= status.size() || status[e] != 's') return -1;
  return std::stol(status.substr(p, e - p));
}

class RunitManager final : public Manager {
 public:
  RunitManager(ManagerSettings s, io::Fs& fs, std::string root)
      : s_(std::move(s)), fs_(fs), root_(std::move(root)) {}

  Result<Enablement> enablement(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_ASSIGN_OR_RETURN(io::Fd dir, service_dir(false));
    Enablement e;
    if (!dir) return e;
    auto st = fs_.stat_at(dir.get(), unit);
    if (!st) {
      if (st.error().sys_errno() == ENOENT) return e;
      return fail(st.error());
    }
    e.on = true;
    e.word = "enabled";
    if (S_ISLNK(st->mode)) {
      REWIND_ASSIGN_OR_RETURN(e.link, fs_.readlink_at(dir.get(), unit));
    }
    return e;
  }

  Status set_enablement(const std::string& unit, const Enablement& want) override {
    REWIND_TRY(check_unit(unit));
    REWIND_ASSIGN_OR_RETURN(Enablement now, enablement(unit));
    if (now == want) return ok();
    REWIND_ASSIGN_OR_RETURN(io::Fd dir, service_dir(true));
    if (now.on) {
      if (now.link.empty())
        return fail(Error::invalid_state(
            "{}/{} is a directory, not a link to a service definition; rewind does not remove "
            "it (replace it with a link, or remove it yourself)",
            s_.service_dir, unit));
      // Down first, through the link: once the link is gone, runsvdir stops
      // the service only at its next scan, and sv can no longer reach it.
      REWIND_TRY(stop(unit));
      REWIND_TRY(fs_.unlink_at(dir.get(), unit));
    }
    if (want.on)
      REWIND_TRY(
          fs_.symlink_at(want.link.empty() ? s_.sv_dir + "/" + unit : want.link, dir.get(), unit));
    return fs_.fsync_dir(dir.get());
  }

  Result<bool> active(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_ASSIGN_OR_RETURN(Enablement e, enablement(unit));
    // Not in the service directory: runsvdir does not supervise it.
    if (!e.on) return false;
    REWIND_ASSIGN_OR_RETURN(std::string st, status(unit));
    return st.starts_with("run: ");
  }

  Status start(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_ASSIGN_OR_RETURN(Enablement e, enablement(unit));
    if (!e.on)
      return fail(Error::invalid_state("{} cannot be started: it is not in {} (enable it first)",
                                       unit, s_.service_dir));
    // runsv restarts a service that exits once a second, so "run" right
    // after `sv up` proves nothing: the service counts as up once it has
    // run for a second. A newly linked service has no runsv until
    // runsvdir's next scan (up to five seconds): `sv up` fails until then.
    const auto deadline = Clock::now() + s_.timeout;
    bool up_sent = false;
    std::string last;
    for (;;) {
      if (!up_sent) {
        auto r = io::run_process(sv({"up", path_of(unit)}), s_.timeout);
        if (!r) return fail(r.error().with_context("starting " + unit));
        up_sent = !r->timed_out && r->exit_code == 0;
        last = r->output;
      }
      if (up_sent) {
        REWIND_ASSIGN_OR_RETURN(last, status(unit));
        if (run_seconds(last) >= 1) return ok();
      }
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(kPoll);
    }
    // Left wanted up, runsv would restart it for ever: it goes back down,
    // as it was before the attempt.
    ignore_status(io::run_process(sv({"down", path_of(unit)}), s_.timeout).map([](auto&&) {}),
                  "best effort: the failure to come up is what is reported");
    return fail(Error::other("{} did not come up within {}ms (sv: {}); see its run script and log",
                             unit, s_.timeout.count(), first_line(last)));
  }

  Status stop(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    REWIND_ASSIGN_OR_RETURN(bool running, active(unit));
    if (!running) return ok();
    REWIND_TRY(run_checked(sv({"down", path_of(unit)}), s_.timeout, "stopping " + unit));
    const auto deadline = Clock::now() + s_.timeout;
    std::string last;
    for (;;) {
      REWIND_ASSIGN_OR_RETURN(last, status(unit));
      if (!last.starts_with("run: ")) return ok();
      if (Clock::now() >= deadline) break;
      std::this_thread::sleep_for(kPoll);
    }
    return fail(Error::timeout("{} did not stop within {}ms (sv: {})", unit, s_.timeout.count(),
                               first_line(last)));
  }

  std::vector<std::string> file_roots(const std::string& unit) const override {
    return {s_.sv_dir + "/" + unit};
  }
  // runsv's state, not the service's definition.
  std::vector<std::string> skipped_dirs() const override { return {"supervise"}; }

  // The service's env/ directory, read as `chpst -e` reads it: file NAME
  // sets NAME to its first line (trailing blanks removed); an empty file
  // unsets NAME, so it is not among the variables.
  Result<std::optional<Environment>> environment(const std::string& unit) override {
    REWIND_TRY(check_unit(unit));
    Environment env;
    auto dir = open_dir(fs_, root_, s_.sv_dir + "/" + unit + "/env", false);
    // env/ (or a directory on the way) is a link: not followed, not known.
    if (!dir && (dir.error().sys_errno() == ELOOP || dir.error().sys_errno() == ENOTDIR))
      return std::optional<Environment>();
    if (!dir) return fail(dir.error());
    if (!*dir) return std::optional<Environment>(std::move(env));
    REWIND_ASSIGN_OR_RETURN(auto entries, fs_.list_dir(dir->get()));
    for (const auto& e : entries) {
      if (e.name.find('=') != std::string::npos) continue;
      REWIND_ASSIGN_OR_RETURN(auto st, fs_.stat_at(dir->get(), e.name));
      if (!S_ISREG(st.mode)) continue;
      REWIND_ASSIGN_OR_RETURN(std::string data,
                              io::read_small_file(fs_, dir->get(), e.name, kMaxEnvFile));
      if (data.empty()) continue;
      std::string value = data.substr(0, data.find('\n'));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      env.vars[e.name] = std::move(value);
    }
    return std::optional<Environment>(std::move(env));
  }

 private:
  std::string path_of(const std::string& unit) const {
    return under_root(root_, s_.service_dir + "/" + unit);
  }
  std::vector<std::string> sv(std::vector<std::string> args) const {
    std::vector<std::string> argv = s_.sv;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // sv's answer; a service without a running runsv is "down".
  Result<std::string> status(const std::string& unit) {
    auto argv = sv({"status", path_of(unit)});
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    if (r.timed_out)
      return fail(Error::timeout("sv status of {} ({}) {}", unit, argv[0], io::describe(r)));
    return r.exit_code == 0 ? r.output : "down: " + r.output;
  }
  Result<io::Fd> service_dir(bool create) { return open_dir(fs_, root_, s_.service_dir, create); }

  ManagerSettings s_;
  io::Fs& fs_;
  std::string root_;
};

class CommandManager final : public Manager {
 public:
  explicit CommandManager(ManagerSettings s) : s_(std::move(s)) {}

  bool tracks_enablement() const override { return s_.commands.contains("is_enabled"); }

  Result<Enablement> enablement(const std::string& unit) override {
    REWIND_ASSIGN_OR_RETURN(auto argv, command("is_enabled", unit));
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    if (r.timed_out)
      return fail(
          Error::timeout("asking whether {} is enabled ({}) {}", unit, argv[0], io::describe(r)));
    Enablement e;
    e.on = r.exit_code == 0;
    e.word = e.on ? "enabled" : "disabled";
    return e;
  }

  Status set_enablement(const std::string& unit, const Enablement& want) override {
    return run(want.on ? "enable" : "disable", unit,
               fmt::format("{} {}", want.on ? "enabling" : "disabling", unit));
  }

  Result<bool> active(const std::string& unit) override {
    REWIND_ASSIGN_OR_RETURN(auto argv, command("status", unit));
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r, io::run_process(argv, s_.timeout));
    if (r.timed_out)
      return fail(
          Error::timeout("asking whether {} is active ({}) {}", unit, argv[0], io::describe(r)));
    return r.exit_code == 0;
  }

  Status start(const std::string& unit) override {
    REWIND_TRY(run("start", unit, "starting service " + unit));
    if (!s_.commands.contains("status")) return ok();
    REWIND_ASSIGN_OR_RETURN(bool running, active(unit));
    if (!running)
      return fail(
          Error::other("service {} did not come up: its status command says it is not "
                       "running after the start command succeeded",
                       unit));
    return ok();
  }

  Status stop(const std::string& unit) override {
    return run("stop", unit, "stopping service " + unit);
  }

  std::vector<std::string> file_roots(const std::string&) const override { return {}; }

  Result<std::optional<Environment>> environment(const std::string& unit) override {
    if (!s_.commands.contains("environment")) return std::optional<Environment>();
    REWIND_ASSIGN_OR_RETURN(auto argv, command("environment", unit));
    REWIND_ASSIGN_OR_RETURN(io::ProcessResult r,
                            run_checked(argv, s_.timeout, "reading the environment of " + unit));
    Environment env;
    env.vars = state::parse_lines(r.output);
    return std::optional<Environment>(std::move(env));
  }

 private:
  Result<std::vector<std::string>> command(const std::string& key, const std::string& unit) const {
    auto it = s_.commands.find(key);
    if (it == s_.commands.end())
      return fail(Error::usage(
          "service {}: no \"{}\" command is configured for the command service manager "
          "([service_manager], or the services component's settings)",
          unit, key));
    return expand(it->second, unit);
  }
  Status run(const std::string& key, const std::string& unit, const std::string& what) {
    REWIND_ASSIGN_OR_RETURN(auto argv, command(key, unit));
    REWIND_TRY(run_checked(argv, s_.timeout, what));
    return ok();
  }

  ManagerSettings s_;
};

}  // namespace

std::map<std::string, std::string> parse_systemd_environment(std::string_view value) {
  std::map<std::string, std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  auto finish = [&] {
    size_t eq = word.find('=');
    if (in_word && eq != std::string::npos && eq > 0) out[word.substr(0, eq)] = word.substr(eq + 1);
    word.clear();
    in_word = false;
  };
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && quote != '\'' && i + 1 < value.size()) {
      word += value[++i];
      in_word = true;
    } else if (quote) {
      if (c == quote)
        quote = 0;
      else
        word += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      finish();
    } else {
      word += c;
      in_word = true;
    }
  }
  finish();
  return out;
}

const std::vector<std::string>& manager_keys() {
  static const std::vector<std::string> k = {
      "manager", "service_dir", "sv_dir",  "sv",         "systemctl",   "status", "start",
      "stop",    "enable",      "disable", "is_enabled", "environment", "timeout"};
  return k;
}

Result<ManagerSettings> parse_manager_settings(const nlohmann::json& settings,
                                               const std::string& who) {
  ManagerSettings s;
  auto what = [&](const std::string& k) { return fmt::format("{}: {}", who, k); };
  for (const auto& [k, v] : settings.items()) {
    if (k == "manager") {
      if (!v.is_string() || (v != "systemd" && v != "runit" && v != "command"))
        return fail(Error::usage("{} must be \"systemd\", \"runit\" or \"command\"", what(k)));
      s.kind = v.get<std::string>();
    } else if (k == "service_dir") {
      REWIND_ASSIGN_OR_RETURN(s.service_dir, abs_dir_of(v, what(k)));
    } else if (k == "sv_dir") {
      REWIND_ASSIGN_OR_RETURN(s.sv_dir, abs_dir_of(v, what(k)));
    } else if (k == "sv") {
      REWIND_ASSIGN_OR_RETURN(s.sv, argv_of(v, what(k)));
    } else if (k == "systemctl") {
      REWIND_ASSIGN_OR_RETURN(s.systemctl, argv_of(v, what(k)));
    } else if (std::find(kCommandKeys.begin(), kCommandKeys.end(), k) != kCommandKeys.end()) {
      REWIND_ASSIGN_OR_RETURN(s.commands[k], argv_of(v, what(k)));
    } else if (k == "timeout") {
      if (!v.is_string())
        return fail(Error::usage("{} must be a string (a duration such as \"30s\")", what(k)));
      auto d = config::parse_duration(v.get<std::string>());
      if (!d) return fail(Error::usage("{}: {}", what(k), d.error().message()));
      s.timeout = std::chrono::duration_cast<milliseconds>(*d);
    }
  }
  return s;
}

Result<io::Fd> open_dir(io::Fs& fs, const std::string& system_root, const std::string& abs_dir,
                        bool create) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, fs.open_path(system_root, O_RDONLY | O_DIRECTORY));
  size_t b = 1;
  while (b < abs_dir.size()) {
    size_t e = abs_dir.find('/', b);
    if (e == std::string::npos) e = abs_dir.size();
    std::string part = abs_dir.substr(b, e - b);
    b = e + 1;
    auto next = fs.open_at(dir.get(), part, O_RDONLY | O_DIRECTORY);
    if (!next && next.error().sys_errno() == ENOENT) {
      if (!create) return io::Fd{};
      REWIND_TRY(fs.mkdir_at(dir.get(), part, 0755));
      REWIND_TRY(fs.fsync_dir(dir.get()));
      next = fs.open_at(dir.get(), part, O_RDONLY | O_DIRECTORY);
    }
    if (!next) return fail(next.error().with_context(abs_dir));
    dir = std::move(*next);
  }
  return dir;
}

std::unique_ptr<Manager> make_manager(const ManagerSettings& s, io::Fs& fs,
                                      const std::string& system_root) {
  if (s.kind == "runit") return std::make_unique<RunitManager>(s, fs, system_root);
  if (s.kind == "command") return std::make_unique<CommandManager>(s);
  return std::make_unique<SystemdManager>(s, system_root);
}

}  // namespace rwd::components::services
