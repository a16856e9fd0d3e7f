// SPDX-License-Identifier: Apache-2.0
// The sqlite adapter: one SQLite database (the component's one path).
//
// Capture copies the live database with SQLite's online backup API into a
// scratch file (one read transaction: a consistent image while applications
// keep writing), then stores the image in chunks cut at page boundaries, so
// that a changed page changes one chunk and the rest deduplicates against the
// previous point. Beside the image goes a small record of facts (pragmas,
// schema, row count and row hash per table) that diff and show read without
// the image.
//
// A restore materializes the image into a scratch file, checks it, and copies
// it with the backup API INTO the live database: one write transaction under
// SQLite's own locks, so open connections, the WAL and its index stay
// coherent and no file is ever put beside a stale -wal or -journal. The live
// database must then pass integrity_check and foreign_key_check, or the
// component fails and the engine puts it back.
//
// The live database is opened through SQLite's default VFS: the same locking,
// WAL-index and file-ownership rules as the applications' own connections.
// Scratch files are rewind's own and go through the io seam's VFS.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>

#include "catalog/sqlite_vfs.h"
#include "components/adapter.h"
#include "components/sqlite/database.h"
#include "components/state.h"
#include "config/config.h"
#include "io/durable.h"

namespace rwd::components {

namespace {

using sqlite::Db;
using sqlite::Facts;
using store::ChunkId;

constexpr const char* kImageBlob = "database.db";
constexpr const char* kFactsBlob = "facts.json";
constexpr const char* kScratchImage = "image.db";

// Chunks grow past the configured size so that an image has at most this
// many: the manifest entry of the image holds 33 bytes per chunk and must
// stay well below the largest chunk the store takes (16 MiB).
constexpr uint64_t kMaxChunks = uint64_t{1} << 17;
// Pages smaller than this are grouped into chunks of this size: below it the
// store's per-chunk overhead outweighs what finer deduplication saves.
constexpr int64_t kMinChunk = 4096;

struct Settings {
  bool check_on_capture = false;
  sqlite::Millis busy{std::chrono::seconds(10)};
  std::optional<int64_t> chunk_pages;
};

constexpr const char* kKnownKeys = "check_on_capture, busy_timeout, chunk_pages";

Result<Settings> settings_of(const ComponentSpec& spec) {
  Settings s;
  for (const auto& [key, value] : spec.settings.items()) {
    auto wrong = [&](const char* type) {
      return fail(
          Error::usage("component \"{}\": {} must be {}", spec.name, key, std::string(type)));
    };
    if (key == "check_on_capture") {
      if (!value.is_boolean()) return wrong("a boolean (true or false)");
      s.check_on_capture = value.get<bool>();
    } else if (key == "busy_timeout") {
      if (!value.is_string()) return wrong("a duration string such as \"10s\"");
      auto d = config::parse_duration(value.get<std::string>());
      if (!d || d->count() <= 0) return wrong("a positive duration string such as \"10s\"");
      s.busy = std::chrono::duration_cast<sqlite::Millis>(*d);
    } else if (key == "chunk_pages") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 4096)
        return wrong("an integer from 1 to 4096");
      s.chunk_pages = value.get<int64_t>();
    } else {
      return fail(Error::usage("component \"{}\": adapter \"sqlite\" has no key \"{}\" (known: {})",
                               spec.name, key, kKnownKeys));
    }
  }
  return s;
}

uint64_t chunk_bytes(const Settings& s, int64_t page_size, uint64_t image_size) {
  const int64_t pages = s.chunk_pages.value_or(std::max<int64_t>(1, kMinChunk / page_size));
  uint64_t chunk = static_cast<uint64_t>(page_size * pages);
  while (image_size / chunk >= kMaxChunks) chunk *= 2;
  return chunk;
}

// Where the component's database is.
struct Location {
  std::string path;        // within the system root: /var/lib/app/app.db
  std::string host;        // the same on this machine, under the system root
  std::string parent_rel;  // its directory relative to the system root ("." for /)
  std::string name;        // its file name
};

Result<Location> location(Context& ctx, const ComponentSpec& spec) {
  if (spec.paths.size() != 1 || spec.paths[0] == "/")
    return fail(
        Error::usage("component {}: an sqlite component names one database file "
                     "(path = \"/var/lib/app/app.db\")",
                     spec.name));
  Location l;
  l.path = spec.paths[0];
  l.host = ctx.system_root == "/" ? l.path : ctx.system_root + l.path;
  size_t slash = l.path.rfind('/');
  l.parent_rel = slash == 0 ? "." : l.path.substr(1, slash - 1);
  l.name = l.path.substr(slash + 1);
  return l;
}

