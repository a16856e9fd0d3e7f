// SPDX-License-Identifier: Apache-2.0
// Incremental rollback of a large tree writes only what drifted. A tree of
// 300 files of 1 MiB on a loop-mounted ext4 image (ROOT/srv/data, one files
// component) is captured; then 1% of its files are changed through the file
// system and one more is corrupted underneath it: the image is unmounted, the
// file's bytes are overwritten in the image at the offset `filefrag -v` gave,
// and the image is mounted again, so size, mtime and ctime stay the same.
// `diff --content` must report exactly the changed files and the damaged one
// (a plain diff, trusting metadata, misses the damage); `rollback --scope
// incremental` must write exactly those files (counted through the io seam:
// rewind-faulty with REWIND_FAULT_TRACE) and leave the tree equal to the point
// byte for byte. A full-scope rollback of the same drift writes every file.
//
// Needs root (mount), mkfs.ext4, losetup and filefrag; skipped otherwise.
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using rwd::testing::random_bytes;
using rwd::testing::run;
using rwd::testing::write_file;

constexpr int kFiles = 300;
constexpr size_t kFileSize = 1 << 20;
const std::vector<int> kChanged = {17, 150, 283};  // 1%: content changed through the fs
constexpr int kCorrupted = 42;                     // changed beneath the fs

bool have_tool(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}).exit_code == 0;
}

// "/srv/data/d3/s1/f042.bin"
std::string file_rel(int i) {
  return fmt::format("/srv/data/d{}/s{}/f{:03}.bin", i % 10, i / 50, i);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The physical byte offset of the first data byte of `path` on its device,
// from `filefrag -v` (physical_offset of extent 0 times the block size), and
// the length of that extent in bytes.
std::optional<std::pair<uint64_t, uint64_t>> first_extent(const std::string& path) {
  RunResult r = run({"filefrag", "-v", path});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "filefrag: " << describe(r);
    return std::nullopt;
  }
  std::smatch m;
  static const std::regex kBlock(R"(blocks? of (\d+) bytes)");
  static const std::regex kExtent(R"(^\s*0:\s*(\d+)\.\.\s*(\d+):\s*(\d+)\.\.\s*(\d+):\s*(\d+):)");
  uint64_t bs = 0;
  std::optional<std::pair<uint64_t, uint64_t>> out;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) {
    if (std::regex_search(line, m, kBlock)) bs = std::stoull(m[1]);
    if (std::regex_search(line, m, kExtent) && bs != 0 && std::stoull(m[1]) == 0)
      out = std::make_pair(std::stoull(m[3]) * bs, std::stoull(m[5]) * bs);
  }
  if (!out) ADD_FAILURE() << "no extent 0 in filefrag output:\n" << r.out;
  return out;
}

// The shared set-up: an ext4 image mounted at ROOT/srv/data holding the
// tree, a configuration, a recovery point of it and a copy taken at the point.
struct Env {
  Sandbox sb{"rewind-incr"};
  std::string image, mnt, at_point, root_canon;
  bool mounted = false;
  int64_t id = -1;

  ~Env() {
    if (mounted && run({"umount", mnt}).exit_code != 0) run({"umount", "-l", mnt});
  }

  std::string mount() {
    RunResult r = run({"mount", "-o", "loop", image, mnt});
    if (r.exit_code != 0) return "mount -o loop: " + describe(r);
    mounted = true;
    return "";
  }
  std::string umount() {
    RunResult r = run({"umount", mnt});
    if (r.exit_code != 0) return "umount: " + describe(r);
    mounted = false;
    return "";
  }

