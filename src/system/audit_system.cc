// SPDX-License-Identifier: Apache-2.0
#include "system/audit_system.h"

#include "audit/audit.h"
#include "store/repository.h"

namespace rwd::system {

namespace {

template <typename Fn>
auto with_log(engine::RecoveryPointManager& points, Fn fn)
    -> decltype(fn(std::declval<audit::Log&>(), std::declval<catalog::Catalog&>())) {
  REWIND_ASSIGN_OR_RETURN(auto repo, points.open_repo(false, "audit"));
  audit::Log log(repo->fs(), points.options().system_root, repo->config().id);
  return fn(log, repo->catalog());
}

}  // namespace

Status append_audit(engine::RecoveryPointManager& points, const AuditEntry& entry) {
  return with_log(points,
                  [&](audit::Log& log, catalog::Catalog& cat) { return log.append(cat, entry); });
}

Result<std::vector<AuditRecord>> read_audit(engine::RecoveryPointManager& points,
                                            int64_t since_ns) {
  return with_log(points,
                  [&](audit::Log& log, catalog::Catalog& cat) { return log.list(cat, since_ns); });
}

Result<AuditVerifyReport> verify_audit(engine::RecoveryPointManager& points) {
  return with_log(points, [](audit::Log& log, catalog::Catalog& cat) { return log.verify(cat); });
}

}  // namespace rwd::system
