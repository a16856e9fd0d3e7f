// SPDX-License-Identifier: Apache-2.0
// Encrypted repositories (doc/format.md "Encryption", doc/encryption.md):
// round trip, passphrases, tamper detection, an object decrypted with
// libsodium alone, keyed chunk names, and no name, path or content of a
// captured tree anywhere in the repository's bytes.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "integration/integration_helpers.h"
#include "integration/sodium_reader.h"
#include "io/fs.h"
#include "store/hash.h"
#include "store/pack.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using nlohmann::json;
using testing::read_file;
using testing::RunResult;
using testing::write_file;

// Cheap Argon2id for the test repositories (doc/encryption.md: tests only).
const std::map<std::string, std::string> kWeakKdf{{"REWIND_INSECURE_TEST_KDF", "1"}};

class Encryption : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    pass1_ = sb_.dir.sub("pass1");
    write_file(pass1_, "correct horse battery staple\n", 0600);
  }

  // rewind --repo --root [--password-file FILE] ARGS, stdin not a terminal.
  RunResult rw(const std::vector<std::string>& args, const std::string& password_file,
               const std::string& repo = "") const {
    std::vector<std::string> argv{rwd::testing::rewind_binary(), "--repo",
                                  repo.empty() ? sb_.repo : repo, "--root", sb_.root};
    if (!password_file.empty()) {
      argv.push_back("--password-file");
      argv.push_back(password_file);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return rwd::testing::run(argv, kWeakKdf, 300);
  }

  void init_encrypted(const std::string& repo = "", const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"init", "--encrypt"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = rw(args, pass1_, repo);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  int64_t create(const std::string& path, const std::string& repo = "") {
    RunResult r = rw({"-q", "create", "--path", path}, pass1_, repo);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return r.exit_code == 0 ? std::stoll(r.out) : -1;
  }

  void make_tree() {
    std::filesystem::create_directories(sb_.at("/srv/app/conf"));
    write_file(sb_.at("/srv/app/conf/main.conf"), "listen 8080\n");
    write_file(sb_.at("/srv/app/big.bin"), testing::random_bytes(700000, 7));
  }

  Sandbox sb_{"rewind-enc"};
  std::string pass1_;
};

TEST_F(Encryption, RoundTripRestoresEveryByte) {
  // An encrypted repository captures, verifies, restores --to and rolls back
  // byte for byte, exactly like an unencrypted one.
  make_tree();
  init_encrypted();
  int64_t id = create("/srv/app");
  ASSERT_GT(id, 0);
  const std::string conf = read_file(sb_.at("/srv/app/conf/main.conf"));
  const std::string big = read_file(sb_.at("/srv/app/big.bin"));

  RunResult v = rw({"verify", "--read-data"}, pass1_);
  EXPECT_EQ(v.exit_code, 0) << describe(v);

  std::string out = sb_.dir.sub("out");
  RunResult r = rw({"restore", std::to_string(id), "--to", out}, pass1_);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(out + "/srv/app/conf/main.conf"), conf);
  EXPECT_EQ(read_file(out + "/srv/app/big.bin"), big);

  write_file(sb_.at("/srv/app/conf/main.conf"), "listen 9090\n");
  std::filesystem::remove(sb_.at("/srv/app/big.bin"));
  RunResult d = rw({"--json", "diff", std::to_string(id)}, pass1_);
  EXPECT_EQ(d.exit_code, 0) << describe(d);
  EXPECT_NE(d.out.find("main.conf"), std::string::npos) << d.out;
  RunResult rb = rw({"-q", "rollback", std::to_string(id), "--yes"}, pass1_);
  ASSERT_EQ(rb.exit_code, 0) << describe(rb);
  EXPECT_EQ(read_file(sb_.at("/srv/app/conf/main.conf")), conf);
  EXPECT_EQ(read_file(sb_.at("/srv/app/big.bin")), big);

  RunResult l = rw({"--json", "list"}, pass1_);
  ASSERT_EQ(l.exit_code, 0) << describe(l);
  json points = json::parse(l.out);
  ASSERT_GE(points.size(), 2u);  // the point and the rollback's safety point
  EXPECT_EQ(points[0]["components"][0]["name"], "/srv/app");
}

