// SPDX-License-Identifier: Apache-2.0
// The catalog is an index: with it deleted or destroyed, `repair` rebuilds
// it from the packs and root records, losing no point and no metadata.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::tree_diff;
using testing::write_file;

class Repair : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sb.init().exit_code, 0);
    for (int i = 1; i <= 3; ++i) {
      write_file(sb.at("/data/common"), testing::random_bytes(300000, 1));
      write_file(sb.at("/data/v"), "version " + std::to_string(i) + "\n");
      write_file(sb.at("/data/big"), testing::random_bytes(1 << 20, 100 + i));
      std::vector<std::string> extra{
          "-n",    "point " + std::to_string(i), "-d",    "description of " + std::to_string(i),
          "--tag", "t" + std::to_string(i),      "--tag", "shared"};
      if (i == 2) extra.push_back("--pin");
      ASSERT_EQ(sb.create({"/data"}, extra), i);
      std::string ref = sb.dir.sub("ref" + std::to_string(i));
      auto r = sb.rw({"restore", std::to_string(i), "--to", ref});
      ASSERT_EQ(r.exit_code, 0) << describe(r);
      refs.push_back(ref);
    }
    auto l = sb.rw({"--json", "list"});
    ASSERT_EQ(l.exit_code, 0) << describe(l);
    before = nlohmann::json::parse(l.out);
    ASSERT_EQ(before.size(), 3u);
  }

  // After a repair: the same points, metadata and contents as before.
  void expect_all_back() {
    auto l = sb.rw({"--json", "list"});
    ASSERT_EQ(l.exit_code, 0) << describe(l);
    nlohmann::json after = nlohmann::json::parse(l.out);
    ASSERT_EQ(after.size(), 3u) << l.out;
    for (size_t i = 0; i < 3; ++i) {
      for (const char* k : {"id", "name", "description", "kind", "cause", "time", "user", "host",
                            "kernel", "tags", "pinned", "pre_id"})
        EXPECT_EQ(after[i][k], before[i][k]) << "point " << i + 1 << " field " << k;
      ASSERT_EQ(after[i]["components"].size(), before[i]["components"].size());
      for (size_t c = 0; c < before[i]["components"].size(); ++c)
        for (const char* k : {"name", "adapter", "category", "size", "stored"})
          EXPECT_EQ(after[i]["components"][c][k], before[i]["components"][c][k])
              << "point " << i + 1 << " component field " << k;
    }
    for (int i = 1; i <= 3; ++i) {
      std::string out = sb.dir.sub("after" + std::to_string(i));
      auto r = sb.rw({"restore", std::to_string(i), "--to", out});
      ASSERT_EQ(r.exit_code, 0) << describe(r);
      EXPECT_EQ(tree_diff(refs[i - 1] + "/data", out + "/data", false), "") << "point " << i;
    }
    auto v = sb.rw({"verify", "--read-data"});
    EXPECT_EQ(v.exit_code, 0) << describe(v);
    // Numbers are never reused: the next point is 4.
    write_file(sb.at("/data/v"), "after repair\n");
    EXPECT_EQ(sb.create({"/data"}), 4);
  }

  Sandbox sb;
  std::vector<std::string> refs;
  nlohmann::json before;
};

// catalog.db and its WAL and SHM files deleted: repair exits 0 and brings back every point intact.
TEST_F(Repair, DeletedCatalogIsRebuilt) {
  for (const char* f : {"catalog.db", "catalog.db-wal", "catalog.db-shm"})
    std::filesystem::remove(sb.repo + "/" + f);
  auto r = sb.rw({"repair"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_all_back();
}

// catalog.db overwritten with garbage: list fails naming `repair`, and repair recovers everything.
TEST_F(Repair, GarbageCatalogIsSetAsideAndRebuilt) {
  for (const char* f : {"catalog.db-wal", "catalog.db-shm"})
    std::filesystem::remove(sb.repo + "/" + f);
  const std::string garbage = testing::random_bytes(64 * 1024, 12345);
  write_file(sb.repo + "/catalog.db", garbage, 0600);
  auto l = sb.rw({"list"});
  EXPECT_EQ(l.exit_code, 13) << describe(l);  // corrupted data
  EXPECT_THAT(l.err, ::testing::HasSubstr("repair")) << describe(l);
  auto r = sb.rw({"repair"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_all_back();
  // The damaged catalog is kept aside, never deleted.
  bool kept = false;
  for (const auto& e : std::filesystem::directory_iterator(sb.repo))
    if (e.path().filename().string().rfind("catalog.db.damaged", 0) == 0 &&
        read_file(e.path()) == garbage)
      kept = true;
  EXPECT_TRUE(kept) << "the damaged catalog was not kept";
}

// With the catalog deleted, a reader fails (exit 14) and names `repair`.
TEST_F(Repair, ReaderWithoutCatalogNamesRepair) {
  for (const char* f : {"catalog.db", "catalog.db-wal", "catalog.db-shm"})
    std::filesystem::remove(sb.repo + "/" + f);
  auto l = sb.rw({"list"});
  EXPECT_EQ(l.exit_code, 14) << describe(l);
  EXPECT_THAT(l.err, ::testing::HasSubstr("repair"));
}

// With the catalog deleted, the next writer imports the root records: no point lost, no number
// reused.
TEST_F(Repair, WriterWithoutCatalogKeepsEveryPointAndNumber) {
  for (const char* f : {"catalog.db", "catalog.db-wal", "catalog.db-shm"})
    std::filesystem::remove(sb.repo + "/" + f);
  write_file(sb.at("/data/v"), "written without a catalog\n");
  EXPECT_EQ(sb.create({"/data"}), 4);
  auto l = sb.rw({"--json", "list"});
  ASSERT_EQ(l.exit_code, 0) << describe(l);
  auto after = nlohmann::json::parse(l.out);
  ASSERT_EQ(after.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(after[i]["name"], before[i]["name"]);
    EXPECT_EQ(after[i]["tags"], before[i]["tags"]);
    EXPECT_EQ(after[i]["time"], before[i]["time"]);
  }
  for (int i = 1; i <= 3; ++i) {
    std::string out = sb.dir.sub("after" + std::to_string(i));
    auto r = sb.rw({"restore", std::to_string(i), "--to", out});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(tree_diff(refs[i - 1] + "/data", out + "/data", false), "") << "point " << i;
  }
}

// repair on a healthy repository changes nothing.
TEST_F(Repair, HealthyRepositoryIsUnchanged) {
  auto r = sb.rw({"repair"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  expect_all_back();
}

}  // namespace
}  // namespace rwd
