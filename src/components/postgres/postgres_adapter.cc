// SPDX-License-Identifier: Apache-2.0
// The postgres adapter: databases of one PostgreSQL cluster.
//
// Snapshot (state.h blobs):
//   postgres.json         the connection settings, each database's name and
//                         creation properties (owner, encoding, locale), the
//                         restore point recorded when the cluster archives WAL
//   globals.sql           pg_dumpall --globals-only --no-role-passwords
//                         (roles, role settings): recorded for diff, never
//                         restored
//   db/<key>/dump         pg_dump -Fc (restorable)
//   db/<key>/schema.sql   the dump's schema (pg_restore -s)
//   db/<key>/rows.json    the dump's row count per table
//   db/<key>/digests.json the dump's content digest per table (pg::
//                         TableContent; absent from older snapshots, which
//                         then get no content comparison)
// The schema, the counts and the digests are read from the dump itself, so
// that they describe exactly what a restore brings back, even while clients
// write.
//
// A rollback never restores over a live database (pg_restore --clean would
// keep tables created after the capture). For each database D it creates
// D__rw_new, restores into it and checks it (schema equal to the captured
// one, every table's row count and, when recorded, content digest equal);
// only when every database passed does it swap, in ONE transaction (ALTER
// DATABASE ... RENAME may run in a transaction block): terminate D's
// connections, rename D -> D__rw_old and D__rw_new -> D. Then it drops
// D__rw_old. A failure before the swap drops the new databases and leaves
// the originals untouched; the swap is atomic; after it only the drop of
// the old copy remains, which the next apply does if rewind died first.
// Leftovers from a killed run are found by plan and cleaned by apply.
#include <fcntl.h>
#include <fmt/chrono.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <set>

#include "components/adapter.h"
#include "components/postgres/pg.h"
#include "components/state.h"
#include "components/unified_diff.h"

namespace rwd::components {

namespace {

using nlohmann::json;
using store::ChunkId;

constexpr std::string_view kNewSuffix = "__rw_new";
constexpr std::string_view kOldSuffix = "__rw_old";
// PostgreSQL's NAMEDATALEN - 1: a longer name would be truncated, and the
// staging names must stay distinct from the database's own.
constexpr size_t kMaxName = 63;

bool is_staging_name(const std::string& name) {
  return name.ends_with(kNewSuffix) || name.ends_with(kOldSuffix);
}

// The blob directory of a database: its name with every byte that is not
// [A-Za-z0-9_-] as %XX, so that any name (with '/', or "..") is one plain
// path component.
std::string blob_key(const std::string& db) {
  std::string out;
  for (unsigned char c : db) {
    if (std::isalnum(c) || c == '_' || c == '-')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string blob(const std::string& db, const char* part) {
  return "db/" + blob_key(db) + "/" + part;
}

// What a snapshot or the live cluster holds, for diff.
struct DbView {
  std::string schema;
  std::map<std::string, uint64_t> rows;
  std::map<std::string, std::string> digests;  // empty: not recorded
};
struct ClusterView {
  std::map<std::string, DbView> dbs;
  std::string globals;
};

// Splits what COPY read into a view's two maps.
void set_contents(DbView& d, const pg::Contents& contents) {
  for (const auto& [t, c] : contents) {
    d.rows[t] = c.rows;
    d.digests[t] = c.digest.hex();
  }
}

struct Snapshot {
  json meta;
  state::Reader reader;
  std::vector<std::string> databases() const {
    std::vector<std::string> out;
    for (const auto& d : meta.at("databases")) out.push_back(d.at("name").get<std::string>());
    return out;
  }
};

Result<Snapshot> open_snapshot(Context& ctx, const ChunkId& manifest) {
  REWIND_ASSIGN_OR_RETURN(state::Reader r, state::Reader::open(ctx, manifest));
  REWIND_ASSIGN_OR_RETURN(std::string text, r.read("postgres.json"));
  json meta = json::parse(text, nullptr, false);
  if (!meta.is_object() || !meta.contains("databases") || !meta["databases"].is_array() ||
      !meta.contains("settings"))
    return fail(Error::corrupted_data("postgres snapshot: postgres.json is damaged"));
  for (const auto& d : meta["databases"])
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string())
      return fail(Error::corrupted_data("postgres snapshot: postgres.json is damaged"));
  return Snapshot{std::move(meta), std::move(r)};
}

Result<std::map<std::string, uint64_t>> parse_rows(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return fail(Error::corrupted_data("postgres snapshot: a rows.json is damaged"));
  std::map<std::string, uint64_t> out;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_unsigned())
      return fail(Error::corrupted_data("postgres snapshot: a rows.json is damaged"));
    out[k] = v.get<uint64_t>();
  }
  return out;
}

bool has_blob(const Snapshot& s, const std::string& name) {
  const auto& entries = s.reader.entries();
  return std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.path == name; });
}

