// SPDX-License-Identifier: Apache-2.0
#include "components/packages/status.h"

#include <strings.h>

#include <algorithm>

#include "components/packages/version.h"

namespace rwd::components::packages {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool field_is(std::string_view field, std::string_view name) {
  return field.size() == name.size() && ::strncasecmp(field.data(), name.data(), name.size()) == 0;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t b = 0;
  while (true) {
    size_t e = s.find(sep, b);
    if (e == std::string_view::npos) {
      out.push_back(s.substr(b));
      return out;
    }
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (std::string_view w : split(s, ' '))
    if (!trim(w).empty()) out.push_back(trim(w));
  return out;
}

std::string display_name(const Package& p, const std::string& native) {
  return p.arch == native || p.arch == "all" || p.arch.empty() ? p.name : p.name + ":" + p.arch;
}

}  // namespace

bool Package::installed() const {
  return status == "installed" || status == "unpacked" || status == "half-configured" ||
         status == "triggers-awaited" || status == "triggers-pending";
}

Result<PackageSet> parse_status(std::string_view text) {
  PackageSet out;
  Package cur;
  std::string status_line;
  auto finish = [&]() -> Status {
    if (!cur.name.empty() && !status_line.empty()) {
      auto w = words(status_line);
      if (w.size() != 3)
        return fail(Error::corrupted_data(
            "dpkg status: package {}: Status \"{}\" is not \"want flag status\"", cur.name,
            status_line));
      cur.want = w[0];
      cur.flag = w[1];
      cur.status = w[2];
      std::pair<std::string, std::string> key{cur.name, cur.arch};
      out[key] = std::move(cur);
    }
    cur = Package{};
    status_line.clear();
    return ok();
  };
  for (std::string_view line : split(text, '\n')) {
    if (trim(line).empty()) {
      REWIND_TRY(finish());
      continue;
    }
    // Continuation lines (descriptions, conffiles) belong to fields we skip.
    if (line.front() == ' ' || line.front() == '\t') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    std::string value(trim(line.substr(colon + 1)));
    if (field_is(field, "Package"))
      cur.name = std::move(value);
    else if (field_is(field, "Status"))
      status_line = std::move(value);
    else if (field_is(field, "Version"))
      cur.version = std::move(value);
    else if (field_is(field, "Architecture"))
      cur.arch = std::move(value);
  }
  REWIND_TRY(finish());
  return out;
}

std::string native_arch(const PackageSet& set) {
  std::map<std::string, size_t> count;
  for (const auto& [key, p] : set) {
    if (p.name == "dpkg" && p.installed() && !p.arch.empty()) return p.arch;
    if (p.arch != "all" && !p.arch.empty()) ++count[p.arch];
  }
  auto best = std::max_element(count.begin(), count.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == count.end() ? std::string() : best->first;
}

std::string format_set(const PackageSet& set) {
  std::string out;
  for (const auto& [key, p] : set)
    out += p.name + "\t" + p.arch + "\t" + p.version + "\t" + p.want + "\t" + p.flag + "\t" +
           p.status + "\n";
  return out;
}

Result<PackageSet> parse_set(std::string_view text) {
  PackageSet out;
  size_t n = 0;
  for (std::string_view line : split(text, '\n')) {
    ++n;
    if (line.empty()) continue;
    auto f = split(line, '\t');
    if (f.size() != 6 || f[0].empty())
      return fail(Error::corrupted_data(
          "package list, line {}: expected 6 tab-separated fields, found {}", n, f.size()));
    Package p{std::string(f[0]), std::string(f[1]), std::string(f[2]),
              std::string(f[3]), std::string(f[4]), std::string(f[5])};
    std::pair<std::string, std::string> key{p.name, p.arch};
    if (!out.emplace(std::move(key), std::move(p)).second)
      return fail(Error::corrupted_data("package list, line {}: {} is listed twice", n, f[0]));
  }
  return out;
}

std::vector<Change> diff_sets(const PackageSet& older, const PackageSet& newer,
                              const std::string& native) {
  std::vector<Change> out;
  auto add = [&](const Package& p, std::string kind, std::string detail) {
    out.push_back(Change{display_name(p, native), std::move(kind), {}, std::move(detail)});
  };
  for (const auto& [key, a] : older) {
    auto it = newer.find(key);
    const Package* b = it == newer.end() ? nullptr : &it->second;
    bool was = a.installed(), is = b && b->installed();
    if (was && !is) add(a, "removed", a.version);
    if (was && is) {
      int c = compare_versions(a.version, b->version);
      if (c < 0) add(a, "upgraded", a.version + " -> " + b->version);
      if (c > 0) add(a, "downgraded", a.version + " -> " + b->version);
    }
    if (!b) continue;
    if (a.held() != b->held())
      add(*b, "held", a.held() ? "held -> not held" : "not held -> held");
    else if (a.want != b->want && was == is)  // removing a package changes its want too
      add(*b, "selection", a.want + " -> " + b->want);
  }
  for (const auto& [key, b] : newer) {
    auto it = older.find(key);
    bool was = it != older.end() && it->second.installed();
    if (b.installed() && !was) add(b, "installed", b.version);
    // A package that appears already marked (e.g. held before installing)
    // shows its mark too.
    if (it == older.end() && b.held()) add(b, "held", "not held -> held");
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Change& x, const Change& y) { return x.path < y.path; });
  return out;
}

AptWork apt_work(const PackageSet& live, const PackageSet& target, const std::string& native) {
  AptWork w;
  for (const auto& [key, t] : target) {
    if (!t.installed()) continue;
    auto it = live.find(key);
    bool have = it != live.end() && it->second.installed();
    if (have && compare_versions(it->second.version, t.version) == 0) continue;
    if (have && compare_versions(it->second.version, t.version) > 0) w.downgrade = true;
    w.install.push_back(display_name(t, native) + "=" + t.version);
  }
  for (const auto& [key, l] : live) {
    if (!l.installed()) continue;
    auto it = target.find(key);
    if (it == target.end() || !it->second.installed()) w.remove.push_back(display_name(l, native));
  }
  return w;
}

}  // namespace rwd::components::packages
