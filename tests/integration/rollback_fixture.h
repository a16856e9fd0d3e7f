// SPDX-License-Identifier: Apache-2.0
// The multi-component fixture of the rollback tests: a system root with a
// configuration of four files components under /srv — a, b (depends on a),
// c (depends on b), and d (independent) — each with services whose stop and
// start commands append to a log, and trees with every common kind of entry.
// `mutate()` changes every component (edits, additions, removals, metadata),
// and copies of the trees serve as the "point" and "changed" baselines.
#pragma once

#include <sys/xattr.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "integration/integration_helpers.h"

namespace rwd::itest {

inline const std::vector<std::string>& fixture_components() {
  static const std::vector<std::string> k = {"a", "b", "c", "d"};
  return k;
}

class MultiFixture {
 public:
  explicit MultiFixture(const std::string& prefix = "rewind-rb", bool critical_a = true)
      : box(prefix), log(box.dir.sub("services.log")) {
    std::filesystem::create_directories(box.root + "/etc/rewind");
    std::ostringstream cfg;
    cfg << "[service_manager]\n"
        << "stop = [\"sh\", \"-c\", \"echo stop {service} >> " << log << "\"]\n"
        << "start = [\"sh\", \"-c\", \"echo start {service} >> " << log << "\"]\n\n"
        << "[[component]]\nname = \"c\"\npaths = [\"/srv/c\"]\ndepends_on = [\"b\"]\n"
        << "services = [\"svc-c\"]\n\n"
        << "[[component]]\nname = \"a\"\npaths = [\"/srv/a\"]\nservices = [\"svc-a\"]\n"
        << "critical = " << (critical_a ? "true" : "false") << "\n\n"
        << "[[component]]\nname = \"b\"\npaths = [\"/srv/b\"]\ndepends_on = [\"a\"]\n"
        << "services = [\"svc-b\"]\n\n"
        << "[[component]]\nname = \"d\"\npaths = [\"/srv/d\"]\nservices = [\"svc-d\"]\n";
    write_config(cfg.str());
    EXPECT_EQ(box.init().exit_code, 0);
  }

  void write_config(const std::string& text) const {
    rwd::testing::write_file(box.root + "/etc/rewind/rewind.toml", text);
  }

  std::string dir_of(const std::string& comp) const { return box.root + "/srv/" + comp; }

  // Fills every component with files (some large enough to span chunks),
  // nested directories, a symlink, a hard link, an empty file, modes and an
  // xattr. Deterministic per seed.
  void populate(uint64_t seed = 1, size_t big = 300 * 1024) const {
    for (const auto& c : fixture_components()) {
      const std::string d = dir_of(c);
      rwd::testing::write_file(d + "/conf", "component " + c + " v1\n");
      rwd::testing::write_file(d + "/data/big.bin", rwd::testing::random_bytes(big, seed + c[0]));
      rwd::testing::write_file(d + "/data/nested/deep.txt", "deep " + c + "\n", 0600);
      rwd::testing::write_file(d + "/empty", "");
      rwd::testing::write_file(d + "/script.sh", "#!/bin/sh\necho " + c + "\n", 0755);
      std::filesystem::create_symlink("conf", d + "/link");
      std::filesystem::create_hard_link(d + "/conf", d + "/conf.hard");
      std::string v = "value-" + c;
      ::lsetxattr((d + "/conf").c_str(), "user.rewind.test", v.data(), v.size(), 0);
      for (int i = 0; i < 20; ++i)
        rwd::testing::write_file(d + "/many/f" + std::to_string(i),
                                 rwd::testing::random_bytes(100 + i * 37, seed * 100 + i));
    }
  }

  // Changes every component: an edit, a new file and directory, a removal,
  // a mode change, a replaced symlink target, a broken hard link.
  void mutate(const std::string& tag = "v2") const {
    for (const auto& c : fixture_components()) {
      const std::string d = dir_of(c);
      rwd::testing::write_file(d + "/conf.new", "component " + c + " " + tag + "\n");
      std::filesystem::rename(d + "/conf.new", d + "/conf");
      rwd::testing::write_file(d + "/added-" + tag + "/inside.txt", "new in " + tag + "\n");
      rwd::testing::write_file(d + "/added-" + tag + ".txt", "new file\n");
      std::filesystem::remove_all(d + "/data/nested");
      std::filesystem::remove(d + "/many/f3");
      ::chmod((d + "/script.sh").c_str(), 0700);
      std::filesystem::remove(d + "/link");
      std::filesystem::create_symlink("empty", d + "/link");
      rwd::testing::write_file(d + "/many/f7", "rewritten " + tag + "\n");
    }
  }

  // Copies every component's tree into dest/<name> (every attribute kept).
  void copy_all(const std::string& dest) const {
    std::filesystem::create_directories(dest);
    for (const auto& c : fixture_components()) copy_tree(dir_of(c), dest + "/" + c);
  }

  // "" when the component's live tree equals dest/<name> in every attribute.
  std::string diff_component(const std::string& comp, const std::string& dest) const {
    return rwd::testing::tree_diff(dest + "/" + comp, dir_of(comp), /*ignore_root=*/false);
  }

  // The lines of the service log ("stop svc-c", ...), cleared on read.
  std::vector<std::string> take_log() const { return take_lines(log); }

  // rewind --repo --root ARGS (the configuration is found under the root).
  RunResult rw(const std::vector<std::string>& args, int timeout_seconds = 600) const {
    return box.rw(args, timeout_seconds);
  }

  // Takes a point of every configured component; returns its ID.
  int64_t create(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"-q", "create"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = rw(args);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    if (r.exit_code != 0) return -1;
    return std::stoll(r.out);
  }

  Sandbox box;
  std::string log;
};

}  // namespace rwd::itest
