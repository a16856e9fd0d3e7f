// SPDX-License-Identifier: Apache-2.0
// The postgres adapter's view of a cluster: its settings (check_settings),
// a client that runs PostgreSQL's own tools (psql, pg_dump, pg_restore,
// pg_dumpall) through io::run_process, and a scratch directory for their
// output. rewind never speaks the wire protocol itself: the tools are the
// reference implementation of dump and restore.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "components/adapter.h"
#include "io/fs.h"
#include "io/process.h"
#include "store/hash.h"

namespace rwd::components::pg {

// The database that reads and administration connect to (the adapter's swap
// uses template1 when this one is being renamed).
inline constexpr const char* kMaintenanceDb = "postgres";

// The keys of a postgres [[component]] table.
struct Settings {
  std::string host = "/var/run/postgresql";  // host name or socket directory
  int port = 5432;
  std::string user = "postgres";
  std::vector<std::string> databases;  // empty: every non-template database
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  std::string password_file;  // PGPASSFILE, when set

  nlohmann::json to_json() const;
};

// kUsage naming the key: an unknown key (listing the known ones) or a value
// of the wrong type.
Status check_settings(const ComponentSpec& spec);
// The settings of `json` (checked), over the defaults.
Result<Settings> parse_settings(const std::string& component, const nlohmann::json& json);

// "name" -> "\"name\"" and 'text' -> "'text'" (standard_conforming_strings).
std::string ident(const std::string& name);
std::string literal(const std::string& text);

// A private directory for the tools' output (dumps hold data: it lives in
// the repository's directory, 0700 like the repository). Removed, with what
// it holds, when destroyed.
class WorkDir {
 public:
  static Result<WorkDir> create(Context& ctx);
  WorkDir(WorkDir&& o) noexcept
      : ctx_(o.ctx_),
        dir_(std::move(o.dir_)),
        name_(std::move(o.name_)),
        path_(std::move(o.path_)) {}
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir();

  // The absolute path of `name` in the directory, for a tool's argv.
  std::string path(const std::string& name) const { return path_ + "/" + name; }
  Result<io::Fd> open(const std::string& name, int flags) const;
  Result<std::string> read(const std::string& name) const;
  Status write(const std::string& name, std::string_view data) const;
  // Calls `f` with each line of `name` (without its newline), streamed.
  Status for_each_line(const std::string& name,
                       const std::function<void(std::string_view)>& f) const;
  // Unlinks `name` now (a dump no longer needed), best effort.
  void remove(const std::string& name) const;
  // A fresh name for a tool's output file.
  std::string fresh(const std::string& stem);

 private:
  WorkDir(Context& ctx, io::Fd dir, std::string name, std::string path)
      : ctx_(&ctx), dir_(std::move(dir)), name_(std::move(name)), path_(std::move(path)) {}
  Context* ctx_;
  io::Fd dir_;
  std::string name_;  // in the repository's directory
  std::string path_;
  int counter_ = 0;
};

// What a table holds: its row count and an order-independent digest of its
// rows in COPY's text format (store::MultisetDigest of each line), the same
// for pg_dump's data and for COPY ... TO STDOUT in a session set as pg_dump
// sets its own (see Client::contents).
struct TableContent {
  uint64_t rows = 0;
  store::MultisetDigest digest;
  void add(std::string_view line) {
    ++rows;
    digest.add(std::as_bytes(std::span(line.data(), line.size())));
  }
};
using Contents = std::map<std::string, TableContent>;

// Runs the tools against one cluster.
class Client {
 public:
  Client(Context& ctx, Settings s, WorkDir& work);

  // Runs tool `argv[0]` (from bin_dir, else PATH) with the connection in its
  // environment; stdout goes to `stdout_name` in the work directory when
  // given. A non-zero exit is an error quoting the tool's stderr.
  Status run(std::vector<std::string> argv, const std::string& stdout_name = "");
  // The output of one SQL statement on `db` (psql -At), fields and records
  // separated by NUL.
  Result<std::vector<std::string>> query(const std::string& db, const std::string& sql);
  // Runs SQL on `db` (several statements are one implicit transaction unless
  // they say otherwise).
  Status exec(const std::string& db, const std::string& sql);

  // Every database that takes connections and is no template, by name.
  Result<std::vector<std::string>> databases();
  // `pg_dump -s` of `db`, normalized (see normalize_schema).
  Result<std::string> schema(const std::string& db);
  // The content of every table of `db` ("schema.table" quoted as PostgreSQL
  // quotes identifiers), read with COPY in one read-only transaction.
  Result<Contents> contents(const std::string& db);
  // The cluster's roles and role settings (no password hashes: they are
  // secrets, and the globals are only recorded).
  Result<std::string> globals();

  const Settings& settings() const { return s_; }
  WorkDir& work() { return work_; }

 private:
  Context& ctx_;
  Settings s_;
  WorkDir& work_;
  std::string bin_;  // "" when the tools come from PATH
};

// pg_dump's text without what differs from run to run of the same schema
// (the random \restrict key of PostgreSQL >= 15.14).
std::string normalize_schema(std::string_view text);
// The content of each table of a data-only SQL script (pg_restore
// --data-only): one line per row of each COPY block.
Result<Contents> copy_contents(WorkDir& work, const std::string& name);

}  // namespace rwd::components::pg
