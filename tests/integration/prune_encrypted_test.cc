// SPDX-License-Identifier: Apache-2.0
// Prune on encrypted repositories (issue 6, "prune", "Encryption", "Secure
// deletion"): after half the points are forgotten it reclaims the data only
// they held and keeps the rest sealed; and a shredding prune that leaves no
// point forgets the data key (doc/format.md "Data key", "Prune" step 8):
// the old key opens the old chunks and the new one does not (checked with
// libsodium alone), the next point works, a repository made before data
// keys keeps working until its first rotation, and a crash at any step of
// the rotation leaves a repository that opens and takes the next point.
#include <gmock/gmock.h>

#include <filesystem>
#include <set>

#include "integration/prune_fixture.h"
#include "integration/sodium_reader.h"
#include "support/fault_fs.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// 64-byte slices of every file the kept points hold (their random contents:
// stored raw, uncompressed, in an unencrypted repository).
std::set<std::string> kept_content(const PruneFixture& f) {
  std::set<std::string> out;
  for (int64_t id : f.kept)
    for (const auto& e : std::filesystem::recursive_directory_iterator(f.saved(id))) {
      if (!e.is_regular_file() || e.file_size() < 4096) continue;
      std::string bytes = read_file(e.path().string());
      out.insert(bytes.substr(bytes.size() / 2, 64));
    }
  return out;
}

// How many of `needles` some file under `repo` holds (every file, -wal
// included).
size_t found_in(const std::string& repo, const std::set<std::string>& needles) {
  std::set<std::string> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(repo)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = read_file(e.path().string());
    for (const auto& n : needles)
      if (bytes.find(n) != std::string::npos) found.insert(n);
  }
  return found.size();
}

// The names in keys/ but the passphrase files: the data key files and any
// temporary file.
std::set<std::string> key_material(const std::string& repo) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(repo + "/keys"))
    if (e.path().extension() != ".key") out.insert(e.path().filename().string());
  return out;
}

std::string repo_id(const std::string& repo) {
  return json::parse(read_file(repo + "/config")).at("id").get<std::string>();
}

std::optional<sodium::Key> master_key(const std::string& repo) {
  for (const auto& e : std::filesystem::directory_iterator(repo + "/keys"))
    if (e.path().extension() == ".key")
      return sodium::unwrap_master(e.path().string(), "prune fixture passphrase", repo_id(repo));
  return std::nullopt;
}

// Plain (the control: the check can fail) and encrypted.
class PruneSealed : public ::testing::TestWithParam<bool> {};

TEST_P(PruneSealed, ReclaimsForgottenDataAndKeepsTheRestSealed) {
  // Half the points forgotten: prune reclaims within 5% of the data only
  // they held, repacks the partly live pack, and every kept point verifies
  // and restores byte for byte. In the encrypted repository no file holds
  // any of the kept content afterwards (the repacked chunks were sealed
  // again); in the plain one the same search finds it.
  const bool encrypted = GetParam();
  PruneFixture f;
  ASSERT_NO_FATAL_FAILURE(f.set_up(13, encrypted));
  uint64_t before = pack_bytes(f.box.repo);
  RunResult r = f.box.rw({"--json", "prune"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out);
  uint64_t reclaimed = before - pack_bytes(f.box.repo);
  EXPECT_EQ(j.at("reclaimed").get<uint64_t>(), reclaimed);
  EXPECT_NEAR(static_cast<double>(reclaimed), static_cast<double>(f.forgotten_only),
              0.05 * static_cast<double>(f.forgotten_only))
      << r.out;
  EXPECT_GE(j.at("packs_repacked").get<int>(), 1) << r.out;
  EXPECT_EQ(j.at("key_forgotten"), false);
  f.expect_intact(f.box.repo, "after prune");

  std::set<std::string> needles = kept_content(f);
  ASSERT_GT(needles.size(), 20u);
  size_t found = found_in(f.box.repo, needles);
  if (encrypted)
    EXPECT_EQ(found, 0u) << "of " << needles.size() << " slices of kept content";
  else
    EXPECT_EQ(found, needles.size()) << "the unencrypted control must find them all";
}

INSTANTIATE_TEST_SUITE_P(Repository, PruneSealed, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Encrypted" : "Plain";
                         });