// The recorded digests of `db`, empty when the snapshot predates them.
Result<std::map<std::string, std::string>> read_digests(const Snapshot& s, const std::string& db) {
  std::map<std::string, std::string> out;
  const std::string name = blob(db, "digests.json");
  if (!has_blob(s, name)) return out;
  REWIND_ASSIGN_OR_RETURN(std::string text, s.reader.read(name));
  json j = json::parse(text, nullptr, false);
  if (!j.is_object())
    return fail(Error::corrupted_data("postgres snapshot: a digests.json is damaged"));
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string())
      return fail(Error::corrupted_data("postgres snapshot: a digests.json is damaged"));
    out[k] = v.get<std::string>();
  }
  return out;
}

Result<ClusterView> snapshot_view(const Snapshot& s) {
  ClusterView v;
  REWIND_ASSIGN_OR_RETURN(v.globals, s.reader.read("globals.sql"));
  for (const auto& db : s.databases()) {
    DbView d;
    REWIND_ASSIGN_OR_RETURN(d.schema, s.reader.read(blob(db, "schema.sql")));
    REWIND_ASSIGN_OR_RETURN(std::string rows, s.reader.read(blob(db, "rows.json")));
    REWIND_ASSIGN_OR_RETURN(d.rows, parse_rows(rows));
    REWIND_ASSIGN_OR_RETURN(d.digests, read_digests(s, db));
    v.dbs.emplace(db, std::move(d));
  }
  return v;
}

// The settings a snapshot's operations use: those it was taken with, under
// the configured ones (a point restores without the configuration).
Result<pg::Settings> settings_for(const ComponentSpec& spec, const json& recorded) {
  json merged = recorded.is_object() ? recorded : json::object();
  for (const auto& [k, v] : spec.settings.items()) merged[k] = v;
  return pg::parse_settings(spec.name, merged);
}

// The databases a component covers on the live cluster.
Result<std::vector<std::string>> live_databases(pg::Client& c) {
  if (!c.settings().databases.empty()) return c.settings().databases;
  REWIND_ASSIGN_OR_RETURN(auto all, c.databases());
  std::erase_if(all, is_staging_name);
  return all;
}

Result<ClusterView> live_view(pg::Client& c, const std::vector<std::string>& recorded) {
  ClusterView v;
  REWIND_ASSIGN_OR_RETURN(v.globals, c.globals());
  REWIND_ASSIGN_OR_RETURN(auto existing, c.databases());
  std::set<std::string> names(recorded.begin(), recorded.end());
  // A component of every database also sees the databases made since.
  if (c.settings().databases.empty())
    for (const auto& db : existing)
      if (!is_staging_name(db)) names.insert(db);
  for (const auto& db : names) {
    if (std::find(existing.begin(), existing.end(), db) == existing.end()) continue;
    DbView d;
    REWIND_ASSIGN_OR_RETURN(d.schema, c.schema(db));
    REWIND_ASSIGN_OR_RETURN(auto contents, c.contents(db));
    set_contents(d, contents);
    v.dbs.emplace(db, std::move(d));
  }
  return v;
}

// Whether both sides recorded a digest of `table` and they differ.
bool differ(const std::map<std::string, std::string>& a,
            const std::map<std::string, std::string>& b, const std::string& table) {
  auto da = a.find(table), db = b.find(table);
  return da != a.end() && db != b.end() && da->second != db->second;
}

