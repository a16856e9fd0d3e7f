// SPDX-License-Identifier: Apache-2.0
// quick_start: rewind's library facade in a few steps. Under a system root
// (--root) it writes a small configuration tree, initialises a repository
// (--repo), takes a recovery point of the tree, changes it, rolls it back and
// checks that the tree is as it was. Exit 0 on success, 1 on any failure.
//
//   quick_start --root /tmp/sysroot --repo /tmp/repo
#include <rewind/rollback_system.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace fs = std::filesystem;

namespace {

// Prints warnings; progress is ignored.
class PrintWarnings final : public rwd::ProgressObserver {
 public:
  void on_progress(const rwd::Progress&) override {}
  void on_warning(std::string_view message) override {
    std::printf("  warning: %.*s\n", static_cast<int>(message.size()), message.data());
  }
};

int fail(std::string_view what, const rwd::Error& e) {
  std::fprintf(stderr, "quick_start: %.*s: %s (%.*s)\n", static_cast<int>(what.size()), what.data(),
               e.message().c_str(), static_cast<int>(rwd::error_code_name(e.code()).size()),
               rwd::error_code_name(e.code()).data());
  return 1;
}

int fail(std::string_view what) {
  std::fprintf(stderr, "quick_start: %.*s\n", static_cast<int>(what.size()), what.data());
  return 1;
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int usage() {
  std::fprintf(stderr, "usage: quick_start --root DIR --repo DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  std::string repo;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--root" && i + 1 < argc) {
      root = argv[++i];
    } else if (a == "--repo" && i + 1 < argc) {
      repo = argv[++i];
    } else {
      return usage();
    }
  }
  if (root.empty() || repo.empty()) return usage();
  root = fs::absolute(root).lexically_normal().string();
  repo = fs::absolute(repo).lexically_normal().string();
  if (root.size() > 1 && root.back() == '/') root.pop_back();
  std::printf("rewind %s, repository format %d\n", rwd::version(),
              rwd::repository_format_version());

  // The tree to protect: /etc/example under the system root.
  const fs::path dir = fs::path(root) / "etc/example";
  const fs::path conf = dir / "app.conf";
  const fs::path extra = dir / "extra.conf";
  const std::string original = "greeting = \"hello\"\nretries = 3\n";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  write_file(conf, original);
  fs::remove(extra, ec);
  std::printf("wrote %s\n", conf.c_str());

  rwd::SystemOptions opts;
  opts.system_root = root;
  opts.repository = repo;
  opts.use_config = false;  // ad-hoc paths, no rewind.toml

  auto created = rwd::RollbackSystem::init_repository(opts);
  if (!created) return fail("init_repository", created.error());
  std::printf("initialised repository %s\n", created->c_str());

  auto sys = rwd::RollbackSystem::open(opts);
  if (!sys) return fail("open", sys.error());

  PrintWarnings obs;
  auto point = (*sys)->create_recovery_point_with_name("before-change", {"/etc/example"}, obs);
  if (!point) return fail("create_recovery_point_with_name", point.error());
  std::printf("recovery point %lld: %llu entries, %llu bytes\n", static_cast<long long>(point->id),
              static_cast<unsigned long long>(point->entries),
              static_cast<unsigned long long>(point->size));

  // The change to undo: one file edited, one added.
  write_file(conf, "greeting = \"changed\"\n");
  write_file(extra, "added = true\n");
  std::printf("changed %s and added %s\n", conf.c_str(), extra.c_str());

  rwd::RollbackRequest req;
  req.point = std::to_string(point->id);
  req.scope = rwd::RollbackScope::kFull;
  req.observer = &obs;
  auto report = (*sys)->execute_rollback(req);
  if (!report) return fail("execute_rollback", report.error());
  std::printf("rollback operation %lld to point %lld (safety point %lld): %s\n",
              static_cast<long long>(report->operation), static_cast<long long>(report->point),
              static_cast<long long>(report->safety), report->state.c_str());
  for (const auto& c : report->components)
    std::printf("  %s: %s, %llu files, %llu removed\n", c.name.c_str(), c.result.c_str(),
                static_cast<unsigned long long>(c.files),
                static_cast<unsigned long long>(c.removed));
  if (report->state != "completed")
    return report->error ? fail("rollback did not complete", *report->error)
                         : fail("rollback did not complete: " + report->message);

  auto progress = (*sys)->get_rollback_progress(report->operation);
  if (!progress) return fail("get_rollback_progress", progress.error());
  std::printf("operation %lld: %s, phase %.*s, %.0f%%\n",
              static_cast<long long>(progress->operation), progress->state.c_str(),
              static_cast<int>(rwd::phase_name(progress->phase).size()),
              rwd::phase_name(progress->phase).data(), progress->percent);

  // The check: the file is back, the added one is gone.
  if (read_file(conf) != original) return fail(conf.string() + " was not restored");
  if (fs::exists(extra)) return fail(extra.string() + " was not removed");
  std::printf("%s is back, %s is gone\n", conf.c_str(), extra.c_str());

  auto points = (*sys)->list_recovery_points();
  if (!points) return fail("list_recovery_points", points.error());
  for (const auto& p : *points)
    std::printf("  point %lld %s (%s)\n", static_cast<long long>(p.id), p.name.c_str(),
                p.kind.c_str());

  auto state = (*sys)->validate_system_state();
  if (!state) return fail("validate_system_state", state.error());
  if (!state->consistent) return fail("the system state is not consistent after the rollback");
  std::printf("system state consistent\nok\n");
  return 0;
}
