// SPDX-License-Identifier: Apache-2.0
// The adapter seam's last line of defence: a snapshot's recorded data comes
// from a repository that may be damaged or hostile, and an adapter that
// decodes it with nlohmann::json (or anything else that throws) must not
// take rewind down with an uncaught exception. Every call through the seam
// turns an exception into an error of the component.
#include <nlohmann/json.hpp>

#include "components/adapter.h"

namespace rwd::components {

namespace {

Error from_exception(std::string_view adapter, std::string_view call) {
  try {
    throw;
  } catch (const nlohmann::json::exception& e) {
    return Error::corrupted_data(
        "the {} adapter could not read the data recorded in the snapshot ({}: {}); run `rewind "
        "verify --read-data`",
        adapter, call, e.what());
  } catch (const std::exception& e) {
    return Error::other("the {} adapter failed ({}): {}", adapter, call, e.what());
  }
}

class Guarded final : public Adapter {
 public:
  explicit Guarded(Adapter& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<store::ChunkId>& previous) override {
    return call("capture", [&] { return inner_.capture(ctx, spec, writer, previous); });
  }
  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const store::ChunkId& manifest, bool content) override {
    return call("diff", [&] { return inner_.diff_live(ctx, spec, manifest, content); });
  }
  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const store::ChunkId& manifest,
                    bool incremental, bool remove_extra,
                    const std::vector<std::string>& select) override {
    return call("plan", [&] {
      return inner_.plan(ctx, spec, manifest, incremental, remove_extra, select);
    });
  }
  Status validate(Context& ctx, const Plan& plan) override {
    return call("validate", [&] { return inner_.validate(ctx, plan); });
  }
  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    return call("apply", [&] { return inner_.apply(ctx, spec, plan); });
  }
  Status remove(Context& ctx, const ComponentSpec& spec) override {
    return call("remove", [&] { return inner_.remove(ctx, spec); });
  }
  std::vector<std::string> services(const ComponentSpec& spec) const override {
    return inner_.services(spec);
  }
  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                             const std::optional<store::ChunkId>& older,
                                             const std::optional<store::ChunkId>& newer) override {
    return call("diff", [&] { return inner_.diff_snapshots(ctx, spec, older, newer); });
  }
  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                  const store::ChunkId& manifest) override {
    return call("show", [&] { return inner_.describe(ctx, spec, manifest); });
  }
  Status check_settings(const ComponentSpec& spec) const override {
    return call("settings", [&] { return inner_.check_settings(spec); });
  }

 private:
  template <typename F>
  auto call(std::string_view what, F&& f) const -> decltype(f()) {
    try {
      return f();
    } catch (...) {
      return fail(from_exception(inner_.name(), what));
    }
  }
  Adapter& inner_;
};

}  // namespace

std::unique_ptr<Adapter> guard(Adapter& inner) { return std::make_unique<Guarded>(inner); }

}  // namespace rwd::components
