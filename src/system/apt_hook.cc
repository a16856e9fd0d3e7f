// SPDX-License-Identifier: Apache-2.0
#include "system/apt_hook.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

#include "components/services/manager.h"
#include "components/unified_diff.h"
#include "config/config.h"
#include "io/durable.h"
#include "io/syslog.h"

namespace rwd::system {

namespace {

using nlohmann::json;
namespace text = components::text;

constexpr const char* kStateDir = "/run/rewind";
constexpr const char* kStateFile = "apt-hook.json";
constexpr const char* kLogDir = "/var/log/rewind";
constexpr const char* kLogFile = "apt-hook.log";
// apt's description of a whole dist-upgrade stays readable: beyond this many
// packages the description says how many more there were.
constexpr size_t kMaxDescribedChanges = 5000;
// The protocol input read at most (a dist-upgrade of a large system sends a
// few MiB of configuration and package lines).
constexpr size_t kMaxInfo = 64 << 20;

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string version_or_empty(std::string_view v) { return v == "-" ? "" : std::string(v); }

// The action of one package line: its last field and the versions.
std::string action_of(std::string_view last, std::string_view old_v, std::string_view dir) {
  if (last == "**REMOVE**") return "remove";
  if (last == "**CONFIGURE**") return "configure";
  if (old_v == "-") return "install";
  if (dir == "<") return "upgrade";
  if (dir == ">") return "downgrade";
  return "reinstall";
}

// Reads `fd` to its end, keeping the first `max` bytes: the rest is still
// drained, so that apt never writes into a closed pipe. (Files in /proc say
// size 0, so the size is no guide.)
Result<std::string> read_stream(io::Fs& fs, int fd, size_t max) {
  std::string out;
  std::vector<std::byte> buf(1 << 16);
  while (true) {
    REWIND_ASSIGN_OR_RETURN(size_t n, fs.read(fd, buf));
    if (n == 0) return out;
    if (out.size() < max)
      out.append(reinterpret_cast<const char*>(buf.data()), std::min(n, max - out.size()));
  }
}

// ---------------------------------------------------------------------------
// The process tree: who runs this hook.

struct ProcInfo {
  int64_t pid = 0;
  int64_t ppid = 0;
  std::string comm;
  std::string start;  // start time in clock ticks since boot (field 22)
  std::vector<std::string> argv;
};

std::optional<ProcInfo> read_proc(io::Fs& fs, const std::string& proc, int64_t pid) {
  auto dir = fs.open_path(fmt::format("{}/{}", proc, pid), O_RDONLY | O_DIRECTORY);
  if (!dir) return std::nullopt;
  auto read = [&](const char* name, size_t max) -> Result<std::string> {
    REWIND_ASSIGN_OR_RETURN(io::Fd fd, fs.open_at(dir->get(), name, O_RDONLY));
    return read_stream(fs, fd.get(), max);
  };
  auto stat = read("stat", 4096);
  if (!stat) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold blanks and parentheses.
  size_t open = stat->find('('), close = stat->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcInfo p;
  p.pid = pid;
  p.comm = stat->substr(open + 1, close - open - 1);
  std::string rest = text::collapse_whitespace(stat->substr(close + 1));
  auto f = text::split(rest, ' ');
  // After comm: state(3) ppid(4) ... starttime(22).
  if (f.size() < 20) return std::nullopt;
  try {
    p.ppid = std::stoll(std::string(f[1]));
  } catch (...) {
    return std::nullopt;
  }
  p.start = std::string(f[19]);
  if (auto cmdline = read("cmdline", 64 << 10))
    for (auto a : text::split(*cmdline, '\0')) p.argv.emplace_back(a);
  return p;
}

std::string basename_of(std::string_view p) {
  size_t slash = p.rfind('/');
  return std::string(slash == std::string::npos ? p : p.substr(slash + 1));
}

// Whether the process runs the program `name`: its comm (which the kernel
// cuts to 15 bytes; for a script it is the script's name) or the base name
// of its program or of a script an interpreter runs (python3 /usr/bin/x).
bool runs(const ProcInfo& p, const std::string& name) {
  if (!name.empty() && p.comm == name.substr(0, 15)) return true;
  for (size_t i = 0; i < p.argv.size() && i < 2; ++i)
    if (basename_of(p.argv[i]) == name) return true;
  return false;
}

bool is_shell(const ProcInfo& p) { return p.comm == "sh" || p.comm == "dash" || p.comm == "bash"; }

struct Session {
  std::string key;    // "pid:start"
  std::string label;  // "unattended-upgrade 812"
  bool coalesce = false;
  std::string note;  // why the process tree could not be read, if so
};

Session identify(io::Fs& fs, const std::string& root, const HookSettings& hs) {
  const std::string proc = root == "/" ? "/proc" : root + "/proc";
  std::vector<ProcInfo> chain;
  int64_t pid = ::getppid();
  for (int depth = 0; depth < 64 && pid > 1; ++depth) {
    auto p = read_proc(fs, proc, pid);
    if (!p) break;
    pid = p->ppid;
    chain.push_back(std::move(*p));
  }
  Session s;
  if (chain.empty()) {
    // No process tree under this root (no /proc mounted): the parent alone.
    s.key = fmt::format("{}:", ::getppid());
    s.label = fmt::format("pid {}", ::getppid());
    s.note = fmt::format("{} is not readable, so runs are not coalesced", proc);
    return s;
  }
  for (const auto& p : chain)
    for (const auto& name : hs.apt_coalesce)
      if (runs(p, name)) {
        s.key = fmt::format("{}:{}", p.pid, p.start);
        s.label = fmt::format("{} {}", name, p.pid);
        s.coalesce = true;
        return s;
      }
  // apt runs its hooks from forks of itself (with a pseudo-terminal for
  // dpkg's output): the session is the outermost apt of that line.
  size_t front = 0;
  while (front + 1 < chain.size() && is_shell(chain[front])) ++front;
  while (front + 1 < chain.size() && chain[front + 1].comm == chain[front].comm) ++front;
  s.key = fmt::format("{}:{}", chain[front].pid, chain[front].start);
  s.label = fmt::format("{} {}", chain[front].comm, chain[front].pid);
  return s;
}

// ---------------------------------------------------------------------------
// The session state in <root>/run/rewind/apt-hook.json.

struct State {
  std::string session;
  std::string label;
  bool coalesce = false;
  int64_t pre = 0;
  int64_t post = 0;
};

std::optional<State> load_state(io::Fs& fs, const std::string& root) {
  auto dir = components::services::open_dir(fs, root, kStateDir, false);
  if (!dir || !dir->valid()) return std::nullopt;
  auto body = io::read_small_file(fs, dir->get(), kStateFile, 1 << 20);
  if (!body) return std::nullopt;
  json j = json::parse(*body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  State s;
  s.session = j.value("session", "");
  s.label = j.value("label", "");
  s.coalesce = j.value("coalesce", false);
  s.pre = j.value("pre", int64_t{0});
  s.post = j.value("post", int64_t{0});
  return s;
}

Status save_state(io::Fs& fs, const std::string& root, const State& s) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, components::services::open_dir(fs, root, kStateDir, true));
  json j{{"session", s.session},
         {"label", s.label},
         {"coalesce", s.coalesce},
         {"pre", s.pre},
         {"post", s.post}};
  return io::write_file_atomic(fs, dir.get(), kStateFile, io::as_bytes(j.dump() + "\n"), 0600);
}

void clear_state(io::Fs& fs, const std::string& root) {
  auto dir = components::services::open_dir(fs, root, kStateDir, false);
  if (dir && dir->valid())
    ignore_status(fs.unlink_at(dir->get(), kStateFile), "a missing state file is the goal");
}

// ---------------------------------------------------------------------------
// Logging: the hook's own log file, standard error (apt shows it) and, on the
// running system, syslog.

class HookLog {
 public:
  HookLog(io::Fs& fs, std::string root, std::string stage)
      : fs_(fs), root_(std::move(root)), stage_(std::move(stage)) {}

