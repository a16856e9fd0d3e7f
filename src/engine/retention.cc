// SPDX-License-Identifier: Apache-2.0
#include "engine/retention.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "rewind/result.h"

namespace rwd::engine {

namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::nanoseconds;
using std::chrono::sys_days;
using std::chrono::year_month_day;

struct Civil {
  int year;
  unsigned month, day, hour;
  int iso_year;
  unsigned iso_week;
};

Civil civil_utc(int64_t time_ns) {
  const std::chrono::sys_time<nanoseconds> t{nanoseconds(time_ns)};
  const sys_days d = floor<days>(t);
  const year_month_day ymd{d};
  Civil c{};
  c.year = static_cast<int>(ymd.year());
  c.month = static_cast<unsigned>(ymd.month());
  c.day = static_cast<unsigned>(ymd.day());
  c.hour = static_cast<unsigned>(floor<std::chrono::hours>(t - d).count());
  // ISO 8601 week (as Go's Time.ISOWeek): the week's Thursday names the year.
  const unsigned iso_dow = std::chrono::weekday{d}.iso_encoding();  // Monday = 1
  const sys_days thursday = d + days(4 - static_cast<int>(iso_dow));
  const std::chrono::year iy = year_month_day{thursday}.year();
  c.iso_year = static_cast<int>(iy);
  c.iso_week =
      static_cast<unsigned>((thursday - sys_days{iy / std::chrono::January / 1}).count() / 7 + 1);
  return c;
}

// One keep_* rule: how many periods, and the period a time falls in (its
// label doubles as the reason).
struct Bucket {
  const char* rule;
  int64_t count;
  std::function<std::string(const Civil&)> period;
};

// Units that max_per_kind counts and min_free removes: a pre/post pair is
// one unit, every other point its own.
struct Unit {
  std::string kind;
  std::vector<size_t> members;  // indices into the newest-first list
  int64_t newest = 0, oldest = 0;
};

bool machine_made(const std::string& kind) {
  return kind == "pre" || kind == "post" || kind == "timeline" || kind == "auto" ||
         kind == "safety";
}

}  // namespace

std::string format_duration(int64_t ns) {
  if (ns <= 0) return "0";
  static constexpr std::pair<const char*, int64_t> kUnits[] = {{"d", 86400000000000},
                                                               {"h", 3600000000000},
                                                               {"min", 60000000000},
                                                               {"s", 1000000000},
                                                               {"ms", 1000000},
                                                               {"us", 1000},
                                                               {"ns", 1}};
  std::string out;
  for (const auto& [name, size] : kUnits) {
    if (ns < size) continue;
    out += fmt::format("{}{}{}", out.empty() ? "" : " ", ns / size, name);
    ns %= size;
  }
  return out;
}