TEST_F(Encryption, WrongOrMissingPassphraseIsWrongKey) {
  // A wrong passphrase is exit 12 naming the problem; no passphrase at all
  // (no terminal) is exit 12 saying how to give one, without waiting.
  make_tree();
  init_encrypted();
  ASSERT_GT(create("/srv/app"), 0);
  std::string wrong = sb_.dir.sub("wrong");
  write_file(wrong, "not the passphrase\n", 0600);
  RunResult r = rw({"--json", "list"}, wrong);
  EXPECT_EQ(r.exit_code, 12) << describe(r);
  EXPECT_NE(r.err.find("wrong passphrase"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "WrongKey") << r.out;

  RunResult none = rw({"list"}, "");
  EXPECT_EQ(none.exit_code, 12) << describe(none);
  EXPECT_NE(none.err.find("--password-file"), std::string::npos) << none.err;
  EXPECT_NE(none.err.find("REWIND_PASSWORD_FILE"), std::string::npos) << none.err;

  // The environment variable is a way to give it.
  auto env = kWeakKdf;
  env["REWIND_PASSWORD_FILE"] = pass1_;
  RunResult viaenv = rwd::testing::run(
      {rwd::testing::rewind_binary(), "--repo", sb_.repo, "--root", sb_.root, "list"}, env, 120);
  EXPECT_EQ(viaenv.exit_code, 0) << describe(viaenv);
}

TEST_F(Encryption, KeyAddPasswdAndRemove) {
  // key add: both passphrases open. key passwd: the old one no longer
  // does, the new one does. key remove: a key goes, but never the last.
  init_encrypted();
  std::string pass2 = sb_.dir.sub("pass2"), pass3 = sb_.dir.sub("pass3");
  write_file(pass2, "second passphrase", 0600);
  write_file(pass3, "third passphrase\n", 0600);

  RunResult add = rw({"--json", "key", "add", "--new-password-file", pass2}, pass1_);
  ASSERT_EQ(add.exit_code, 0) << describe(add);
  std::string id2 = json::parse(add.out)["added"];
  EXPECT_EQ(rw({"list"}, pass2).exit_code, 0);
  EXPECT_EQ(rw({"list"}, pass1_).exit_code, 0);

  RunResult keys = rw({"--json", "key", "list"}, pass2);
  ASSERT_EQ(keys.exit_code, 0) << describe(keys);
  json kl = json::parse(keys.out);
  ASSERT_EQ(kl.size(), 2u);
  std::string id1;
  for (const auto& k : kl) {
    if (k["id"] == id2)
      EXPECT_TRUE(k["current"].get<bool>());
    else
      id1 = k["id"];
  }

  RunResult pw = rw({"--json", "key", "passwd", "--new-password-file", pass3}, pass2);
  ASSERT_EQ(pw.exit_code, 0) << describe(pw);
  EXPECT_EQ(rw({"list"}, pass2).exit_code, 12);
  EXPECT_EQ(rw({"list"}, pass3).exit_code, 0);
  EXPECT_EQ(rw({"list"}, pass1_).exit_code, 0);

  RunResult rm = rw({"key", "remove", id1}, pass3);
  ASSERT_EQ(rm.exit_code, 0) << describe(rm);
  EXPECT_EQ(rw({"list"}, pass1_).exit_code, 12);
  RunResult left = rw({"--json", "key", "list"}, pass3);
  ASSERT_EQ(left.exit_code, 0) << describe(left);
  json one = json::parse(left.out);
  ASSERT_EQ(one.size(), 1u);
  RunResult last = rw({"key", "remove", one[0]["id"]}, pass3);
  EXPECT_EQ(last.exit_code, 16) << describe(last);
  EXPECT_NE(last.err.find("last key"), std::string::npos) << last.err;
  EXPECT_EQ(rw({"list"}, pass3).exit_code, 0);
}

TEST_F(Encryption, FlippedByteIsCorruptedData) {
  // One changed byte inside a sealed chunk: verify --read-data names it
  // (exit 13) and restore refuses (exit 13) instead of writing anything.
  make_tree();
  init_encrypted();
  int64_t id = create("/srv/app");
  ASSERT_GT(id, 0);
  auto packs = itest::packs_by_size(sb_.repo);
  ASSERT_FALSE(packs.empty());
  int fd = ::open(packs.front().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::string stem = std::filesystem::path(packs.front()).stem().string();
  auto entries = store::read_pack_index(io::posix_fs(), fd, stem);
  ASSERT_TRUE(entries.has_value());
  const store::PackEntry* big = nullptr;
  for (const auto& e : *entries)
    if (!big || e.stored_len > big->stored_len) big = &e;
  ASSERT_NE(big, nullptr);
  off_t at = static_cast<off_t>(big->offset + store::kBlobHeaderSize + big->stored_len / 2);
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, at), 1);
  c = static_cast<char>(c ^ 0x01);
  ASSERT_EQ(::pwrite(fd, &c, 1, at), 1);
  ::close(fd);

  RunResult v = rw({"verify", "--read-data"}, pass1_);
  EXPECT_EQ(v.exit_code, 13) << describe(v);
  EXPECT_NE(v.out.find(big->id.to_hex()), std::string::npos) << v.out;
  std::string out = sb_.dir.sub("out");
  RunResult r = rw({"restore", std::to_string(id), "--to", out}, pass1_);
  EXPECT_EQ(r.exit_code, 13) << describe(r);
}