// The directory the database is in, opened without following symlinks.
// kNotFound when it does not exist.
Result<io::Fd> open_parent(Context& ctx, const Location& l) {
  REWIND_ASSIGN_OR_RETURN(io::Fd root, ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
  auto dir = ctx.fs.open_beneath(root.get(), l.parent_rel, O_RDONLY | O_DIRECTORY);
  if (dir || dir.error().sys_errno() == ENOENT) return dir;
  if (dir.error().sys_errno() == ELOOP || dir.error().sys_errno() == ENOTDIR ||
      dir.error().code() == ErrorCode::kInvalidState)
    return fail(Error::invalid_state(
        "a directory on the way to {} is a symlink or not a directory; rewind does not open a "
        "database through it (make it a directory again, then retry)",
        l.path));
  return fail(dir.error());
}

// The database file's metadata, or nothing when it does not exist. A
// symlink or anything but a regular file at its path is refused: rewind
// writes into the database it finds there.
Result<std::optional<io::Stat>> stat_db(Context& ctx, const Location& l) {
  auto dir = open_parent(ctx, l);
  if (!dir) {
    if (dir.error().sys_errno() == ENOENT) return std::nullopt;
    return fail(dir.error());
  }
  auto st = ctx.fs.stat_at(dir->get(), l.name);
  if (!st) {
    if (st.error().sys_errno() == ENOENT) return std::nullopt;
    return fail(st.error());
  }
  if (!S_ISREG(st->mode))
    return fail(Error::invalid_state(
        "{} is not a regular file (a symlink, directory or device); rewind opens only a regular "
        "file as the component's database",
        l.path));
  return *st;
}

// Gives a database rewind created the owner and mode it had when captured,
// before SQLite creates its journal or WAL beside it (SQLite, running as
// root, gives those the database's owner and mode).
Status set_owner(Context& ctx, const Location& l, const Facts& f) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, open_parent(ctx, l));
  REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_at(dir.get(), l.name, O_RDONLY));
  REWIND_TRY(ctx.fs.fchown(fd.get(), f.uid, f.gid));
  return ctx.fs.fchmod(fd.get(), f.mode & 07777);
}

// Removes the database's own files: with `with_db` the database too,
// otherwise only what may be left beside it (-wal, -shm, -journal).
Status remove_files(Context& ctx, const Location& l, bool with_db) {
  auto dir = open_parent(ctx, l);
  if (!dir) {
    if (dir.error().sys_errno() == ENOENT) return ok();
    return fail(dir.error());
  }
  bool removed = false;
  for (const char* suffix : {"-wal", "-shm", "-journal", ""}) {
    if (!with_db && *suffix == '\0') continue;
    Status st = ctx.fs.unlink_at(dir->get(), l.name + suffix);
    if (!st && st.error().sys_errno() != ENOENT) return fail(st.error());
    removed = removed || st;
  }
  if (removed) REWIND_TRY(ctx.fs.fsync_dir(dir->get()));
  return ok();
}

// mkdir -p of the database's directory, beneath the system root.
Status make_parents(Context& ctx, const Location& l) {
  REWIND_ASSIGN_OR_RETURN(io::Fd cur, ctx.fs.open_path(ctx.system_root, O_RDONLY | O_DIRECTORY));
  if (l.parent_rel == ".") return ok();
  for (size_t b = 0; b <= l.parent_rel.size();) {
    size_t e = l.parent_rel.find('/', b);
    if (e == std::string::npos) e = l.parent_rel.size();
    const std::string comp = l.parent_rel.substr(b, e - b);
    b = e + 1;
    auto next = ctx.fs.open_at(cur.get(), comp, O_RDONLY | O_DIRECTORY);
    if (!next && next.error().sys_errno() == ENOENT) {
      Status st = ctx.fs.mkdir_at(cur.get(), comp, 0755);
      if (!st && st.error().sys_errno() != EEXIST) return fail(st.error());
      REWIND_TRY(ctx.fs.fsync_dir(cur.get()));
      next = ctx.fs.open_at(cur.get(), comp, O_RDONLY | O_DIRECTORY);
    }
    if (!next) return fail(next.error().with_context(fmt::format("the directory of {}", l.path)));
    cur = std::move(*next);
  }
  return ok();
}