  // Returns "" or what went wrong.
  std::string set_up() {
    image = sb.dir.sub("data.img");
    mnt = sb.root + "/srv/data";
    at_point = sb.dir.sub("at-point");
    std::filesystem::create_directories(mnt);
    root_canon = std::filesystem::canonical(sb.root).string();
    RunResult r = run({"truncate", "-s", "1G", image});
    if (r.exit_code != 0) return "truncate: " + describe(r);
    r = run({"mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096", image}, {}, 300);
    if (r.exit_code != 0) return "mkfs.ext4: " + describe(r);
    if (auto e = mount(); !e.empty()) return e;
    for (int i = 0; i < kFiles; ++i)
      write_file(sb.root + file_rel(i), random_bytes(kFileSize, 5000 + static_cast<uint64_t>(i)));
    write_file(sb.root + "/etc/rewind/rewind.toml",
               "[[component]]\nname = \"data\"\npaths = [\"/srv/data\"]\n");
    if (sb.init().exit_code != 0) return "init failed";
    r = sb.rw({"-q", "create"});
    if (r.exit_code != 0) return "create: " + describe(r);
    id = std::stoll(r.out);
    copy_tree(mnt, at_point);
    return "";
  }

  // Changes kChanged through the file system and corrupts kCorrupted beneath
  // it. Returns the paths (within the system root) of the changed files.
  std::set<std::string> drift() {
    std::set<std::string> changed;
    for (int i : kChanged) {
      std::fstream f(sb.root + file_rel(i), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(4096 * 3 + 17);
      std::string patch = random_bytes(8192, 99 + static_cast<uint64_t>(i));
      f.write(patch.data(), static_cast<std::streamsize>(patch.size()));
      EXPECT_TRUE(f.good()) << file_rel(i);
      changed.insert(file_rel(i));
    }
    const std::string victim = sb.root + file_rel(kCorrupted);
    EXPECT_EQ(run({"sync", "-f", victim}).exit_code, 0);
    struct stat before = lstat_or_die(victim);
    auto ext = first_extent(victim);
    if (!ext) return changed;
    constexpr uint64_t kAt = 5000, kLen = 64;
    EXPECT_GE(ext->second, kAt + kLen) << "first extent too short";
    EXPECT_EQ(umount(), "");
    const std::string patch = sb.dir.sub("patch.bin");
    write_file(patch, std::string(kLen, '\xa5'));
    RunResult dd =
        run({"dd", "if=" + patch, "of=" + image, "bs=1", "seek=" + std::to_string(ext->first + kAt),
             "count=" + std::to_string(kLen), "conv=notrunc,fsync", "status=none"});
    EXPECT_EQ(dd.exit_code, 0) << describe(dd);
    EXPECT_EQ(mount(), "");
    struct stat after = lstat_or_die(victim);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_size, before.st_size);
    EXPECT_EQ(mtime_ns(after), mtime_ns(before));
    EXPECT_EQ(after.st_ctim.tv_sec, before.st_ctim.tv_sec);
    EXPECT_EQ(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
    std::string now = rwd::testing::read_file(victim);
    std::string then = rwd::testing::read_file(at_point + file_rel(kCorrupted).substr(9));
    EXPECT_EQ(now.size(), then.size());
    EXPECT_NE(now, then) << "the write beneath the file system did not reach the file";
    EXPECT_EQ(now.substr(kAt, kLen), std::string(kLen, '\xa5'));
    return changed;
  }

  // rewind-faulty ... with REWIND_FAULT_TRACE; returns the run and the trace.
  std::pair<RunResult, std::vector<TraceLine>> traced(const std::vector<std::string>& args) {
    const std::string trace = sb.dir.sub("rollback.trace");
    std::filesystem::remove(trace);
    std::vector<std::string> argv{rwd::testing::rewind_faulty_binary(), "--repo", sb.repo, "--root",
                                  sb.root};
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = run(argv, {{"REWIND_FAULT_TRACE", trace}}, 900);
    return {r, read_trace(trace)};
  }

  // The tree equals the copy taken at the point (rsync -c oracle).
  std::string diff_to_point() const { return rwd::testing::tree_diff(at_point, mnt); }
};

// What a rollback's trace did inside the mounted tree, in paths within the
// system root.
struct Effects {
  std::map<std::string, std::vector<std::string>> renamed;  // target -> replace|new
  size_t temp_writes = 0;
  std::vector<std::string> other;  // lines inside the tree on no temporary name
  // Directories whose metadata was set (the point's metadata goes back on
  // the directories a rename changed).
  std::set<std::string> dir_meta;
};

Effects effects(const Env& env, const std::vector<TraceLine>& trace) {
  Effects e;
  const std::string tree = env.root_canon + "/srv/data";
  auto rel = [&](const std::string& host) { return host.substr(env.root_canon.size()); };
  for (const auto& l : trace) {
    if (l[0] == "rename" && l.size() >= 4 && within(l[2], tree)) {
      e.renamed[rel(l[2])].push_back(l[3]);
      continue;
    }
    // The path a line is about: the last field naming one.
    std::string path;
    for (size_t i = 1; i < l.size(); ++i)
      if (!l[i].empty() && l[i][0] == '/') path = l[i];
    if (!within(path, tree)) continue;
    if (is_temp_name(path)) {
      if (l[0] == "write") ++e.temp_writes;
      continue;
    }
    if (l[0] == "meta" && std::filesystem::is_directory(path)) {
      e.dir_meta.insert(rel(path));
      continue;
    }
    e.other.push_back(fmt::format("{}", fmt::join(l, " ")));
  }
  return e;
}

class IncrementalOnExt4 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) {
      skip_ = "needs root to mount an ext4 image";
      return;
    }
    for (const char* tool : {"mkfs.ext4", "losetup", "filefrag"})
      if (!have_tool(tool)) {
        skip_ = std::string(tool) + " is missing";
        return;
      }
    auto t0 = std::chrono::steady_clock::now();
    env_ = std::make_unique<Env>();
    setup_error_ = env_->set_up();
    std::cout << "[ set-up   ] " << kFiles << " files of " << (kFileSize >> 20)
              << " MiB on ext4, point " << env_->id << ": " << seconds_since(t0) << " s\n";
  }
  static void TearDownTestSuite() { env_.reset(); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_EQ(setup_error_, "");
    ASSERT_TRUE(env_ && env_->mounted);
    // Every test starts from the point (a failed earlier test may have left
    // the tree elsewhere).
    if (!env_->diff_to_point().empty()) {
      RunResult r = env_->sb.rw({"-q", "rollback", std::to_string(env_->id), "--yes"});
      ASSERT_EQ(r.exit_code, 0) << describe(r);
      ASSERT_EQ(env_->diff_to_point(), "");
    }
  }

  static inline std::unique_ptr<Env> env_;
  static inline std::string skip_;
  static inline std::string setup_error_;
};