  void info(const std::string& msg) { write(io::LogLevel::kInfo, msg); }
  void warn(const std::string& msg) { write(io::LogLevel::kWarning, msg); }
  void error(const std::string& msg) { write(io::LogLevel::kError, msg); }

 private:
  void write(io::LogLevel level, const std::string& msg) {
    std::fprintf(stderr, "rewind: %s\n", msg.c_str());
    // Another root's syslog is not this process's /dev/log.
    if (root_ == "/") io::syslog_message(level, "rewind", fmt::format("apt hook: {}", msg));
    const char* tag = level == io::LogLevel::kInfo      ? "info"
                      : level == io::LogLevel::kWarning ? "warning"
                                                        : "error";
    std::string line = fmt::format("{:%Y-%m-%dT%H:%M:%SZ} {} pid {} {}: {}\n",
                                   fmt::gmtime(std::time(nullptr)), stage_, ::getpid(), tag, msg);
    auto dir = components::services::open_dir(fs_, root_, kLogDir, true);
    if (!dir || !dir->valid()) return;
    auto fd = fs_.open_at(dir->get(), kLogFile, O_WRONLY | O_APPEND | O_CREAT, 0640);
    if (!fd) return;
    ignore_status(fs_.write(fd->get(), io::as_bytes(line)),
                  "the line went to standard error (and syslog) already");
    ignore_status(fd->close(), "an append-only log line; nothing to undo");
  }

