// SPDX-License-Identifier: Apache-2.0
#include "components/unified_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <unordered_map>
#include <vector>

namespace rwd::components::text {

namespace {

// Beyond this many differing lines the search for a shortest edit script
// (memory grows with its square) gives way to replacing every line.
constexpr int kMaxEditDistance = 2000;

// Lines with their newline, so that "x" at the end of a file without one
// differs from "x\n".
std::vector<std::string_view> split_lines(std::string_view s) {
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

enum class Op : char { kSame = ' ', kDelete = '-', kInsert = '+' };

struct Edit {
  Op op;
  size_t a;  // line index in a (kSame, kDelete)
  size_t b;  // line index in b (kSame, kInsert)
};

// Myers' O(ND) greedy search for a shortest edit script from x to y (line
// ids), or nothing when it needs more than kMaxEditDistance edits.
std::optional<std::vector<Edit>> myers(const std::vector<int>& x, const std::vector<int>& y) {
  const int n = static_cast<int>(x.size()), m = static_cast<int>(y.size());
  const int max = std::min(n + m, kMaxEditDistance);
  const int off = max + 1;
  std::vector<int> v(static_cast<size_t>(2 * max + 3), 0);
  std::vector<std::vector<int>> trace;  // v before each step d
  bool found = false;
  for (int d = 0; d <= max && !found; ++d) {
    trace.push_back(v);
    for (int k = -d; k <= d; k += 2) {
      int xi = (k == -d || (k != d && v[k - 1 + off] < v[k + 1 + off])) ? v[k + 1 + off]
                                                                        : v[k - 1 + off] + 1;
      int yi = xi - k;
      while (xi < n && yi < m && x[xi] == y[yi]) ++xi, ++yi;
      v[k + off] = xi;
      if (xi >= n && yi >= m) {
        found = true;
        break;
      }
    }
  }
  if (!found) return std::nullopt;
  // Walk back from (n, m) through the recorded steps.
  std::vector<Edit> rev;
  int xi = n, yi = m;
  for (int d = static_cast<int>(trace.size()) - 1; d >= 0; --d) {
    const std::vector<int>& pv = trace[static_cast<size_t>(d)];
    const int k = xi - yi;
    int pk;
    if (d == 0)
      pk = 0;
    else
      pk = (k == -d || (k != d && pv[k - 1 + off] < pv[k + 1 + off])) ? k + 1 : k - 1;
    const int px = d == 0 ? 0 : pv[pk + off];
    const int py = px - pk;
    // The diagonal (equal lines) after the step.
    const int sx = d == 0 ? 0 : (pk == k + 1 ? px : px + 1);
    while (xi > sx) {
      --xi, --yi;
      rev.push_back({Op::kSame, static_cast<size_t>(xi), static_cast<size_t>(yi)});
    }
    if (d == 0) break;
    if (pk == k + 1)
      rev.push_back({Op::kInsert, static_cast<size_t>(px), static_cast<size_t>(py)});
    else
      rev.push_back({Op::kDelete, static_cast<size_t>(px), static_cast<size_t>(py)});
    xi = px, yi = py;
  }
  std::reverse(rev.begin(), rev.end());
  return rev;
}

// "l,s" as diff -u writes it: ",1" left out; an empty range names the line
// before it.
std::string range(size_t first, size_t count) {
  if (count == 1) return fmt::format("{}", first + 1);
  return fmt::format("{},{}", count == 0 ? first : first + 1, count);
}

void put_line(std::string& out, char mark, std::string_view line) {
  out += mark;
  out.append(line);
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

bool is_text(std::string_view data) {
  return data.size() <= kMaxDiffText && data.substr(0, 8192).find('\0') == std::string_view::npos;
}

std::string unified_diff(std::string_view a, std::string_view b, std::string_view label_a,
                         std::string_view label_b, size_t context) {
  if (a == b) return {};
  const std::vector<std::string_view> la = split_lines(a), lb = split_lines(b);
  // Lines as small ids: the search compares ints, not strings.
  std::unordered_map<std::string_view, int> ids;
  auto to_ids = [&](const std::vector<std::string_view>& lines) {
    std::vector<int> out;
    out.reserve(lines.size());
    for (auto l : lines)
      out.push_back(ids.try_emplace(l, static_cast<int>(ids.size())).first->second);
    return out;
  };
  const std::vector<int> ia = to_ids(la), ib = to_ids(lb);
  // The common head and tail are equal lines for free; the search runs on
  // the middle.
  size_t head = 0;
  while (head < ia.size() && head < ib.size() && ia[head] == ib[head]) ++head;
  size_t tail = 0;
  while (tail < ia.size() - head && tail < ib.size() - head &&
         ia[ia.size() - 1 - tail] == ib[ib.size() - 1 - tail])
    ++tail;
  std::vector<Edit> script;
  for (size_t i = 0; i < head; ++i) script.push_back({Op::kSame, i, i});
  const std::vector<int> ma(ia.begin() + static_cast<ptrdiff_t>(head),
                            ia.end() - static_cast<ptrdiff_t>(tail));
  const std::vector<int> mb(ib.begin() + static_cast<ptrdiff_t>(head),
                            ib.end() - static_cast<ptrdiff_t>(tail));
  if (auto mid = myers(ma, mb)) {
    for (Edit e : *mid) script.push_back({e.op, e.a + head, e.b + head});
  } else {
    for (size_t i = 0; i < ma.size(); ++i) script.push_back({Op::kDelete, head + i, head});
    for (size_t i = 0; i < mb.size(); ++i)
      script.push_back({Op::kInsert, head + ma.size(), head + i});
  }
  for (size_t i = 0; i < tail; ++i)
    script.push_back({Op::kSame, la.size() - tail + i, lb.size() - tail + i});

  std::string out = fmt::format("--- a/{}\n+++ b/{}\n", label_a, label_b);
  // Hunks: each change with `context` equal lines around it; changes closer
  // than twice that share a hunk.
  size_t i = 0;
  while (i < script.size()) {
    while (i < script.size() && script[i].op == Op::kSame) ++i;
    if (i == script.size()) break;
    size_t start = i >= context ? i - context : 0;
    size_t end = i;  // one past the hunk's last change
    for (size_t j = i; j < script.size(); ++j) {
      if (script[j].op != Op::kSame) {
        end = j + 1;
      } else if (j - end + 1 > 2 * context) {
        break;
      }
    }
    size_t stop = std::min(script.size(), end + context);
    size_t a_first = script[start].a, b_first = script[start].b, a_count = 0, b_count = 0;
    for (size_t j = start; j < stop; ++j) {
      if (script[j].op != Op::kInsert) ++a_count;
      if (script[j].op != Op::kDelete) ++b_count;
    }
    out += fmt::format("@@ -{} +{} @@\n", range(a_first, a_count), range(b_first, b_count));
    for (size_t j = start; j < stop; ++j) {
      const Edit& e = script[j];
      put_line(out, static_cast<char>(e.op), e.op == Op::kInsert ? lb[e.b] : la[e.a]);
    }
    i = stop;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find(sep, b);
    if (e == std::string_view::npos) e = text.size();
    out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string collapse_whitespace(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace rwd::components::text
