// SPDX-License-Identifier: Apache-2.0
#include "components/postgres/pg.h"

#include <fcntl.h>

#include <algorithm>
#include <array>

#include "components/unified_diff.h"
#include "config/config.h"
#include "io/durable.h"

namespace rwd::components::pg {

namespace {

constexpr std::array<std::string_view, 7> kKeys = {
    "host", "port", "user", "databases", "bin_dir", "timeout", "password_file"};

std::string known_keys() {
  std::string out;
  for (auto k : kKeys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

}  // namespace

nlohmann::json Settings::to_json() const {
  nlohmann::json j{{"host", host},       {"port", port},
                   {"user", user},       {"databases", databases},
                   {"bin_dir", bin_dir}, {"timeout", fmt::format("{}ms", timeout.count())}};
  if (!password_file.empty()) j["password_file"] = password_file;
  return j;
}

Result<Settings> parse_settings(const std::string& component, const nlohmann::json& json) {
  Settings s;
  if (!json.is_object())
    return fail(Error::usage("component \"{}\": settings must be a table", component));
  auto type_error = [&](const std::string& key, const char* type) {
    return fail(Error::usage("component \"{}\": key \"{}\" must be {}", component, key, type));
  };
  for (const auto& [key, v] : json.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end())
      return fail(
          Error::usage("component \"{}\": adapter \"postgres\" has no key \"{}\" (known: {})",
                       component, key, known_keys()));
    if (key == "port") {
      if (!v.is_number_integer()) return type_error(key, "an integer");
      int64_t p = v.get<int64_t>();
      if (p < 1 || p > 65535)
        return fail(
            Error::usage("component \"{}\": port {} is not between 1 and 65535", component, p));
      s.port = static_cast<int>(p);
    } else if (key == "databases") {
      if (!v.is_array()) return type_error(key, "an array of strings");
      for (const auto& d : v) {
        if (!d.is_string() || d.get<std::string>().empty())
          return type_error(key, "an array of database names (non-empty strings)");
        s.databases.push_back(d.get<std::string>());
      }
    } else {
      if (!v.is_string()) return type_error(key, "a string");
      const std::string text = v.get<std::string>();
      if (key == "host") {
        s.host = text;
      } else if (key == "user") {
        s.user = text;
      } else if (key == "bin_dir") {
        s.bin_dir = text;
      } else if (key == "password_file") {
        s.password_file = text;
      } else if (key == "timeout") {
        // Snapshots keep the timeout as milliseconds ("600000ms"), which
        // parse_duration reads as well.
        auto d = config::parse_duration(text);
        if (!d)
          return fail(
              Error::usage("component \"{}\": timeout: {}", component, d.error().message()));
        s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
      }
    }
  }
  return s;
}

Status check_settings(const ComponentSpec& spec) {
  REWIND_TRY(parse_settings(spec.name, spec.settings));
  return ok();
}

std::string ident(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

Result<WorkDir> WorkDir::create(Context& ctx) {
  // The tools get absolute paths: their argv should not depend on where
  // rewind runs.
  const std::string base = ctx.repo.path();
  if (base.empty() || base.front() != '/')
    return fail(
        Error::usage("the repository path {} must be absolute for the postgres adapter", base));
  std::string name = io::temp_name();
  REWIND_TRY(ctx.fs.mkdir_at(ctx.repo.dirfd(), name, 0700));
  REWIND_ASSIGN_OR_RETURN(io::Fd dir,
                          ctx.fs.open_at(ctx.repo.dirfd(), name, O_RDONLY | O_DIRECTORY));
  return WorkDir(ctx, std::move(dir), name, base + "/" + name);
}

WorkDir::~WorkDir() {
  if (!dir_) return;
  if (auto entries = ctx_->fs.list_dir(dir_.get()))
    for (const auto& e : *entries)
      ignore_status(ctx_->fs.unlink_at(dir_.get(), e.name), "best-effort cleanup of scratch files");
  ignore_status(dir_.close(), "read-only directory");
  ignore_status(ctx_->fs.unlink_at(ctx_->repo.dirfd(), name_, AT_REMOVEDIR),
                "best-effort cleanup; a leftover .rw-tmp-* directory holds nothing rewind needs");
}

Result<io::Fd> WorkDir::open(const std::string& name, int flags) const {
  return ctx_->fs.open_at(dir_.get(), name, flags, 0600);
}

Result<std::string> WorkDir::read(const std::string& name) const {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, open(name, O_RDONLY));
  std::string out;
  std::vector<std::byte> buf(1 << 20);
  while (true) {
    REWIND_ASSIGN_OR_RETURN(size_t n, ctx_->fs.read(fd.get(), buf));
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return out;
}

Status WorkDir::for_each_line(const std::string& name,
                              const std::function<void(std::string_view)>& f) const {
  // Streamed: a data-only script holds every row of a database.
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, open(name, O_RDONLY));
  std::string pending;
  std::vector<std::byte> buf(1 << 20);
  while (true) {
    REWIND_ASSIGN_OR_RETURN(size_t n, ctx_->fs.read(fd.get(), buf));
    if (n == 0) break;
    pending.append(reinterpret_cast<const char*>(buf.data()), n);
    size_t b = 0;
    for (size_t e; (e = pending.find('\n', b)) != std::string::npos; b = e + 1)
      f(std::string_view(pending).substr(b, e - b));
    pending.erase(0, b);
  }
  if (!pending.empty()) f(pending);
  return ok();
}

Status WorkDir::write(const std::string& name, std::string_view data) const {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, open(name, O_WRONLY | O_CREAT | O_TRUNC));
  return ctx_->fs.write(fd.get(), std::as_bytes(std::span(data.data(), data.size())));
}

void WorkDir::remove(const std::string& name) const {
  ignore_status(ctx_->fs.unlink_at(dir_.get(), name),
                "best-effort; the destructor removes what is left");
}

std::string WorkDir::fresh(const std::string& stem) {
  return fmt::format("{}-{}", stem, counter_++);
}

Client::Client(Context& ctx, Settings s, WorkDir& work) : ctx_(ctx), s_(std::move(s)), work_(work) {
  // The configured directory, or PATH when it is not there (a cluster of
  // another version, or tools installed elsewhere).
  if (!s_.bin_dir.empty() && ctx_.fs.open_path(s_.bin_dir, O_PATH | O_DIRECTORY)) bin_ = s_.bin_dir;
}

Status Client::run(std::vector<std::string> argv, const std::string& stdout_name) {
  const std::string tool = argv[0];
  if (!bin_.empty()) argv[0] = bin_ + "/" + tool;
  io::ProcessOptions po;
  po.timeout = s_.timeout;
  po.env = {"PGHOST=" + s_.host, "PGPORT=" + std::to_string(s_.port), "PGUSER=" + s_.user,
            "PGAPPNAME=rewind", "PGCONNECT_TIMEOUT=30",
            // pg_dump does not set the time zone: a fixed one keeps the
            // dump's timestamptz text, and so the content digests, the
            // same whatever the server's or the database's setting.
            "PGTZ=UTC"};
  if (!s_.password_file.empty()) po.env.push_back("PGPASSFILE=" + s_.password_file);
  if (!stdout_name.empty()) po.stdout_path = work_.path(stdout_name);
  auto r = io::run_process(argv, po);
  if (!r) return fail(r.error().with_context(fmt::format("running {}", tool)));
  if (r->timed_out)
    return fail(
        Error::timeout("{} {} (raise the component's timeout if the database is this large)", tool,
                       io::describe(*r)));
  if (r->exit_code != 0) return fail(Error::other("{} {}: {}", tool, io::describe(*r), r->output));
  return ok();
}

Result<std::vector<std::string>> Client::query(const std::string& db, const std::string& sql) {
  std::string out = work_.fresh("query");
  REWIND_TRY(run({"psql", "-X", "-q", "-w", "-A", "-t", "-z", "-0", "-v", "ON_ERROR_STOP=1", "-d",
                  db, "-c", sql},
                 out));
  REWIND_ASSIGN_OR_RETURN(std::string text, work_.read(out));
  std::vector<std::string> fields;
  for (std::string_view f : text::split(text, '\0')) fields.emplace_back(f);
  return fields;
}

Status Client::exec(const std::string& db, const std::string& sql) {
  return run({"psql", "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql},
             work_.fresh("exec"));
}

Result<std::vector<std::string>> Client::databases() {
  return query(kMaintenanceDb,
               "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
               "ORDER BY datname");
}

Result<std::string> Client::schema(const std::string& db) {
  std::string out = work_.fresh("schema");
  REWIND_TRY(run({"pg_dump", "-w", "-s", "-d", db}, out));
  REWIND_ASSIGN_OR_RETURN(std::string text, work_.read(out));
  return normalize_schema(text);
}

Result<Contents> Client::contents(const std::string& db) {
  REWIND_ASSIGN_OR_RETURN(
      auto tables, query(db,
                         "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN "
                         "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND "
                         "c.relpersistence <> 't' AND n.nspname <> 'information_schema' AND "
                         "n.nspname NOT LIKE 'pg\\_%' ORDER BY 1"));
  Contents out;
  if (tables.empty()) return out;
  // The session is set as pg_dump sets its own (setup_connection in
  // pg_dump.c: DateStyle, IntervalStyle, extra_float_digits, the database's
  // encoding, row security off; PGTZ comes from run()), so that each row's
  // COPY text is byte for byte the line pg_dump wrote for it. Each table's
  // rows end with "\.", which no row can be (COPY escapes a backslash).
  std::string script =
      "SELECT pg_encoding_to_char(encoding) AS rw_encoding FROM pg_database WHERE datname = "
      "current_database() \\gset\n"
      "SET client_encoding = :'rw_encoding';\n"
      "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3;\n"
      "SET row_security = off; SET statement_timeout = 0; SET lock_timeout = 0;\n"
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n";
  for (const auto& t : tables) script += "COPY " + t + " TO STDOUT;\n\\echo '\\\\.'\n";
  script += "COMMIT;\n";
  const std::string sql = work_.fresh("copy-sql"), data = work_.fresh("copy");
  REWIND_TRY(work_.write(sql, script));
  REWIND_TRY(run(
      {"psql", "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", work_.path(sql)}, data));
  size_t i = 0;
  for (const auto& t : tables) out.emplace(t, TableContent{});
  REWIND_TRY(work_.for_each_line(data, [&](std::string_view line) {
    if (i >= tables.size()) return;
    if (line == "\\.")
      ++i;
    else
      out[tables[i]].add(line);
  }));
  work_.remove(sql);
  work_.remove(data);
  if (i != tables.size())
    return fail(Error::other("psql: the COPY output of {} ends early ({} of {} tables)", db, i,
                             tables.size()));
  return out;
}

Result<std::string> Client::globals() {
  std::string out = work_.fresh("globals");
  REWIND_TRY(run(
      {"pg_dumpall", "-w", "--globals-only", "--no-role-passwords", "-l", kMaintenanceDb}, out));
  REWIND_ASSIGN_OR_RETURN(std::string text, work_.read(out));
  return normalize_schema(text);
}

std::string normalize_schema(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    e = e == std::string_view::npos ? text.size() : e + 1;
    std::string_view line = text.substr(b, e - b);
    b = e;
    if (line.starts_with("\\restrict ") || line.starts_with("\\unrestrict ")) continue;
    out.append(line);
  }
  return out;
}

namespace {

// The table of "COPY schema.table (cols) FROM stdin;": up to the first space
// outside double quotes.
std::string copy_table(std::string_view line) {
  line.remove_prefix(5);
  bool quoted = false;
  size_t i = 0;
  for (; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == ' ' && !quoted) break;
  }
  return std::string(line.substr(0, i));
}

}  // namespace

Result<Contents> copy_contents(WorkDir& work, const std::string& name) {
  Contents out;
  std::string table;  // inside a COPY block when not empty
  REWIND_TRY(work.for_each_line(name, [&](std::string_view line) {
    if (!table.empty()) {
      if (line == "\\.")
        table.clear();
      else
        out[table].add(line);
    } else if (line.starts_with("COPY ") && line.ends_with(" FROM stdin;")) {
      table = copy_table(line);
      out.emplace(table, TableContent{});
    }
  }));
  return out;
}

}  // namespace rwd::components::pg
