// SPDX-License-Identifier: Apache-2.0
#include "system/config_init.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <set>
#include <vector>

#include "components/adapter.h"
#include "io/durable.h"
#include "io/process.h"
#include "store/manifest.h"

namespace rwd::system {

namespace {

// A TOML basic string.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string array(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
  return out + "]";
}

// One [[component]] table: a comment saying what it is, then its keys
// (already formatted values); commented out as a whole when `disabled`.
struct Table {
  std::string comment;
  std::vector<std::pair<std::string, std::string>> keys;
  bool disabled = false;
  std::string why_disabled;
};

// Each line of `text` as a TOML comment.
std::string comment_lines(std::string_view text) {
  std::string out;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    if (e == std::string_view::npos) e = text.size();
    out += "# " + std::string(text.substr(b, e - b)) + "\n";
    b = e + 1;
  }
  return out;
}

std::string render(const Table& t) {
  std::string out = comment_lines(t.comment);
  if (t.disabled && !t.why_disabled.empty()) out += comment_lines("(" + t.why_disabled + ")");
  std::string prefix = t.disabled ? "# " : "";
  out += prefix + "[[component]]\n";
  for (const auto& [k, v] : t.keys) out += prefix + k + " = " + v + "\n";
  return out + "\n";
}

// Read-only looks into the system root; nothing follows a symlink out of it.
class Root {
 public:
  static Result<Root> open(io::Fs& fs, const std::string& path) {
    auto fd = fs.open_path(path, O_RDONLY | O_DIRECTORY);
    if (!fd) {
      if (fd.error().sys_errno() == ENOENT)
        return fail(Error::not_found("system root {} does not exist", path));
      return fail(fd.error());
    }
    return Root(fs, path, std::move(*fd));
  }

  // `abs` is a directory itself (not a symlink), with no symlink on the way.
  bool is_dir(const std::string& abs) const { return open_dir(abs).has_value(); }

  bool exists(const std::string& abs) const {
    return fs_->open_beneath(fd_.get(), rel(abs), O_PATH).has_value();
  }

  Result<io::Fd> open_dir(const std::string& abs) const {
    return fs_->open_beneath(fd_.get(), rel(abs), O_RDONLY | O_DIRECTORY);
  }

  // The entries of a directory, sorted; empty when it is not a directory.
  std::vector<io::DirEntry> list(const std::string& abs) const {
    auto d = open_dir(abs);
    if (!d) return {};
    auto l = fs_->list_dir(d->get());
    if (!l) return {};
    std::sort(l->begin(), l->end(),
              [](const io::DirEntry& a, const io::DirEntry& b) { return a.name < b.name; });
    return *l;
  }

  // The first bytes of a regular file (not through a symlink).
  std::string head(const std::string& abs, size_t n) const {
    auto f = fs_->open_beneath(fd_.get(), rel(abs), O_RDONLY | O_NONBLOCK);
    if (!f) return {};
    auto st = fs_->fstat(f->get());
    if (!st || !S_ISREG(st->mode)) return {};
    std::string buf(n, '\0');
    auto got = fs_->read(f->get(), std::as_writable_bytes(std::span(buf.data(), buf.size())));
    if (!got) return {};
    buf.resize(*got);
    return buf;
  }

  const std::string& path() const { return path_; }
  // The host path of `abs`.
  std::string host(const std::string& abs) const { return path_ == "/" ? abs : path_ + abs; }

 private:
  Root(io::Fs& fs, std::string path, io::Fd fd)
      : fs_(&fs), path_(std::move(path)), fd_(std::move(fd)) {}
  static std::string rel(const std::string& abs) { return abs == "/" ? "." : abs.substr(1); }
  io::Fs* fs_;
  std::string path_;
  io::Fd fd_;
};

bool have_adapter(std::string_view kind) { return components::find_adapter(kind) != nullptr; }

// Marks `t` disabled when this build lacks its adapter.
void need_adapter(Table& t, const std::string& kind) {
  if (have_adapter(kind) || t.disabled) return;
  t.disabled = true;
  t.why_disabled = fmt::format("this rewind has no \"{}\" adapter; uncomment once it does", kind);
}

// `exclude` for a component of `paths` that would contain the repository.
void exclude_repository(Table& t, const std::vector<std::string>& paths, const std::string& repo) {
  for (const auto& p : paths)
    if (store::path_within(repo, p)) {
      t.keys.emplace_back("exclude", array({repo}));
      t.comment += "\nThe repository (" + repo + ") is excluded: rewind never captures itself.";
      return;
    }
}

