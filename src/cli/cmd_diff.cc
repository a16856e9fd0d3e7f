// SPDX-License-Identifier: Apache-2.0
// rewind diff
#include "cli/command.h"

namespace rwd::cli {

Command diff_command() {
  auto o = std::make_shared<CommandOptions>();
  return Command{
      "diff", "Differences between two points, or a point and the live system",
      [o](CLI::App& c) {
        c.add_option("ID", o->id, "older point")->required();
        c.add_option("ID2", o->id2, "newer point (default: the live system)");
        c.add_flag("--content", o->content,
                   "Against the live system: hash every file's content, not only those whose "
                   "metadata changed (finds silent damage)");
        c.add_option("-c,--component", o->components, "Only this component; repeatable");
      },
      [o](const Globals& gl) {
        auto sys = RollbackSystem::open(system_options(gl));
        if (!sys) return report_error(gl, sys.error());
        CliObserver obs(gl.out);
        auto d =
            (*sys)->diff(o->id, o->id2.empty() ? std::nullopt : std::optional<std::string>(o->id2),
                         obs, DiffOptions{o->content, o->components});
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
                               {"attributes", it.attributes},
                               {"detail", it.detail}});
          print_json(json{{"changes", arr}, {"summary", counts}});
          return 0;
        }
        for (const auto& it : *d) {
          char mark = it.kind == "added" || it.kind == "installed" ? '+'
                      : it.kind == "removed"                       ? '-'
                      : it.kind == "content" || it.kind == "upgraded" || it.kind == "downgraded"
                          ? 'M'
                      : it.kind == "type"    ? 'T'
                      : it.kind == "damaged" ? '!'
                                             : 'm';
          std::string attrs;
          for (const auto& a : it.attributes) attrs += (attrs.empty() ? "" : ",") + a;
          std::printf("%c %s%s\n", mark, it.path.c_str(),
                      attrs.empty() ? "" : (" (" + attrs + ")").c_str());
          // A detail of one line follows the path indented; a unified diff
          // as it is.
          if (it.detail.find('\n') == std::string::npos) {
            if (!it.detail.empty()) std::printf("    %s\n", it.detail.c_str());
          } else {
            std::fputs(it.detail.c_str(), stdout);
            if (it.detail.back() != '\n') std::fputc('\n', stdout);
          }
        }
        // The kinds of file trees always, then those of other adapters
        // (installed, upgraded, ...) that occur.
        std::string summary = fmt::format(
            "{} added, {} removed, {} content changed, {} metadata changed, {} type changed, "
            "{} damaged",
            counts["added"], counts["removed"], counts["content"], counts["metadata"],
            counts["type"], counts["damaged"]);
        for (const auto& [kind, n] : counts)
          if (n > 0 && kind != "added" && kind != "removed" && kind != "content" &&
              kind != "metadata" && kind != "type" && kind != "damaged")
            summary += fmt::format(", {} {}", n, kind);
        std::printf("%s\n", summary.c_str());
        return 0;
      }};
}

}  // namespace rwd::cli
