// SPDX-License-Identifier: Apache-2.0
// Deduplication through the real binary: equal content is stored once,
// across names and recovery points, and a shifted copy costs about a chunk.
#include <filesystem>

#include "integration/integration_helpers.h"

namespace rwd {
namespace {

using itest::describe;
using itest::Sandbox;
using testing::read_file;
using testing::write_file;

constexpr size_t kMiB = 1 << 20;

// 20 MiB of random data under two names, and again in a second point, is stored about once.
TEST(Dedup, EqualContentIsStoredOnce) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  const std::string data = testing::random_bytes(20 * kMiB, 42);
  write_file(sb.at("/data/one"), data);
  write_file(sb.at("/data/two"), data);
  ASSERT_EQ(sb.create({"/data"}), 1);
  const uint64_t after_first = itest::pack_bytes(sb.repo);
  EXPECT_GE(after_first, 20 * kMiB) << "random data cannot be stored in less than its size";
  EXPECT_LT(after_first, 20 * kMiB * 11 / 10);

  // New files (no metadata-cache shortcut) with the same content, in a second point.
  write_file(sb.at("/data/three"), data);
  write_file(sb.at("/data/sub/four"), data);
  ASSERT_EQ(sb.create({"/data"}), 2);
  const uint64_t after_second = itest::pack_bytes(sb.repo);
  EXPECT_LT(after_second, 20 * kMiB * 11 / 10) << "first point: " << after_first;
  EXPECT_LT(after_second - after_first, 1 * kMiB);

  // Every copy still restores byte for byte.
  std::string out = sb.dir.sub("out");
  auto r = sb.rw({"restore", "2", "--to", out});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const char* p : {"/data/one", "/data/two", "/data/three", "/data/sub/four"})
    EXPECT_TRUE(read_file(out + p) == data) << p;
}

// A copy with one byte inserted at the front, in a third point, adds about one chunk.
TEST(Dedup, ShiftedCopyAddsAboutOneChunk) {
  Sandbox sb;
  ASSERT_EQ(sb.init().exit_code, 0);
  const std::string data = testing::random_bytes(20 * kMiB, 43);
  write_file(sb.at("/data/one"), data);
  ASSERT_EQ(sb.create({"/data"}), 1);
  write_file(sb.at("/data/two"), data);
  ASSERT_EQ(sb.create({"/data"}), 2);
  const uint64_t before = itest::pack_bytes(sb.repo);
  const std::string shifted = "!" + data;
  write_file(sb.at("/data/shifted"), shifted);
  ASSERT_EQ(sb.create({"/data"}), 3);
  const uint64_t after = itest::pack_bytes(sb.repo);
  EXPECT_LT(after - before, 2 * kMiB) << "before " << before << ", after " << after;

  auto r = sb.rw({"dump", "3", "/data/shifted"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out == shifted) << "dump gave " << r.out.size() << " bytes";
}

}  // namespace
}  // namespace rwd
