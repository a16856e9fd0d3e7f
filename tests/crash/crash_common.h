// SPDX-License-Identifier: Apache-2.0
// Shared set-up of the crash, power-loss and fault tests: a tree, a
// repository with one recovery point of it, and a changed tree, so that the
// operation under test writes new packs, a root record and catalog rows.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/fault_fs.h"
#include "support/test_support.h"

namespace rwd::testing {

struct CrashFixture {
  TempDir tmp{"rewind-crash"};
  std::string root = tmp.sub("root");
  std::string base_repo = tmp.sub("base-repo");
  std::string work_repo = tmp.sub("work-repo");
  std::string report = tmp.sub("report");

  // Builds the tree, takes point 1, then changes the tree.
  void set_up(uint64_t seed) {
    for (int i = 0; i < 120; ++i)
      write_file(
          root + "/data/d" + std::to_string(i % 7) + "/f" + std::to_string(i),
          random_bytes(static_cast<size_t>((i * 977) % 20000), seed + static_cast<uint64_t>(i)));
    write_file(root + "/data/big1", random_bytes(3 << 20, seed + 1000));
    write_file(root + "/data/empty", "");
    RunResult r = rewind({"--repo", base_repo, "--root", root, "init", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = rewind({"--repo", base_repo, "--root", root, "create", "--path", "/data", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int i = 0; i < 120; i += 9)
      write_file(root + "/data/d" + std::to_string(i % 7) + "/f" + std::to_string(i),
                 random_bytes(5000, seed + 5000 + static_cast<uint64_t>(i)));
    write_file(root + "/data/big2", random_bytes(2 << 20, seed + 2000));
  }

  void fresh_work_repo() {
    run({"rm", "-rf", work_repo});
    RunResult r = run({"cp", "-a", base_repo, work_repo});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::vector<std::string> create_args() const {
    return {"--repo", work_repo, "--root", root, "create", "--path", "/data", "-q"};
  }

  RunResult faulty(const std::vector<std::string>& args, const std::string& fault) {
    std::vector<std::string> argv{rewind_faulty_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    run({"rm", "-f", report});
    return run(argv, {{"REWIND_FAULT", fault}, {"REWIND_FAULT_REPORT", report}});
  }

  // Mutating io calls that `args` makes on a fresh copy of the base repository.
  uint64_t count_calls(const std::vector<std::string>& args) {
    fresh_work_repo();
    RunResult r = faulty(args, "count");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::stoull(read_file(report));
  }

  // The points `list` shows.
  std::set<int64_t> listed(const std::string& repo) {
    RunResult r = rewind({"--repo", repo, "--json", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::set<int64_t> ids;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_array())
      for (auto& p : j) ids.insert(p["id"].get<int64_t>());
    return ids;
  }

  // After an interruption: the repository verifies, point 1 is intact, no
  // partial point is listed, and the repository stays usable: the next
  // create succeeds. Returns whether the interrupted point survived (it is
  // listed, or complete and imported by the next create, which then takes
  // number 3); every point but 1 restores the tree byte for byte.
  bool check_consistent(const std::string& label) {
    RunResult v = rewind({"--repo", work_repo, "verify", "--read-data"});
    EXPECT_EQ(v.exit_code, 0) << label << ": " << v.out << v.err;
    EXPECT_TRUE(listed(work_repo).contains(1)) << label;
    RunResult c = rewind(create_args());
    EXPECT_EQ(c.exit_code, 0) << label << ": " << c.err;
    RunResult v2 = rewind({"--repo", work_repo, "verify", "--read-data"});
    EXPECT_EQ(v2.exit_code, 0) << label << ": " << v2.out;
    std::set<int64_t> ids = listed(work_repo);
    for (int64_t id : ids) {
      if (id == 1) continue;
      std::string out = tmp.sub("restored");
      run({"rm", "-rf", out});
      RunResult r = rewind(
          {"--repo", work_repo, "--root", root, "restore", std::to_string(id), "--to", out, "-q"});
      EXPECT_EQ(r.exit_code, 0) << label << ": point " << id << ": " << r.err;
      EXPECT_EQ(tree_diff(root + "/data", out + "/data"), "") << label << ": point " << id;
    }
    return ids.contains(3);
  }
};

// k values spread over 1..n, at most `count` of them.
inline std::vector<uint64_t> spread(uint64_t n, uint64_t count) {
  std::vector<uint64_t> ks;
  if (n == 0) return ks;
  if (count >= n) {
    for (uint64_t k = 1; k <= n; ++k) ks.push_back(k);
    return ks;
  }
  for (uint64_t i = 0; i < count; ++i) ks.push_back(1 + i * (n - 1) / (count - 1));
  return ks;
}

}  // namespace rwd::testing
