// SPDX-License-Identifier: Apache-2.0
// Where the kinds of component are registered: one line per adapter.
#include "components/adapter.h"

namespace rwd::components {

Adapter& files_adapter();

namespace {
struct Registered {
  const char* kind;
  Adapter& (*get)();
};
const Registered kAdapters[] = {
    {"files", files_adapter},
};
}  // namespace

Adapter* find_adapter(std::string_view kind) {
  for (const auto& r : kAdapters)
    if (kind == r.kind) return &r.get();
  return nullptr;
}

std::vector<std::string> adapter_kinds() {
  std::vector<std::string> out;
  for (const auto& r : kAdapters) out.emplace_back(r.kind);
  return out;
}

}  // namespace rwd::components
