// SPDX-License-Identifier: Apache-2.0
// The audit log (issue 6): every mutating command appends an entry chained
// by a MAC keyed outside the repository; `audit --verify` names the first
// entry an attacker with the sqlite3 shell edited, deleted, inserted or
// appended, and entries cut off the end, also when the attacker recomputes
// an unkeyed hash chain. And the repository's permissions: refused when
// others could write it or a directory on its path.
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::read_file;
using rwd::testing::write_file;

// A sandbox whose audit log has entries 1..4: init, create, create, modify.
struct AuditBox {
  Sandbox box{"rewind-audit"};
  std::string catalog = box.repo + "/catalog.db";

  AuditBox() {
    write_file(box.at("/data/a"), "alpha\n");
    RunResult r = box.init();
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    box.create({"/data"});
    write_file(box.at("/data/a"), "beta\n");
    box.create({"/data"});
    r = box.rw({"modify", "2", "--name", "second"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
  }

  // Runs SQL on the catalog with the sqlite3 shell, as an attacker who can
  // write the repository would.
  void sql(const std::string& statements) const {
    RunResult r = rwd::testing::run({"sqlite3", catalog, statements});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  json log() const {
    RunResult r = box.rw({"--json", "audit"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json::parse(r.out, nullptr, false);
  }

  // `audit --verify --json`: expects exit 13 and returns the first bad entry.
  int64_t first_bad() const {
    RunResult r = box.rw({"--json", "audit", "--verify"});
    EXPECT_EQ(r.exit_code, 13) << describe(r);
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.value("ok", true)) << r.out;
    return j["first_bad"].is_number() ? j["first_bad"].get<int64_t>() : 0;
  }
};

constexpr const char* kNoTriggers = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ";

TEST(Audit, EveryMutatingCommandIsRecordedAndTheChainVerifies) {
  // Situation: init, two creates, a modify, a restore that fails (no point
  // 9), and read-only commands. Expectation: exactly the mutating commands
  // are in the log, in order, with their arguments, user and result (the
  // failed restore with exit 14 and its message); the key and head sit in
  // ROOT/etc/rewind/audit (0700) with mode 0600; --verify passes.
  AuditBox a;
  RunResult r = a.box.rw({"restore", "9", "--to", a.box.dir.sub("out")});
  ASSERT_EQ(r.exit_code, 14) << describe(r);
  ASSERT_EQ(a.box.rw({"list"}).exit_code, 0);
  ASSERT_EQ(a.box.rw({"verify"}).exit_code, 0);
  json log = a.log();
  ASSERT_TRUE(log.is_array()) << log;
  ASSERT_EQ(log.size(), 5u) << log.dump(2);
  std::vector<std::string> ops;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i]["seq"], static_cast<int64_t>(i + 1));
    EXPECT_EQ(log[i]["uid"], 0);
    EXPECT_EQ(log[i]["user"], "root");
    EXPECT_EQ(log[i]["mac"].get<std::string>().size(), 64u);
    ops.push_back(log[i]["operation"]);
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"init", "create", "create", "modify", "restore"}));
  EXPECT_EQ(log[3]["arguments"],
            json({"--repo", a.box.repo, "--root", a.box.root, "modify", "2", "--name", "second"}));
  EXPECT_EQ(log[3]["result"], 0);
  EXPECT_EQ(log[4]["result"], 14);
  EXPECT_NE(log[4]["message"].get<std::string>().find("9"), std::string::npos) << log[4];

  EXPECT_EQ(lstat_or_die(a.box.at("/etc/rewind/audit/key")).st_mode & 07777, 0600u);
  int heads = 0;
  for (const auto& e : std::filesystem::directory_iterator(a.box.at("/etc/rewind/audit")))
    if (e.path().extension() == ".head") {
      ++heads;
      EXPECT_EQ(lstat_or_die(e.path()).st_mode & 07777, 0600u);
      json h = json::parse(read_file(e.path()), nullptr, false);
      EXPECT_EQ(h["count"], 5) << h;
      EXPECT_EQ(h["mac"], log[4]["mac"]) << h;
    }
  EXPECT_EQ(heads, 1);
  EXPECT_EQ(lstat_or_die(a.box.at("/etc/rewind/audit")).st_mode & 07777, 0700u);

  r = a.box.rw({"--json", "audit", "--verify"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  json v = json::parse(r.out, nullptr, false);
  EXPECT_EQ(v["ok"], true) << r.out;
  EXPECT_EQ(v["entries"], 5) << r.out;
  EXPECT_TRUE(v["first_bad"].is_null()) << r.out;

  // --since filters by time.
  for (const char* future : {"2200-01-01", "2200-01-01T00:00:00Z", "9999-12-31"}) {
    r = a.box.rw({"--json", "audit", "--since", future});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), json::array()) << future;
  }
  r = a.box.rw({"--json", "audit", "--since", "1h"});
  EXPECT_EQ(json::parse(r.out, nullptr, false).size(), 5u) << r.out;
  EXPECT_EQ(a.box.rw({"audit", "--since", "yesterday"}).exit_code, 2);
}

