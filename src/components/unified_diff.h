// SPDX-License-Identifier: Apache-2.0
// Unified diffs of text, for the detail of a changed configuration file
// (`rewind diff`): the format `diff -u` writes and `patch` reads.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rwd::components::text {

// The largest text shown as a diff; larger files are only "content changed".
inline constexpr size_t kMaxDiffText = 1 << 20;

// Whether `data` reads as text worth a diff: at most kMaxDiffText bytes and
// no NUL in its first 8 KiB (the test diff(1) and git use).
bool is_text(std::string_view data);

// The unified diff from `a` to `b` with `context` lines around each change:
// "--- a/LABEL_A", "+++ b/LABEL_B", then "@@ -l,s +l,s @@" hunks. Empty when
// the texts are equal. A last line without a newline is marked
// "\ No newline at end of file". Very different texts (the edit script
// would be long to find) come out as one hunk that replaces every line:
// still exact, only not minimal.
std::string unified_diff(std::string_view a, std::string_view b, std::string_view label_a,
                         std::string_view label_b, size_t context = 3);

// The pieces of `text` between `sep`s; a trailing `sep` ends the last piece
// and adds no empty one ("a\nb\n" -> {"a", "b"}). Views into `text`.
std::vector<std::string_view> split(std::string_view text, char sep);

// `text` with every run of whitespace (blanks, tabs, newlines) made one
// blank and none at either end: "4096\t131072\n" -> "4096 131072".
std::string collapse_whitespace(std::string_view text);

}  // namespace rwd::components::text
