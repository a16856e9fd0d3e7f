// SPDX-License-Identifier: Apache-2.0
// The rewind command line: one table of subcommands, each a small function
// that calls the RollbackSystem facade and prints text or JSON.
#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "rewind/rollback_system.h"

namespace rwd::cli {

namespace {

using nlohmann::json;

struct Globals {
  std::string repo;
  std::string root = "/";
  OutputMode out;
  bool wait = false;
  int threads = 2;
};

int report_error(const Globals& g, const Error& e) {
  int code = exit_code_for(e.code());
  if (g.out.json) {
    json j{{"error",
            {{"kind", std::string(error_code_name(e.code()))},
             {"message", e.message()},
             {"exit_code", code}}}};
    std::printf("%s\n", j.dump().c_str());
  }
  std::fprintf(stderr, "rewind: %s\n", e.message().c_str());
  return code;
}

SystemOptions system_options(const Globals& g) {
  SystemOptions o;
  o.system_root = g.root;
  o.repository = g.repo.empty()
                     ? (g.root == "/" ? std::string("/var/lib/rewind") : g.root + "/var/lib/rewind")
                     : g.repo;
  o.wait_for_lock = g.wait;
  o.threads = g.threads;
  return o;
}

json component_json(const ComponentInfo& c) {
  return json{{"name", c.name},     {"adapter", c.adapter}, {"category", c.category},
              {"paths", c.paths},   {"entries", c.entries}, {"size", c.size},
              {"stored", c.stored}, {"added", c.added}};
}

json point_json(const RecoveryPointInfo& p) {
  json comps = json::array();
  for (const auto& c : p.components) comps.push_back(component_json(c));
  return json{{"id", p.id},
              {"name", p.name},
              {"description", p.description},
              {"kind", p.kind},
              {"cause", p.cause},
              {"time", format_time(p.time_ns)},
              {"user", p.user},
              {"host", p.host},
              {"kernel", p.kernel},
              {"tags", p.tags},
              {"pinned", p.pinned},
              {"pre_id", p.pre_id == 0 ? json(nullptr) : json(p.pre_id)},
              {"components", comps}};
}

void print_json(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

struct Command {
  const char* name;
  const char* help;
  std::function<void(CLI::App&)> setup;
  std::function<int(const Globals&)> run;
};

}  // namespace

int run_cli(int argc, char** argv) {
  Globals g;
  CLI::App app{"rewind: recovery points and rollback for Linux systems"};
  app.footer(kExitCodeHelp);
  app.require_subcommand(0, 1);
  app.fallthrough(true);
  app.set_version_flag(
      "--version",
      fmt::format("rewind {} (repository format {}; pack 1, manifest 1, root record 1)", version(),
                  repository_format_version()));
  app.add_option("--repo", g.repo, "Repository directory (default: ROOT/var/lib/rewind)");
  app.add_option("--root", g.root, "System root every path is resolved against (default: /)");
  app.add_flag("--json", g.out.json,
               "Print one JSON document on stdout; progress as JSON Lines on stderr");
  app.add_flag("-q,--quiet", g.out.quiet, "No progress output");
  app.add_flag("-v,--verbose", g.out.verbose, "More output");
  app.add_flag("--wait", g.wait,
               "Wait for the repository lock instead of failing with exit code 11");
  app.add_option("--threads", g.threads, "Worker threads for compression and restore (default: 2)")
      ->check(CLI::Range(1, 64));

  // Per-command options.
  int compression = 3;
  CreateOptions create;
  std::string id, id2, path;
  std::vector<std::string> paths;
  std::string to;
  bool overwrite = false, read_data = false;

  std::vector<Command> commands = {
      {"init", "Create a new, empty repository",
       [&](CLI::App& c) {
         c.add_option("--compression", compression, "zstd level, 0 for none (default 3)")
             ->check(CLI::Range(0, 19));
       },
       [&](const Globals& gl) {
         SystemOptions o = system_options(gl);
         Status st = RollbackSystem::init_repository(o, compression);
         if (!st) return report_error(gl, st.error());
         if (gl.out.json)
           print_json(json{{"repository", o.repository}});
         else if (!gl.out.quiet)
           std::printf("created repository %s\n", o.repository.c_str());
         return 0;
       }},
      {"create", "Take a recovery point of the given paths",
       [&](CLI::App& c) {
         c.add_option("--path", create.paths,
                      "Absolute path to capture (resolved against --root); repeatable")
             ->required();
         c.add_option("-n,--name", create.name, "Name of the recovery point");
         c.add_option("-d,--description", create.description, "Description");
         c.add_option("--exclude", create.exclude,
                      "Glob to exclude (gitignore-like; /x is anchored); repeatable");
         c.add_option("--tag", create.tags, "Tag; repeatable");
         c.add_flag("--pin", create.pinned, "Never remove this point by retention");
       },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         CliObserver obs(gl.out);
         auto r = (*sys)->create_recovery_point(create, obs);
         obs.finish();
         if (!r) return report_error(gl, r.error());
         if (gl.out.json) {
           print_json(json{{"id", r->id},
                           {"entries", r->entries},
                           {"size", r->size},
                           {"files_read", r->files_read},
                           {"bytes_read", r->bytes_read},
                           {"added", r->added},
                           {"warnings", r->warnings}});
         } else if (gl.out.quiet) {
           std::printf("%lld\n", static_cast<long long>(r->id));
         } else {
           std::printf("%lld\n", static_cast<long long>(r->id));
           std::fprintf(stderr, "recovery point %lld: %llu entries, %s, %s added\n",
                        static_cast<long long>(r->id), static_cast<unsigned long long>(r->entries),
                        human_bytes(r->size).c_str(), human_bytes(r->added).c_str());
         }
         return 0;
       }},
      {"list", "List recovery points", [](CLI::App&) {},
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         auto pts = (*sys)->list_recovery_points();
         if (!pts) return report_error(gl, pts.error());
         if (gl.out.json) {
           json arr = json::array();
           for (const auto& p : *pts) arr.push_back(point_json(p));
           print_json(arr);
           return 0;
         }
         std::printf("%5s  %-20s  %-7s  %-20s  %10s  %s\n", "ID", "TIME", "KIND", "NAME", "SIZE",
                     "COMPONENTS");
         for (const auto& p : *pts) {
           uint64_t size = 0;
           std::string comps;
           for (const auto& c : p.components) {
             size += c.size;
             comps += (comps.empty() ? "" : ",") + c.name;
           }
           std::printf("%5lld  %-20s  %-7s  %-20s  %10s  %s%s\n", static_cast<long long>(p.id),
                       format_time(p.time_ns).c_str(), p.kind.c_str(), p.name.c_str(),
                       human_bytes(size).c_str(), comps.c_str(), p.pinned ? "  (pinned)" : "");
         }
         return 0;
       }},
      {"show", "Show a recovery point: metadata, components, sizes",
       [&](CLI::App& c) { c.add_option("ID", id, "number, latest or latest:KIND")->required(); },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         auto p = (*sys)->get_recovery_point(id);
         if (!p) return report_error(gl, p.error());
         if (gl.out.json) {
           print_json(point_json(*p));
           return 0;
         }
         std::printf(
             "recovery point %lld\n  name:        %s\n  description: %s\n  kind:        %s (%s)\n"
             "  time:        %s\n  user:        %s\n  host:        %s\n  kernel:      %s\n  "
             "pinned:      %s\n",
             static_cast<long long>(p->id), p->name.c_str(), p->description.c_str(),
             p->kind.c_str(), p->cause.c_str(), format_time(p->time_ns).c_str(), p->user.c_str(),
             p->host.c_str(), p->kernel.c_str(), p->pinned ? "yes" : "no");
         uint64_t size = 0, stored = 0, added = 0;
         std::printf("  components:\n");
         for (const auto& c : p->components) {
           std::printf("    %-24s %-6s %-14s %8llu entries  total %s, stored %s, added %s\n",
                       c.name.c_str(), c.adapter.c_str(), c.category.c_str(),
                       static_cast<unsigned long long>(c.entries), human_bytes(c.size).c_str(),
                       human_bytes(c.stored).c_str(), human_bytes(c.added).c_str());
           size += c.size;
           stored += c.stored;
           added += c.added;
         }
         std::printf("  total %s, stored %s, added by this point %s\n", human_bytes(size).c_str(),
                     human_bytes(stored).c_str(), human_bytes(added).c_str());
         return 0;
       }},
      {"diff", "Differences between two points, or a point and the live system",
       [&](CLI::App& c) {
         c.add_option("ID", id, "older point")->required();
         c.add_option("ID2", id2, "newer point (default: the live system)");
       },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         CliObserver obs(gl.out);
         auto d =
             (*sys)->diff(id, id2.empty() ? std::nullopt : std::optional<std::string>(id2), obs);
         obs.finish();
         if (!d) return report_error(gl, d.error());
         std::map<std::string, int> counts;
         for (const auto& it : *d) ++counts[it.kind];
         if (gl.out.json) {
           json arr = json::array();
           for (const auto& it : *d)
             arr.push_back(json{{"component", it.component},
                                {"path", it.path},
                                {"change", it.kind},
                                {"attributes", it.attributes}});
           print_json(json{{"changes", arr}, {"summary", counts}});
           return 0;
         }
         for (const auto& it : *d) {
           char mark = it.kind == "added"     ? '+'
                       : it.kind == "removed" ? '-'
                       : it.kind == "content" ? 'M'
                       : it.kind == "type"    ? 'T'
                                              : 'm';
           std::string attrs;
           for (const auto& a : it.attributes) attrs += (attrs.empty() ? "" : ",") + a;
           std::printf("%c %s%s\n", mark, it.path.c_str(),
                       attrs.empty() ? "" : (" (" + attrs + ")").c_str());
         }
         std::printf(
             "%d added, %d removed, %d content changed, %d metadata changed, %d type changed\n",
             counts["added"], counts["removed"], counts["content"], counts["metadata"],
             counts["type"]);
         return 0;
       }},
      {"restore", "Restore a whole point or selected paths, in place or into --to DIR",
       [&](CLI::App& c) {
         c.add_option("ID", id, "number, latest or latest:KIND")->required();
         c.add_option("PATH", paths, "absolute paths to restore (default: everything)");
         c.add_option("--to", to, "restore into DIR/<path> instead of in place (DIR new or empty)");
         c.add_flag("--overwrite", overwrite, "allow a non-empty --to directory");
       },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         RestoreRequest req;
         req.point = id;
         req.paths = paths;
         if (!to.empty()) req.to = to;
         req.overwrite = overwrite;
         CliObserver obs(gl.out);
         auto r = (*sys)->restore(req, obs);
         obs.finish();
         if (!r) return report_error(gl, r.error());
         if (gl.out.json)
           print_json(json{{"id", r->id},
                           {"entries", r->entries},
                           {"files", r->files},
                           {"bytes", r->bytes},
                           {"warnings", r->warnings}});
         else if (!gl.out.quiet)
           std::fprintf(stderr, "restored %llu entries (%llu files, %s) from recovery point %lld\n",
                        static_cast<unsigned long long>(r->entries),
                        static_cast<unsigned long long>(r->files), human_bytes(r->bytes).c_str(),
                        static_cast<long long>(r->id));
         for (const auto& w : r->warnings)
           if (!gl.out.json) std::fprintf(stderr, "warning: %s\n", w.c_str());
         return 0;
       }},
      {"verify", "Check the repository: catalog against packs and root records",
       [&](CLI::App& c) {
         c.add_flag("--read-data", read_data, "read and hash-check every chunk");
       },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         CliObserver obs(gl.out);
         auto r = (*sys)->verify(read_data, obs);
         obs.finish();
         if (!r) return report_error(gl, r.error());
         if (gl.out.json) {
           print_json(json{{"ok", r->problems.empty()},
                           {"packs", r->packs},
                           {"chunks", r->chunks},
                           {"points", r->points},
                           {"bytes_read", r->bytes_read},
                           {"problems", r->problems},
                           {"notes", r->notes}});
         } else {
           for (const auto& p : r->problems) std::printf("problem: %s\n", p.c_str());
           for (const auto& n : r->notes) std::printf("note: %s\n", n.c_str());
           std::printf("%s: %llu packs, %llu chunks, %llu recovery points%s; %zu problems\n",
                       r->problems.empty() ? "ok" : "FAILED",
                       static_cast<unsigned long long>(r->packs),
                       static_cast<unsigned long long>(r->chunks),
                       static_cast<unsigned long long>(r->points),
                       read_data ? ", all data read" : "", r->problems.size());
         }
         return r->problems.empty() ? 0 : kExitCorrupted;
       }},
      {"dump", "Write one file of a recovery point to standard output",
       [&](CLI::App& c) {
         c.add_option("ID", id, "number, latest or latest:KIND")->required();
         c.add_option("PATH", path, "absolute path of the file")->required();
       },
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         Status st = (*sys)->dump(id, path, 1);
         if (!st) return report_error(gl, st.error());
         return 0;
       }},
      {"repair", "Rebuild the catalog's index and recovery points from packs and root records",
       [](CLI::App&) {},
       [&](const Globals& gl) {
         auto sys = RollbackSystem::open(system_options(gl));
         if (!sys) return report_error(gl, sys.error());
         CliObserver obs(gl.out);
         auto r = (*sys)->repair(obs);
         obs.finish();
         if (!r) return report_error(gl, r.error());
         if (gl.out.json) {
           print_json(json{{"packs", r->packs},
                           {"chunks", r->chunks},
                           {"points", r->points},
                           {"problems", r->problems}});
         } else {
           for (const auto& p : r->problems) std::printf("problem: %s\n", p.c_str());
           std::printf("rebuilt the catalog: %llu packs, %llu chunks, %llu recovery points\n",
                       static_cast<unsigned long long>(r->packs),
                       static_cast<unsigned long long>(r->chunks),
                       static_cast<unsigned long long>(r->points));
         }
         return 0;
       }},
  };
  std::vector<std::pair<CLI::App*, Command*>> subs;
  for (auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    sub->footer(kExitCodeHelp);
    c.setup(*sub);
    subs.emplace_back(sub, &c);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (!g.root.empty() && g.root.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd))) g.root = std::string(cwd) + "/" + g.root;
  }
  if (!g.repo.empty() && g.repo.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd))) g.repo = std::string(cwd) + "/" + g.repo;
  }
  while (g.root.size() > 1 && g.root.back() == '/') g.root.pop_back();
  for (auto& [sub, cmd] : subs)
    if (sub->parsed()) return cmd->run(g);
  std::fprintf(stderr, "%s", app.help().c_str());
  return kExitUsage;
}

}  // namespace rwd::cli