RetentionReport decide_retention(std::vector<RetentionDecision> points,
                                 const RetentionPolicy& policy,
                                 const std::map<int64_t, int64_t>& in_use,
                                 std::optional<FileSystemSpace> space,
                                 const std::map<int64_t, std::string>& held) {
  RetentionReport rep;
  // Newest first, as restic walks them; equal times by number.
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) {
    return a.time_ns != b.time_ns ? a.time_ns > b.time_ns : a.id > b.id;
  });
  for (auto& p : points) {
    p.keep = false;
    p.reasons.clear();
  }
  auto keep = [](RetentionDecision& p, std::string why) {
    if (!p.keep) p.reasons.clear();  // a removal's reason no longer holds
    p.keep = true;
    p.reasons.push_back(std::move(why));
  };

  // 1. The keep_* rules, a union.
  if (!points.empty()) {
    const int64_t newest = points.front().time_ns;
    std::vector<Bucket> buckets{
        {"last", policy.keep_last, nullptr},
        {"hourly", policy.keep_hourly,
         [](const Civil& c) {
           return fmt::format("{:04}-{:02}-{:02}T{:02}", c.year, c.month, c.day, c.hour);
         }},
        {"daily", policy.keep_daily,
         [](const Civil& c) { return fmt::format("{:04}-{:02}-{:02}", c.year, c.month, c.day); }},
        {"weekly", policy.keep_weekly,
         [](const Civil& c) { return fmt::format("{:04}-W{:02}", c.iso_year, c.iso_week); }},
        {"monthly", policy.keep_monthly,
         [](const Civil& c) { return fmt::format("{:04}-{:02}", c.year, c.month); }},
        {"yearly", policy.keep_yearly, [](const Civil& c) { return fmt::format("{:04}", c.year); }},
    };
    std::vector<std::string> last(buckets.size());
    const std::string within = "within " + format_duration(policy.keep_within_ns);
    for (size_t i = 0; i < points.size(); ++i) {
      auto& p = points[i];
      if (policy.keep_within_ns > 0 && p.time_ns > newest - policy.keep_within_ns) keep(p, within);
      const Civil c = civil_utc(p.time_ns);
      for (size_t b = 0; b < buckets.size(); ++b) {
        Bucket& bk = buckets[b];
        if (bk.count <= 0) continue;
        // keep_last's "period" is the point itself; the others' a calendar one.
        std::string period = bk.period ? bk.period(c) : std::to_string(i);
        if (period == last[b]) continue;
        last[b] = period;
        --bk.count;
        keep(p, bk.period ? fmt::format("{} {}", bk.rule, period) : fmt::format("last {}", i + 1));
      }
    }
  }

  // Units: a post and its pre together.
  std::map<int64_t, size_t> index_of;
  for (size_t i = 0; i < points.size(); ++i) index_of[points[i].id] = i;
  std::vector<Unit> units;
  std::vector<size_t> unit_of(points.size(), SIZE_MAX);
  for (size_t i = 0; i < points.size(); ++i) {
    if (unit_of[i] != SIZE_MAX) continue;
    Unit u;
    u.kind = points[i].kind;
    u.members.push_back(i);
    if (points[i].kind == "post" || points[i].kind == "pre") {
      u.kind = "pre/post";
      auto it = index_of.find(points[i].pre_id);
      if (points[i].kind == "post" && it != index_of.end() && points[it->second].kind == "pre" &&
          unit_of[it->second] == SIZE_MAX)
        u.members.push_back(it->second);
    }
    u.newest = points[u.members.front()].time_ns;
    u.oldest = points[u.members.back()].time_ns;
    for (size_t m : u.members) unit_of[m] = units.size();
    units.push_back(std::move(u));
  }
  auto any_member = [&](const Unit& u, auto pred) {
    return std::any_of(u.members.begin(), u.members.end(),
                       [&](size_t m) { return pred(points[m]); });
  };

  // 2. max_per_kind caps the machine-made kinds (units are newest first).
  if (policy.max_per_kind > 0) {
    std::map<std::string, int64_t> counted;
    for (const Unit& u : units) {
      if (!machine_made(points[u.members.front()].kind)) continue;
      if (!any_member(u, [](const auto& p) { return p.keep; })) continue;
      if (any_member(u, [](const auto& p) { return p.pinned; })) continue;
      if (++counted[u.kind] <= policy.max_per_kind) continue;
      for (size_t m : u.members) {
        points[m].keep = false;
        points[m].reasons = {
            fmt::format("max_per_kind: more than {} {} kept", policy.max_per_kind, u.kind)};
      }
    }
  }

  // 3. What is always kept.
  std::set<size_t> protected_points;
  for (size_t i = 0; i < points.size(); ++i) {
    auto& p = points[i];
    if (p.pinned) {
      keep(p, "pinned");
      protected_points.insert(i);
    }
    if (auto it = in_use.find(p.id); it != in_use.end()) {
      keep(p, fmt::format("in use by operation {}", it->second));
      protected_points.insert(i);
    }
    if (auto it = held.find(p.id); it != held.end()) {
      keep(p, it->second);
      protected_points.insert(i);
    }
  }
  for (size_t i = 0; i < points.size(); ++i)
    if (points[i].damaged.empty()) {
      keep(points[i], "newest that verifies");
      protected_points.insert(i);
      break;
    }
  // A pre point's post is newer, so min_free (oldest first, pairs whole)
  // never leaves a kept post without its pre: this runs once.
  for (auto& p : points) {
    if (!p.keep || p.kind != "post") continue;
    auto it = index_of.find(p.pre_id);
    if (it == index_of.end() || points[it->second].keep) continue;
    keep(points[it->second], fmt::format("pre of kept {}", p.id));
  }

  // 4. min_free, last.
  for (const auto& p : points)
    if (!p.keep) rep.estimated_freed += p.unique;
  if (policy.min_free && space) {
    rep.free_bytes = space->free_bytes;
    rep.total_bytes = space->total_bytes;
    rep.floor_bytes = policy.min_free->percent > 0
                          ? static_cast<uint64_t>(static_cast<long double>(space->total_bytes) *
                                                  policy.min_free->percent / 100)
                          : policy.min_free->bytes;
    if (rep.free_bytes < rep.floor_bytes) {
      rep.min_free_applied = true;
      // Oldest first: units sorted by their oldest member.
      std::vector<const Unit*> order;
      for (const Unit& u : units) order.push_back(&u);
      std::stable_sort(order.begin(), order.end(),
                       [](const Unit* a, const Unit* b) { return a->oldest < b->oldest; });
      uint64_t removed_by_floor = 0;
      for (const Unit* u : order) {
        if (rep.free_bytes + rep.estimated_freed >= rep.floor_bytes) break;
        bool locked = false;
        for (size_t m : u->members) locked = locked || protected_points.contains(m);
        if (locked || !any_member(*u, [](const auto& p) { return p.keep; })) continue;
        for (size_t m : u->members) {
          if (!points[m].keep) continue;
          points[m].keep = false;
          points[m].reasons = {"min_free"};
          rep.estimated_freed += points[m].unique;
          ++removed_by_floor;
        }
      }
      rep.notes.push_back(fmt::format(
          "free space {} of {} bytes is below min_free ({} bytes): {} more of the oldest unpinned "
          "points go; estimated to free {} bytes in all once `rewind prune` runs (each removed "
          "point's data that no other point references)",
          rep.free_bytes, rep.total_bytes, rep.floor_bytes, removed_by_floor, rep.estimated_freed));
      if (rep.free_bytes + rep.estimated_freed < rep.floor_bytes)
        rep.notes.push_back(
            "still below min_free: the points left are pinned, in use, or the newest that "
            "verifies");
    }
  }

  for (const auto& p : points)
    if (!p.damaged.empty())
      rep.notes.push_back(fmt::format("damaged: recovery point {}: {}", p.id, p.damaged));
  std::reverse(points.begin(), points.end());
  for (const auto& p : points)
    if (!p.keep) rep.removed.push_back(p.id);
  rep.points = std::move(points);
  return rep;
}

}  // namespace rwd::engine
