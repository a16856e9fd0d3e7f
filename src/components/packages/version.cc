// SPDX-License-Identifier: Apache-2.0
#include "components/packages/version.h"

namespace rwd::components::packages {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A character's weight in a non-digit run; 0 is the end of the string (or
// the start of a digit run), so '~' (-1) sorts before it.
int order(char c) {
  if (is_digit(c)) return 0;
  if (is_alpha(c)) return static_cast<unsigned char>(c);
  if (c == '~') return -1;
  if (c != '\0') return static_cast<unsigned char>(c) + 256;
  return 0;
}

// dpkg's verrevcmp on string views (reading past the end yields '\0').
int compare_part(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  auto at = [](std::string_view s, size_t k) { return k < s.size() ? s[k] : '\0'; };
  while (i < a.size() || j < b.size()) {
    while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
      int ac = order(at(a, i)), bc = order(at(b, j));
      if (ac != bc) return ac - bc;
      ++i;
      ++j;
    }
    while (at(a, i) == '0') ++i;
    while (at(b, j) == '0') ++j;
    int first_diff = 0;
    while (is_digit(at(a, i)) && is_digit(at(b, j))) {
      if (first_diff == 0) first_diff = at(a, i) - at(b, j);
      ++i;
      ++j;
    }
    // The longer digit run (without leading zeros) is the larger number.
    if (is_digit(at(a, i))) return 1;
    if (is_digit(at(b, j))) return -1;
    if (first_diff != 0) return first_diff;
  }
  return 0;
}

struct Parsed {
  std::string_view epoch;  // digits, leading zeros possible; empty = 0
  std::string_view upstream;
  std::string_view revision;  // empty when there is none
};

Parsed parse(std::string_view v) {
  Parsed p;
  if (size_t colon = v.find(':'); colon != std::string_view::npos) {
    p.epoch = v.substr(0, colon);
    v.remove_prefix(colon + 1);
  }
  if (size_t dash = v.rfind('-'); dash != std::string_view::npos) {
    p.revision = v.substr(dash + 1);
    v = v.substr(0, dash);
  }
  p.upstream = v;
  return p;
}

// Epochs compare as numbers of any length (no overflow): without leading
// zeros, the longer digit string is larger.
int compare_epochs(std::string_view a, std::string_view b) {
  while (!a.empty() && a.front() == '0') a.remove_prefix(1);
  while (!b.empty() && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b);
}

}  // namespace

int compare_versions(std::string_view a, std::string_view b) {
  Parsed pa = parse(a), pb = parse(b);
  if (int c = compare_epochs(pa.epoch, pb.epoch); c != 0) return c;
  if (int c = compare_part(pa.upstream, pb.upstream); c != 0) return c;
  return compare_part(pa.revision, pb.revision);
}

}  // namespace rwd::components::packages