  io::Fs& fs_;
  std::string root_;
  std::string stage_;
};

const char* stage_name(AptHookStage s) {
  switch (s) {
    case AptHookStage::kPre:
      return "apt-pre";
    case AptHookStage::kPackages:
      return "apt-pkgs";
    case AptHookStage::kPost:
      return "apt-post";
  }
  return "apt";
}

// Takes a pre or post point; a busy repository is not waited for.
Result<CreateReport> take_point(RollbackSystem& sys, const HookSettings& hs, const char* kind,
                                const Session& s, int64_t pre) {
  CreateOptions c;
  c.kind = kind;
  c.cause = "update";
  c.name = s.coalesce ? "unattended-upgrades" : "apt";
  c.tags = {"apt"};
  c.components = hs.apt_components;
  c.pre_id = pre;
  NullObserver obs;
  return sys.create_recovery_point(c, obs);
}

}  // namespace

Result<AptHookInfo> parse_apt_hook_info(std::string_view input) {
  auto lines = text::split(input, '\n');
  if (lines.empty() || !lines[0].starts_with("VERSION "))
    return fail(Error::corrupted_data(
        "apt's hook input does not start with \"VERSION N\" (is DPkg::Tools::Options::...::Version "
        "\"3\" set for this hook?)"));
  AptHookInfo info;
  std::string_view v = lines[0].substr(8);
  if (v == "2")
    info.version = 2;
  else if (v == "3")
    info.version = 3;
  else
    return fail(Error::corrupted_data("apt's hook protocol version {} is not supported (2 or 3)",
                                      std::string(v)));
  size_t i = 1;
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    size_t eq = lines[i].find('=');
    if (eq == std::string_view::npos) continue;
    if (percent_decode(lines[i].substr(0, eq)) == "CommandLine::AsString")
      info.command_line = percent_decode(lines[i].substr(eq + 1));
  }
  std::map<std::string, size_t> seen;  // name:arch -> index in changes
  const size_t want = info.version == 3 ? 9 : 5;
  for (++i; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    auto f = text::split(lines[i], ' ');
    if (f.size() < want)
      return fail(
          Error::corrupted_data("apt's hook input: package line \"{}\" has {} fields, not {}",
                                std::string(lines[i]), f.size(), want));
    AptPackageChange c;
    c.name = std::string(f[0]);
    // The action is a .deb's file name and may hold blanks: the rest of the line.
    std::string last;
    for (size_t k = want - 1; k < f.size(); ++k)
      last += (last.empty() ? "" : " ") + std::string(f[k]);
    std::string_view old_v = f[1], dir, new_v;
    if (info.version == 3) {
      c.arch = f[2] == "-" ? std::string(f[6]) : std::string(f[2]);
      dir = f[4];
      new_v = f[5];
    } else {
      dir = f[2];
      new_v = f[3];
    }
    c.old_version = version_or_empty(old_v);
    c.new_version = version_or_empty(new_v);
    c.action = action_of(last, old_v, dir);
    if (c.action == "remove") c.new_version.clear();
    std::string key = c.arch.empty() ? c.name : c.name + ":" + c.arch;
    auto it = seen.find(key);
    if (it == seen.end()) {
      seen.emplace(key, info.changes.size());
      info.changes.push_back(std::move(c));
    } else if (info.changes[it->second].action == "configure") {
      info.changes[it->second] = std::move(c);
    }
  }
  return info;
}