TEST_F(IncrementalOnExt4, ContentDiffFindsTheDamageAndIncrementalWritesOnlyTheDrift) {
  Env& env = *env_;
  std::set<std::string> changed = env.drift();
  const std::string damaged = file_rel(kCorrupted);
  const std::string id = std::to_string(env.id);

  // diff --content: exactly the changed files and the damaged one.
  auto t0 = std::chrono::steady_clock::now();
  RunResult d = env.sb.rw({"--json", "diff", id, "--content"});
  double t_diff_content = seconds_since(t0);
  ASSERT_EQ(d.exit_code, 0) << describe(d);
  auto dj = nlohmann::json::parse(d.out, nullptr, false);
  ASSERT_FALSE(dj.is_discarded()) << d.out;
  std::map<std::string, std::string> got;
  for (const auto& c : dj.at("changes"))
    got[c.at("path").get<std::string>()] = c.at("change").get<std::string>();
  std::map<std::string, std::string> want;
  for (const auto& p : changed) want[p] = "content";
  want[damaged] = "damaged";
  EXPECT_EQ(got, want) << d.out;

  // A plain diff trusts unchanged metadata: it sees the edits, not the damage.
  t0 = std::chrono::steady_clock::now();
  RunResult pd = env.sb.rw({"--json", "diff", id});
  double t_diff_plain = seconds_since(t0);
  ASSERT_EQ(pd.exit_code, 0) << describe(pd);
  auto pj = nlohmann::json::parse(pd.out, nullptr, false);
  ASSERT_FALSE(pj.is_discarded()) << pd.out;
  std::map<std::string, std::string> plain;
  for (const auto& c : pj.at("changes"))
    plain[c.at("path").get<std::string>()] = c.at("change").get<std::string>();
  std::map<std::string, std::string> want_plain;
  for (const auto& p : changed) want_plain[p] = "content";
  EXPECT_EQ(plain, want_plain) << pd.out;

  // The dry run plans to replace exactly these.
  std::set<std::string> drift = changed;
  drift.insert(damaged);
  RunResult dry = env.sb.rw({"--json", "rollback", id, "--scope", "incremental", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  auto plan = nlohmann::json::parse(dry.out, nullptr, false);
  ASSERT_FALSE(plan.is_discarded()) << dry.out;
  std::set<std::string> planned, planned_add, planned_remove;
  for (const auto& c : plan.at("plan").at("components")) {
    for (const auto& p : c.at("replace")) planned.insert(p.get<std::string>());
    for (const auto& p : c.at("add")) planned_add.insert(p.get<std::string>());
    for (const auto& p : c.at("remove")) planned_remove.insert(p.get<std::string>());
  }
  EXPECT_EQ(planned, drift) << dry.out;
  EXPECT_TRUE(planned_add.empty()) << dry.out;
  EXPECT_TRUE(planned_remove.empty()) << dry.out;

  // The rollback: only those four files are written.
  t0 = std::chrono::steady_clock::now();
  auto [r, trace] = env.traced({"--json", "rollback", id, "--scope", "incremental", "--yes"});
  double t_rollback = seconds_since(t0);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_FALSE(trace.empty());
  Effects e = effects(env, trace);
  std::set<std::string> targets;
  for (const auto& [t, kinds] : e.renamed) {
    targets.insert(t);
    EXPECT_EQ(kinds, std::vector<std::string>{"replace"}) << t;
  }
  EXPECT_EQ(targets, drift) << "files written by the incremental rollback";
  EXPECT_EQ(e.temp_writes, drift.size()) << "temporary files written";
  EXPECT_TRUE(e.other.empty()) << "calls on names outside the drift:\n"
                               << fmt::format("{}", fmt::join(e.other, "\n"));
  // Directory metadata is set only on the directories on the way to the drift.
  for (const std::string& dir : e.dir_meta)
    EXPECT_TRUE(std::any_of(drift.begin(), drift.end(),
                            [&](const std::string& f) { return f.rfind(dir + "/", 0) == 0; }))
        << dir << " is not on the way to a file that drifted";
  EXPECT_FALSE(e.dir_meta.empty())
      << "the parents' mtimes, changed by the renames, were not set back";
  EXPECT_EQ(env.diff_to_point(), "");
  std::cout << "[ timing   ] diff --content " << t_diff_content << " s, diff " << t_diff_plain
            << " s, incremental rollback " << t_rollback << " s; " << targets.size() << " of "
            << kFiles << " files written\n";
}

TEST_F(IncrementalOnExt4, FullScopeRollbackOfTheSameDriftWritesEveryFile) {
  Env& env = *env_;
  env.drift();
  auto t0 = std::chrono::steady_clock::now();
  auto [r, trace] =
      env.traced({"--json", "rollback", std::to_string(env.id), "--scope", "full", "--yes"});
  double t_rollback = seconds_since(t0);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  Effects e = effects(env, trace);
  std::set<std::string> targets, every;
  for (const auto& [t, kinds] : e.renamed) {
    targets.insert(t);
    EXPECT_EQ(kinds, std::vector<std::string>{"replace"}) << t;
  }
  for (int i = 0; i < kFiles; ++i) every.insert(file_rel(i));
  EXPECT_EQ(targets, every);
  EXPECT_EQ(e.temp_writes, every.size());
  EXPECT_EQ(env.diff_to_point(), "");
  std::cout << "[ timing   ] full rollback " << t_rollback << " s; " << targets.size() << " of "
            << kFiles << " files written\n";
}

}  // namespace
}  // namespace rwd::itest