TEST_F(Encryption, OneObjectDecryptsWithLibsodiumAlone) {
  // Following doc/format.md only (sodium_reader.h): Argon2id unwraps the
  // master key from the key file, the master key opens the data key file,
  // crypto_kdf gives the chunk keys, and the one data chunk of a small file
  // opens with XChaCha20-Poly1305 (AD = name || type) to the file's bytes,
  // whose keyed BLAKE2b is the chunk's name.
  namespace na = itest::sodium;
  const std::string content = "a small file, stored raw as one chunk\n";
  std::filesystem::create_directories(sb_.at("/srv/one"));
  write_file(sb_.at("/srv/one/f"), content);
  init_encrypted("", {"--compression", "0"});
  ASSERT_GT(create("/srv/one"), 0);

  json cfg = json::parse(read_file(sb_.repo + "/config"));
  ASSERT_EQ(cfg["format"], 2);
  const std::string repo_id = cfg["id"];
  std::string keyfile;
  for (const auto& e : std::filesystem::directory_iterator(sb_.repo + "/keys"))
    if (e.path().extension() == ".key") keyfile = e.path().string();
  auto master = na::unwrap_master(keyfile, "correct horse battery staple", repo_id);
  ASSERT_TRUE(master.has_value());
  // A new repository's data key is generation 1.
  auto data = na::open_data_key(*master, read_file(sb_.repo + "/keys/data-1"), repo_id);
  ASSERT_TRUE(data.has_value());
  na::Key chunk_key = na::subkey(*data, 1), name_key = na::subkey(*data, 2);

  auto packs = itest::packs_by_size(sb_.repo);
  ASSERT_EQ(packs.size(), 1u);
  auto chunks = na::pack_chunks(read_file(packs.front()));
  ASSERT_FALSE(chunks.empty());
  bool found = false;
  for (const auto& c : chunks) {
    if (c.type != 1) continue;
    ASSERT_EQ(c.codec, 0);
    ASSERT_EQ(c.raw_len, content.size());
    ASSERT_EQ(c.sealed.size(), 24 + content.size() + 16);
    auto plain = na::open_chunk(chunk_key, c);
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(*plain, content);
    EXPECT_EQ(na::chunk_name(name_key, c.type, *plain), c.name);
    // Not under the master key's subkey: chunks follow the data key.
    EXPECT_FALSE(na::open_chunk(na::subkey(*master, 1), c).has_value());
    found = true;
  }
  EXPECT_TRUE(found) << "no data chunk in the pack";
}

// The data chunk names of a repository's packs.
std::set<std::string> data_chunk_names(const std::string& repo) {
  std::set<std::string> out;
  for (const auto& p : itest::packs_by_size(repo)) {
    int fd = ::open(p.c_str(), O_RDONLY);
    auto entries = store::read_pack_index(io::posix_fs(), fd, p);
    ::close(fd);
    EXPECT_TRUE(entries.has_value());
    if (!entries) continue;
    for (const auto& e : *entries)
      if (e.type == store::ChunkType::kData) out.insert(e.id.to_hex());
  }
  return out;
}

TEST_F(Encryption, ChunkNamesAreKeyedPerRepository) {
  // The same file in two encrypted repositories: its chunk's name is not
  // the SHA-256 of its content, and the two repositories name it
  // differently (equal content cannot be probed from outside).
  const std::string content = "the same content in both repositories\n";
  std::filesystem::create_directories(sb_.at("/srv/same"));
  write_file(sb_.at("/srv/same/f"), content);
  std::string repo2 = sb_.dir.sub("repo2");
  init_encrypted();
  init_encrypted(repo2);
  ASSERT_GT(create("/srv/same"), 0);
  ASSERT_GT(create("/srv/same", repo2), 0);
  auto a = data_chunk_names(sb_.repo), b = data_chunk_names(repo2);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  std::string sha = store::sha256(io::as_bytes(content)).to_hex();
  EXPECT_NE(*a.begin(), sha);
  EXPECT_NE(*b.begin(), sha);
  EXPECT_NE(*a.begin(), *b.begin());
}

