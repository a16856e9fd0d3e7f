// SPDX-License-Identifier: Apache-2.0
#include "components/services/text_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace rwd::components::services {

namespace {

constexpr size_t kMaxBytes = 1 << 20;
// The table of the longest common subsequence has (n+1)(m+1) cells.
constexpr size_t kMaxCells = 4 << 20;
constexpr size_t kContext = 3;

std::vector<std::string_view> lines_of(std::string_view s) {
  std::vector<std::string_view> out;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find('\n', b);
    e = e == std::string_view::npos ? s.size() : e + 1;
    out.push_back(s.substr(b, e - b));
    b = e;
  }
  return out;
}

struct Op {
  char tag;  // ' ', '-', '+'
  std::string_view line;
  size_t a, b;  // lines of a and b before this one
};

}  // namespace

std::string unified_diff(std::string_view a, std::string_view b, const std::string& name) {
  if (a == b || a.size() > kMaxBytes || b.size() > kMaxBytes ||
      a.find('\0') != std::string_view::npos || b.find('\0') != std::string_view::npos)
    return {};
  auto x = lines_of(a), y = lines_of(b);
  // The common head and tail need no table.
  size_t head = 0;
  while (head < x.size() && head < y.size() && x[head] == y[head]) ++head;
  size_t tail = 0;
  while (tail < x.size() - head && tail < y.size() - head &&
         x[x.size() - 1 - tail] == y[y.size() - 1 - tail])
    ++tail;
  const size_t n = x.size() - head - tail, m = y.size() - head - tail;
  if ((n + 1) * (m + 1) > kMaxCells) return {};
  // lcs[i][j]: longest common subsequence of the middles from i and j on.
  std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      at(i, j) =
          x[head + i] == y[head + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  std::vector<Op> ops;
  for (size_t k = 0; k < head; ++k) ops.push_back({' ', x[k], k, k});
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[head + i] == y[head + j]) {
      ops.push_back({' ', x[head + i], head + i, head + j});
      ++i, ++j;
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      // Removals before additions, as diff -u prints them.
      ops.push_back({'-', x[head + i], head + i, head + j});
      ++i;
    } else {
      ops.push_back({'+', y[head + j], head + i, head + j});
      ++j;
    }
  }
  for (size_t k = 0; k < tail; ++k)
    ops.push_back({' ', x[head + n + k], head + n + k, head + m + k});

  std::string out = fmt::format("--- a{}\n+++ b{}\n", name, name);
  for (size_t k = 0; k < ops.size();) {
    if (ops[k].tag == ' ') {
      ++k;
      continue;
    }
    // A hunk: changes closer than twice the context share one.
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k + 1;
    for (size_t p = k + 1; p < ops.size();) {
      if (ops[p].tag != ' ') {
        end = ++p;
        continue;
      }
      size_t q = p;
      while (q < ops.size() && ops[q].tag == ' ') ++q;
      if (q == ops.size() || q - p > 2 * kContext) break;
      p = q;
    }
    size_t stop = std::min(ops.size(), end + kContext);
    size_t alen = 0, blen = 0;
    for (size_t p = start; p < stop; ++p) {
      alen += ops[p].tag != '+';
      blen += ops[p].tag != '-';
    }
    out += fmt::format("@@ -{},{} +{},{} @@\n", alen ? ops[start].a + 1 : ops[start].a, alen,
                       blen ? ops[start].b + 1 : ops[start].b, blen);
    for (size_t p = start; p < stop; ++p) {
      out += ops[p].tag;
      out += ops[p].line;
      if (ops[p].line.empty() || ops[p].line.back() != '\n')
        out += "\n\\ No newline at end of file\n";
    }
    k = stop;
  }
  return out;
}

}  // namespace rwd::components::services
