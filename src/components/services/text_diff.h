// SPDX-License-Identifier: Apache-2.0
// A unified diff of two small texts, for the detail of a changed unit file.
#pragma once

#include <string>
#include <string_view>

namespace rwd::components::services {

// "--- a/NAME\n+++ b/NAME\n@@ ... @@\n..." with three lines of context, or ""
// when the texts are equal, either is not text (holds a NUL byte) or they
// are too large to compare line by line.
std::string unified_diff(std::string_view a, std::string_view b, const std::string& name);

}  // namespace rwd::components::services