// Markers of the captured tree: directory and file names and contents.
const std::vector<std::string> kMarkers = {"zqxdirmarker", "zqxfilemarker", "zqxsecondname",
                                           "ZQX-CONTENT-MARKER-4b1f9e",
                                           "ZQX-CHANGED-MARKER-77ad02"};

// The markers found in any file under `repo` (every file, -wal included).
std::set<std::string> markers_in(const std::string& repo) {
  std::set<std::string> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(repo)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = read_file(e.path().string());
    for (const auto& m : kMarkers)
      if (bytes.find(m) != std::string::npos) found.insert(m + " in " + e.path().string());
    // Names of files in the repository itself.
    for (const auto& m : kMarkers)
      if (e.path().string().find(m) != std::string::npos) found.insert(m + " as a name");
  }
  return found;
}

// Captures, a rollback and a `restore ID PATH` of a tree with marker names
// and contents, in a repository made by `init_args`; returns the markers
// found in the repository's bytes afterwards.
std::set<std::string> exercise(const Sandbox& sb, const std::vector<std::string>& init_args,
                               const std::vector<std::string>& pw) {
  auto rw = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{rwd::testing::rewind_binary(), "--repo", sb.repo, "--root",
                                  sb.root};
    argv.insert(argv.end(), pw.begin(), pw.end());
    argv.insert(argv.end(), args.begin(), args.end());
    RunResult r = rwd::testing::run(argv, kWeakKdf, 300);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return r;
  };
  const std::string dir = "/srv/zqxdirmarker";
  std::filesystem::create_directories(sb.at(dir + "/sub"));
  write_file(sb.at(dir + "/zqxfilemarker.conf"), "ZQX-CONTENT-MARKER-4b1f9e\n");
  write_file(sb.at(dir + "/sub/zqxsecondname"), "ZQX-CONTENT-MARKER-4b1f9e second\n");
  rw(init_args);
  std::string id = rw({"-q", "create", "--path", dir}).out;
  id.erase(id.find_last_not_of('\n') + 1);
  write_file(sb.at(dir + "/zqxfilemarker.conf"), "ZQX-CHANGED-MARKER-77ad02\n");
  rw({"-q", "create", "--path", dir});
  rw({"-q", "rollback", id, "--yes"});
  EXPECT_EQ(read_file(sb.at(dir + "/zqxfilemarker.conf")), "ZQX-CONTENT-MARKER-4b1f9e\n");
  std::filesystem::remove(sb.at(dir + "/sub/zqxsecondname"));
  rw({"-q", "restore", id, dir + "/sub/zqxsecondname"});
  EXPECT_EQ(read_file(sb.at(dir + "/sub/zqxsecondname")), "ZQX-CONTENT-MARKER-4b1f9e second\n");
  EXPECT_TRUE(std::filesystem::exists(sb.repo + "/catalog.db-wal"));
  return markers_in(sb.repo);
}

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const auto& l : s) out += l + "\n";
  return out;
}

TEST_F(Encryption, RepositoryBytesHoldNoNamePathOrContent) {
  // After captures, a rollback and a restore of one path, no file of an
  // encrypted repository (packs, root records, config, keys, the catalog
  // and its -wal) contains a name or content of the captured tree. The same
  // grep on an unencrypted repository made without compression finds them,
  // so the check can fail.
  std::set<std::string> plain = exercise(sb_, {"init", "--compression", "0"}, {});
  bool content = false, name = false;
  for (const auto& m : plain) {
    content |= m.starts_with("ZQX-CONTENT");
    name |= m.starts_with("zqxfilemarker");
  }
  EXPECT_TRUE(content && name) << "the unencrypted control lacks markers: " << joined(plain);

  Sandbox enc("rewind-enc2");
  std::string pf = enc.dir.sub("pass");
  write_file(pf, "marker test passphrase\n", 0600);
  std::set<std::string> leaks =
      exercise(enc, {"init", "--encrypt", "--compression", "0"}, {"--password-file", pf});
  EXPECT_TRUE(leaks.empty()) << joined(leaks);
}

}  // namespace
}  // namespace rwd
