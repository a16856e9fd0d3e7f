// SPDX-License-Identifier: Apache-2.0
#include "daemon/decisions.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/exit_codes.h"
#include "daemon/log.h"

namespace rwd::daemon {

void audit_decision(RollbackSystem& sys, bool boot, std::string_view what,
                    std::vector<std::string> arguments, int result, const std::string& message) {
  AuditEntry e;
  e.operation = fmt::format("{} {}", boot ? "boot-check" : "daemon", what);
  e.arguments = std::move(arguments);
  e.result = result;
  e.message = message;
  if (Status st = sys.audit(e); !st)
    log_warn(
        fmt::format("the audit log was not appended ({}): {}", e.operation, st.error().message()));
}

int rollback_result_code(const AutoRollbackReport& r) {
  if (r.succeeded()) return cli::kExitOk;
  if (r.result == "partial") return cli::kExitPartial;
  return cli::kExitNeedsRecover;
}

std::vector<std::string> rollback_arguments(const AutoRollbackReport& r) {
  std::vector<std::string> a{"finished",
                             "trigger=" + r.trigger,
                             fmt::format("point={}", r.point),
                             "scope=" + r.scope,
                             fmt::format("components={}", fmt::join(r.components, ",")),
                             "result=" + r.result};
  if (!r.operations.empty()) {
    a.push_back(fmt::format("operation={}", r.operations.front().operation));
    a.push_back(fmt::format("safety={}", r.operations.front().safety));
  }
  a.push_back("reason=" + r.reason);
  return a;
}

}  // namespace rwd::daemon