// The fixture with every point forgotten.
void forget_all(PruneFixture& f) {
  std::vector<std::string> args{"forget"};
  for (int64_t id : f.kept) args.push_back(std::to_string(id));
  RunResult r = f.box.rw(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  f.kept.clear();
}

// A new point of the fixture's tree in `repo` verifies with every byte read
// and restores byte for byte.
void expect_next_point_works(const PruneFixture& f, const std::string& repo,
                             const std::string& label) {
  auto rw = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all{"--repo", repo, "--root", f.box.root};
    all.insert(all.end(), args.begin(), args.end());
    return rwd::testing::rewind(all);
  };
  RunResult l = rw({"--json", "list"});
  ASSERT_EQ(l.exit_code, 0) << label << ": " << describe(l);
  EXPECT_EQ(json::parse(l.out).size(), 0u) << label;
  RunResult c = rw({"-q", "create", "--path", "/data"});
  ASSERT_EQ(c.exit_code, 0) << label << ": " << describe(c);
  std::string id = c.out.substr(0, c.out.find('\n'));
  RunResult v = rw({"verify", "--read-data"});
  EXPECT_EQ(v.exit_code, 0) << label << ": " << describe(v);
  std::string out = f.box.dir.sub("restored");
  std::filesystem::remove_all(out);
  RunResult r = rw({"-q", "restore", id, "--to", out});
  ASSERT_EQ(r.exit_code, 0) << label << ": " << describe(r);
  EXPECT_EQ(tree_diff(f.box.at("/data"), out + "/data"), "") << label;
}

