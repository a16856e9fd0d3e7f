// SPDX-License-Identifier: Apache-2.0
// Debian version comparison (Debian Policy 5.6.12, as dpkg implements it in
// lib/dpkg/version.c): [epoch:]upstream[-revision]; epochs compare as
// numbers; upstream and revision compare part by part, non-digit runs
// character by character ('~' before everything, even the end; letters
// before non-letters) and digit runs as numbers.
#pragma once

#include <string_view>

namespace rwd::components::packages {

// <0 when a is older than b, 0 when they are equal as versions ("1.0" and
// "1.0-0", "01" and "1"), >0 when a is newer. Total on any string: text
// that is not a valid version still compares consistently.
int compare_versions(std::string_view a, std::string_view b);

}  // namespace rwd::components::packages