std::string describe_change(const AptPackageChange& c) {
  return fmt::format("{} {}{}{} {} -> {}", c.action, c.name, c.arch.empty() ? "" : ":", c.arch,
                     c.old_version.empty() ? "-" : c.old_version,
                     c.new_version.empty() ? "-" : c.new_version);
}

Result<HookSettings> parse_hook_settings(const json& section) {
  HookSettings hs;
  if (section.is_null()) return hs;
  auto strings = [](const json& v, const char* key) -> Result<std::vector<std::string>> {
    if (!v.is_array()) return fail(Error::usage("[hooks] {} must be an array of strings", key));
    std::vector<std::string> out;
    for (const auto& e : v) {
      if (!e.is_string()) return fail(Error::usage("[hooks] {} must be an array of strings", key));
      out.push_back(e.get<std::string>());
    }
    return out;
  };
  for (const auto& [k, v] : section.items()) {
    if (k == "apt_refuse_on_error") {
      if (!v.is_boolean())
        return fail(Error::usage("[hooks] apt_refuse_on_error must be true or false"));
      hs.apt_refuse_on_error = v.get<bool>();
    } else if (k == "apt_coalesce") {
      REWIND_ASSIGN_OR_RETURN(hs.apt_coalesce, strings(v, "apt_coalesce"));
    } else if (k == "apt_components") {
      REWIND_ASSIGN_OR_RETURN(hs.apt_components, strings(v, "apt_components"));
    } else {
      return fail(Error::usage(
          "[hooks]: unknown key \"{}\" (known: apt_refuse_on_error, apt_coalesce, apt_components)",
          k));
    }
  }
  return hs;
}