TEST(EncryptedPrune, ShreddingTheLastPointForgetsTheDataKey) {
  PruneFixture f;
  ASSERT_NO_FATAL_FAILURE(f.set_up(17, true));
  Sandbox& box = f.box;
  const std::string keys = box.repo + "/keys/";
  ASSERT_EQ(key_material(box.repo), std::set<std::string>{"data-1"});
  const std::string old_file = read_file(keys + "data-1");
  // Every pack as it is before any prune: chunks of every point.
  std::vector<std::string> aside;
  for (const auto& p : packs_by_size(box.repo)) aside.push_back(read_file(p));

  // With points left, a shredding prune keeps the data key.
  RunResult kept = box.rw({"--json", "prune", "--shred"});
  ASSERT_EQ(kept.exit_code, 0) << describe(kept);
  EXPECT_EQ(json::parse(kept.out).at("key_forgotten"), false);
  EXPECT_EQ(json::parse(kept.out).at("data_key_generation"), 1);
  EXPECT_EQ(read_file(keys + "data-1"), old_file);

  // No point left, but no --shred: nothing changes either.
  ASSERT_NO_FATAL_FAILURE(forget_all(f));
  RunResult plain = box.rw({"--json", "prune"});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_EQ(json::parse(plain.out).at("points"), 0);
  EXPECT_EQ(json::parse(plain.out).at("key_forgotten"), false);
  EXPECT_EQ(key_material(box.repo), std::set<std::string>{"data-1"});
  EXPECT_EQ(read_file(keys + "data-1"), old_file);

  // A dry run says that --shred would forget the key, and changes nothing.
  RunResult dry = box.rw({"--json", "prune", "--shred", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  EXPECT_EQ(json::parse(dry.out).at("key_forgotten"), true) << dry.out;
  EXPECT_EQ(json::parse(dry.out).at("data_key_generation"), 1) << dry.out;
  RunResult dry_text = box.rw({"prune", "--shred", "--dry-run"});
  ASSERT_EQ(dry_text.exit_code, 0) << describe(dry_text);
  EXPECT_THAT(dry_text.out, HasSubstr("would forget key material")) << dry_text.out;
  EXPECT_EQ(key_material(box.repo), std::set<std::string>{"data-1"});
  EXPECT_EQ(read_file(keys + "data-1"), old_file);

  // --shred with no point left: a new data key, the old file gone.
  RunResult p = box.rw({"prune", "--shred"});
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  EXPECT_THAT(p.out, HasSubstr("key material forgotten"));
  EXPECT_THAT(p.out, HasSubstr("generation 2"));
  ASSERT_EQ(key_material(box.repo), std::set<std::string>{"data-2"});
  const std::string new_file = read_file(keys + "data-2");
  EXPECT_NE(new_file, old_file);

  // Independently of rewind (libsodium and doc/format.md): the old data key
  // opens every chunk of the packs copied aside, and their names are its
  // keyed hashes; the new data key opens none.
  auto master = master_key(box.repo);
  ASSERT_TRUE(master.has_value());
  auto old_key = sodium::open_data_key(*master, old_file, repo_id(box.repo));
  auto new_key = sodium::open_data_key(*master, new_file, repo_id(box.repo));
  ASSERT_TRUE(old_key.has_value());
  ASSERT_TRUE(new_key.has_value());
  size_t chunks = 0, named = 0;
  for (const auto& pack : aside)
    for (const auto& c : sodium::pack_chunks(pack)) {
      ++chunks;
      auto opened = sodium::open_chunk(sodium::subkey(*old_key, 1), c);
      ASSERT_TRUE(opened.has_value()) << "chunk " << chunks << " does not open with the old key";
      EXPECT_FALSE(sodium::open_chunk(sodium::subkey(*new_key, 1), c).has_value());
      if (c.codec != 0) continue;  // compressed: its name is over the decompressed bytes
      EXPECT_EQ(sodium::chunk_name(sodium::subkey(*old_key, 2), c.type, *opened), c.name);
      EXPECT_NE(sodium::chunk_name(sodium::subkey(*new_key, 2), c.type, *opened), c.name);
      ++named;
    }
  EXPECT_GT(chunks, 10u);
  EXPECT_GT(named, 0u);

  // The next point works, and what outlives the points (root records'
  // tombstones for repair, the audit log's key) still opens.
  ASSERT_NO_FATAL_FAILURE(expect_next_point_works(f, box.repo, "after forgetting"));
  RunResult rep = box.rw({"repair"});
  EXPECT_EQ(rep.exit_code, 0) << describe(rep);
  RunResult audit = box.rw({"audit", "--verify"});
  EXPECT_EQ(audit.exit_code, 0) << describe(audit);
}

TEST(EncryptedPrune, RepositoryWithoutDataKeyKeepsWorkingAndGetsOneOnItsFirstRotation) {
  // A repository made before data keys (no keys/data-N: generation 0) seals
  // chunks under the master key's subkey 1, as before; a shredding prune
  // with points left changes nothing, and the first one that leaves no
  // point writes generation 1, which the next point uses.
  Sandbox box("rewind-gen0");
  std::string pass = box.dir.sub("passphrase");
  write_file(pass, "prune fixture passphrase\n", 0600);
  auto rw = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all{"--repo", box.repo, "--root", box.root, "--password-file", pass};
    all.insert(all.end(), args.begin(), args.end());
    return rwd::testing::rewind(all, {{"REWIND_INSECURE_TEST_KDF", "1"}});
  };
  ASSERT_EQ(rw({"init", "--encrypt", "--compression", "0"}).exit_code, 0);
  std::filesystem::remove(box.repo + "/keys/data-1");
  const std::string content = "content sealed under the master key's subkey\n";
  write_file(box.at("/data/f"), content);
  RunResult c = rw({"-q", "create", "--path", "/data"});
  ASSERT_EQ(c.exit_code, 0) << describe(c);
  auto master = master_key(box.repo);
  ASSERT_TRUE(master.has_value());
  bool opened = false;
  for (const auto& p : packs_by_size(box.repo))
    for (const auto& chunk : sodium::pack_chunks(read_file(p)))
      if (chunk.type == 1)
        opened = sodium::open_chunk(sodium::subkey(*master, 1), chunk) == content;
  EXPECT_TRUE(opened) << "the data chunk does not open under the master key's subkey 1";

  RunResult kept = rw({"--json", "prune", "--shred"});
  ASSERT_EQ(kept.exit_code, 0) << describe(kept);
  EXPECT_EQ(json::parse(kept.out).at("key_forgotten"), false);
  EXPECT_EQ(json::parse(kept.out).at("data_key_generation"), 0);
  EXPECT_TRUE(key_material(box.repo).empty());

  ASSERT_EQ(rw({"forget", "1"}).exit_code, 0);
  RunResult p = rw({"--json", "prune", "--shred"});
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  EXPECT_EQ(json::parse(p.out).at("key_forgotten"), true);
  EXPECT_EQ(json::parse(p.out).at("data_key_generation"), 1);
  EXPECT_EQ(key_material(box.repo), std::set<std::string>{"data-1"});
  RunResult c2 = rw({"-q", "create", "--path", "/data"});
  ASSERT_EQ(c2.exit_code, 0) << describe(c2);
  RunResult v = rw({"verify", "--read-data"});
  EXPECT_EQ(v.exit_code, 0) << describe(v);
  std::string out = box.dir.sub("restored");
  RunResult r = rw({"-q", "restore", c2.out.substr(0, c2.out.find('\n')), "--to", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(out + "/data/f"), content);
}

// Stopped before each mutating io call of the rotation (REWIND_FAULT=crash:K
// through rewind-faulty), on a fresh copy of a repository whose points are
// all forgotten: afterwards it opens, takes, verifies and restores a new
// point, and the next `prune --shred` leaves exactly one data key file.
TEST(EncryptedPrune, CrashWhileForgettingLeavesAWorkingRepository) {
  PruneFixture f;
  ASSERT_NO_FATAL_FAILURE(f.set_up(19, true));
  ASSERT_NO_FATAL_FAILURE(forget_all(f));
  // Without the packs to delete, the crash points of interest come sooner.
  RunResult pre = f.box.rw({"-q", "prune"});
  ASSERT_EQ(pre.exit_code, 0) << describe(pre);
  const std::string base = f.box.repo;
  const std::string work = f.box.dir.sub("work-repo");
  const std::string report = f.box.dir.sub("report");
  auto fresh = [&] {
    std::filesystem::remove_all(work);
    RunResult r = rwd::testing::run({"cp", "-a", base, work});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  };
  auto faulty = [&](const std::string& fault) {
    return rwd::testing::run(
        {rwd::testing::rewind_faulty_binary(), "--repo", work, "-q", "prune", "--shred"},
        {{"REWIND_FAULT", fault}, {"REWIND_FAULT_REPORT", report}});
  };
  auto crash_at = [&](uint64_t k) {
    fresh();
    RunResult r = faulty("crash:" + std::to_string(k));
    EXPECT_EQ(r.exit_code, rwd::testing::kCrashExit) << "k=" << k << ": " << describe(r);
    return key_material(work);
  };
  fresh();
  ASSERT_EQ(faulty("count").exit_code, 0);
  const uint64_t calls = std::stoull(read_file(report));
  const std::set<std::string> before{"data-1"}, after{"data-2"};
  // The rotation's first and last calls, by bisection: the key files are
  // as before until it starts, and as after once the old one is unlinked.
  auto first = [&](auto pred) {
    uint64_t lo = 1, hi = calls;
    while (lo < hi) {
      uint64_t mid = (lo + hi) / 2;
      if (pred(crash_at(mid)))
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  };
  uint64_t start = first([&](const auto& s) { return s != before; });
  uint64_t done = first([&](const auto& s) { return s == after; });
  ASSERT_LT(start, done) << calls << " calls";
  std::printf("rotation between calls %llu and %llu of %llu\n",
              static_cast<unsigned long long>(start), static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(calls));
  std::set<std::set<std::string>> states;
  for (uint64_t k = start - 1; k <= done + 1 && k <= calls; ++k) {
    std::string label = "k=" + std::to_string(k);
    states.insert(crash_at(k));
    ASSERT_NO_FATAL_FAILURE(expect_next_point_works(f, work, label));
    RunResult p = rwd::testing::rewind({"--repo", work, "-q", "prune", "--shred"});
    EXPECT_EQ(p.exit_code, 0) << label << ": " << describe(p);
    auto left = key_material(work);
    EXPECT_EQ(left.size(), 1u) << label;
    EXPECT_TRUE(left.begin()->starts_with("data-")) << label;
    RunResult v = rwd::testing::rewind({"--repo", work, "verify", "--read-data"});
    EXPECT_EQ(v.exit_code, 0) << label << ": " << describe(v);
    if (::testing::Test::HasFailure()) return;
  }
  // The crashes fell before, during (both keys, a temporary or a
  // half-shredded file) and after the rotation.
  EXPECT_TRUE(states.contains(before));
  EXPECT_TRUE(states.contains(after));
  EXPECT_GE(states.size(), 4u);
}

}  // namespace
}  // namespace rwd::itest
