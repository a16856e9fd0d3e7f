// SPDX-License-Identifier: Apache-2.0
// rewind daemon status|pause|resume|list|health|create|rollback: the same
// operations through rewindd's socket, for users who may not open the
// repository themselves. The daemon decides what each caller may do
// ([daemon.access.*], doc/daemon.md); this client only asks.
#include <unistd.h>

#include "cli/command.h"
#include "daemon/daemon_config.h"
#include "daemon/protocol.h"
#include "io/fs.h"

namespace rwd::cli {

namespace {

struct DaemonOptions {
  std::string socket;  // --socket; empty: the configuration's
  std::string reason;
  std::string name, description, point, scope = "full";
  std::vector<std::string> components, tags;
  bool dry_run = false;
  int timeout_s = 3600;
};

// The socket: --socket, else [daemon] socket under --root. A caller who
// cannot read the configuration gets the default place.
std::string socket_path(const Globals& g, const DaemonOptions& o) {
  if (!o.socket.empty()) return o.socket;
  std::optional<std::string> cfg;
  if (!g.config.empty()) cfg = g.config;
  auto loaded = daemon::load_daemon_config(io::default_fs(), g.root, cfg);
  daemon::DaemonConfig d = loaded ? loaded->daemon : daemon::DaemonConfig{};
  return daemon::at_root(g.root, d.socket);
}

void print_points(const json& arr) {
  std::printf("%5s  %-20s  %-8s  %-20s  %s\n", "ID", "TIME", "KIND", "NAME", "COMPONENTS");
  for (const auto& p : arr) {
    std::string comps;
    for (const auto& c : p.value("components", json::array()))
      comps += (comps.empty() ? "" : ",") + c.value("name", "");
    std::printf("%5lld  %-20s  %-8s  %-20s  %s%s\n", static_cast<long long>(p.value("id", 0LL)),
                p.value("time", "").c_str(), p.value("kind", "").c_str(),
                p.value("name", "").c_str(), comps.c_str(),
                p.value("pinned", false) ? "  (pinned)" : "");
  }
}

void print_status(const json& s) {
  std::printf("state: %s\n", s.value("state", "").c_str());
  if (s.value("paused", false)) std::printf("paused: %s\n", s.value("pause_reason", "").c_str());
  if (s.value("attention", false))
    std::printf(
        "attention: %s\n  (a person must look; `rewind daemon resume` re-arms automatic "
        "rollback)\n",
        s.value("attention_reason", "").c_str());
  std::printf("health: %s\n", s.value("health_level", "").c_str());
  std::printf("activity: %s\n", s.value("activity", "").c_str());
  if (!s.value("last_refusal", "").empty())
    std::printf("last refusal: %s\n", s.value("last_refusal", "").c_str());
  const auto& rbs = s.value("rollbacks", json::array());
  std::printf("automatic rollbacks: %zu\n", rbs.size());
  for (const auto& r : rbs)
    std::printf("  %s: %s -> point %lld (%s), safety point %lld\n",
                format_time(r.value("time_ns", int64_t{0})).c_str(), r.value("trigger", "").c_str(),
                static_cast<long long>(r.value("point", 0LL)), r.value("result", "").c_str(),
                static_cast<long long>(r.value("safety", 0LL)));
  if (!s.value("last_verify_ok", true))
    std::printf(
        "last verify found problems (automatic rollback from damaged points is "
        "blocked)\n");
}

int call_and_print(const Globals& g, const DaemonOptions& o, const json& request) {
  auto r = daemon::call(socket_path(g, o), request, std::chrono::seconds(o.timeout_s));
  if (!r) return report_error(g, r.error());
  std::string action = request["action"];
  if (g.out.json) {
    print_json(*r);
  } else if (action == "list") {
    print_points(*r);
  } else if (action == "status" || action == "pause" || action == "resume") {
    print_status(*r);
  } else if (action == "health") {
    std::printf("health: %s (as of %s)\n", r->value("level", "").c_str(),
                format_time(r->value("checked_ns", int64_t{0})).c_str());
  } else if (action == "create") {
    std::printf("%lld\n", static_cast<long long>(r->value("id", 0LL)));
  } else if (action == "rollback") {
    std::printf("operation %s: rollback to recovery point %lld %s",
                r->value("operation", json()).dump().c_str(),
                static_cast<long long>(r->value("point", 0LL)), r->value("state", "").c_str());
    if (!(*r)["safety"].is_null())
      std::printf(" (safety point %lld; `rewind undo` returns to before)",
                  static_cast<long long>((*r)["safety"].get<int64_t>()));
    std::printf("\n");
  }
  if (action == "rollback") return exit_code_for_rollback_state(r->value("state", ""));
  if (action == "health") {
    std::string level = r->value("level", "");
    if (level == "degraded") return kExitHealthDegraded;
    if (level == "critical") return kExitHealthCritical;
  }
  return kExitOk;
}

}  // namespace

Command daemon_command() {
  auto o = std::make_shared<DaemonOptions>();
  auto subs = std::make_shared<std::vector<std::pair<CLI::App*, std::string>>>();
  return Command{
      "daemon",
      "Ask rewindd through its socket: status, pause, resume, list, health, create, rollback "
      "(what a caller may do is the daemon's [daemon.access] rules)",
      [o, subs](CLI::App& c) {
        c.require_subcommand(1, 1);
        c.add_option("--socket", o->socket,
                     "rewindd's socket (default: [daemon] socket under --root, "
                     "/run/rewind/rewindd.sock)");
        c.add_option("--timeout", o->timeout_s,
                     "Seconds to wait for the daemon's answer (default: 3600)");
        auto add = [&](const char* name, const char* help) {
          CLI::App* s = c.add_subcommand(name, help);
          subs->emplace_back(s, name);
          return s;
        };
        add("status",
            "The daemon's state: running, paused or attention; health; its automatic "
            "rollbacks");
        add("pause",
            "Stop automatic action until `rewind daemon resume` (a person's decision "
            "always wins)")
            ->add_option("--reason", o->reason, "Why (shown by status)");
        add("resume",
            "Re-arm automatic action; also ends the attention state after a person has looked");
        add("list", "List recovery points (like `rewind list`)");
        add("health", "The health level of the daemon's last round of checks");
        CLI::App* cr = add("create", "Take a recovery point of the configured components");
        cr->add_option("-n,--name", o->name, "Name of the recovery point");
        cr->add_option("-d,--description", o->description, "Description");
        cr->add_option("-c,--component", o->components, "Configured component; repeatable");
        cr->add_option("--tag", o->tags, "Tag; repeatable");
        CLI::App* rb = add("rollback", "Roll back to a recovery point (safety point first)");
        rb->add_option("ID", o->point, "number, latest or latest:KIND")->required();
        rb->add_option("--scope", o->scope, "full, component, partial or incremental")
            ->check(CLI::IsMember({"full", "component", "partial", "incremental"}));
        rb->add_option("-c,--component", o->components, "Component in scope; repeatable");
        rb->add_flag("--dry-run", o->dry_run, "Plan only; change nothing");
      },
      [o, subs](const Globals& g) {
        std::string action;
        for (const auto& [s, name] : *subs)
          if (s->parsed()) action = name;
        json req{{"action", action}};
        if (action == "pause" && !o->reason.empty()) req["reason"] = o->reason;
        if (action == "create") {
          req["name"] = o->name;
          req["description"] = o->description;
          req["components"] = o->components;
          req["tags"] = o->tags;
        }
        if (action == "rollback") {
          req["point"] = o->point;
          req["scope"] = o->scope;
          req["components"] = o->components;
          req["dry_run"] = o->dry_run;
        }
        return call_and_print(g, *o, req);
      }};
}

}  // namespace rwd::cli
