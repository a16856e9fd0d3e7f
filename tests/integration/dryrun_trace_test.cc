// SPDX-License-Identifier: Apache-2.0
// The dry-run plan is what the real run does. `rollback ID --dry-run --json`
// prints, per component, the entries it will replace, add and remove; the real
// rollback that follows runs under rewind-faulty with REWIND_FAULT_TRACE, which
// records every call of the io seam that changes a name or content. Inside the
// components' paths the two must agree:
//   - every non-directory entry the plan replaces or adds is renamed into place
//     exactly once (replace: the name existed; add: it did not), and nothing
//     else inside the components is renamed into place;
//   - the unlinked paths are the plan's removals (plus the old entry of a
//     replace whose type changed: the restorer takes it away before the rename
//     or mkdir that puts the point's entry there);
//   - the directories made are the plan's added directories (plus replaced
//     directories whose type changed);
//   - rewind never writes into an existing inode: every write and creation
//     inside the components is on a temporary name.
// The repository and the safety point's writes are outside the system root and
// ignored. A dry run itself changes nothing: its trace shows no call inside
// the root, and the tree stays equal to a copy taken before it.
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "integration/rollback_fixture.h"

namespace rwd::itest {
namespace {

using rwd::testing::random_bytes;
using rwd::testing::write_file;

// rewind-faulty --repo --root ARGS with REWIND_FAULT_TRACE=trace.
RunResult traced(const Sandbox& box, const std::vector<std::string>& args,
                 const std::string& trace) {
  std::vector<std::string> argv{rwd::testing::rewind_faulty_binary(), "--repo", box.repo, "--root",
                                box.root};
  argv.insert(argv.end(), args.begin(), args.end());
  return rwd::testing::run(argv, {{"REWIND_FAULT_TRACE", trace}}, 600);
}

// What a plan says about the components, in paths within the system root.
struct PlanSets {
  std::vector<std::string> replace, add, remove;  // as printed (all components)
};

PlanSets plan_sets(const nlohmann::json& plan) {
  PlanSets p;
  for (const auto& c : plan.at("components")) {
    for (const auto& x : c.at("replace")) p.replace.push_back(x.get<std::string>());
    for (const auto& x : c.at("add")) p.add.push_back(x.get<std::string>());
    for (const auto& x : c.at("remove")) p.remove.push_back(x.get<std::string>());
  }
  return p;
}

// Compares a plan with the trace of the run that carried it out. `root` is
// the system root as the kernel names it (canonical), `comps` the component
// paths within it, `point_copy(path)` the host path of an entry as it was at
// the point (to tell directories from other entries). Returns the problems,
// one a line ("" when they agree), and counts the type changes seen.
std::string compare_plan_and_trace(const PlanSets& plan, const std::vector<TraceLine>& trace,
                                   const std::string& root, const std::vector<std::string>& comps,
                                   const std::function<std::string(const std::string&)>& point_copy,
                                   size_t* type_changes) {
  std::ostringstream bad;
  auto inside = [&](const std::string& host) -> std::optional<std::string> {
    if (!within(host, root)) return std::nullopt;
    std::string rel = host.substr(root.size());
    if (rel.empty()) rel = "/";
    for (const auto& c : comps)
      if (within(rel, c)) return rel;
    return std::nullopt;
  };
  std::map<std::string, std::vector<std::string>> renamed;  // target -> replace|new, in order
  std::map<std::string, std::string> unlinked;              // path -> file|dir
  std::set<std::string> made_dirs;
  for (const auto& l : trace) {
    const std::string& kind = l.at(0);
    if (kind == "rename") {
      if (auto t = inside(l.at(2))) renamed[*t].push_back(l.at(3));
    } else if (kind == "unlink") {
      if (auto p = inside(l.at(1))) {
        if (unlinked.contains(*p)) bad << "unlinked twice: " << *p << "\n";
        unlinked[*p] = l.at(2);
      }
    } else if (kind == "mkdir") {
      if (auto p = inside(l.at(1))) made_dirs.insert(*p);
    } else if (kind == "write" || kind == "create") {
      if (auto p = inside(l.at(1)); p && !is_temp_name(*p))
        bad << kind << " into an existing name instead of a temporary file: " << *p << "\n";
    } else if (kind == "symlink" || kind == "link" || kind == "mknod") {
      if (auto p = inside(l.at(1)); p && !is_temp_name(*p))
        bad << kind << " made under its final name, not a temporary one: " << *p << "\n";
    }
  }
  auto is_dir_at_point = [&](const std::string& p) {
    struct stat st;
    return ::lstat(point_copy(p).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  };
  std::set<std::string> expected_targets;
  *type_changes = 0;
  std::set<std::string> replaced_after_unlink;
  for (const auto& p : plan.replace) {
    bool type_changed = unlinked.contains(p);
    if (type_changed) {
      ++*type_changes;
      replaced_after_unlink.insert(p);
    }
    if (is_dir_at_point(p)) {
      if (type_changed && !made_dirs.contains(p))
        bad << "replace of directory " << p << ": its old entry was unlinked, no mkdir\n";
      if (!type_changed && made_dirs.contains(p))
        bad << "replace of existing directory " << p << " made it again\n";
      continue;
    }
    expected_targets.insert(p);
    auto it = renamed.find(p);
    if (it == renamed.end()) {
      bad << "plan replaces " << p << ", the run did not rename anything onto it\n";
      continue;
    }
    // Replace: the target existed (or was the old entry of a type change,
    // unlinked just before).
    std::string want = type_changed ? "new" : "replace";
    if (it->second.size() != 1 || it->second[0] != want)
      bad << "plan replaces " << p
          << ", the run renamed onto it: " << fmt::format("{}", fmt::join(it->second, ","))
          << " (want " << want << ")\n";
  }
  for (const auto& p : plan.add) {
    if (unlinked.contains(p)) bad << "plan adds " << p << ", the run unlinked it\n";
    if (is_dir_at_point(p)) {
      if (!made_dirs.contains(p)) bad << "plan adds directory " << p << ", no mkdir\n";
      continue;
    }
    expected_targets.insert(p);
    auto it = renamed.find(p);
    if (it == renamed.end()) {
      bad << "plan adds " << p << ", the run did not rename anything onto it\n";
      continue;
    }
    if (it->second.size() != 1 || it->second[0] != "new")
      bad << "plan adds " << p
          << ", the run renamed onto it: " << fmt::format("{}", fmt::join(it->second, ","))
          << " (want new)\n";
  }
  for (const auto& [t, kinds] : renamed)
    if (!expected_targets.contains(t))
      bad << "the run renamed onto " << t << " (" << fmt::format("{}", fmt::join(kinds, ","))
          << "), the plan does not replace or add it\n";
  std::set<std::string> removes(plan.remove.begin(), plan.remove.end());
  for (const auto& p : removes)
    if (!unlinked.contains(p)) bad << "plan removes " << p << ", the run did not unlink it\n";
  for (const auto& [p, kind] : unlinked)
    if (!removes.contains(p) && !replaced_after_unlink.contains(p))
      bad << "the run unlinked " << p << " (" << kind << "), the plan does not remove it\n";
  std::set<std::string> dirs_expected;
  for (const auto& p : plan.add)
    if (is_dir_at_point(p)) dirs_expected.insert(p);
  for (const auto& p : replaced_after_unlink)
    if (is_dir_at_point(p)) dirs_expected.insert(p);
  for (const auto& p : made_dirs)
    if (!dirs_expected.contains(p)) bad << "the run made directory " << p << ", not in the plan\n";
  return bad.str();
}

// Every trace line naming a path inside `root`.
std::vector<std::string> lines_inside(const std::vector<TraceLine>& trace,
                                      const std::string& root) {
  std::vector<std::string> out;
  for (const auto& l : trace)
    for (size_t i = 1; i < l.size(); ++i)
      if (within(l[i], root)) {
        out.push_back(fmt::format("{}", fmt::join(l, " ")));
        break;
      }
  return out;
}

nlohmann::json parse_or_fail(const RunResult& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << describe(r);
  return j;
}

// The steps common to both fixtures: a dry run (traced, must change nothing),
// then the real run (traced), then the comparison. Returns the real run's
// plan (for further checks by the caller).
struct Outcome {
  PlanSets plan;
  std::vector<TraceLine> trace;
  size_t type_changes = 0;
};

Outcome dry_run_then_real(const Sandbox& box, int64_t id, const std::vector<std::string>& scope,
                          const std::vector<std::string>& comps,
                          const std::function<std::string(const std::string&)>& point_copy) {
  Outcome o;
  const std::string root = std::filesystem::canonical(box.root).string();
  // The dry run: a trace with nothing inside the root, and a tree unchanged.
  const std::string before = box.dir.sub("before-dry-run");
  std::filesystem::remove_all(before);
  copy_tree(box.root, before);
  const std::string dry_trace = box.dir.sub("dry.trace");
  std::vector<std::string> args{"--json", "rollback", std::to_string(id), "--dry-run"};
  args.insert(args.end(), scope.begin(), scope.end());
  RunResult dry = traced(box, args, dry_trace);
  EXPECT_EQ(dry.exit_code, 0) << describe(dry);
  nlohmann::json dj = parse_or_fail(dry);
  if (dj.is_discarded()) return o;
  EXPECT_EQ(dj.value("state", ""), "planned") << dry.out;
  auto dry_lines = lines_inside(read_trace(dry_trace), root);
  EXPECT_TRUE(dry_lines.empty()) << "the dry run changed the system root:\n"
                                 << fmt::format("{}", fmt::join(dry_lines, "\n"));
  EXPECT_EQ(rwd::testing::tree_diff(before, box.root), "") << "the dry run changed the tree";
  std::filesystem::remove_all(before);
  o.plan = plan_sets(dj.at("plan"));

  // The real run.
  const std::string real_trace = box.dir.sub("real.trace");
  std::filesystem::remove(real_trace);
  std::vector<std::string> rargs{"--json", "rollback", std::to_string(id), "--yes"};
  rargs.insert(rargs.end(), scope.begin(), scope.end());
  RunResult real = traced(box, rargs, real_trace);
  EXPECT_EQ(real.exit_code, 0) << describe(real);
  nlohmann::json rj = parse_or_fail(real);
  if (rj.is_discarded()) return o;
  EXPECT_EQ(rj.value("state", ""), "completed") << real.out;
  // The plan the real run carried out is the one the dry run printed.
  PlanSets rp = plan_sets(rj.at("plan"));
  EXPECT_EQ(rp.replace, o.plan.replace);
  EXPECT_EQ(rp.add, o.plan.add);
  EXPECT_EQ(rp.remove, o.plan.remove);
  o.trace = read_trace(real_trace);
  EXPECT_FALSE(o.trace.empty()) << "no trace written to " << real_trace;
  std::string problems =
      compare_plan_and_trace(o.plan, o.trace, root, comps, point_copy, &o.type_changes);
  EXPECT_EQ(problems, "") << "dry-run plan and io trace of the real run disagree ("
                          << o.plan.replace.size() << " replace, " << o.plan.add.size() << " add, "
                          << o.plan.remove.size() << " remove)";
  return o;
}

std::set<std::string> nondir(const std::vector<std::string>& v,
                             const std::function<std::string(const std::string&)>& point_copy) {
  std::set<std::string> out;
  for (const auto& p : v) {
    struct stat st;
    if (::lstat(point_copy(p).c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) out.insert(p);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The multi-component fixture (four components with a dependency chain).

class DryRunTraceMulti : public ::testing::TestWithParam<std::string> {};

TEST_P(DryRunTraceMulti, PlanEqualsWhatTheRunDoes) {
  const std::string scope = GetParam();
  MultiFixture f;
  f.populate();
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  const std::string at_point = f.box.dir.sub("at-point");
  f.copy_all(at_point);
  f.mutate();
  const std::string changed = f.box.dir.sub("changed");
  f.copy_all(changed);
  auto point_copy = [&](const std::string& p) {
    // /srv/<comp>/rest -> at-point/<comp>/rest
    return at_point + p.substr(std::string("/srv").size());
  };
  std::vector<std::string> comps, scope_args{"--scope", scope};
  std::vector<std::string> in_scope = fixture_components();
  if (scope == "partial") {
    in_scope = {"b"};
    scope_args.insert(scope_args.end(), {"-c", "b"});
  }
  for (const auto& c : in_scope) comps.push_back("/srv/" + c);
  Outcome o = dry_run_then_real(f.box, id, scope_args, comps, point_copy);
  EXPECT_EQ(o.type_changes, 0u);
  EXPECT_FALSE(o.plan.replace.empty());
  EXPECT_FALSE(o.plan.add.empty());
  EXPECT_FALSE(o.plan.remove.empty());
  if (scope == "incremental") {
    // Only what mutate() changed: conf (content), conf.hard (its link to conf
    // was broken), script.sh (mode), link (target), many/f7 (content).
    std::set<std::string> want;
    for (const auto& c : in_scope)
      for (const char* p : {"conf", "conf.hard", "script.sh", "link", "many/f7"})
        want.insert("/srv/" + c + "/" + p);
    EXPECT_EQ(nondir(o.plan.replace, point_copy), want);
  }
  // Components out of scope: no call of the run names a path in them.
  const std::string root = std::filesystem::canonical(f.box.root).string();
  for (const auto& c : fixture_components()) {
    bool in = std::find(in_scope.begin(), in_scope.end(), c) != in_scope.end();
    if (in) {
      EXPECT_EQ(f.diff_component(c, at_point), "") << "component " << c;
    } else {
      EXPECT_EQ(f.diff_component(c, changed), "") << "component " << c;
      auto touched = lines_inside(o.trace, root + "/srv/" + c);
      EXPECT_TRUE(touched.empty()) << "component " << c << " is out of scope, yet:\n"
                                   << fmt::format("{}", fmt::join(touched, "\n"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scopes, DryRunTraceMulti,
                         ::testing::Values("full", "incremental", "partial"),
                         [](const auto& p) { return p.param; });

// ---------------------------------------------------------------------------
// A plain Sandbox tree (a point taken with --path, no configuration) of about
// 200 files in nested directories, with symlinks, hard links, empty files and
// a FIFO, then every kind of drift: content edits (one that leaves size and
// mtime alone), metadata, removals of files and a whole directory, additions,
// a retargeted symlink and three type changes.

constexpr int kTreeFiles = 200;

std::string tree_file(int i) {
  return fmt::format("/data/d{}/s{}/f{:03}.txt", i % 8, (i / 8) % 4, i);
}

void build_tree(const Sandbox& sb) {
  for (int i = 0; i < kTreeFiles; ++i) {
    size_t size = i % 17 == 0 ? 0 : 64 + static_cast<size_t>(i) * 53 % 9000;
    write_file(sb.at(tree_file(i)), random_bytes(size, 1000 + i), i % 5 == 0 ? 0600 : 0644);
  }
  write_file(sb.at("/data/big.bin"), random_bytes(3 << 20, 7));
  write_file(sb.at("/data/gone/a.txt"), "a\n");
  write_file(sb.at("/data/gone/deeper/b.txt"), "b\n");
  write_file(sb.at("/data/becomes-dir"), "a file at the point\n");
  write_file(sb.at("/data/becomes-file/inside.txt"), "inside a directory at the point\n");
  write_file(sb.at("/data/becomes-link"), "a file at the point, a symlink later\n");
  for (int i = 0; i < 10; ++i)
    std::filesystem::create_symlink(fmt::format("s0/f{:03}.txt", i * 8),
                                    sb.at(fmt::format("/data/d{}/ln{}", i % 8, i)));
  std::filesystem::create_symlink("/nonexistent/target", sb.at("/data/dangling"));
  std::filesystem::create_hard_link(sb.at(tree_file(1)), sb.at("/data/hard-1"));
  std::filesystem::create_hard_link(sb.at(tree_file(2)), sb.at("/data/d3/hard-2"));
  ASSERT_EQ(::mkfifo(sb.at("/data/fifo").c_str(), 0640), 0);
}

// The drift; returns the non-directory paths an incremental rollback must
// write again (replaced or added).
std::set<std::string> drift_tree(const Sandbox& sb) {
  std::set<std::string> rewrite;
  for (int i : {3, 11, 40, 77, 150}) {  // content, through the front door
    write_file(sb.at(tree_file(i)), "edited " + std::to_string(i) + "\n");
    rewrite.insert(tree_file(i));
  }
  {
    // Same size and mtime, other bytes.
    const std::string p = sb.at(tree_file(99));
    struct stat st = lstat_or_die(p);
    std::string data = rwd::testing::read_file(p);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x5a);
    write_file(p, data, st.st_mode & 07777);
    set_mtime(p, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    rewrite.insert(tree_file(99));
  }
  for (int i : {8, 9}) {  // metadata only
    ::chmod(sb.at(tree_file(i)).c_str(), 0755);
    rewrite.insert(tree_file(i));
  }
  set_mtime(sb.at(tree_file(12)), 1000000, 0);
  rewrite.insert(tree_file(12));
  for (int i : {20, 21, 22}) {  // removed: added back
    std::filesystem::remove(sb.at(tree_file(i)));
    rewrite.insert(tree_file(i));
  }
  std::filesystem::remove_all(sb.at("/data/gone"));
  rewrite.insert("/data/gone/a.txt");
  rewrite.insert("/data/gone/deeper/b.txt");
  std::filesystem::remove(sb.at("/data/d4/ln4"));  // a symlink removed
  rewrite.insert("/data/d4/ln4");
  std::filesystem::remove(sb.at("/data/d1/ln1"));  // a symlink retargeted
  std::filesystem::create_symlink("elsewhere", sb.at("/data/d1/ln1"));
  rewrite.insert("/data/d1/ln1");
  for (int i = 0; i < 7; ++i)  // additions: removed by the rollback
    write_file(sb.at(fmt::format("/data/d{}/new{}.txt", i, i)), "new\n");
  write_file(sb.at("/data/new-dir/x/y.txt"), "new\n");
  std::filesystem::create_symlink("d0", sb.at("/data/new-link"));
  {
    // A hard link broken: d3/hard-2 becomes a copy of f002 (same content,
    // mode and mtime), f002 itself is untouched.
    const std::string p = sb.at("/data/d3/hard-2");
    struct stat st = lstat_or_die(p);
    std::string data = rwd::testing::read_file(p);
    std::filesystem::remove(p);
    write_file(p, data, st.st_mode & 07777);
    set_mtime(p, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    rewrite.insert("/data/d3/hard-2");
  }
  // Type changes.
  std::filesystem::remove(sb.at("/data/becomes-dir"));
  write_file(sb.at("/data/becomes-dir/child.txt"), "child\n");
  rewrite.insert("/data/becomes-dir");
  std::filesystem::remove_all(sb.at("/data/becomes-file"));
  write_file(sb.at("/data/becomes-file"), "now a file\n");
  rewrite.insert("/data/becomes-file/inside.txt");
  std::filesystem::remove(sb.at("/data/becomes-link"));
  std::filesystem::create_symlink("big.bin", sb.at("/data/becomes-link"));
  rewrite.insert("/data/becomes-link");
  return rewrite;
}

class DryRunTraceTree : public ::testing::TestWithParam<std::string> {};

TEST_P(DryRunTraceTree, PlanEqualsWhatTheRunDoes) {
  const std::string scope = GetParam();
  Sandbox sb("rewind-dryrun");
  ASSERT_EQ(sb.init().exit_code, 0);
  build_tree(sb);
  int64_t id = sb.create({"/data"});
  ASSERT_GT(id, 0);
  const std::string at_point = sb.dir.sub("at-point");
  copy_tree(sb.at("/data"), at_point);
  std::set<std::string> rewrite = drift_tree(sb);
  auto point_copy = [&](const std::string& p) {
    return at_point + p.substr(std::string("/data").size());
  };
  Outcome o = dry_run_then_real(sb, id, {"--scope", scope}, {"/data"}, point_copy);
  // becomes-dir (file -> dir) and becomes-file (dir -> file) are taken away
  // by the restorer before the point's entry goes in; becomes-link (file ->
  // symlink) is renamed over.
  EXPECT_EQ(o.type_changes, 2u);
  std::set<std::string> plan_nondir = nondir(o.plan.replace, point_copy);
  for (const auto& p : nondir(o.plan.add, point_copy)) plan_nondir.insert(p);
  if (scope == "incremental") {
    // What differs; the plan may add the head of the broken hard-link group
    // (f002: the group is restored whole), but then the run must agree.
    std::set<std::string> extra;
    std::set_difference(plan_nondir.begin(), plan_nondir.end(), rewrite.begin(), rewrite.end(),
                        std::inserter(extra, extra.end()));
    extra.erase(tree_file(2));
    EXPECT_TRUE(extra.empty()) << "planned but unchanged: "
                               << fmt::format("{}", fmt::join(extra, " "));
    for (const auto& p : rewrite)
      EXPECT_TRUE(plan_nondir.contains(p)) << "changed, not planned: " << p;
  } else {
    // Every entry of the point but the directories: 200 files, big.bin, the
    // two files that were in gone/, becomes-dir, becomes-file/inside.txt,
    // becomes-link, 11 symlinks, 2 hard links, the FIFO.
    EXPECT_EQ(plan_nondir.size(), static_cast<size_t>(kTreeFiles + 1 + 2 + 3 + 11 + 2 + 1));
  }
  std::set<std::string> removes(o.plan.remove.begin(), o.plan.remove.end());
  std::set<std::string> want_removes{"/data/new-dir/x/y.txt", "/data/new-dir/x", "/data/new-dir",
                                     "/data/new-link", "/data/becomes-dir/child.txt"};
  for (int i = 0; i < 7; ++i) want_removes.insert(fmt::format("/data/d{}/new{}.txt", i, i));
  EXPECT_EQ(removes, want_removes);
  EXPECT_EQ(rwd::testing::tree_diff(at_point, sb.at("/data")), "");
}

INSTANTIATE_TEST_SUITE_P(Scopes, DryRunTraceTree, ::testing::Values("full", "incremental"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace rwd::itest
