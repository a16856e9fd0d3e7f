// SPDX-License-Identifier: Apache-2.0
// The command line's contract: version and help, usage errors, the exit
// code table (DESIGN.md "Exit codes"), the writer lock, dump and diff.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"
#include "io/fs.h"
#include "store/repository.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

// --version names rewind and the repository format.
TEST(Cli, VersionNamesProgramAndFormat) {
  auto r = testing::rewind({"--version"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, ::testing::HasSubstr("rewind"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("format"));
}

// --help and a command's --help exit 0 and document the exit codes.
TEST(Cli, HelpDocumentsExitCodes) {
  auto r = testing::rewind({"--help"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, ::testing::HasSubstr("Exit codes"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("restore"));
  auto s = testing::rewind({"restore", "--help"});
  EXPECT_EQ(s.exit_code, 0) << describe(s);
  EXPECT_THAT(s.out, ::testing::HasSubstr("Exit codes"));
  EXPECT_THAT(s.out, ::testing::HasSubstr("--to"));
}

// An unknown flag, an unknown command and a missing argument are usage errors: exit 2.
TEST(Cli, UsageErrorsExit2) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  auto a = sb.rw({"list", "--no-such-flag"});
  EXPECT_EQ(a.exit_code, 2) << describe(a);
  auto b = testing::rewind({"--no-such-flag", "list"});
  EXPECT_EQ(b.exit_code, 2) << describe(b);
  auto c = sb.rw({"no-such-command"});
  EXPECT_EQ(c.exit_code, 2) << describe(c);
  auto d = sb.rw({"show"});
  EXPECT_EQ(d.exit_code, 2) << describe(d);
  auto e = sb.rw({"create"});  // --path is required
  EXPECT_EQ(e.exit_code, 2) << describe(e);
}

// show with an ID that does not exist exits 14; one that is not an ID exits 2.
TEST(Cli, ShowUnknownAndMalformedIds) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  auto empty = sb.rw({"show", "latest"});
  EXPECT_EQ(empty.exit_code, 14) << describe(empty);
  write_file(sb.at("/data/f"), "x");
  ASSERT_EQ(sb.create({"/data"}), 1);
  auto a = sb.rw({"show", "999"});
  EXPECT_EQ(a.exit_code, 14) << describe(a);
  auto b = sb.rw({"show", "abc"});
  EXPECT_EQ(b.exit_code, 2) << describe(b);
  auto c = sb.rw({"show", "-1"});
  EXPECT_EQ(c.exit_code, 2) << describe(c);
  auto d = sb.rw({"show", "latest:nosuchkind"});
  EXPECT_EQ(d.exit_code, 14) << describe(d);
  auto ok = sb.rw({"show", "latest"});
  EXPECT_EQ(ok.exit_code, 0) << describe(ok);
  EXPECT_THAT(ok.out, ::testing::HasSubstr("recovery point 1"));
  auto j = sb.rw({"--json", "show", "1"});
  ASSERT_EQ(j.exit_code, 0) << describe(j);
  EXPECT_EQ(nlohmann::json::parse(j.out)["id"], 1);
}

// With --json, an error is one JSON document naming the kind and the exit code.
TEST(Cli, JsonErrorDocument) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  auto r = sb.rw({"--json", "show", "999"});
  EXPECT_EQ(r.exit_code, 14);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["error"]["exit_code"], 14);
  EXPECT_TRUE(j["error"]["kind"].is_string());
  EXPECT_TRUE(j["error"]["message"].is_string());
}

// Any command on a repository directory that does not exist exits 10.
TEST(Cli, MissingRepositoryExits10) {
  TempDir t;
  for (const auto& cmd :
       std::vector<std::vector<std::string>>{{"list"}, {"show", "1"}, {"verify"}}) {
    std::vector<std::string> args{"--repo", t.sub("nope"), "--root", t.path()};
    args.insert(args.end(), cmd.begin(), cmd.end());
    auto r = testing::rewind(args);
    EXPECT_EQ(r.exit_code, 10) << cmd[0] << ": " << describe(r);
  }
  EXPECT_FALSE(std::filesystem::exists(t.sub("nope"))) << "a read created the repository";
}

// init on an existing repository exits 16 and leaves it exactly as it was.
TEST(Cli, InitOnExistingRepositoryExits16) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "x");
  ASSERT_EQ(sb.create({"/data"}), 1);
  const std::string copy = sb.dir.sub("repo-copy");
  itest::copy_tree(sb.repo, copy);
  auto r = sb.init();
  EXPECT_EQ(r.exit_code, 16) << describe(r);
  EXPECT_EQ(testing::tree_diff(copy, sb.repo, false), "");
  auto l = sb.rw({"--json", "list"});
  ASSERT_EQ(l.exit_code, 0) << describe(l);
  EXPECT_EQ(nlohmann::json::parse(l.out).size(), 1u);
}

// A second writer while another process holds the lock exits 11 and names the holder's pid.
TEST(Cli, SecondWriterIsBusy) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "x");
  {
    auto holder =
        store::Repository::open(io::posix_fs(), sb.repo, {.write = true, .operation = "test"});
    ASSERT_TRUE(holder.has_value()) << holder.error().message();
    auto r = sb.rw({"create", "--path", "/data"});
    EXPECT_EQ(r.exit_code, 11) << describe(r);
    EXPECT_THAT(r.err, ::testing::HasSubstr(std::to_string(::getpid())));
    EXPECT_THAT(r.err, ::testing::HasSubstr("test"));
    // Readers are not blocked by a writer.
    auto l = sb.rw({"--json", "list"});
    EXPECT_EQ(l.exit_code, 0) << describe(l);
    EXPECT_EQ(l.out, "[]\n");
  }
  // Released with the holder: the next writer succeeds.
  EXPECT_EQ(sb.create({"/data"}), 1);
}

