// SPDX-License-Identifier: Apache-2.0
// Shared set-up of the prune tests: six recovery points of a tree in which
// every point holds one large file no other point has, beside data all
// points share; a copy of the tree as each point took it; and half the
// points forgotten (the first, a middle one and the newest, so that the
// numbers must stay accounted for and the first pack is partly live).
// Encrypted or not: set_up(seed, true) makes an encrypted repository and
// gives its passphrase (and the tests' cheap Argon2id) to every rewind this
// process runs, through the environment.
#pragma once

#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"

namespace rwd::itest {

using rwd::testing::random_bytes;
using rwd::testing::read_file;
using rwd::testing::tree_diff;
using rwd::testing::write_file;

struct PruneFixture {
  Sandbox box{"rewind-prune"};
  std::vector<int64_t> points;  // in creation order
  std::set<int64_t> forgotten, kept;
  uint64_t forgotten_only = 0;  // bytes of the files only forgotten points held
  bool encrypted = false;

  PruneFixture() = default;
  PruneFixture(const PruneFixture&) = delete;
  PruneFixture& operator=(const PruneFixture&) = delete;
  ~PruneFixture() {
    if (encrypted) {
      ::unsetenv("REWIND_PASSWORD_FILE");
      ::unsetenv("REWIND_INSECURE_TEST_KDF");
    }
  }

  std::string saved(int64_t id) const { return box.dir.sub("saved-" + std::to_string(id)); }

  // Builds the points; forgets the first, the fourth and the last.
  void set_up(uint64_t seed, bool encrypt = false) {
    if (encrypt) {
      encrypted = true;
      std::string pass = box.dir.sub("passphrase");
      write_file(pass, "prune fixture passphrase\n", 0600);
      ::setenv("REWIND_PASSWORD_FILE", pass.c_str(), 1);
      ::setenv("REWIND_INSECURE_TEST_KDF", "1", 1);
    }
    RunResult init = encrypt ? box.rw({"init", "--encrypt"}) : box.init();
    ASSERT_EQ(init.exit_code, 0) << describe(init);
    for (int i = 0; i < 24; ++i)
      write_file(box.at("/data/base/d" + std::to_string(i % 4) + "/f" + std::to_string(i)),
                 random_bytes(static_cast<size_t>(2000 + (i * 7919) % 60000), seed + i));
    write_file(box.at("/data/base/shared.bin"), random_bytes(1 << 20, seed + 100));
    for (int i = 1; i <= 6; ++i) {
      if (i > 1) std::filesystem::remove(box.at("/data/only-" + std::to_string(i - 1)));
      size_t size = (1u << 20) + static_cast<size_t>(i) * 150000;
      write_file(box.at("/data/only-" + std::to_string(i)),
                 random_bytes(size, seed + 1000 + static_cast<uint64_t>(i)));
      write_file(box.at("/data/base/changing"), "version " + std::to_string(i) + "\n");
      int64_t id = box.create({"/data"});
      ASSERT_GT(id, 0);
      copy_tree(box.at("/data"), saved(id));
      points.push_back(id);
      if (i == 1 || i == 4 || i == 6) {
        forgotten.insert(id);
        forgotten_only += size;
      } else {
        kept.insert(id);
      }
    }
    // A superseded root record: the new name is a newer version of point 2.
    RunResult m = box.rw({"modify", std::to_string(points[1]), "--name", "renamed"});
    ASSERT_EQ(m.exit_code, 0) << describe(m);
    std::vector<std::string> args{"forget"};
    for (int64_t id : forgotten) args.push_back(std::to_string(id));
    RunResult f = box.rw(args);
    ASSERT_EQ(f.exit_code, 0) << describe(f);
  }

  // The repository `repo` verifies with every byte read, lists exactly the
  // kept points, and every kept point restores byte for byte.
  void expect_intact(const std::string& repo, const std::string& label) const {
    RunResult v = rwd::testing::rewind({"--repo", repo, "verify", "--read-data"});
    EXPECT_EQ(v.exit_code, 0) << label << ": " << describe(v);
    const std::vector<int64_t> ids = listed_in(repo);
    EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()), kept) << label;
    for (int64_t id : kept) {
      std::string out = box.dir.sub("restored");
      std::filesystem::remove_all(out);
      RunResult r =
          rwd::testing::rewind({"--repo", repo, "restore", std::to_string(id), "--to", out, "-q"});
      EXPECT_EQ(r.exit_code, 0) << label << ": point " << id << ": " << describe(r);
      EXPECT_EQ(tree_diff(saved(id), out + "/data"), "") << label << ": point " << id;
    }
  }
};

}  // namespace rwd::itest