// A component name from a path: [a-z0-9][a-z0-9_.-]*, unique among `taken`.
std::string name_from(std::string_view prefix, std::string_view path,
                      std::set<std::string>& taken) {
  std::string n(prefix);
  for (char c : path) {
    char l = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '.' || l == '-';
    n += l == '/' ? '-' : ok ? l : '_';
  }
  if (n.size() > 100) n.resize(100);
  std::string unique = n;
  for (int i = 2; taken.contains(unique); ++i) unique = n + "-" + std::to_string(i);
  taken.insert(unique);
  return unique;
}

// SQLite databases under `dir` (by their header), not descending into
// `skip` (the package manager's own trees, the repository) nor symlinks.
void find_sqlite(const Root& root, const std::string& dir, int depth,
                 const std::vector<std::string>& skip, std::vector<std::string>& out) {
  if (depth > 5 || out.size() >= 50) return;
  for (const auto& e : root.list(dir)) {
    std::string p = dir + "/" + e.name;
    if (std::any_of(skip.begin(), skip.end(),
                    [&](const std::string& s) { return store::path_within(p, s); }))
      continue;
    if (e.type == DT_DIR || (e.type == DT_UNKNOWN && root.is_dir(p)))
      find_sqlite(root, p, depth + 1, skip, out);
    else if ((e.type == DT_REG || e.type == DT_UNKNOWN) &&
             root.head(p, 16) == std::string("SQLite format 3\0", 16))
      out.push_back(p);
  }
}

// Enabled systemd units: the links in /etc/systemd/system/*.wants (and
// *.requires), whichever target wants them; targets themselves are left out.
std::vector<std::string> systemd_units(const Root& root) {
  std::set<std::string> units;
  for (const auto& d : root.list("/etc/systemd/system")) {
    if (!d.name.ends_with(".wants") && !d.name.ends_with(".requires")) continue;
    for (const auto& u : root.list("/etc/systemd/system/" + d.name))
      for (const char* kind : {".service", ".socket", ".timer", ".path"})
        if (u.name.ends_with(kind)) units.insert(u.name);
  }
  return {units.begin(), units.end()};
}

// runit services: the entries of /etc/service (links to /etc/sv/* usually).
std::vector<std::string> runit_services(const Root& root) {
  std::vector<std::string> out;
  for (const auto& e : root.list("/etc/service"))
    if (!e.name.starts_with(".")) out.push_back(e.name);
  return out;
}

struct Cluster {
  std::string socket_dir;  // absolute within the root
  int port = 0;
};