// dump writes a file's exact bytes (binary, with NULs) to standard output.
TEST(Cli, DumpWritesExactBytes) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  std::string data = testing::random_bytes(3 << 20, 77);
  data[10] = '\0';
  write_file(sb.at("/data/f"), data);
  write_file(sb.at("/data/empty"), "");
  ASSERT_EQ(sb.create({"/data"}), 1);
  write_file(sb.at("/data/f"), "changed since");
  auto r = sb.rw({"dump", "latest", "/data/f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
  auto e = sb.rw({"dump", "1", "/data/empty"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(e.out, "");
  auto missing = sb.rw({"dump", "1", "/data/nope"});
  EXPECT_EQ(missing.exit_code, 14) << describe(missing);
  auto outside = sb.rw({"dump", "1", "/elsewhere/f"});
  EXPECT_EQ(outside.exit_code, 14) << describe(outside);
}

// diff against the live system shows an added, a removed and a modified file, and a summary.
TEST(Cli, DiffShowsAddedRemovedModified) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/modified"), "before\n");
  write_file(sb.at("/data/removed"), "gone soon\n");
  write_file(sb.at("/data/same"), "same\n");
  write_file(sb.at("/data/chmodded"), "mode changes\n", 0644);
  write_file(sb.at("/data/retyped"), "becomes a symlink\n");
  ASSERT_EQ(sb.create({"/data"}), 1);
  ASSERT_EQ(::chmod(sb.at("/data/chmodded").c_str(), 0600), 0);
  std::filesystem::remove(sb.at("/data/retyped"));
  ASSERT_EQ(::symlink("same", sb.at("/data/retyped").c_str()), 0);
  write_file(sb.at("/data/modified"), "after, and longer\n");
  std::filesystem::remove(sb.at("/data/removed"));
  write_file(sb.at("/data/added"), "new\n");

  auto r = sb.rw({"diff", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(^|\n)\\+ /data/added"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(^|\n)- /data/removed"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(^|\n)M /data/modified"));
  EXPECT_THAT(r.out, ::testing::Not(::testing::HasSubstr("/data/same")));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(^|\n)m /data/chmodded \\(mode\\)"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(^|\n)T /data/retyped"));
  EXPECT_THAT(r.out,
              ::testing::HasSubstr(
                  "1 added, 1 removed, 1 content changed, 1 metadata changed, 1 type changed"));

  auto j = sb.rw({"--json", "diff", "1"});
  ASSERT_EQ(j.exit_code, 0) << describe(j);
  auto doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << j.out;
  ASSERT_TRUE(doc["changes"].is_array()) << j.out;
  std::map<std::string, std::string> by_path;
  for (const auto& c : doc["changes"])
    by_path[c["path"].get<std::string>()] = c["change"].get<std::string>();
  EXPECT_EQ(by_path["/data/added"], "added");
  EXPECT_EQ(by_path["/data/removed"], "removed");
  EXPECT_EQ(by_path["/data/modified"], "content");
  EXPECT_EQ(by_path["/data/chmodded"], "metadata");
  EXPECT_EQ(by_path["/data/retyped"], "type");
  EXPECT_FALSE(by_path.contains("/data/same"));
  EXPECT_EQ(doc["summary"]["added"], 1);

  // Between two points: the same changes.
  ASSERT_EQ(sb.create({"/data"}), 2);
  auto p = sb.rw({"--json", "diff", "1", "2"});
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  auto pd = nlohmann::json::parse(p.out);
  std::map<std::string, std::string> between;
  for (const auto& c : pd["changes"])
    between[c["path"].get<std::string>()] = c["change"].get<std::string>();
  EXPECT_EQ(between["/data/added"], "added");
  EXPECT_EQ(between["/data/removed"], "removed");
  EXPECT_EQ(between["/data/modified"], "content");
  auto none = sb.rw({"diff", "2"});
  ASSERT_EQ(none.exit_code, 0) << describe(none);
  EXPECT_THAT(none.out, ::testing::HasSubstr("0 added, 0 removed, 0 content changed"));
}

// restore --to a non-empty directory is refused (exit 2) and writes nothing there.
TEST(Cli, RestoreToNonEmptyDirRefused) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  write_file(sb.at("/data/f"), "x");
  ASSERT_EQ(sb.create({"/data"}), 1);
  const std::string to = sb.dir.sub("busy");
  write_file(to + "/already", "here\n");
  auto r = sb.rw({"restore", "1", "--to", to});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_FALSE(itest::exists_nofollow(to + "/data"));
  auto o = sb.rw({"restore", "1", "--to", to, "--overwrite"});
  EXPECT_EQ(o.exit_code, 0) << describe(o);
  EXPECT_EQ(read_file(to + "/data/f"), "x");
  EXPECT_EQ(read_file(to + "/already"), "here\n");
  auto missing = sb.rw({"restore", "1", "/data/nope", "--to", sb.dir.sub("other")});
  EXPECT_EQ(missing.exit_code, 14) << describe(missing);
}

}  // namespace
}  // namespace rwd
