// SPDX-License-Identifier: Apache-2.0
// rewind recover, rewind status, rewind cancel
#include <unistd.h>

#include <thread>

#include "cli/command.h"

namespace rwd::cli {

namespace {

std::optional<int64_t> parse_op(const std::string& s, std::optional<Error>* err) {
  if (s.empty()) return std::nullopt;
  if (s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
    *err = Error::usage("'{}' is not an operation number (see `rewind status`)", s);
    return std::nullopt;
  }
  return std::stoll(s);
}

std::string bar(double percent) {
  int filled = static_cast<int>(percent / 5);
  return "[" + std::string(static_cast<size_t>(std::clamp(filled, 0, 20)), '#') +
         std::string(static_cast<size_t>(20 - std::clamp(filled, 0, 20)), '.') + "]";
}

}  // namespace

Command recover_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "recover", "Finish or revert an operation that was interrupted (safe to run at every boot)",
      [](CLI::App&) {},
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        CliObserver obs(gl.out);
        auto r = (*sys)->recover(obs);
        obs.finish();
        if (!r) return report_error(gl, r.error());
        if (gl.out.json) {
          json arr = json::array();
          for (const auto& rep : *r) {
            json comps = json::array();
            for (const auto& c : rep.components)
              comps.push_back(json{{"name", c.name}, {"result", c.result}, {"message", c.message}});
            arr.push_back(json{{"operation", rep.operation},
                               {"point", rep.point},
                               {"safety", rep.safety},
                               {"state", rep.state},
                               {"message", rep.message},
                               {"components", comps}});
          }
          print_json(json{{"recovered", arr}});
          return 0;
        }
        if (r->empty()) {
          if (!gl.out.quiet) std::printf("nothing to recover: no operation was interrupted\n");
          return 0;
        }
        for (const auto& rep : *r) {
          std::printf("operation %lld (to recovery point %lld): %s\n",
                      static_cast<long long>(rep.operation), static_cast<long long>(rep.point),
                      rep.message.c_str());
          for (const auto& c : rep.components)
            std::printf("  %-20s %s\n", c.name.c_str(), c.result.c_str());
        }
        return 0;
      },
      kMutating};
}

Command status_command() {
  auto o = std::make_shared<CommandOptions>();
  auto watch = std::make_shared<bool>(false);
  return Command{
      "status", "Running and recent operations with their phase and progress",
      [o, watch](CLI::App& c) {
        c.add_option("OP", o->id, "One operation (default: the recent ones)");
        c.add_option("-n,--limit", o->limit, "How many recent operations (default: 20)");
        c.add_flag("-w,--watch", *watch, "Follow the operation until it ends");
      },
      [o, watch](const Globals& gl) {
        std::optional<Error> err;
        auto op = parse_op(o->id, &err);
        if (err) return report_error(gl, *err);
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        while (true) {
          auto ops = op ? (*sys)->get_rollback_progress(*op).map([](RollbackProgress p) {
            return std::vector<RollbackProgress>{std::move(p)};
          })
                        : (*sys)->list_operations(o->limit);
          if (!ops) return report_error(gl, ops.error());
          bool running = std::any_of(ops->begin(), ops->end(), [](const RollbackProgress& p) {
            return p.state == "running" || p.state == "reverting";
          });
          if (gl.out.json) {
            json arr = json::array();
            for (const auto& p : *ops) arr.push_back(progress_json(p));
            print_json(op ? arr.at(0) : arr);
          } else {
            if (ops->empty()) std::printf("no operations yet\n");
            for (const auto& p : *ops) {
              std::printf("%5lld  %-8s %-10s %-22s %s %5.1f%%  point %lld%s  %s\n",
                          static_cast<long long>(p.operation), p.kind.c_str(), p.state.c_str(),
                          std::string(phase_name(p.phase)).c_str(), bar(p.percent).c_str(),
                          p.percent, static_cast<long long>(p.point),
                          p.safety ? fmt::format(", safety {}", p.safety).c_str() : "",
                          format_time(p.started_ns).c_str());
              if (!p.message.empty()) std::printf("       %s\n", p.message.c_str());
              if (p.state == "running" || p.state == "reverting")
                std::printf("       (pid %lld; if that process is gone, run `rewind recover`)\n",
                            static_cast<long long>(p.pid));
            }
          }
          if (!*watch || !running) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        return 0;
      }};
}

Command cancel_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "cancel", "Stop a running rollback at its next step and revert to its safety point",
      [o](CLI::App& c) { c.add_option("OP", o->id, "The operation (default: the running one)"); },
      [o](const Globals& gl) {
        std::optional<Error> err;
        auto op = parse_op(o->id, &err);
        if (err) return report_error(gl, *err);
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        if (auto st = (*sys)->cancel_rollback(op); !st) return report_error(gl, st.error());
        if (gl.out.json)
          print_json(json{{"cancel_requested", true}});
        else if (!gl.out.quiet)
          std::printf(
              "cancel requested; the operation reverts at its next step (see `rewind "
              "status`)\n");
        return 0;
      },
      kMutating};
}

}  // namespace rwd::cli
