// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the integration tests: a sandbox (a temporary system root
// and an initialized repository beside it), a wrapper that runs the rewind
// binary against them, and small file-system helpers. Everything lives under
// one TempDir; nothing touches the host system.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rwd::itest {

using rwd::testing::RunResult;
using rwd::testing::TempDir;

// Everything about a finished command, for failure messages.
// Starts `argv` (argv[0] a path) with `env` ("NAME=value") added to the
// environment, without waiting for it; returns its pid (-1 with a test
// failure when it cannot start). For tests that signal or stop a process.
inline pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  std::vector<std::string> all(argv), envs(env);
  std::vector<char*> args, envp;
  for (auto& a : all) args.push_back(a.data());
  args.push_back(nullptr);
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), envp.data()), 0) << argv[0];
  return pid;
}

inline std::string describe(const RunResult& r) {
  return "exit code " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out +
         "\n--- stderr ---\n" + r.err;
}

// Runs a shell snippet (test set-up only; rewind itself is never run
// through a shell).
inline RunResult sh(const std::string& script, int timeout_seconds = 120) {
  return rwd::testing::run({"sh", "-c", script}, {}, timeout_seconds);
}

// A tree_diff of /etc without rewind's audit directory (etc/rewind/audit:
// the key and the chain's head), which every files component excludes and
// every mutating command updates, so it is never part of a point.
inline std::string without_audit_dir(const std::string& diff) {
  std::istringstream in(diff);
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (line.find("rewind/audit/") == std::string::npos) out += line + "\n";
  return out;
}

// A system root `root` and a repository `repo`, both under one temporary
// directory. The repository is created by init().
class Sandbox {
 public:
  explicit Sandbox(const std::string& prefix = "rewind-it")
      : dir(prefix), root(dir.sub("root")), repo(dir.sub("repo")) {
    std::filesystem::create_directories(root);
  }

  // rewind --repo REPO --root ROOT ARGS...
  RunResult rw(const std::vector<std::string>& args, int timeout_seconds = 600) const {
    std::vector<std::string> argv{rwd::testing::rewind_binary(), "--repo", repo, "--root", root};
    argv.insert(argv.end(), args.begin(), args.end());
    return rwd::testing::run(argv, {}, timeout_seconds);
  }

  RunResult init() const { return rw({"init"}); }

  // Takes a recovery point; returns its ID, or -1 (with a test failure).
  int64_t create(const std::vector<std::string>& paths, const std::vector<std::string>& extra = {},
                 RunResult* out = nullptr) const {
    std::vector<std::string> args{"-q", "create"};
    for (const auto& p : paths) {
      args.push_back("--path");
      args.push_back(p);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = rw(args);
    if (out) *out = r;
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    if (r.exit_code != 0) return -1;
    try {
      return std::stoll(r.out);
    } catch (...) {
      ADD_FAILURE() << "create printed no ID: " << describe(r);
      return -1;
    }
  }

  // Absolute host path of a path inside the system root ("/data/f").
  std::string at(const std::string& abs) const { return root + abs; }

  TempDir dir;
  std::string root;
  std::string repo;
};

// The ids `rewind list` shows for the repository `repo`, oldest first.
inline std::vector<int64_t> listed_in(const std::string& repo) {
  RunResult r = rwd::testing::rewind({"--repo", repo, "--json", "list"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  std::vector<int64_t> ids;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array())
    for (const auto& p : j) ids.push_back(p.at("id").get<int64_t>());
  return ids;
}

// The ids `rewind list` shows for the sandbox's repository, oldest first.
inline std::vector<int64_t> listed(const Sandbox& box) { return listed_in(box.repo); }

// The non-empty lines of a log file, which is removed (the next read starts
// afresh).
inline std::vector<std::string> take_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  std::filesystem::remove(path);
  return out;
}

inline bool exists_nofollow(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

inline struct stat lstat_or_die(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

inline int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Sets a path's atime and mtime without following a final symlink.
inline void set_mtime(const std::string& p, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  EXPECT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// Total bytes of the repository's pack files.
inline uint64_t pack_bytes(const std::string& repo) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(repo + "/packs"))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// The pack files, largest first.
inline std::vector<std::string> packs_by_size(const std::string& repo) {
  std::vector<std::pair<uint64_t, std::string>> v;
  for (const auto& e : std::filesystem::directory_iterator(repo + "/packs"))
    if (e.is_regular_file() && e.path().extension() == ".pack")
      v.emplace_back(e.file_size(), e.path().string());
  std::sort(v.rbegin(), v.rend());
  std::vector<std::string> out;
  for (auto& [s, p] : v) out.push_back(p);
  return out;
}

// A copy of a tree with every attribute (the baseline for "changes nothing").
inline void copy_tree(const std::string& from, const std::string& to) {
  RunResult r = rwd::testing::run({"cp", "-a", "--sparse=always", from, to});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

// One line of a REWIND_FAULT_TRACE file (tests/support/fault_fs.h), split at tabs.
using TraceLine = std::vector<std::string>;

inline std::vector<TraceLine> read_trace(const std::string& file) {
  std::vector<TraceLine> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    TraceLine f;
    std::stringstream ss(line);
    for (std::string field; std::getline(ss, field, '\t');) f.push_back(field);
    out.push_back(std::move(f));
  }
  return out;
}

// Whether `path` is `dir` or lies beneath it.
inline bool within(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

// Whether the last component is one of rewind's temporary names.
inline bool is_temp_name(const std::string& path) {
  return path.substr(path.rfind('/') + 1).starts_with(".rw-tmp-");
}

}  // namespace rwd::itest
