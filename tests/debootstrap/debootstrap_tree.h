// SPDX-License-Identifier: Apache-2.0
// A Debian 12 tree for the tests that need a real one: debootstrap
// --variant=minbase bookworm, cached as a tarball under
// /var/cache/rewind-test/ between runs, and commands run inside it (chroot).
// Needs root and, for the first debootstrap and apt-get, the Debian mirror.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"

namespace rwd::itest {

inline constexpr const char* kCacheDir = "/var/cache/rewind-test";
inline constexpr const char* kTarball = "/var/cache/rewind-test/bookworm-minbase.tar";

// The host's Debian mirror, as its apt sources name it (deb822 or
// one-line format); the security archive is not a mirror of bookworm.
inline std::string debian_mirror() {
  std::regex url(R"((https?://[^\s]+/debian)/?(\s|$))");
  for (const char* f : {"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"}) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("#")) continue;
      std::smatch m;
      if (std::regex_search(line, m, url)) return m[1];
    }
  }
  return "http://deb.debian.org/debian";
}

// A fresh minbase tree at `dir`: from the cached tarball, or debootstrapped
// (and then cached, under a temporary name renamed into place).
inline void make_tree(const std::string& dir) {
  if (!std::filesystem::exists(kTarball)) {
    RunResult r = rwd::testing::run(
        {"debootstrap", "--variant=minbase", "bookworm", dir, debian_mirror()}, {}, 900);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::filesystem::create_directories(kCacheDir);
    std::string part = std::string(kTarball) + ".part." + std::to_string(::getpid());
    r = rwd::testing::run({"tar", "--numeric-owner", "-C", dir, "-cf", part, "."}, {}, 600);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    std::filesystem::rename(part, kTarball);
    return;
  }
  std::filesystem::create_directories(dir);
  RunResult r = rwd::testing::run({"tar", "--numeric-owner", "-C", dir, "-xpf", kTarball}, {}, 600);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
}

inline RunResult in_chroot(const std::string& root, std::vector<std::string> argv,
                           int timeout = 600) {
  argv.insert(argv.begin(), {"chroot", root});
  return rwd::testing::run(argv, {{"DEBIAN_FRONTEND", "noninteractive"}}, timeout);
}

}  // namespace rwd::itest