// The changes from `a` (older) to `b` (newer). Keys: "D" for a database,
// "D/schema" (a unified diff), "D/schema.table" (rows "3 -> 5", or "3,
// content differs" when both sides recorded a digest), "globals".
std::vector<Change> compare(const ClusterView& a, const ClusterView& b, const std::string& label_a,
                            const std::string& label_b) {
  std::vector<Change> out;
  std::set<std::string> names;
  for (const auto& [n, _] : a.dbs) names.insert(n);
  for (const auto& [n, _] : b.dbs) names.insert(n);
  for (const auto& db : names) {
    auto ia = a.dbs.find(db), ib = b.dbs.find(db);
    if (ia == a.dbs.end() || ib == b.dbs.end()) {
      const DbView& d = ia == a.dbs.end() ? ib->second : ia->second;
      out.push_back(Change{db,
                           ia == a.dbs.end() ? "added" : "removed",
                           {"database"},
                           fmt::format("{} tables", d.rows.size())});
      continue;
    }
    std::string diff = text::unified_diff(ia->second.schema, ib->second.schema, label_a + " " + db,
                                          label_b + " " + db);
    if (!diff.empty()) out.push_back(Change{db + "/schema", "content", {"schema"}, diff});
    std::set<std::string> tables;
    for (const auto& [t, _] : ia->second.rows) tables.insert(t);
    for (const auto& [t, _] : ib->second.rows) tables.insert(t);
    for (const auto& t : tables) {
      auto ra = ia->second.rows.find(t), rb = ib->second.rows.find(t);
      if (ra == ia->second.rows.end())
        out.push_back(Change{db + "/" + t, "added", {"table"}, fmt::format("rows {}", rb->second)});
      else if (rb == ib->second.rows.end())
        out.push_back(
            Change{db + "/" + t, "removed", {"table"}, fmt::format("rows {}", ra->second)});
      else if (ra->second != rb->second)
        out.push_back(Change{db + "/" + t,
                             "content",
                             {"rows"},
                             fmt::format("rows {} -> {}", ra->second, rb->second)});
      else if (differ(ia->second.digests, ib->second.digests, t))
        out.push_back(Change{db + "/" + t,
                             "content",
                             {"rows"},
                             fmt::format("rows {}, content differs", ra->second)});
    }
  }
  // Roles are recorded only: a rollback does not restore them.
  std::string gdiff =
      text::unified_diff(a.globals, b.globals, label_a + " globals", label_b + " globals");
  if (!gdiff.empty()) out.push_back(Change{"globals", "content", {"roles", "recorded"}, gdiff});
  return out;
}

std::string staging(const std::string& db, std::string_view suffix) {
  return db + std::string(suffix);
}

Status check_name_length(const std::string& db) {
  if (db.size() + kNewSuffix.size() > kMaxName)
    return fail(Error::usage(
        "database \"{}\" has a name of {} bytes; rewind restores it under \"{}{}\", which must fit "
        "PostgreSQL's {} bytes: rename the database to at most {} bytes",
        db, db.size(), db, kNewSuffix, kMaxName, kMaxName - kNewSuffix.size()));
  return ok();
}

// Where administration connects: never a database being renamed.
std::string maintenance_db(const std::vector<std::string>& dbs) {
  return std::find(dbs.begin(), dbs.end(), pg::kMaintenanceDb) == dbs.end() ? pg::kMaintenanceDb
                                                                            : "template1";
}

// The size of a database's dump in the snapshot.
uint64_t dump_size(const Snapshot& s, const std::string& db) {
  const std::string name = blob(db, "dump");
  for (const auto& e : s.reader.entries())
    if (e.path == name) return e.size;
  return 0;
}

Result<std::set<std::string>> all_names(pg::Client& c, const std::string& maint) {
  REWIND_ASSIGN_OR_RETURN(auto names, c.query(maint, "SELECT datname FROM pg_database"));
  return std::set<std::string>(names.begin(), names.end());
}

// Staging databases a killed run left behind, of the databases `dbs`.
Result<std::vector<std::string>> leftovers(pg::Client& c, const std::vector<std::string>& dbs) {
  REWIND_ASSIGN_OR_RETURN(auto names, all_names(c, maintenance_db(dbs)));
  std::vector<std::string> out;
  for (const auto& db : dbs)
    for (auto suffix : {kNewSuffix, kOldSuffix})
      if (names.contains(staging(db, suffix))) out.push_back(staging(db, suffix));
  return out;
}