TEST(Audit, TheTableRefusesPlainUpdatesAndDeletes) {
  // The triggers stop an accidental edit; the attacks below drop them first.
  AuditBox a;
  RunResult r = rwd::testing::run({"sqlite3", a.catalog, "DELETE FROM audit WHERE seq=2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("append-only"), std::string::npos) << describe(r);
  EXPECT_EQ(a.box.rw({"audit", "--verify"}).exit_code, 0);
}

TEST(Audit, AnEditedEntryIsNamed) {
  AuditBox a;
  a.sql(std::string(kNoTriggers) + "UPDATE audit SET operation='list' WHERE seq=2;");
  EXPECT_EQ(a.first_bad(), 2);
  RunResult r = a.box.rw({"audit", "--verify"});
  EXPECT_EQ(r.exit_code, 13);
  EXPECT_NE(r.out.find("FAILED at entry 2"), std::string::npos) << describe(r);
}

TEST(Audit, AnEditedResultIsNamed) {
  AuditBox a;
  a.sql(std::string(kNoTriggers) + "UPDATE audit SET result=1 WHERE seq=3;");
  EXPECT_EQ(a.first_bad(), 3);
}

TEST(Audit, ADeletedEntryIsNamed) {
  AuditBox a;
  a.sql(std::string(kNoTriggers) + "DELETE FROM audit WHERE seq=2;");
  EXPECT_EQ(a.first_bad(), 2);
}

TEST(Audit, ADeletedEntryIsNamedAlsoWhenTheRestAreRenumbered) {
  AuditBox a;
  a.sql(std::string(kNoTriggers) +
        "DELETE FROM audit WHERE seq=2; UPDATE audit SET seq=seq-1 WHERE seq>2;");
  EXPECT_EQ(a.first_bad(), 2);
}

TEST(Audit, AnInsertedEntryIsNamed) {
  // A forged entry 2 (a copy of entry 2 with another operation), the later
  // ones moved up by one.
  AuditBox a;
  a.sql(std::string(kNoTriggers) +
        "UPDATE audit SET seq=seq+100 WHERE seq>=2; UPDATE audit SET seq=seq-99 WHERE seq>=100; "
        "INSERT INTO audit SELECT 2,time_ns,uid,user,host,'verify',arguments,result,message,mac "
        "FROM audit WHERE seq=3;");
  EXPECT_EQ(a.first_bad(), 2);
}

TEST(Audit, AnAppendedEntryIsNamed) {
  AuditBox a;
  a.sql(
      "INSERT INTO audit SELECT 5,time_ns,uid,user,host,'create',arguments,0,'',"
      "lower(hex(randomblob(32))) FROM audit WHERE seq=4;");
  EXPECT_EQ(a.first_bad(), 5);
}

TEST(Audit, EntriesCutOffTheEndAreNamed) {
  // The chain that remains is intact; the head beside the key still counts 4.
  AuditBox a;
  a.sql(std::string(kNoTriggers) + "DELETE FROM audit WHERE seq>=3;");
  EXPECT_EQ(a.first_bad(), 3);
  RunResult r = a.box.rw({"audit", "--verify"});
  EXPECT_NE(r.out.find("cut off"), std::string::npos) << describe(r);
}

TEST(Audit, ARecomputedUnkeyedHashChainIsDetected) {
  // The attacker edits entry 2 and recomputes every MAC from entry 2 on as
  // an unkeyed hash of the previous MAC and the entry (sha3 of the shell),
  // the way a chain without a key could be rewritten. Without the key the
  // MACs cannot match: entry 2 is named. Cutting the end and rehashing is
  // named too.
  const std::string rehash =
      "UPDATE audit SET mac=lower(hex(sha3((SELECT p.mac FROM audit p WHERE p.seq=audit.seq-1) "
      "|| seq || time_ns || uid || user || host || operation || arguments || result || message, "
      "256))) WHERE seq=";
  {
    AuditBox a;
    std::string sql = std::string(kNoTriggers) + "UPDATE audit SET operation='list' WHERE seq=2;";
    for (int s = 2; s <= 4; ++s) sql += rehash + std::to_string(s) + ";";
    a.sql(sql);
    EXPECT_EQ(a.first_bad(), 2);
  }
  {
    AuditBox a;
    std::string sql = std::string(kNoTriggers) + "DELETE FROM audit WHERE seq=4;";
    for (int s = 1; s <= 3; ++s)
      sql +=
          (s == 1 ? "UPDATE audit SET mac=lower(hex(sha3(operation, 256))) WHERE seq=" : rehash) +
          std::to_string(s) + ";";
    a.sql(sql);
    EXPECT_EQ(a.first_bad(), 1);
  }
}

TEST(Audit, AMissingKeyIsReportedNotReplaced) {
  // With the key gone, verify cannot vouch for the log (exit 16), and a
  // mutating command does not start a new key behind the old entries: it
  // says its entry was not appended.
  AuditBox a;
  std::filesystem::remove(a.box.at("/etc/rewind/audit/key"));
  RunResult r = a.box.rw({"audit", "--verify"});
  EXPECT_EQ(r.exit_code, 16) << describe(r);
  EXPECT_NE(r.err.find("/etc/rewind/audit/key"), std::string::npos) << describe(r);
  r = a.box.rw({"modify", "1", "--name", "x"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);  // the modify itself happened
  EXPECT_NE(r.err.find("audit log was not appended"), std::string::npos) << describe(r);
  EXPECT_FALSE(exists_nofollow(a.box.at("/etc/rewind/audit/key")));
}

TEST(Audit, AKeyOthersCanReadIsRefused) {
  AuditBox a;
  ASSERT_EQ(::chmod(a.box.at("/etc/rewind/audit/key").c_str(), 0644), 0);
  RunResult r = a.box.rw({"audit", "--verify"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << describe(r);
}

TEST(Permissions, RepositoryIsCreated0700WithFiles0600WhateverTheUmask) {
  // Situation: init and create run with umask 000. Expectation: every
  // directory of the repository is 0700 and every file 0600.
  Sandbox box("rewind-perm");
  write_file(box.at("/data/f"), "x\n");
  std::string cmd = "umask 000 && '" + rwd::testing::rewind_binary() + "' --repo '" + box.repo +
                    "' --root '" + box.root + "' init -q && '" + rwd::testing::rewind_binary() +
                    "' --repo '" + box.repo + "' --root '" + box.root + "' create -q --path /data";
  RunResult r = sh(cmd);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(lstat_or_die(box.repo).st_mode & 07777, 0700u);
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(box.repo)) {
    unsigned mode = lstat_or_die(e.path()).st_mode & 07777;
    if (e.is_directory()) {
      EXPECT_EQ(mode, 0700u) << e.path();
    } else {
      ++files;
      EXPECT_EQ(mode, 0600u) << e.path();
    }
  }
  EXPECT_GE(files, 4);  // config, lock, catalog, a pack, a root record
}

TEST(Permissions, AWorldWritableRepositoryIsRefused) {
  Sandbox box("rewind-perm");
  ASSERT_EQ(box.init().exit_code, 0);
  ASSERT_EQ(::chmod(box.repo.c_str(), 0777), 0);
  RunResult r = box.rw({"list"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find(box.repo + " is writable by every user"), std::string::npos) << describe(r);
  // A group-writable packs directory (a copy that kept foreign modes) too.
  ASSERT_EQ(::chmod(box.repo.c_str(), 0700), 0);
  ASSERT_EQ(::chown((box.repo + "/packs").c_str(), 0, 100), 0);
  ASSERT_EQ(::chmod((box.repo + "/packs").c_str(), 0770), 0);
  r = box.rw({"list"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find(box.repo + "/packs is writable by group 100"), std::string::npos)
      << describe(r);
  ASSERT_EQ(::chmod((box.repo + "/packs").c_str(), 0700), 0);
  EXPECT_EQ(box.rw({"list"}).exit_code, 0);
}

TEST(Permissions, AParentOthersCanWriteIsRefusedUnlessRootOwnedAndSticky) {
  // Situation: the repository sits in a directory every user can write.
  // Expectation: without the sticky bit it is refused naming that
  // directory (anyone could rename the repository away and put another in
  // its place); with the sticky bit and root as owner (like /tmp) it is
  // accepted; a parent owned by another user is refused.
  Sandbox box("rewind-perm");
  std::string parent = box.dir.sub("shared");
  std::filesystem::create_directories(parent);
  std::string repo = parent + "/repo";
  auto rw = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{rwd::testing::rewind_binary(), "--repo", repo, "--root",
                                  box.root};
    argv.insert(argv.end(), args.begin(), args.end());
    return rwd::testing::run(argv);
  };
  ASSERT_EQ(rw({"init"}).exit_code, 0);
  ASSERT_EQ(::chmod(parent.c_str(), 0777), 0);
  RunResult r = rw({"list"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find(parent + " is writable by every user (mode 0777)"), std::string::npos)
      << describe(r);
  r = rw({"create", "--path", "/"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);

  ASSERT_EQ(::chmod(parent.c_str(), 01777), 0);
  r = rw({"list"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);

  ASSERT_EQ(::chmod(parent.c_str(), 0755), 0);
  ASSERT_EQ(::chown(parent.c_str(), 65534, 0), 0);
  r = rw({"list"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find(parent + " belongs to uid 65534, not to root"), std::string::npos)
      << describe(r);
  ASSERT_EQ(::chown(parent.c_str(), 0, 0), 0);
}

TEST(Permissions, ANonRootUserIsPointedToTheDaemon) {
  // A user who cannot read the repository gets exit 15 and the way in
  // (rewindd's socket), not a bare "permission denied".
  Sandbox box("rewind-perm");
  ASSERT_EQ(box.init().exit_code, 0);
  // The sandbox is 0700 (mkdtemp): let nobody reach the repository's door.
  ASSERT_EQ(::chmod(box.dir.path().c_str(), 0755), 0);
  RunResult r = rwd::testing::run({"runuser", "-u", "nobody", "--", rwd::testing::rewind_binary(),
                                   "--repo", box.repo, "--root", box.root, "list"});
  EXPECT_EQ(r.exit_code, 15) << describe(r);
  EXPECT_NE(r.err.find("rewindd"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(box.repo), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace rwd::itest