// Running PostgreSQL clusters, by their sockets (.s.PGSQL.PORT).
std::vector<Cluster> postgres_clusters(const Root& root) {
  std::vector<Cluster> out;
  for (const char* dir : {"/run/postgresql", "/var/run/postgresql"}) {
    for (const auto& e : root.list(dir)) {
      if (!e.name.starts_with(".s.PGSQL.") || e.name.ends_with(".lock")) continue;
      std::string port = e.name.substr(9);
      if (port.empty() || port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      out.push_back(Cluster{dir, std::stoi(port)});
    }
  }
  return out;
}

// The cluster's databases (other than templates and "postgres"), as psql
// lists them; an error when psql cannot connect.
Result<std::vector<std::string>> postgres_databases(const Root& root, const Cluster& c) {
  REWIND_ASSIGN_OR_RETURN(
      io::ProcessResult r,
      io::run_process({"psql", "-h", root.host(c.socket_dir), "-p", std::to_string(c.port), "-U",
                       "postgres", "-d", "postgres", "-At", "-w", "-c",
                       "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> "
                       "'postgres' ORDER BY 1"},
                      std::chrono::seconds(10)));
  if (r.exit_code != 0)
    return fail(
        Error::other("psql {}: {}", io::describe(r), r.output.substr(0, r.output.find('\n'))));
  std::vector<std::string> out;
  for (size_t b = 0; b < r.output.size();) {
    size_t e = r.output.find('\n', b);
    if (e == std::string::npos) e = r.output.size();
    if (e > b) out.push_back(r.output.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

const char* kHeader =
    "# rewind configuration for the system at {root}, written by `rewind config init`.\n"
    "#\n"
    "# Each [[component]] is one part of the system that a recovery point captures and\n"
    "# a rollback restores as a unit, in dependency order (depends_on). This file is a\n"
    "# starting point: delete the components you do not want (and the depends_on that\n"
    "# name them), uncomment the suggestions you do, then check it with\n"
    "#   rewind config validate\n"
    "# and take a first recovery point with `rewind create`. Components never overlap:\n"
    "# a path belongs to one component only (add an exclude to split one off).\n"
    "\n"
    "[repository]\n"
    "# Where recovery points live; excluded from every component.\n"
    "path = {repo}\n"
    "\n";

}  // namespace

Result<std::string> generate_config(io::Fs& fs, const ConfigInitOptions& o) {
  REWIND_ASSIGN_OR_RETURN(Root root, Root::open(fs, o.system_root));
  std::string repo = "/var/lib/rewind";
  if (!o.repository.empty())
    if (auto rel = components::relative_path(o.system_root, o.repository); rel && !rel->empty())
      repo = "/" + *rel;
  std::vector<Table> tables;
  std::set<std::string> names;
  std::vector<std::string> file_components;  // what services depend on

  if (root.is_dir("/etc")) {
    Table t;
    t.comment = "/etc: the system's configuration (with /etc/environment and /etc/default).";
    bool config = have_adapter("config");
    std::vector<std::string> paths{"/etc"};
    t.keys = {{"name", toml_string("etc")},
              {"adapter", toml_string(config ? "config" : "files")},
              {"category", toml_string("configuration")},
              {"paths", array(paths)}};
    if (!config) t.comment += "\n(A files component: this rewind has no \"config\" adapter.)";
    exclude_repository(t, paths, repo);
    tables.push_back(std::move(t));
    names.insert("etc");
    file_components.push_back("etc");
  }

  // Programs outside /usr only on systems without merged /usr (there /bin
  // and the like are symlinks into /usr and need nothing).
  std::vector<std::string> system_paths;
  for (const char* p :
       {"/bin", "/boot", "/lib", "/lib32", "/lib64", "/libx32", "/sbin", "/usr", "/var/lib/dpkg"})
    if (root.is_dir(p)) system_paths.push_back(p);
  bool dpkg = root.exists("/var/lib/dpkg/status");
  if (!system_paths.empty()) {
    Table t;
    t.comment =
        "The kernel, its modules, the programs and the package database, rolled back\n"
        "together so that dpkg's view always matches the files. Category \"other\", so\n"
        "that rollback_kernel_state never rolls back /usr.";
    t.keys = {{"name", toml_string("system")},
              {"adapter", toml_string("files")},
              {"category", toml_string("other")},
              {"paths", array(system_paths)}};
    exclude_repository(t, system_paths, repo);
    tables.push_back(std::move(t));
    names.insert("system");
    file_components.push_back("system");
  }

  {
    Table t;
    t.comment = "Kernel tunables (sysctl, from /proc/sys).";
    t.keys = {{"name", toml_string("sysctl")},
              {"adapter", toml_string("kernel")},
              {"category", toml_string("kernel_core")},
              {"parts", array({"sysctl"})}};
    if (!root.is_dir("/proc/sys")) {
      t.disabled = true;
      t.why_disabled = "this root has no /proc/sys";
    }
    need_adapter(t, "kernel");
    tables.push_back(std::move(t));
    names.insert("sysctl");
  }
  {
    Table t;
    t.comment = "Loaded kernel modules (from /proc/modules).";
    t.keys = {{"name", toml_string("modules")},
              {"adapter", toml_string("kernel")},
              {"category", toml_string("device_drivers")},
              {"parts", array({"modules"})}};
    if (!root.exists("/proc/modules")) {
      t.disabled = true;
      t.why_disabled = "this root has no /proc/modules";
    }
    need_adapter(t, "kernel");
    tables.push_back(std::move(t));
    names.insert("modules");
  }

  if (dpkg) {
    Table t;
    t.comment =
        "The installed packages, as dpkg records them. Restored after \"system\", which\n"
        "brings the package database back with the files; diff and show list the\n"
        "packages installed, removed, upgraded and downgraded.";
    t.keys = {{"name", toml_string("packages")},
              {"adapter", toml_string("packages")},
              {"category", toml_string("other")}};
    if (names.contains("system")) t.keys.emplace_back("depends_on", array({"system"}));
    need_adapter(t, "packages");
    tables.push_back(std::move(t));
    names.insert("packages");
  }

  auto services = [&](const std::string& name, const std::string& manager,
                      const std::vector<std::string>& units, const std::string& comment,
                      const std::string& service_dir) {
    Table t;
    t.comment = comment;
    t.keys = {{"name", toml_string(name)},
              {"adapter", toml_string("services")},
              {"category", toml_string("system_services")},
              {"manager", toml_string(manager)}};
    if (!service_dir.empty()) t.keys.emplace_back("service_dir", toml_string(service_dir));
    t.keys.emplace_back("units", array(units));
    if (!file_components.empty()) t.keys.emplace_back("depends_on", array(file_components));
    need_adapter(t, "services");
    tables.push_back(std::move(t));
    names.insert(name);
  };
  if (auto units = systemd_units(root); !units.empty())
    services("services", "systemd", units,
             "The systemd units that are enabled (found in /etc/systemd/system/*.wants):\n"
             "their enabled and running state. Restored after the files they run from.",
             "");
  if (auto sv = runit_services(root); !sv.empty())
    services(names.contains("services") ? "runit-services" : "services", "runit", sv,
             "The runit services linked in /etc/service: their state. Restored after the\n"
             "files they run from.",
             "/etc/service");

  for (const Cluster& c : postgres_clusters(root)) {
    Table t;
    t.comment =
        fmt::format("The PostgreSQL cluster listening on {}/.s.PGSQL.{}.", c.socket_dir, c.port);
    t.keys = {{"name", toml_string(name_from("postgres-", std::to_string(c.port), names))},
              {"adapter", toml_string("postgres")},
              {"category", toml_string("database")},
              {"host", toml_string(c.socket_dir)},
              {"port", std::to_string(c.port)},
              {"user", toml_string("postgres")}};
    auto dbs = postgres_databases(root, c);
    if (dbs && !dbs->empty()) {
      t.keys.emplace_back("databases", array(*dbs));
    } else {
      t.keys.emplace_back("databases", array({}));
      t.disabled = true;
      t.why_disabled = dbs ? "it has no databases of its own yet; name them and uncomment"
                           : "its databases could not be listed; name them and uncomment.\n" +
                                 dbs.error().message();
    }
    need_adapter(t, "postgres");
    tables.push_back(std::move(t));
  }

  std::vector<std::string> dbs;
  find_sqlite(root, "/var/lib", 0, {"/var/lib/dpkg", "/var/lib/apt", repo}, dbs);
  for (const auto& p : dbs) {
    Table t;
    t.comment =
        "A SQLite database found under /var/lib: uncomment to capture it (a consistent\n"
        "copy, taken through SQLite's own locking).";
    t.keys = {
        {"name", toml_string(name_from("", p.substr(std::string("/var/lib/").size()), names))},
        {"adapter", toml_string("sqlite")},
        {"category", toml_string("database")},
        {"path", toml_string(p)}};
    t.disabled = true;
    tables.push_back(std::move(t));
  }

  std::string out = kHeader;
  auto replace = [&](std::string_view key, const std::string& value) {
    size_t at = out.find(key);
    out.replace(at, key.size(), value);
  };
  replace("{root}", root.path());
  replace("{repo}", toml_string(repo));
  for (const auto& t : tables) out += render(t);
  return out;
}

Result<std::string> write_config(io::Fs& fs, const std::string& system_root,
                                 const std::string& text, bool force) {
  REWIND_ASSIGN_OR_RETURN(io::Fd root, fs.open_path(system_root, O_RDONLY | O_DIRECTORY));
  io::Fd dir;
  std::string rel;
  for (const char* part : {"etc", "rewind"}) {
    rel += (rel.empty() ? "" : "/") + std::string(part);
    auto d = fs.open_beneath(root.get(), rel, O_RDONLY | O_DIRECTORY);
    if (!d && d.error().sys_errno() == ENOENT) {
      int parent = dir.get() >= 0 ? dir.get() : root.get();
      REWIND_TRY(fs.mkdir_at(parent, part, 0755));
      d = fs.open_beneath(root.get(), rel, O_RDONLY | O_DIRECTORY);
    }
    if (!d) return fail(d.error().with_context(fmt::format("opening {}/{}", system_root, rel)));
    dir = std::move(*d);
  }
  std::string target = (system_root == "/" ? "" : system_root) + "/etc/rewind/rewind.toml";
  if (!force && fs.stat_at(dir.get(), "rewind.toml"))
    return fail(Error::invalid_state(
        "{} exists; rewind config init does not overwrite it (--force does, --stdout prints "
        "the new one instead)",
        target));
  REWIND_TRY(io::write_file_atomic(fs, dir.get(), "rewind.toml", io::as_bytes(text), 0644));
  return target;
}

}  // namespace rwd::system