Status drop(pg::Client& c, const std::string& maint, const std::string& db) {
  return c.exec(maint, fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg::ident(db)));
}

// Cleans what a killed rollback left: D__rw_new is a half-made copy (drop
// it); D__rw_old beside D is the database a finished swap replaced (drop
// it); D__rw_old without D cannot come from rewind's atomic swap, but if a
// person left it so, it is the original: it gets its name back.
Status clean_leftovers(pg::Client& c, const std::vector<std::string>& dbs,
                       const std::string& maint) {
  REWIND_ASSIGN_OR_RETURN(auto names, all_names(c, maint));
  for (const auto& db : dbs) {
    const std::string n = staging(db, kNewSuffix), o = staging(db, kOldSuffix);
    if (names.contains(n)) REWIND_TRY(drop(c, maint, n));
    if (!names.contains(o)) continue;
    if (names.contains(db))
      REWIND_TRY(drop(c, maint, o));
    else
      REWIND_TRY(c.exec(
          maint, fmt::format("ALTER DATABASE {} RENAME TO {}", pg::ident(o), pg::ident(db))));
  }
  return ok();
}

// The database `target` must hold what the snapshot recorded of `db`.
Status check_restored(pg::Client& c, const Snapshot& s, const std::string& db,
                      const std::string& target) {
  REWIND_ASSIGN_OR_RETURN(std::string want, s.reader.read(blob(db, "schema.sql")));
  REWIND_ASSIGN_OR_RETURN(std::string rows_text, s.reader.read(blob(db, "rows.json")));
  REWIND_ASSIGN_OR_RETURN(auto want_rows, parse_rows(rows_text));
  REWIND_ASSIGN_OR_RETURN(auto want_digests, read_digests(s, db));
  REWIND_ASSIGN_OR_RETURN(std::string got, c.schema(target));
  // pg_dump does not print the database's name, but a comment or function
  // body might.
  for (size_t pos = 0; (pos = got.find(target, pos)) != std::string::npos; pos += db.size())
    got.replace(pos, target.size(), db);
  if (got != want) {
    std::string d = text::unified_diff(want, got, "captured", "restored");
    return fail(Error::invalid_state(
        "database {}: the restored schema differs from the captured one; the original is "
        "untouched:\n{}",
        db, d.substr(0, 4000)));
  }
  REWIND_ASSIGN_OR_RETURN(auto contents, c.contents(target));
  DbView restored;
  set_contents(restored, contents);
  const auto& got_rows = restored.rows;
  for (const auto& [t, n] : want_rows) {
    auto it = got_rows.find(t);
    uint64_t have = it == got_rows.end() ? 0 : it->second;
    if (it == got_rows.end() || have != n)
      return fail(Error::invalid_state(
          "database {}: table {} has {} rows after the restore, {} at capture; the original is "
          "untouched",
          db, t, have, n));
    if (differ(want_digests, restored.digests, t))
      return fail(Error::invalid_state(
          "database {}: table {} holds other rows after the restore than at capture (its "
          "content digest differs); the original is untouched",
          db, t));
  }
  if (got_rows.size() != want_rows.size())
    return fail(Error::invalid_state(
        "database {}: {} tables after the restore, {} at capture; the original is untouched", db,
        got_rows.size(), want_rows.size()));
  return ok();
}

// Test-only fault injection (tests/integration/postgres_test.cc): with
// REWIND_TEST_PG_FAIL_BEFORE_SWAP=1 a rollback fails after every database
// was restored and checked, just before the swap.
Status test_fault_before_swap() {
  const char* v = std::getenv("REWIND_TEST_PG_FAIL_BEFORE_SWAP");
  if (v && std::string_view(v) == "1")
    return fail(Error::other("injected failure before the swap (REWIND_TEST_PG_FAIL_BEFORE_SWAP)"));
  return ok();
}

struct PlanData {
  ChunkId manifest;
};

class PostgresAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "postgres"; }

  Status check_settings(const ComponentSpec& spec) const override {
    return pg::check_settings(spec);
  }

  Result<Captured> capture(Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
                           const std::optional<ChunkId>&) override {
    REWIND_ASSIGN_OR_RETURN(pg::Settings s, pg::parse_settings(spec.name, spec.settings));
    REWIND_ASSIGN_OR_RETURN(pg::WorkDir work, pg::WorkDir::create(ctx));
    pg::Client c(ctx, s, work);
    REWIND_ASSIGN_OR_RETURN(auto dbs, live_databases(c));
    const std::string maint = pg::kMaintenanceDb;
    state::Writer w(ctx, writer);
    json meta{{"format", 1}, {"settings", s.to_json()}, {"databases", json::array()}};
    std::vector<std::string> warnings;
    for (const auto& db : dbs) {
      REWIND_ASSIGN_OR_RETURN(
          auto p, c.query(maint, fmt::format("SELECT pg_get_userbyid(datdba), "
                                             "pg_encoding_to_char(encoding), datcollate, "
                                             "datctype, datlocprovider, coalesce(daticulocale, '') "
                                             "FROM pg_database WHERE datname = {}",
                                             pg::literal(db))));
      if (p.size() != 6)
        return fail(Error::not_found(
            "component {}: database \"{}\" does not exist in the cluster at {} port {} (fix "
            "`databases`)",
            spec.name, db, s.host, s.port));
      meta["databases"].push_back(json{{"name", db},
                                       {"owner", p[0]},
                                       {"encoding", p[1]},
                                       {"collate", p[2]},
                                       {"ctype", p[3]},
                                       {"locale_provider", p[4]},
                                       {"icu_locale", p[5]}});
      const std::string dump = work.fresh("dump"), schema = work.fresh("schema"),
                        data = work.fresh("data");
      REWIND_TRY(c.run({"pg_dump", "-w", "-Fc", "-d", db}, dump));
      {
        REWIND_ASSIGN_OR_RETURN(io::Fd fd, work.open(dump, O_RDONLY));
        REWIND_TRY(w.add_fd(blob(db, "dump"), fd.get()));
      }
      REWIND_TRY(c.run({"pg_restore", "-s", "-f", work.path(schema), work.path(dump)}));
      REWIND_ASSIGN_OR_RETURN(std::string schema_text, work.read(schema));
      REWIND_TRY(w.add(blob(db, "schema.sql"), pg::normalize_schema(schema_text)));
      REWIND_TRY(c.run({"pg_restore", "--data-only", "-f", work.path(data), work.path(dump)}));
      REWIND_ASSIGN_OR_RETURN(auto contents, pg::copy_contents(work, data));
      DbView facts;
      set_contents(facts, contents);
      REWIND_TRY(w.add(blob(db, "rows.json"), json(facts.rows).dump(1)));
      REWIND_TRY(w.add(blob(db, "digests.json"), json(facts.digests).dump(1)));
      for (const auto& n : {dump, schema, data}) work.remove(n);
    }
    REWIND_ASSIGN_OR_RETURN(std::string globals, c.globals());
    REWIND_TRY(w.add("globals.sql", globals));
    REWIND_ASSIGN_OR_RETURN(auto server, c.query(maint,
                                                 "SELECT current_setting('archive_mode'), "
                                                 "current_setting('server_version')"));
    const bool archiving = server.size() == 2 && (server[0] == "on" || server[0] == "always");
    meta["wal_archiving"] = archiving;
    if (server.size() == 2) meta["server_version"] = server[1];
    meta["restore_point"] = nullptr;
    if (archiving) {
      // The recovery point's number is not known yet (the seam gives none):
      // the component and the capture's UTC time name it, which `show`
      // prints beside the point, so a point-in-time recovery can target it.
      std::string name = fmt::format("rewind-{}-{:%Y%m%dT%H%M%SZ}", spec.name.substr(0, 40),
                                     fmt::gmtime(std::time(nullptr)));
      auto lsn = c.query(
          maint, fmt::format("SELECT pg_create_restore_point({})::text", pg::literal(name)));
      if (lsn && lsn->size() == 1)
        meta["restore_point"] = json{{"name", name}, {"lsn", (*lsn)[0]}};
      else
        warnings.push_back(fmt::format("the cluster archives its WAL, but no restore point: {}",
                                       lsn ? "unexpected output" : lsn.error().message()));
    }
    REWIND_TRY(w.add("postgres.json", meta.dump(1)));
    REWIND_ASSIGN_OR_RETURN(Captured out, w.finish());
    out.warnings = std::move(warnings);
    return out;
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest, bool) override {
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, open_snapshot(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(pg::Settings s, settings_for(spec, snap.meta["settings"]));
    REWIND_ASSIGN_OR_RETURN(pg::WorkDir work, pg::WorkDir::create(ctx));
    pg::Client c(ctx, s, work);
    REWIND_ASSIGN_OR_RETURN(ClusterView a, snapshot_view(snap));
    REWIND_ASSIGN_OR_RETURN(ClusterView b, live_view(c, snap.databases()));
    return compare(a, b, "captured", "live");
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec&,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    ClusterView a, b;
    if (older) {
      REWIND_ASSIGN_OR_RETURN(Snapshot s, open_snapshot(ctx, *older));
      REWIND_ASSIGN_OR_RETURN(a, snapshot_view(s));
    }
    if (newer) {
      REWIND_ASSIGN_OR_RETURN(Snapshot s, open_snapshot(ctx, *newer));
      REWIND_ASSIGN_OR_RETURN(b, snapshot_view(s));
    }
    return compare(a, b, "older", "newer");
  }

  Result<json> describe(Context& ctx, const ComponentSpec&, const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, open_snapshot(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(ClusterView v, snapshot_view(snap));
    json tables = json::object();
    for (const auto& [db, d] : v.dbs) tables[db] = d.rows;
    json out{{"databases", snap.databases()},
             {"tables", tables},
             {"wal_archiving", snap.meta.value("wal_archiving", false)},
             {"restorable", {"databases"}},
             {"recorded", {"globals"}}};
    const json& rp = snap.meta["restore_point"];
    if (rp.is_object()) {
      out["restore_point"] = fmt::format("{} at LSN {}", rp.value("name", std::string()),
                                         rp.value("lsn", std::string()));
      out["recorded"].push_back("restore_point");
    } else {
      out["restore_point"] = "none (the cluster does not archive its WAL)";
    }
    return out;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest,
                    bool incremental, bool remove_extra, const std::vector<std::string>&) override {
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, open_snapshot(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(pg::Settings s, settings_for(spec, snap.meta["settings"]));
    REWIND_ASSIGN_OR_RETURN(pg::WorkDir work, pg::WorkDir::create(ctx));
    pg::Client c(ctx, s, work);
    Plan plan;
    plan.incremental = incremental;
    plan.remove_extra = remove_extra;
    const auto dbs = snap.databases();
    for (const auto& db : dbs) {
      REWIND_TRY(check_name_length(db));
      plan.replace.push_back(db);
      ++plan.files;
      plan.bytes += dump_size(snap, db);
    }
    // A killed run's staging databases: apply drops them first.
    REWIND_ASSIGN_OR_RETURN(plan.remove, leftovers(c, dbs));
    plan.entries = snap.reader.entries();
    plan.adapter_data = std::make_shared<PlanData>(PlanData{manifest});
    return plan;
  }

  Status validate(Context& ctx, const Plan& plan) override {
    const auto* pd = static_cast<const PlanData*>(plan.adapter_data.get());
    if (!pd) return fail(Error::invalid_state("postgres: no plan to validate"));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, open_snapshot(ctx, pd->manifest));
    return snap.reader.validate();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* pd = static_cast<const PlanData*>(plan.adapter_data.get());
    if (!pd) return fail(Error::invalid_state("component {}: no rollback plan", spec.name));
    REWIND_ASSIGN_OR_RETURN(Snapshot snap, open_snapshot(ctx, pd->manifest));
    REWIND_ASSIGN_OR_RETURN(pg::Settings s, settings_for(spec, snap.meta["settings"]));
    REWIND_ASSIGN_OR_RETURN(pg::WorkDir work, pg::WorkDir::create(ctx));
    pg::Client c(ctx, s, work);
    const auto dbs = snap.databases();
    const std::string maint = maintenance_db(dbs);
    REWIND_TRY(clean_leftovers(c, dbs, maint));

    // Restore every database beside the original and check it.
    Applied applied;
    std::vector<std::string> made;
    auto undo = [&](const Error& e) -> Result<Applied> {
      for (const auto& n : made)
        ignore_status(drop(c, maint, n), "best effort; the next apply drops a leftover copy");
      return fail(e);
    };
    for (const auto& d : snap.meta["databases"]) {
      const std::string db = d.at("name").get<std::string>();
      const std::string n = staging(db, kNewSuffix);
      std::string create = fmt::format(
          "CREATE DATABASE {} TEMPLATE template0 OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}",
          pg::ident(n), pg::ident(d.value("owner", s.user)),
          pg::literal(d.value("encoding", "UTF8")), pg::literal(d.value("collate", "C")),
          pg::literal(d.value("ctype", "C")));
      if (d.value("locale_provider", "") == "i")
        create += fmt::format(" LOCALE_PROVIDER icu ICU_LOCALE {}",
                              pg::literal(d.value("icu_locale", "")));
      if (Status st = c.exec(maint, create); !st) return undo(st.error());
      made.push_back(n);
      const std::string dump = work.fresh("dump");
      {
        auto fd = work.open(dump, O_WRONLY | O_CREAT | O_TRUNC);
        if (!fd) return undo(fd.error());
        if (Status st = snap.reader.copy_to(blob(db, "dump"), fd->get()); !st)
          return undo(st.error());
      }
      if (Status st = c.run({"pg_restore", "-w", "--exit-on-error", "--single-transaction", "-d", n,
                             work.path(dump)});
          !st)
        return undo(st.error().with_context(fmt::format("restoring database {}", db)));
      work.remove(dump);
      if (Status st = check_restored(c, snap, db, n); !st) return undo(st.error());
      ++applied.files;
      applied.entries += 1;
    }
    if (Status st = test_fault_before_swap(); !st) return undo(st.error());

    // The swap: one transaction, so either every database is the restored
    // copy or none is. Renaming needs D free of connections: its clients
    // (the component's services are stopped by now) are terminated within
    // the transaction, and the rename waits for them to go.
    auto names = all_names(c, maint);
    if (!names) return undo(names.error());
    std::string in_list, renames;
    std::vector<std::string> old;
    for (const auto& db : dbs) {
      in_list += (in_list.empty() ? "" : ", ") + pg::literal(db);
      if (names->contains(db)) {
        renames += fmt::format("ALTER DATABASE {} RENAME TO {}; ", pg::ident(db),
                               pg::ident(staging(db, kOldSuffix)));
        old.push_back(staging(db, kOldSuffix));
      }
      renames += fmt::format("ALTER DATABASE {} RENAME TO {}; ", pg::ident(staging(db, kNewSuffix)),
                             pg::ident(db));
    }
    if (Status st = c.exec(maint, fmt::format("BEGIN; SELECT count(pg_terminate_backend(pid)) FROM "
                                              "pg_stat_activity WHERE datname IN ({}) AND pid <> "
                                              "pg_backend_pid(); {}COMMIT;",
                                              in_list, renames));
        !st)
      return undo(st.error().with_context("swapping the restored databases in"));

    // The old copies go; should that fail, the rollback still holds and the
    // next plan/apply finds them.
    for (const auto& o : old)
      if (Status st = drop(c, maint, o); !st)
        applied.warnings.push_back(fmt::format("the replaced database {} could not be dropped: {}",
                                               o, st.error().message()));
    for (const auto& db : dbs) applied.bytes += dump_size(snap, db);
    return applied;
  }

  Status remove(Context&, const ComponentSpec& spec) override {
    // plan() never reports a postgres component absent, so the engine has no
    // reason to ask; dropping databases on such a request would be wrong.
    return fail(Error::invalid_state(
        "component {}: rewind does not drop PostgreSQL databases to make a component absent",
        spec.name));
  }
};

}  // namespace

Adapter& postgres_adapter() {
  static PostgresAdapter a;
  return a;
}

}  // namespace rwd::components
