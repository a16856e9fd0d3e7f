// SPDX-License-Identifier: Apache-2.0
// rewind rollback: scopes, dependency and service order, true return.
#include "integration/rollback_fixture.h"

namespace rwd::itest {
namespace {

TEST(RollbackScopes, FullReturnsEveryComponentToThePoint) {
  MultiFixture f;
  f.populate();
  int64_t id = f.create();
  ASSERT_GT(id, 0);
  f.copy_all(f.box.dir.sub("at-point"));
  f.mutate();
  f.take_log();
  RunResult r = f.rw({"rollback", std::to_string(id), "--yes"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const auto& c : fixture_components())
    EXPECT_EQ(f.diff_component(c, f.box.dir.sub("at-point")), "") << "component " << c;
  // Stopped dependents first, started in dependency order.
  EXPECT_EQ(f.take_log(),
            (std::vector<std::string>{"stop svc-d", "stop svc-c", "stop svc-b", "stop svc-a",
                                      "start svc-a", "start svc-b", "start svc-c", "start svc-d"}));
}

}  // namespace
}  // namespace rwd::itest
