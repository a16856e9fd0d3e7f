// SPDX-License-Identifier: Apache-2.0
// RollbackSystem's audit calls: open the repository (without the writer
// lock: appends are serialized by the catalog and the key's lock) and hand
// its catalog to audit::Log.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/recovery_point_manager.h"
#include "rewind/audit.h"
#include "rewind/result.h"

namespace rwd::system {

Status append_audit(engine::RecoveryPointManager& points, const AuditEntry& entry);
Result<std::vector<AuditRecord>> read_audit(engine::RecoveryPointManager& points, int64_t since_ns);
Result<AuditVerifyReport> verify_audit(engine::RecoveryPointManager& points);

}  // namespace rwd::system