AptHookOutcome run_apt_hook(io::Fs& fs, const AptHookOptions& o) {
  const std::string root = o.system.system_root.empty() ? "/" : o.system.system_root;
  HookLog log(fs, root, stage_name(o.stage));
  AptHookOutcome out;
  auto finish = [&](std::string action, const std::string& msg, bool failed = false) {
    out.action = std::move(action);
    out.message = msg;
    if (failed)
      log.error(msg);
    else if (out.action == "skipped")
      log.warn(msg);
    else
      log.info(msg);
    return out;
  };

  // apt writes the whole list before it looks at the hook's exit status:
  // read it first, whatever happens next.
  AptHookInfo info;
  std::string info_error;
  if (o.stage == AptHookStage::kPackages) {
    auto input = read_stream(fs, o.info_fd, kMaxInfo);
    Result<AptHookInfo> parsed =
        input ? parse_apt_hook_info(*input) : Result<AptHookInfo>(fail(input.error()));
    if (parsed)
      info = std::move(*parsed);
    else
      info_error = fmt::format("reading apt's package list: {}", parsed.error().message());
  }

  // The configuration's [hooks] table; without it the defaults (and a
  // failure cannot be told to refuse).
  HookSettings hs;
  bool refuse = false;
  {
    SystemOptions so = o.system;
    auto cfg = so.use_config ? config::load(fs, root, so.config_file)
                             : Result<std::optional<config::Config>>(std::nullopt);
    if (cfg && *cfg && (*cfg)->sections.contains("hooks")) {
      auto parsed = parse_hook_settings((*cfg)->sections["hooks"]);
      if (!parsed)
        return finish("failed", fmt::format("{}; nothing recorded", parsed.error().message()),
                      true);
      hs = std::move(*parsed);
    }
    refuse = hs.apt_refuse_on_error;
  }
  auto failed = [&](const std::string& msg) {
    out.refuse = refuse;
    return finish(
        "failed",
        msg + (refuse ? " ([hooks] apt_refuse_on_error: apt stops)"
                      : " (apt goes on; [hooks] apt_refuse_on_error = true would stop it)"),
        true);
  };

  Session session = identify(fs, root, hs);
  out.session = session.label;
  if (!session.note.empty()) log.info(session.note);
  std::optional<State> state = load_state(fs, root);
  const bool same = state && state->session == session.key && state->pre != 0;
  if (same) {
    out.pre = state->pre;
    out.post = state->post;
  }

  SystemOptions so = o.system;
  so.wait_for_lock = false;  // a long operation never blocks apt
  auto busy_or_failed = [&](const Error& e, const std::string& what) {
    if (e.code() == ErrorCode::kBusy)
      return finish("skipped", fmt::format("{} skipped: the repository is busy ({}); apt goes on "
                                           "without it",
                                           what, e.message()));
    return failed(fmt::format("{} failed: {}", what, e.message()));
  };
  auto sys = RollbackSystem::open(so);
  if (!sys) return failed(fmt::format("cannot open rewind: {}", sys.error().message()));

  switch (o.stage) {
    case AptHookStage::kPre: {
      if (same)
        return finish("coalesced", fmt::format("dpkg runs again in {}: recovery point {} stays its "
                                               "pre point",
                                               session.label, state->pre));
      if (state && state->pre != 0 && state->post == 0)
        log.warn(fmt::format("pre point {} of {} got no post point (that apt run was interrupted)",
                             state->pre, state->label));
      auto made = take_point(**sys, hs, "pre", session, 0);
      if (!made) {
        // A pre point of an earlier session must not be continued by this one.
        clear_state(fs, root);
        return busy_or_failed(made.error(), "the pre point before dpkg runs");
      }
      out.pre = made->id;
      State st{session.key, session.label, session.coalesce, made->id, 0};
      if (Status saved = save_state(fs, root, st); !saved)
        log.warn(
            fmt::format("cannot record the apt session in {}{}: {}; its post point will not "
                        "be linked",
                        root == "/" ? "" : root, kStateDir, saved.error().message()));
      return finish("created", fmt::format("recovery point {} (pre) before dpkg runs, for {}",
                                           made->id, session.label));
    }
    case AptHookStage::kPackages: {
      if (!info_error.empty()) return failed(info_error);
      out.changes = info.changes;
      if (!same)
        return finish("skipped", fmt::format("no pre point of {} (see the apt-pre line above): the "
                                             "package changes are not recorded",
                                             session.label));
      auto point = (*sys)->get_recovery_point(std::to_string(state->pre));
      if (!point)
        return busy_or_failed(point.error(), fmt::format("reading pre point {}", state->pre));
      std::string d = point->description;
      if (!d.empty() && d.back() != '\n') d += '\n';
      d += "apt: " +
           (info.command_line.empty() ? std::string("(no command line)") : info.command_line) +
           "\n";
      size_t n = 0;
      for (const auto& c : info.changes) {
        if (++n > kMaxDescribedChanges) {
          d += fmt::format("... and {} more\n", info.changes.size() - kMaxDescribedChanges);
          break;
        }
        d += describe_change(c) + "\n";
      }
      PointChanges ch;
      ch.description = d;
      if (Status st = (*sys)->modify_recovery_point(std::to_string(state->pre), ch); !st)
        return busy_or_failed(st.error(),
                              fmt::format("recording the package changes in point {}", state->pre));
      return finish("annotated", fmt::format("recovery point {}: {} package change(s) of \"{}\"",
                                             state->pre, info.changes.size(), info.command_line));
    }
    case AptHookStage::kPost: {
      if (!same)
        return finish("skipped", fmt::format("no pre point of {} (see the apt-pre line): no post "
                                             "point is taken",
                                             session.label));
      auto made = take_point(**sys, hs, "post", session, state->pre);
      if (!made) return busy_or_failed(made.error(), "the post point after dpkg ran");
      out.post = made->id;
      if (state->post != 0) {
        // An earlier step of the same run: its post point is outdated now.
        if (auto f = (*sys)->forget_recovery_points({std::to_string(state->post)}); f)
          out.forgotten = state->post;
        else
          log.warn(fmt::format("cannot forget the earlier post point {}: {}", state->post,
                               f.error().message()));
      }
      if (session.coalesce) {
        State st = *state;
        st.post = made->id;
        if (Status saved = save_state(fs, root, st); !saved)
          log.warn(fmt::format("cannot record the apt session: {}", saved.error().message()));
      } else {
        clear_state(fs, root);
      }
      return finish(
          "created",
          fmt::format("recovery point {} (post) after dpkg ran, linked to pre point {}{}", made->id,
                      state->pre,
                      out.forgotten ? fmt::format(" (replaces post point {} of an earlier "
                                                  "step of {})",
                                                  out.forgotten, session.label)
                                    : std::string()));
    }
  }
  return out;
}

}  // namespace rwd::system
