// SPDX-License-Identifier: Apache-2.0
// The catalog's operation journal and the upgrade from schema 1.
#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "support/test_support.h"

namespace rwd::catalog {
namespace {

using rwd::testing::IsOk;
using rwd::testing::TempDir;

OperationRow sample(const std::string& state) {
  OperationRow o;
  o.kind = "rollback";
  o.state = state;
  o.phase = "Initializing";
  o.pid = 42;
  o.started_ns = 1;
  o.updated_ns = 2;
  o.point = 7;
  o.journal = R"({"scope":"full"})";
  return o;
}

TEST(CatalogOperations, InsertUpdateListAndUnfinished) {
  TempDir dir;
  auto cat = Catalog::open(io::default_fs(), dir.sub("catalog.db"), true);
  ASSERT_THAT(cat, IsOk());
  auto a = (*cat)->insert_operation(sample("running"));
  auto b = (*cat)->insert_operation(sample("completed"));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_LT(*a, *b);

  auto unfinished = (*cat)->unfinished_operations();
  ASSERT_THAT(unfinished, IsOk());
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ(unfinished->at(0).id, *a);
  EXPECT_EQ(unfinished->at(0).journal, R"({"scope":"full"})");

  OperationRow o = unfinished->at(0);
  o.state = "reverting";
  o.safety = 9;
  o.message = "m";
  ASSERT_THAT((*cat)->update_operation(o), IsOk());
  ASSERT_THAT((*cat)->set_operation_progress(*a, "ComponentRollback", 61.5, 3), IsOk());
  ASSERT_THAT((*cat)->request_cancel(*a), IsOk());
  auto got = (*cat)->get_operation(*a);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->state, "reverting");
  EXPECT_EQ((*got)->safety, 9);
  EXPECT_EQ((*got)->phase, "ComponentRollback");
  EXPECT_DOUBLE_EQ((*got)->percent, 61.5);
  EXPECT_TRUE((*got)->cancel);
  // update_operation leaves a cancel request alone.
  ASSERT_THAT((*cat)->update_operation(**got), IsOk());
  EXPECT_TRUE((*(*cat)->get_operation(*a))->cancel);

  auto all = (*cat)->list_operations(10);
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).id, *b);  // newest first
  auto one = (*cat)->list_operations(1);
  ASSERT_EQ(one->size(), 1u);
  auto none = (*cat)->get_operation(999);
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->has_value());
}

TEST(CatalogOperations, SchemaOneIsUpgradedInPlace) {
  TempDir dir;
  std::string path = dir.sub("catalog.db");
  {
    // A catalog as schema 1 wrote it, with one snapshot row.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v1 = R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES('schema_version','1');
      CREATE TABLE points(id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
        kind TEXT NOT NULL, cause TEXT NOT NULL, time_ns INTEGER NOT NULL, user TEXT NOT NULL,
        host TEXT NOT NULL, kernel TEXT NOT NULL, tags TEXT NOT NULL, pinned INTEGER NOT NULL,
        pre_id INTEGER NOT NULL, root_seq INTEGER NOT NULL);
      CREATE TABLE snapshots(point_id INTEGER NOT NULL, component TEXT NOT NULL,
        adapter TEXT NOT NULL, category TEXT NOT NULL, paths TEXT NOT NULL,
        manifest TEXT NOT NULL, entries INTEGER NOT NULL, size INTEGER NOT NULL,
        stored INTEGER NOT NULL, added INTEGER NOT NULL, PRIMARY KEY(point_id, component));
      CREATE TABLE packs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL);
      CREATE TABLE chunks(id BLOB PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL,
        stored_len INTEGER NOT NULL, raw_len INTEGER NOT NULL, type INTEGER NOT NULL,
        codec INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO snapshots VALUES(1,'/etc','files','other','["/etc"]','ab',1,2,3,4);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto cat = Catalog::open(io::default_fs(), path, true);
  ASSERT_THAT(cat, IsOk());
  EXPECT_EQ(*(*cat)->get_meta("schema_version"), std::to_string(kSchemaVersion));
  auto snaps = (*cat)->snapshots(1);
  ASSERT_THAT(snaps, IsOk());
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ(snaps->at(0).paths, std::vector<std::string>{"/etc"});
  EXPECT_TRUE(snaps->at(0).exclude.empty());
  EXPECT_THAT((*cat)->insert_operation(sample("running")), IsOk());
}

}  // namespace
}  // namespace rwd::catalog
