// SPDX-License-Identifier: Apache-2.0
// Where the kinds of component are registered: one line per adapter.
#include "components/adapter.h"
#include "components/files/files.h"

namespace rwd::components {

Adapter& files_adapter();
Adapter& services_adapter();
Adapter& postgres_adapter();
Adapter& packages_adapter();
Adapter& config_adapter();
Adapter& command_adapter();
Adapter& kernel_adapter();
Adapter& sqlite_adapter();

namespace {
struct Registered {
  const char* kind;
  Adapter& (*get)();
};
const Registered kAdapters[] = {
    {"files", files_adapter},       {"config", config_adapter},   {"kernel", kernel_adapter},
    {"services", services_adapter}, {"sqlite", sqlite_adapter},   {"postgres", postgres_adapter},
    {"packages", packages_adapter}, {"command", command_adapter},
};
}  // namespace

Adapter* find_adapter(std::string_view kind) {
  static const auto guarded = [] {
    std::vector<std::unique_ptr<Adapter>> out;
    for (const auto& r : kAdapters) out.push_back(guard(r.get()));
    return out;
  }();
  for (size_t i = 0; i < std::size(kAdapters); ++i)
    if (kind == kAdapters[i].kind) return guarded[i].get();
  return nullptr;
}

bool holds_file_tree(std::string_view kind) { return kind == "files" || kind == "config"; }

std::vector<std::string> adapter_kinds() {
  std::vector<std::string> out;
  for (const auto& r : kAdapters) out.emplace_back(r.kind);
  return out;
}

}  // namespace rwd::components

namespace rwd::components {

namespace {
store::ChunkSource chunk_source(store::Repository& repo) {
  return [&repo](const store::ChunkId& id, store::ChunkType t, std::vector<std::byte>& out) {
    return repo.read_chunk(id, t, out);
  };
}
}  // namespace

Result<std::vector<Change>> Adapter::diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                                    const std::optional<store::ChunkId>& older,
                                                    const std::optional<store::ChunkId>& newer) {
  std::vector<store::Entry> a, b;
  if (older) {
    REWIND_ASSIGN_OR_RETURN(a, store::load_manifest(chunk_source(ctx.repo), *older));
  }
  if (newer) {
    REWIND_ASSIGN_OR_RETURN(b, store::load_manifest(chunk_source(ctx.repo), *newer));
  }
  std::string root = spec.paths.empty() ? std::string("/") : component_root(spec.paths);
  std::vector<Change> out;
  for (const auto& c : files::diff_manifests(a, b))
    out.push_back(Change{
        join_path(root, c.path), std::string(files::change_kind_name(c.kind)), c.attributes, {}});
  return out;
}

Result<nlohmann::json> Adapter::describe(Context&, const ComponentSpec&, const store::ChunkId&) {
  return nlohmann::json::object();
}

Status Adapter::check_settings(const ComponentSpec& spec) const {
  if (!spec.settings.empty())
    return fail(Error::usage("component \"{}\": adapter \"{}\" takes no key \"{}\"", spec.name,
                             name(), spec.settings.begin().key()));
  return ok();
}

}  // namespace rwd::components
