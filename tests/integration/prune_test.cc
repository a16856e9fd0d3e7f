// SPDX-License-Identifier: Apache-2.0
// `rewind prune` (issue 6): after half the points are forgotten it reclaims
// the data only they referenced (within 5%), repacks the partly live pack,
// removes superseded root records and leftover temporary files, and every
// kept point still restores byte for byte; a damaged manifest makes it
// delete nothing; readers work while it runs and writers are refused; the
// `[repository] shred` setting. The secure-deletion tests on a loop-mounted
// ext4 image are here too (they need root, as the suite does): a forgotten
// point's data, and an encrypted repository's old data key.
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "integration/prune_fixture.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

size_t count_files(const std::string& dir, const std::string& suffix) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().ends_with(suffix)) ++n;
  return n;
}

class Prune : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(f.set_up(11)); }
  PruneFixture f;
};

TEST_F(Prune, ReclaimsWhatOnlyForgottenPointsHeldAndKeepsTheRest) {
  Sandbox& box = f.box;
  uint64_t before = pack_bytes(box.repo);
  size_t roots_before = count_files(box.repo + "/roots", ".root");
  write_file(box.repo + "/packs/.rw-tmp-999-0-abc", "left by a crash");

  // --dry-run predicts and changes nothing.
  RunResult dry = box.rw({"--json", "prune", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  json d = json::parse(dry.out);
  EXPECT_EQ(pack_bytes(box.repo), before + 15);
  EXPECT_EQ(d.at("temp_removed"), 1);

  RunResult r = box.rw({"--json", "prune"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out);
  uint64_t after = pack_bytes(box.repo);
  uint64_t reclaimed = before - after;
  // The reported figure is what the pack files really shrank by, and the
  // dry run predicted it closely.
  EXPECT_EQ(j.at("reclaimed").get<uint64_t>(), reclaimed);
  EXPECT_EQ(j.at("bytes_after").get<uint64_t>(), after);
  EXPECT_NEAR(static_cast<double>(d.at("reclaimed").get<uint64_t>()),
              static_cast<double>(reclaimed), 0.01 * static_cast<double>(reclaimed));
  // Within 5% of the bytes that only the forgotten points held.
  EXPECT_NEAR(static_cast<double>(reclaimed), static_cast<double>(f.forgotten_only),
              0.05 * static_cast<double>(f.forgotten_only))
      << r.out;
  // The first point's pack also held the shared data: it was repacked.
  EXPECT_GE(j.at("packs_repacked").get<int>(), 1) << r.out;
  EXPECT_GE(j.at("packs_removed").get<int>(), 1) << r.out;
  EXPECT_EQ(j.at("points"), f.kept.size());
  // Point 2's first version and the forgotten points' records before their
  // tombstones are gone; one record per point stays (tombstones included).
  EXPECT_EQ(j.at("roots_removed"), 1 + f.forgotten.size());
  EXPECT_EQ(count_files(box.repo + "/roots", ".root"), roots_before - 1 - f.forgotten.size());
  EXPECT_EQ(count_files(box.repo + "/roots", ".root"), f.points.size());
  EXPECT_EQ(j.at("temp_removed"), 1);
  EXPECT_FALSE(exists_nofollow(box.repo + "/packs/.rw-tmp-999-0-abc"));
  EXPECT_EQ(j.at("shredded"), false);

  f.expect_intact(box.repo, "after prune");

  // Nothing more to do the second time.
  RunResult again = box.rw({"--json", "prune"});
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_EQ(json::parse(again.out).at("reclaimed"), 0);
  EXPECT_EQ(pack_bytes(box.repo), after);

  // The catalog rebuilt from packs and root records has the same points,
  // and numbers are not reused although the newest point was forgotten.
  RunResult rep = box.rw({"repair"});
  ASSERT_EQ(rep.exit_code, 0) << describe(rep);
  f.expect_intact(box.repo, "after repair");
  EXPECT_EQ(box.create({"/data"}), f.points.back() + 1);
}

TEST_F(Prune, TextOutputSaysWhatWasReclaimed) {
  RunResult r = f.box.rw({"prune"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, HasSubstr("reclaimed "));
  EXPECT_THAT(r.out, HasSubstr("removed "));
  RunResult h = f.box.rw({"prune", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.out, HasSubstr("--shred"));
  EXPECT_THAT(h.out, HasSubstr("copy-on-write"));
  EXPECT_THAT(h.out, HasSubstr("forgets key material"));
}

TEST_F(Prune, DamagedManifestOfAKeptPointDeletesNothing) {
  Sandbox& box = f.box;
  // Flip a byte inside the manifest root of a kept point.
  int64_t victim = *f.kept.begin();
  RunResult q = sh("sqlite3 " + box.repo + "/catalog.db \"SELECT p.name, c.offset FROM chunks c " +
                   "JOIN packs p ON p.id=c.pack JOIN snapshots s ON lower(hex(c.id))=s.manifest " +
                   "WHERE s.point_id=" + std::to_string(victim) + "\"");
  ASSERT_EQ(q.exit_code, 0) << describe(q);
  std::string line = q.out.substr(0, q.out.find('\n'));
  size_t bar = line.find('|');
  ASSERT_NE(bar, std::string::npos) << q.out;
  std::string pack = box.repo + "/packs/" + line.substr(0, bar) + ".pack";
  uint64_t offset = std::stoull(line.substr(bar + 1)) + 48 + 3;
  {
    std::fstream io(pack, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    io.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    io.seekp(static_cast<std::streamoff>(offset));
    io.write(&c, 1);
  }
  uint64_t before = pack_bytes(box.repo);
  size_t packs = count_files(box.repo + "/packs", ".pack");
  RunResult r = box.rw({"prune"});
  EXPECT_EQ(r.exit_code, 13) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("prune deleted nothing"));
  EXPECT_THAT(r.err, HasSubstr("recovery point " + std::to_string(victim)));
  EXPECT_EQ(pack_bytes(box.repo), before);
  EXPECT_EQ(count_files(box.repo + "/packs", ".pack"), packs);
}

TEST_F(Prune, ShredSettingIsReadAndChecked) {
  Sandbox& box = f.box;
  write_file(box.at("/etc/rewind/rewind.toml"), "[repository]\nshred = true\n");
  RunResult dry = box.rw({"--json", "prune", "--dry-run", "--no-shred"});
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  EXPECT_EQ(json::parse(dry.out).at("shredded"), false);
  RunResult r = box.rw({"--json", "prune"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out).at("shredded"), true);
  f.expect_intact(box.repo, "after a shredding prune");
  write_file(box.at("/etc/rewind/rewind.toml"), "[repository]\nshred = \"yes\"\n");
  RunResult bad = box.rw({"prune"});
  EXPECT_EQ(bad.exit_code, 2) << describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("shred must be true or false"));
}

pid_t spawn_rewind(const std::vector<std::string>& args) {
  std::vector<std::string> argv{rwd::testing::rewind_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn(argv);
}

TEST_F(Prune, ReadersWorkAndWritersAreRefusedWhilePruneRuns) {
  Sandbox& box = f.box;
  std::string a = std::to_string(*f.kept.begin()), b = std::to_string(*f.kept.rbegin());
  std::vector<std::vector<std::string>> readers = {
      {"list"}, {"show", a}, {"diff", a, b}, {"diff", b}};
  auto run_readers = [&](const std::string& label) {
    for (const auto& args : readers) {
      RunResult r = box.rw(args);
      EXPECT_EQ(r.exit_code, 0) << label << ": " << args[0] << ": " << describe(r);
    }
  };
  // Held still (through the io seam, SIGSTOP before its first rename: a
  // repacked pack written, the catalog not yet changed) while it holds the
  // lock: readers work, a writer is refused and names prune, and prune
  // finishes once it goes on. A stop at a random moment could fall inside
  // one of SQLite's own checkpoint steps, which no reader can pass.
  std::vector<std::string> args{"--repo", box.repo, "--root", box.root, "-q", "prune"};
  std::vector<std::string> faulty{rwd::testing::rewind_faulty_binary()};
  faulty.insert(faulty.end(), args.begin(), args.end());
  pid_t pid = spawn(faulty, {"REWIND_FAULT=stop:rename:1"});
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << "prune ended before its first rename: " << status;
  EXPECT_THAT(read_file(box.repo + "/lock"), HasSubstr("(prune)"));
  run_readers("prune stopped");
  RunResult w = box.rw({"create", "--path", "/data"});
  EXPECT_EQ(w.exit_code, 11) << describe(w);
  EXPECT_THAT(w.err, HasSubstr("(prune)"));
  ::kill(pid, SIGCONT);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  f.expect_intact(box.repo, "after the stopped prune");

  // Readers in a loop while further prunes delete and repack (each forget
  // makes the next prune repack the shared data again).
  const std::set<int64_t> before = f.kept;
  for (int64_t id : before) {
    if (id == *before.rbegin()) break;
    ASSERT_EQ(box.rw({"forget", std::to_string(id)}).exit_code, 0);
    f.kept.erase(id);
    readers = {{"list"}, {"show", b}, {"diff", b}};
    pid = spawn_rewind(args);
    int rounds = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      run_readers("prune running");
      ++rounds;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_GT(rounds, 0);
    f.expect_intact(box.repo, "after prune with readers");
  }
}

// Secure deletion: the repository on a loop-mounted ext4 image, compression
// off, the source tree outside the image; a marker only the forgotten point
// held is in the raw image before `prune --shred` and nowhere after.
class Shred : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult mk =
        sh("truncate -s 128M " + img + " && mkfs.ext4 -q -F " + img + " && mkdir -p " + mnt);
    ASSERT_EQ(mk.exit_code, 0) << describe(mk);
    mount();
  }
  void TearDown() override {
    if (mounted) umount();
  }
  void mount() {
    RunResult r = sh("mount -o loop " + img + " " + mnt);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    mounted = true;
  }
  void umount() {
    RunResult r = sh("umount " + mnt);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    mounted = false;
  }
  // Whether the raw image holds `marker` (the file system unmounted, so
  // every block is written to the image).
  bool image_holds(const std::string& marker) {
    umount();
    std::string raw = read_file(img);
    bool found = raw.find(marker) != std::string::npos;
    mount();
    return found;
  }

  TempDir dir{"rewind-shred"};
  std::string img = dir.sub("ext4.img");
  std::string mnt = dir.sub("mnt");
  std::string root = dir.sub("root");  // outside the image
  std::string repo = mnt + "/repo";
  bool mounted = false;
};

TEST_F(Shred, MarkerOfAForgottenPointIsGoneFromTheRawImage) {
  std::random_device rd;
  uint64_t seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  std::printf("marker seed %llu\n", static_cast<unsigned long long>(seed));
  std::string marker = random_bytes(64, seed);
  std::string secret;
  for (int i = 0; i < 2048; ++i) secret += marker;
  for (int i = 0; i < 12; ++i)
    write_file(root + "/data/keep/f" + std::to_string(i), random_bytes(30000, seed + 1 + i));
  write_file(root + "/data/secret", secret);
  auto rw = [&](std::vector<std::string> args) {
    std::vector<std::string> all{"--repo", repo, "--root", root};
    all.insert(all.end(), args.begin(), args.end());
    return rwd::testing::rewind(all);
  };
  ASSERT_EQ(rw({"init", "--compression", "0"}).exit_code, 0);
  ASSERT_EQ(rw({"-q", "create", "--path", "/data"}).exit_code, 0);
  std::filesystem::remove(root + "/data/secret");
  ASSERT_EQ(rw({"-q", "create", "--path", "/data"}).exit_code, 0);
  ASSERT_EQ(rw({"forget", "1"}).exit_code, 0);
  ASSERT_TRUE(image_holds(marker))
      << "the marker must be on disk before, or the test proves nothing";

  RunResult p = rw({"--json", "prune", "--shred"});
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  EXPECT_EQ(json::parse(p.out).at("shredded"), true);
  EXPECT_FALSE(image_holds(marker));

  // The kept point is whole.
  RunResult v = rw({"verify", "--read-data"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
  std::string out = dir.sub("restored");
  RunResult r = rw({"restore", "2", "--to", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(tree_diff(root + "/data", out + "/data"), "");
}

TEST_F(Shred, OldDataKeyOfAnEncryptedRepositoryIsGoneFromTheRawImage) {
  // An encrypted repository on the image, every point forgotten: `prune
  // --shred` replaces the data key, and the old key file's bytes, in the raw
  // image before, are nowhere in it after. The repository takes a new point.
  std::string pass = dir.sub("passphrase");
  write_file(pass, "shred test passphrase\n", 0600);
  write_file(root + "/data/f", random_bytes(50000, 5));
  auto rw = [&](std::vector<std::string> args) {
    std::vector<std::string> all{"--repo", repo, "--root", root, "--password-file", pass};
    all.insert(all.end(), args.begin(), args.end());
    return rwd::testing::rewind(all, {{"REWIND_INSECURE_TEST_KDF", "1"}});
  };
  ASSERT_EQ(rw({"init", "--encrypt"}).exit_code, 0);
  ASSERT_EQ(rw({"-q", "create", "--path", "/data"}).exit_code, 0);
  ASSERT_EQ(rw({"forget", "1"}).exit_code, 0);
  const std::string old_key = read_file(repo + "/keys/data-1");
  ASSERT_GT(old_key.size(), 100u);
  ASSERT_TRUE(image_holds(old_key)) << "the key file must be on disk before";

  RunResult p = rw({"--json", "prune", "--shred"});
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  EXPECT_EQ(json::parse(p.out).at("key_forgotten"), true);
  EXPECT_FALSE(std::filesystem::exists(repo + "/keys/data-1"));
  EXPECT_FALSE(image_holds(old_key));

  RunResult c = rw({"-q", "create", "--path", "/data"});
  ASSERT_EQ(c.exit_code, 0) << describe(c);
  RunResult v = rw({"verify", "--read-data"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
}

}  // namespace
}  // namespace rwd::itest
