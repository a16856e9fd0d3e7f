// SPDX-License-Identifier: Apache-2.0
// The audit log: one entry per mutating operation, kept in the catalog's
// append-only `audit` table and chained by HMAC-SHA-256 with a key kept
// outside the repository, so that someone who can write the repository but
// not the key can neither edit, insert, remove nor cut off entries unseen.
// Format and guarantees: doc/audit.md.
//
// Files outside the repository (`<system root>/etc/rewind/audit/`, 0700,
// owned by root, excluded from every files component):
//   key          64 hex digits, 0600, made on the first append
//   <id>.head    the chain's head for repository <id>: count and last MAC
//                (JSON), 0600, replaced durably after each append
//
// Entry n's MAC = HMAC(key, "rewind-audit-v1", repository id, n, time, uid,
// user, host, operation, arguments column, result, message, MAC of n-1).
//
// Thread-safety: a Log is used from one thread; appends from several
// processes are serialized by the catalog's write lock and by an flock on
// the key file (which also orders the head's updates).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "rewind/audit.h"
#include "rewind/result.h"

namespace rwd::audit {

using Entry = AuditEntry;
using Record = AuditRecord;
using VerifyResult = AuditVerifyReport;

// The one place the arguments column is written and read: a JSON array of
// strings. Repository encryption seals this text (it may hold paths); the
// MAC covers the stored (sealed) text, so verifying needs no unsealing.
std::string arguments_column(const std::vector<std::string>& args);
std::vector<std::string> arguments_from_column(const std::string& column);

class Log {
 public:
  // `system_root` locates the key directory (<root>/etc/rewind/audit);
  // `repository_id` names the repository's head file.
  Log(io::Fs& fs, std::string system_root, std::string repository_id);

  // Appends one entry in its own catalog transaction, then writes the head
  // durably, then (for system root "/" where /dev/log exists) sends the
  // head to syslog (LOG_AUTHPRIV). Makes the key directory and key on first
  // use when the log is empty. Errors: kInvalidState when entries exist but
  // the key is missing; kPermissionDenied when the key is open to others;
  // kIo, kNoSpace, kBusy from the catalog and files. A crash after the
  // commit leaves the head one entry behind, which verify accepts (a note).
  Status append(catalog::Catalog& cat, const Entry& e);

  // Entries with time >= since_ns, oldest first.
  Result<std::vector<Record>> list(catalog::Catalog& cat, int64_t since_ns = INT64_MIN);

  // Checks every entry's sequence number and MAC in order and the head:
  // names the first edited, inserted or removed entry, or the first entry
  // cut off the end. Errors only when the log cannot be read at all or the
  // key is missing while entries exist (kInvalidState).
  Result<VerifyResult> verify(catalog::Catalog& cat);

  const std::string& key_dir() const { return key_dir_; }

 private:
  io::Fs& fs_;
  std::string system_root_;
  std::string key_dir_;
  std::string repository_id_;
};

}  // namespace rwd::audit