// A private directory (0700) in the repository for the images a capture or
// a restore works on; removed with everything in it when it goes. Named like
// every temporary file of rewind, so a crash's leftover is recognisable.
class Scratch {
 public:
  static Result<std::unique_ptr<Scratch>> create(Context& ctx) {
    std::string name = io::temp_name() + "-sqlite";
    REWIND_TRY(ctx.fs.mkdir_at(ctx.repo.dirfd(), name, 0700));
    auto s = std::unique_ptr<Scratch>(new Scratch(ctx, name));
    REWIND_ASSIGN_OR_RETURN(s->dir_,
                            ctx.fs.open_at(ctx.repo.dirfd(), name, O_RDONLY | O_DIRECTORY));
    REWIND_ASSIGN_OR_RETURN(s->vfs_, catalog::vfs_name_for(ctx.fs));
    return s;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (dir_) {
      if (auto names = ctx_.fs.list_dir(dir_.get()))
        for (const auto& e : *names)
          ignore_status(ctx_.fs.unlink_at(dir_.get(), e.name), "scratch file, best effort");
      dir_ = io::Fd();
    }
    ignore_status(ctx_.fs.unlink_at(ctx_.repo.dirfd(), name_, AT_REMOVEDIR),
                  "scratch directory, best effort");
  }
  int fd() const { return dir_.get(); }
  std::string path(const std::string& file) const {
    return ctx_.repo.path() + "/" + name_ + "/" + file;
  }
  // A scratch database, through the io seam's VFS.
  Result<Db> open(const std::string& file, int flags, sqlite::Millis busy) const {
    return Db::open(path(file), flags, busy, vfs_.c_str());
  }

 private:
  Scratch(Context& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}
  Context& ctx_;
  std::string name_;
  io::Fd dir_;
  std::string vfs_;
};

// Writes the snapshot's image into the scratch directory as kScratchImage.
Status materialize(Context& ctx, const state::Reader& r, const Scratch& s) {
  REWIND_ASSIGN_OR_RETURN(io::Fd fd,
                          ctx.fs.open_at(s.fd(), kScratchImage, O_WRONLY | O_CREAT | O_EXCL, 0600));
  REWIND_TRY(r.copy_to(kImageBlob, fd.get()));
  return fd.close();
}

Result<Facts> snapshot_facts(const state::Reader& r) {
  REWIND_ASSIGN_OR_RETURN(std::string text, r.read(kFactsBlob));
  return sqlite::parse_facts(text);
}

// The facts of the live database, read in one read transaction.
Result<Facts> live_facts(const Location& l, const Settings& s) {
  REWIND_ASSIGN_OR_RETURN(Db live, Db::open(l.host, SQLITE_OPEN_READONLY, s.busy));
  REWIND_TRY(live.exec("BEGIN"));
  std::vector<std::string> warnings;
  REWIND_ASSIGN_OR_RETURN(Facts f, sqlite::read_facts(live, warnings));
  REWIND_ASSIGN_OR_RETURN(f.journal_mode, sqlite::journal_mode(live));
  REWIND_TRY(live.exec("COMMIT"));
  return f;
}

// What a plan carries from plan() to validate() and apply().
struct PlanData {
  ChunkId manifest;
};

class SqliteAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "sqlite"; }

  Result<Captured> capture(
      Context& ctx, const ComponentSpec& spec, store::ChunkWriter& writer,
      const std::optional<ChunkId>& /*previous: images are read whole*/) override {
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec));
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    REWIND_ASSIGN_OR_RETURN(auto file, stat_db(ctx, l));
    const bool there = file.has_value();
    if (!there)
      return fail(
          Error::not_found("database {} does not exist (check the component's path)", l.path));
    REWIND_ASSIGN_OR_RETURN(auto scratch, Scratch::create(ctx));
    std::vector<std::string> warnings;
    Facts facts;
    std::string mode;
    {
      REWIND_ASSIGN_OR_RETURN(
          Db img, scratch->open(kScratchImage, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, s.busy));
      // The scratch image is read back at once: no journal, no syncs.
      REWIND_TRY(img.exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF"));
      {
        REWIND_ASSIGN_OR_RETURN(Db live, Db::open(l.host, SQLITE_OPEN_READONLY, s.busy));
        REWIND_TRY(sqlite::copy_pages(live, img));
        // After the copy has read the header, which says whether it is WAL.
        REWIND_ASSIGN_OR_RETURN(mode, sqlite::journal_mode(live));
      }
      REWIND_ASSIGN_OR_RETURN(facts, sqlite::read_facts(img, warnings));
      facts.journal_mode = std::move(mode);
      if (s.check_on_capture) {
        REWIND_ASSIGN_OR_RETURN(std::string problems, sqlite::check(img));
        if (!problems.empty())
          return fail(Error::corrupted_data(
              "{} fails its checks, and check_on_capture refuses to capture it:\n{}\nRepair the "
              "database (or restore it from a recovery point), or set check_on_capture = false "
              "to capture it as it is",
              l.path, problems));
        facts.checked = true;
      }
    }
    facts.uid = file->uid;
    facts.gid = file->gid;
    facts.mode = file->mode & 07777;
    REWIND_ASSIGN_OR_RETURN(io::Fd fd, ctx.fs.open_at(scratch->fd(), kScratchImage, O_RDONLY));
    REWIND_ASSIGN_OR_RETURN(io::Stat st, ctx.fs.fstat(fd.get()));
    state::Writer w(ctx, writer);
    REWIND_TRY(w.add_fd(kImageBlob, fd.get(), chunk_bytes(s, facts.page_size, st.size)));
    REWIND_TRY(w.add(kFactsBlob, sqlite::facts_text(facts)));
    REWIND_ASSIGN_OR_RETURN(Captured c, w.finish());
    c.warnings = std::move(warnings);
    return c;
  }

  Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                        const ChunkId& manifest,
                                        bool /*content: always*/) override {
    // Row hashes are compared always: a table's rows cannot be told
    // unchanged from metadata the way a file's can.
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec));
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Facts then, snapshot_facts(r));
    REWIND_ASSIGN_OR_RETURN(auto file, stat_db(ctx, l));
    const bool there = file.has_value();
    if (!there) return std::vector<Change>{Change{l.path, "removed", {}, {}}};
    REWIND_ASSIGN_OR_RETURN(Facts now, live_facts(l, s));
    return sqlite::compare(l.path, then, now);
  }

  Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                             const std::optional<ChunkId>& older,
                                             const std::optional<ChunkId>& newer) override {
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    if (!older || !newer)
      return std::vector<Change>{Change{l.path, older ? "removed" : "added", {}, {}}};
    REWIND_ASSIGN_OR_RETURN(auto ra, state::Reader::open(ctx, *older));
    REWIND_ASSIGN_OR_RETURN(auto rb, state::Reader::open(ctx, *newer));
    REWIND_ASSIGN_OR_RETURN(Facts a, snapshot_facts(ra));
    REWIND_ASSIGN_OR_RETURN(Facts b, snapshot_facts(rb));
    return sqlite::compare(l.path, a, b);
  }

  Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                  const ChunkId& manifest) override {
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    REWIND_ASSIGN_OR_RETURN(Facts f, snapshot_facts(r));
    nlohmann::json d = sqlite::describe_facts(f);
    d["database"] = l.path;
    return d;
  }

  Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const ChunkId& manifest,
                    bool incremental, bool remove_extra,
                    const std::vector<std::string>& select) override {
    // The database is restored whole (also by an incremental rollback, and
    // by a restore of any selection): it is one transaction either way.
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    REWIND_ASSIGN_OR_RETURN(auto file, stat_db(ctx, l));
    const bool there = file.has_value();
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, manifest));
    Plan p;
    p.incremental = incremental;
    p.remove_extra = remove_extra;
    p.select = select;
    p.absent = !there;
    p.entries = r.entries();
    for (const auto& e : p.entries)
      if (e.path == kImageBlob) p.bytes = e.size;
    p.files = 1;
    p.replace.push_back(l.path);
    p.adapter_data = std::make_shared<const PlanData>(PlanData{manifest});
    return p;
  }

  Status validate(Context& ctx, const Plan& plan) override {
    const auto* data = static_cast<const PlanData*>(plan.adapter_data.get());
    if (!data) return fail(Error::invalid_state("sqlite: a plan without its snapshot"));
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, data->manifest));
    REWIND_TRY(r.validate());
    // The image itself must be a sound database before the live one is
    // touched.
    REWIND_ASSIGN_OR_RETURN(auto scratch, Scratch::create(ctx));
    REWIND_TRY(materialize(ctx, r, *scratch));
    REWIND_ASSIGN_OR_RETURN(
        Db img, scratch->open(kScratchImage, SQLITE_OPEN_READWRITE, std::chrono::seconds(10)));
    REWIND_ASSIGN_OR_RETURN(std::string problems, sqlite::check(img));
    if (!problems.empty())
      return fail(Error::corrupted_data(
          "the snapshot's image of {} fails its checks, so it is not restored (the live database "
          "was not changed):\n{}",
          plan.replace.empty() ? std::string("the database") : plan.replace.front(), problems));
    return ok();
  }

  Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) override {
    const auto* data = static_cast<const PlanData*>(plan.adapter_data.get());
    if (!data)
      return fail(Error::invalid_state("component {}: a plan without its snapshot", spec.name));
    REWIND_ASSIGN_OR_RETURN(Settings s, settings_of(spec));
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    REWIND_ASSIGN_OR_RETURN(auto file, stat_db(ctx, l));
    const bool there = file.has_value();
    REWIND_ASSIGN_OR_RETURN(auto r, state::Reader::open(ctx, data->manifest));
    REWIND_ASSIGN_OR_RETURN(Facts facts, snapshot_facts(r));
    if (!there) {
      REWIND_TRY(make_parents(ctx, l));
      // Files left beside a database that is gone belong to no database:
      // SQLite would read a -wal as the new database's.
      REWIND_TRY(remove_files(ctx, l, false));
    }
    // Chunks are hash-checked as they are read, so these are the bytes
    // validate() checked.
    REWIND_ASSIGN_OR_RETURN(auto scratch, Scratch::create(ctx));
    REWIND_TRY(materialize(ctx, r, *scratch));
    REWIND_ASSIGN_OR_RETURN(Db img, scratch->open(kScratchImage, SQLITE_OPEN_READWRITE, s.busy));
    REWIND_ASSIGN_OR_RETURN(
        Db live,
        Db::open(l.host, SQLITE_OPEN_READWRITE | (there ? 0 : SQLITE_OPEN_CREATE), s.busy));
    if (!there) REWIND_TRY(set_owner(ctx, l, facts));
    // A read first: the journal mode is known once the header is.
    REWIND_ASSIGN_OR_RETURN(int64_t live_page_size, live.integer("PRAGMA page_size"));
    REWIND_TRY(live.integer("PRAGMA schema_version"));
    REWIND_ASSIGN_OR_RETURN(std::string mode, sqlite::journal_mode(live));
    if (mode == "wal" && (facts.journal_mode != "wal" || live_page_size != facts.page_size)) {
      // The backup API cannot change the page size of a WAL database, and
      // a WAL database stays one whatever it copies; out of WAL mode the
      // copied header brings the snapshot's own mode back.
      REWIND_ASSIGN_OR_RETURN(auto now, live.column("PRAGMA journal_mode=DELETE"));
      if (now.empty() || now.front() == "wal")
        return fail(Error::busy(
            "{} is in WAL mode and must leave it to take the snapshot's page size or journal "
            "mode, but other connections have it open: stop the applications that use it (the "
            "component's services)",
            l.path));
    }
    REWIND_TRY(sqlite::copy_pages(img, live));
    REWIND_ASSIGN_OR_RETURN(std::string problems, sqlite::check(live));
    if (!problems.empty())
      return fail(
          Error::corrupted_data("after the restore, {} fails its checks:\n{}", l.path, problems));
    Applied a;
    a.files = 1;
    a.entries = 1;
    a.bytes = plan.bytes;
    return a;
  }

  Status remove(Context& ctx, const ComponentSpec& spec) override {
    REWIND_ASSIGN_OR_RETURN(Location l, location(ctx, spec));
    return remove_files(ctx, l, true);
  }

  Status check_settings(const ComponentSpec& spec) const override {
    if (spec.paths.size() != 1)
      return fail(
          Error::usage("component \"{}\": adapter \"sqlite\" takes one database file: path = "
                       "\"/var/lib/app/app.db\"",
                       spec.name));
    if (!spec.exclude.empty())
      return fail(Error::usage("component \"{}\": adapter \"sqlite\" takes no exclude", spec.name));
    REWIND_TRY(settings_of(spec));
    return ok();
  }
};

}  // namespace

Adapter& sqlite_adapter() {
  static SqliteAdapter a;
  return a;
}

}  // namespace rwd::components
