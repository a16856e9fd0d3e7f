// SPDX-License-Identifier: Apache-2.0
#include "audit/audit.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "io/durable.h"
#include "store/encoding.h"
#include "store/hash.h"

namespace rwd::audit {

namespace {

using nlohmann::json;
using Key = std::array<uint8_t, 32>;

constexpr const char* kKeyFile = "key";
constexpr std::string_view kMacDomain = "rewind-audit-v1";

std::string user_name(uint32_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return found->pw_name;
  return std::to_string(uid);
}

std::string host_name() {
  struct utsname u;
  return ::uname(&u) == 0 ? u.nodename : "";
}

std::string head_file(const std::string& repository_id) { return repository_id + ".head"; }

// What an entry's MAC covers: every column but the MAC itself, the
// repository's id (an entry cannot be moved to another repository that
// shares the key) and the previous entry's MAC (the chain).
std::string compute_mac(const Key& key, const std::string& repository_id,
                        const catalog::AuditRow& r, const std::string& prev_mac) {
  store::Writer w;
  w.str(kMacDomain);
  w.str(repository_id);
  w.svarint(r.seq);
  w.svarint(r.time_ns);
  w.svarint(r.uid);
  w.str(r.user);
  w.str(r.host);
  w.str(r.operation);
  w.str(r.arguments);
  w.svarint(r.result);
  w.str(r.message);
  w.str(prev_mac);
  auto mac = store::hmac_sha256(key, w.buffer());
  return store::hex_encode(mac);
}

// <root>/etc/rewind/audit, made when `create` (etc and rewind 0755 like the
// configuration's directories, audit 0700); an invalid Fd when it does not
// exist and not `create`. A directory of its own, excluded from every files
// component as a whole, so that appends change nothing a point holds (not
// even /etc/rewind's mtime).
Result<io::Fd> open_key_dir(io::Fs& fs, const std::string& root, bool create) {
  REWIND_ASSIGN_OR_RETURN(io::Fd at, fs.open_path(root, O_RDONLY | O_DIRECTORY));
  for (const char* name : {"etc", "rewind", "audit"}) {
    auto next = fs.open_at(at.get(), name, O_RDONLY | O_DIRECTORY);
    if (!next && next.error().code() == ErrorCode::kNotFound) {
      if (!create) return io::Fd();
      Status st = fs.mkdir_at(at.get(), name, std::string_view(name) == "audit" ? 0700 : 0755);
      if (!st && st.error().sys_errno() != EEXIST) return fail(st.error());
      REWIND_TRY(fs.fsync_dir(at.get()));
      next = fs.open_at(at.get(), name, O_RDONLY | O_DIRECTORY);
    }
    if (!next) return fail(next.error());
    at = std::move(*next);
  }
  return at;
}

// The key, or nullopt when its file does not exist. A key others can read
// or write protects nothing: refused, naming the fix.
Result<std::optional<Key>> read_key(io::Fs& fs, int dirfd, const std::string& path) {
  auto st = fs.stat_at(dirfd, kKeyFile);
  if (!st && st.error().code() == ErrorCode::kNotFound) return std::optional<Key>();
  if (!st) return fail(st.error());
  if (!S_ISREG(st->mode)) return fail(Error::permission_denied("{} is not a regular file", path));
  if ((st->mode & 077) != 0 || (st->uid != 0 && st->uid != ::geteuid()))
    return fail(Error::permission_denied(
        "{} is open to others (mode {:04o}, uid {}): anyone who can read it can forge audit "
        "entries; run `chown root {} && chmod 600 {}`",
        path, st->mode & 07777, st->uid, path, path));
  REWIND_ASSIGN_OR_RETURN(std::string text, io::read_small_file(fs, dirfd, kKeyFile, 4096));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  auto id = store::ChunkId::parse(text);
  if (!id) return fail(Error::corrupted_data("{}: not a 64-digit hex key", path));
  return std::optional<Key>(id->bytes);
}

Result<Key> make_key(io::Fs& fs, int dirfd) {
  Key k;
  if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1)
    return fail(Error::other("no random bytes for the audit key (OpenSSL RAND_bytes failed)"));
  std::string text = store::hex_encode(k) + "\n";
  REWIND_TRY(io::write_file_atomic(fs, dirfd, kKeyFile, io::as_bytes(text), 0600));
  return k;
}

struct Head {
  int64_t count = 0;
  std::string mac;
};

Result<std::optional<Head>> read_head(io::Fs& fs, int dirfd, const std::string& name,
                                      const std::string& path) {
  auto text = io::read_small_file(fs, dirfd, name, 4096);
  if (!text && text.error().code() == ErrorCode::kNotFound) return std::optional<Head>();
  if (!text) return fail(text.error());
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("count") || !j["count"].is_number_integer() ||
      j["count"].get<int64_t>() < 0 || !j.contains("mac") || !j["mac"].is_string())
    return fail(Error::corrupted_data("{}: not an audit head (count, mac)", path));
  return std::optional<Head>(Head{j["count"].get<int64_t>(), j["mac"].get<std::string>()});
}

