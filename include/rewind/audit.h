// SPDX-License-Identifier: Apache-2.0
// The audit log's value types (RollbackSystem::audit, audit_log,
// verify_audit). Format and guarantees: doc/audit.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rwd {

// What a caller records of one mutating operation; the log adds the time,
// the user, the host and the chain's MAC.
struct AuditEntry {
  std::string operation;               // "create", "rollback", "daemon rollback"...
  std::vector<std::string> arguments;  // the command line after the program name
  int result = 0;                      // exit code: 0 success
  std::string message;                 // the error when result != 0
  // The user the operation is done for (rewindd: the peer's credentials);
  // unset: the calling process's real uid.
  std::optional<uint32_t> uid;
};

struct AuditRecord {
  int64_t seq = 0;  // 1, 2, 3... in append order
  int64_t time_ns = 0;
  uint32_t uid = 0;
  std::string user;
  std::string host;
  std::string operation;
  std::vector<std::string> arguments;
  int result = 0;
  std::string message;
  std::string mac;  // hex HMAC-SHA-256
};

struct AuditVerifyReport {
  uint64_t entries = 0;            // in the catalog
  int64_t head_count = -1;         // what the head beside the key records; -1: no head
  int64_t first_bad = 0;           // the first entry that fails; 0: none (or not one entry)
  std::string problem;             // why the log fails; "" when it verifies
  std::vector<std::string> notes;  // harmless states (entries past a stale head)
  bool ok() const { return problem.empty(); }
};

}  // namespace rwd
