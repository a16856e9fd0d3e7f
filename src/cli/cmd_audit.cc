// SPDX-License-Identifier: Apache-2.0
// rewind audit, and the hook that appends every mutating command's entry.
#include <ctime>

#include "cli/command.h"
#include "config/config.h"

namespace rwd::cli {

namespace {

// --since: an RFC 3339 time in UTC ("2026-11-26T04:00:00Z", or a date), or
// a duration back from now ("24h", "7d").
Result<int64_t> parse_since(const std::string& text) {
  const bool date = text.size() == 10;
  const bool date_time = text.size() == 20 && text[10] == 'T' && text[19] == 'Z';
  if (date || date_time) {
    struct tm tm {};
    int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    if (n == (date ? 3 : 6)) {
      tm.tm_year -= 1900;
      tm.tm_mon -= 1;
      // Times past 2262 do not fit in nanoseconds: later than every entry.
      int64_t secs = ::timegm(&tm);
      return secs > INT64_MAX / 1000000000LL ? INT64_MAX : secs * 1000000000LL;
    }
  } else if (auto d = config::parse_duration(text)) {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now - *d).count();
  }
  return fail(Error::usage(
      "--since {}: expected a UTC time (2026-11-26, 2026-11-26T04:00:00Z) or a duration back "
      "from now (30min, 24h, 7d)",
      text));
}

json record_json(const AuditRecord& r) {
  return json{{"seq", r.seq},
              {"time", format_time(r.time_ns)},
              {"uid", r.uid},
              {"user", r.user},
              {"host", r.host},
              {"operation", r.operation},
              {"arguments", r.arguments},
              {"result", r.result},
              {"message", r.message},
              {"mac", r.mac}};
}

int show_log(const Globals& gl, RollbackSystem& sys, const std::string& since) {
  int64_t since_ns = INT64_MIN;
  if (!since.empty()) {
    auto s = parse_since(since);
    if (!s) return report_error(gl, s.error());
    since_ns = *s;
  }
  auto log = sys.audit_log(since_ns);
  if (!log) return report_error(gl, log.error());
  if (gl.out.json) {
    json a = json::array();
    for (const auto& r : *log) a.push_back(record_json(r));
    print_json(a);
    return 0;
  }
  for (const auto& r : *log) {
    std::string args;
    for (const auto& a : r.arguments) args += " " + a;
    std::string result = r.result == 0 ? "ok" : fmt::format("exit {}", r.result);
    if (!r.message.empty()) result += ": " + r.message;
    std::printf("%5lld  %s  %s(%u)@%s  %s ->%s  %s\n", static_cast<long long>(r.seq),
                format_time(r.time_ns).c_str(), r.user.c_str(), r.uid, r.host.c_str(),
                r.operation.c_str(), args.c_str(), result.c_str());
  }
  return 0;
}

int verify_log(const Globals& gl, RollbackSystem& sys) {
  auto v = sys.verify_audit();
  if (!v) return report_error(gl, v.error());
  if (gl.out.json) {
    print_json(json{{"ok", v->ok()},
                    {"entries", v->entries},
                    {"head_count", v->head_count < 0 ? json(nullptr) : json(v->head_count)},
                    {"first_bad", v->first_bad == 0 ? json(nullptr) : json(v->first_bad)},
                    {"problem", v->problem},
                    {"notes", v->notes}});
  } else {
    for (const auto& n : v->notes) std::printf("note: %s\n", n.c_str());
    if (v->ok())
      std::printf("ok: %llu entries, the chain and its head verify\n",
                  static_cast<unsigned long long>(v->entries));
    else if (v->first_bad > 0)
      std::printf("FAILED at entry %lld: %s\n", static_cast<long long>(v->first_bad),
                  v->problem.c_str());
    else
      std::printf("FAILED: %s\n", v->problem.c_str());
  }
  return v->ok() ? 0 : kExitCorrupted;
}

}  // namespace

Command audit_command() {
  struct Options {
    bool verify = false;
    std::string since;
  };
  auto o = std::make_shared<Options>();
  return Command{
      "audit", "Show the audit log of mutating operations, or verify its MAC chain (--verify)",
      [o](CLI::App& c) {
        c.add_flag("--verify", o->verify,
                   "check every entry's MAC and the chain's head kept beside the key; names the "
                   "first edited, inserted or removed entry (exit 13)");
        c.add_option("--since", o->since,
                     "only entries from this UTC time (2026-11-26, 2026-11-26T04:00:00Z) or "
                     "this long ago (24h, 7d)");
        c.footer(
            "The log is in the repository's catalog; its key and head are in "
            "ROOT/etc/rewind/audit/ (doc/audit.md).\n\n" +
            std::string(kExitCodeHelp));
      },
      [o](const Globals& gl) {
        if (o->verify && !o->since.empty())
          return report_error(gl, Error::usage("--verify checks the whole log; drop --since"));
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        return o->verify ? verify_log(gl, **sys) : show_log(gl, **sys, o->since);
      }};
}

int append_audit_entry(const Globals& g, const Command& cmd, const std::vector<std::string>& args,
                       int code) {
  auto sys = RollbackSystem::open(system_options(g));
  // The command failed on the same configuration: it changed nothing.
  if (!sys) return code;
  AuditEntry e;
  e.operation = cmd.name;
  e.arguments = args;
  e.result = code;
  if (code != 0) e.message = last_error_message();
  Status st = (*sys)->audit(e);
  // No repository (init failed, or a command run before init): there is no
  // log to append to.
  if (st || st.error().code() == ErrorCode::kNoRepository) return code;
  // Said once when the command failed for the same reason (an unsafe
  // repository refuses the append as it refused the command).
  if (code == 0 || st.error().message() != last_error_message())
    std::fprintf(stderr, "rewind: the audit log was not appended: %s\n",
                 st.error().message().c_str());
  // The exit code keeps describing the operation (scripts and the fault
  // tests rely on it: a completed rollback is not reported as failed).
  return code;
}

}  // namespace rwd::cli