// The head beside the key is the part of the state the repository's writer
// cannot roll back; syslog keeps a copy off the machine where one forwards.
void log_head_to_syslog(io::Fs& fs, const std::string& root, const std::string& repository_id,
                        const catalog::AuditRow& r) {
  // Only for the running system: another --root is an image or a chroot,
  // whose events are not the host's.
  if (root != "/" || !fs.stat_at(AT_FDCWD, "/dev/log")) return;
  ::openlog("rewind", LOG_PID, LOG_AUTHPRIV);
  ::syslog(LOG_AUTHPRIV | LOG_INFO,
           "audit: repository %s entry %lld (%s by uid %lld, result %lld) mac %s",
           repository_id.c_str(), static_cast<long long>(r.seq), r.operation.c_str(),
           static_cast<long long>(r.uid), static_cast<long long>(r.result), r.mac.c_str());
  ::closelog();
}

}  // namespace

std::string arguments_column(const std::vector<std::string>& args) {
  // Invalid UTF-8 (a path is bytes) is replaced, not refused: the entry
  // must be written whatever the command line held.
  return json(args).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::string> arguments_from_column(const std::string& column) {
  json j = json::parse(column, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return {column};  // not ours: shown as it is
  for (const auto& a : j) out.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  return out;
}

Log::Log(io::Fs& fs, std::string system_root, std::string repository_id)
    : fs_(fs),
      system_root_(std::move(system_root)),
      key_dir_((system_root_ == "/" ? std::string() : system_root_) + "/etc/rewind/audit"),
      repository_id_(std::move(repository_id)) {}

Status Log::append(catalog::Catalog& cat, const Entry& e) {
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, open_key_dir(fs_, system_root_, true));
  // One appender at a time from here to the head's update, so heads are
  // written in chain order and two first appends make one key.
  REWIND_TRY(fs_.flock(dir.get(), true, true));
  REWIND_TRY(cat.checkpoint());
  REWIND_TRY(cat.ensure_audit_table());
  REWIND_TRY(cat.begin());
  catalog::AuditRow row;
  Status st = [&]() -> Status {
    REWIND_ASSIGN_OR_RETURN(std::optional<catalog::AuditRow> last, cat.last_audit());
    const std::string key_path = key_dir_ + "/" + kKeyFile;
    REWIND_ASSIGN_OR_RETURN(std::optional<Key> key, read_key(fs_, dir.get(), key_path));
    if (!key && last)
      return fail(Error::invalid_state(
          "the audit key {} is missing, but the audit log already has {} entries: restore the "
          "key from a backup (a new key would make them unverifiable)",
          key_path, last->seq));
    if (!key) {
      REWIND_ASSIGN_OR_RETURN(key, make_key(fs_, dir.get()));
    }
    row.seq = last ? last->seq + 1 : 1;
    row.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    row.uid = e.uid.value_or(static_cast<uint32_t>(::getuid()));
    row.user = user_name(static_cast<uint32_t>(row.uid));
    row.host = host_name();
    row.operation = e.operation;
    row.arguments = arguments_column(e.arguments);
    row.result = e.result;
    row.message = e.message;
    row.mac = compute_mac(*key, repository_id_, row, last ? last->mac : std::string());
    REWIND_TRY(cat.insert_audit(row));
    return cat.commit();
  }();
  if (!st) {
    ignore_status(cat.rollback(), "the append failed already");
    return st;
  }
  // After the commit: a crash in between leaves the head one entry behind,
  // which verify tells from a cut (the entries past it carry valid MACs).
  json head{{"repository", repository_id_}, {"count", row.seq}, {"mac", row.mac}};
  REWIND_TRY(io::write_file_atomic(fs_, dir.get(), head_file(repository_id_),
                                   io::as_bytes(head.dump() + "\n"), 0600));
  log_head_to_syslog(fs_, system_root_, repository_id_, row);
  return ok();
}

Result<std::vector<Record>> Log::list(catalog::Catalog& cat, int64_t since_ns) {
  REWIND_ASSIGN_OR_RETURN(auto rows, cat.list_audit(since_ns));
  std::vector<Record> out;
  out.reserve(rows.size());
  for (auto& r : rows)
    out.push_back(Record{r.seq, r.time_ns, static_cast<uint32_t>(r.uid), std::move(r.user),
                         std::move(r.host), std::move(r.operation),
                         arguments_from_column(r.arguments), static_cast<int>(r.result),
                         std::move(r.message), std::move(r.mac)});
  return out;
}

Result<VerifyResult> Log::verify(catalog::Catalog& cat) {
  VerifyResult v;
  REWIND_ASSIGN_OR_RETURN(auto rows, cat.list_audit());
  v.entries = rows.size();
  REWIND_ASSIGN_OR_RETURN(io::Fd dir, open_key_dir(fs_, system_root_, false));
  const std::string key_path = key_dir_ + "/" + kKeyFile;
  std::optional<Key> key;
  std::optional<Head> head;
  const std::string head_path = key_dir_ + "/" + head_file(repository_id_);
  if (dir) {
    REWIND_ASSIGN_OR_RETURN(key, read_key(fs_, dir.get(), key_path));
    REWIND_ASSIGN_OR_RETURN(head, read_head(fs_, dir.get(), head_file(repository_id_), head_path));
  }
  if (head) v.head_count = head->count;
  if (!key) {
    if (rows.empty() && !head) return v;  // nothing was ever recorded
    return fail(Error::invalid_state(
        "the audit key {} is missing: the audit log of this repository cannot be verified "
        "(restore the key from a backup)",
        key_path));
  }
  auto bad = [&v](int64_t seq, std::string why) {
    v.first_bad = seq;
    v.problem = std::move(why);
    return v;
  };
  std::string prev;
  int64_t expected = 1;
  for (const auto& r : rows) {
    if (r.seq != expected)
      return bad(expected, fmt::format("entry {} is missing (removed): the log goes from entry {} "
                                       "to entry {}",
                                       expected, expected - 1, r.seq));
    if (compute_mac(*key, repository_id_, r, prev) != r.mac)
      return bad(r.seq, fmt::format("entry {} does not match its MAC: it was edited or inserted, "
                                    "or an entry before it was removed",
                                    r.seq));
    prev = r.mac;
    ++expected;
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  if (!head) {
    if (n == 0) return v;
    return bad(0, fmt::format("the audit head {} is missing: whether entries were cut off the "
                              "end cannot be told",
                              head_path));
  }
  if (head->count > n)
    return bad(n + 1, fmt::format("entries {} to {} were cut off the end: the head {} records {} "
                                  "entries, the log has {}",
                                  n + 1, head->count, head_path, head->count, n));
  if (head->count > 0 && rows[static_cast<size_t>(head->count - 1)].mac != head->mac)
    return bad(head->count,
               fmt::format("entry {} is not the one the head {} records: the log was replaced",
                           head->count, head_path));
  if (head->count < n)
    v.notes.push_back(fmt::format(
        "entries {} to {} were appended after the head was last written (an interrupted append "
        "or an older copy's head); their MACs verify",
        head->count + 1, n));
  return v;
}

}  // namespace rwd::audit
