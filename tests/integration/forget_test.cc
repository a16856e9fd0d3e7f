// SPDX-License-Identifier: Apache-2.0
// `rewind forget ID...` (issue 6): a forgotten point is gone from the
// catalog and stays gone through `repair` (its tombstone root record),
// numbers are not reused, and the points that must stay are refused with
// the reason: pinned, and the pre point of a post point that stays.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "integration/integration_helpers.h"

namespace rwd::itest {
namespace {

using nlohmann::json;
using rwd::testing::write_file;
using ::testing::HasSubstr;

class Forget : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box.init().exit_code, 0);
    std::filesystem::create_directories(box.at("/srv"));
    write_file(box.at("/srv/a"), "one");
    a = box.create({"/srv"});
    write_file(box.at("/srv/a"), "two");
    b = box.create({"/srv"}, {"--pin"});
    c = box.create({"/srv"}, {"--kind", "pre"});
    d = box.create({"/srv"}, {"--kind", "post", "--pre", std::to_string(c)});
  }
  Sandbox box{"rewind-forget"};
  int64_t a = 0, b = 0, c = 0, d = 0;
};

TEST_F(Forget, RemovesThePointAndRepairDoesNotBringItBack) {
  RunResult r = box.rw({"--json", "forget", std::to_string(a)});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out).at("forgotten"), json::array({a}));
  EXPECT_EQ(listed(box), (std::vector<int64_t>{b, c, d}));
  EXPECT_EQ(box.rw({"show", std::to_string(a)}).exit_code, 14);

  RunResult rep = box.rw({"repair"});
  ASSERT_EQ(rep.exit_code, 0) << describe(rep);
  EXPECT_EQ(listed(box), (std::vector<int64_t>{b, c, d}));
  // Numbers are never reused, also after the catalog was rebuilt.
  EXPECT_EQ(box.create({"/srv"}), d + 1);
}

TEST_F(Forget, RefusesPinnedAndLonePrePointsAndChangesNothing) {
  RunResult pinned = box.rw({"forget", std::to_string(a), std::to_string(b)});
  EXPECT_EQ(pinned.exit_code, 16) << describe(pinned);
  EXPECT_THAT(pinned.err, HasSubstr("pinned"));
  RunResult pre = box.rw({"forget", std::to_string(c)});
  EXPECT_EQ(pre.exit_code, 16) << describe(pre);
  EXPECT_THAT(pre.err, HasSubstr("pre point of " + std::to_string(d)));
  // Nothing was forgotten by the refused runs, `a` included.
  EXPECT_EQ(listed(box), (std::vector<int64_t>{a, b, c, d}));

  RunResult pair = box.rw({"forget", std::to_string(c), "latest"});
  ASSERT_EQ(pair.exit_code, 0) << describe(pair);
  EXPECT_EQ(listed(box), (std::vector<int64_t>{a, b}));
}

TEST_F(Forget, UnknownIdIsNotFoundAndNoIdIsAUsageError) {
  EXPECT_EQ(box.rw({"forget", "99"}).exit_code, 14);
  EXPECT_EQ(box.rw({"forget"}).exit_code, 2);
  EXPECT_EQ(listed(box).size(), 4u);
}

}  // namespace
}  // namespace rwd::itest
