// SPDX-License-Identifier: Apache-2.0
// The seam's guard: an adapter that throws while decoding a snapshot's data
// gives an error of the right kind, and one that does not throw is passed
// through unchanged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "components/adapter.h"
#include "support/test_support.h"

namespace rwd::components {
namespace {

class Throwing final : public Adapter {
 public:
  std::string_view name() const override { return "throwing"; }
  Result<Captured> capture(Context&, const ComponentSpec&, store::ChunkWriter&,
                           const std::optional<store::ChunkId>&) override {
    throw std::runtime_error("out of pixie dust");
  }
  Result<std::vector<Change>> diff_live(Context&, const ComponentSpec&, const store::ChunkId&,
                                        bool) override {
    // What a hostile snapshot's blob does to json::parse.
    auto j = nlohmann::json::parse("{\"format\": ");
    return std::vector<Change>(j.size());
  }
  Result<Plan> plan(Context&, const ComponentSpec&, const store::ChunkId&, bool, bool,
                    const std::vector<std::string>&) override {
    return Plan{};
  }
  Status validate(Context&, const Plan&) override { return ok(); }
  Result<Applied> apply(Context&, const ComponentSpec&, const Plan&) override {
    return fail(Error::busy("left as it is"));
  }
  Status remove(Context&, const ComponentSpec&) override {
    nlohmann::json j = nlohmann::json::object();
    return j.at("missing").get<bool>() ? ok() : fail(Error::other("unreachable"));
  }
  Status check_settings(const ComponentSpec& spec) const override {
    return spec.settings.at("port").get<int>() > 0 ? ok() : fail(Error::usage("port"));
  }
};

TEST(AdapterGuard, ExceptionsBecomeErrorsAndResultsPassThrough) {
  Throwing inner;
  auto g = guard(inner);
  EXPECT_EQ(g->name(), "throwing");
  // Real parts (a repository in a temporary directory), which the calls
  // below never touch.
  rwd::testing::TempDir dir("rewind-guard");
  auto repo = store::Repository::init(io::default_fs(), dir.sub("repo"), {});
  ASSERT_TRUE(repo) << repo.error().message();
  NullObserver quiet;
  Context context{io::default_fs(), **repo, dir.path(), quiet};
  Context* ctx = &context;
  ComponentSpec spec;
  store::ChunkId id{};

  auto d = g->diff_live(*ctx, spec, id, false);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kCorruptedData);
  EXPECT_NE(d.error().message().find("the throwing adapter could not read"), std::string::npos)
      << d.error().message();
  EXPECT_NE(d.error().message().find("diff"), std::string::npos);

  Status r = g->remove(*ctx, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCorruptedData);

  store::ChunkWriter writer(**repo, 1);
  auto c = g->capture(*ctx, spec, writer, std::nullopt);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), ErrorCode::kOther);
  EXPECT_NE(c.error().message().find("out of pixie dust"), std::string::npos);

  // Results, errors included, pass through as they are.
  EXPECT_TRUE(g->plan(*ctx, spec, id, false, true, {}));
  auto a = g->apply(*ctx, spec, Plan{});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), ErrorCode::kBusy);
  EXPECT_EQ(a.error().message(), "left as it is");

  // A setting of the wrong type is a usage error's business, but an
  // exception there is still caught.
  spec.settings = {{"port", "not a number"}};
  EXPECT_FALSE(g->check_settings(spec));
  spec.settings = {{"port", 5}};
  EXPECT_TRUE(g->check_settings(spec));
}

TEST(AdapterGuard, RegisteredAdaptersAreGuarded) {
  // Every kind find_adapter gives is behind the guard: a settings check
  // that meets a value of the wrong type returns an error, never throws.
  for (const auto& kind : adapter_kinds()) {
    Adapter* a = find_adapter(kind);
    ASSERT_NE(a, nullptr) << kind;
    EXPECT_EQ(a->name(), kind);
    ComponentSpec spec;
    spec.name = "x";
    spec.adapter = kind;
    spec.settings = {{"timeout", nlohmann::json::array({1, 2})}, {"port", "x"}};
    EXPECT_NO_THROW((void)a->check_settings(spec)) << kind;
  }
  EXPECT_EQ(find_adapter("nope"), nullptr);
}

}  // namespace
}  // namespace rwd::components
