// SPDX-License-Identifier: Apache-2.0
// The one table of exit codes (DESIGN.md "Exit codes"), shared by every command.
#pragma once

#include <string_view>

#include "rewind/result.h"

namespace rwd::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitPartial = 3,
  kExitRolledBack = 4,
  kExitNeedsRecover = 5,
  kExitHealthDegraded = 6,
  kExitHealthCritical = 7,
  kExitNoSpace = 8,
  kExitIo = 9,
  kExitNoRepository = 10,
  kExitBusy = 11,
  kExitWrongKey = 12,
  kExitCorrupted = 13,
  kExitNotFound = 14,
  kExitPermission = 15,
  kExitInvalidState = 16,
  kExitTimeout = 124,
  kExitInterrupted = 130,
};

// The exit code for a rollback that ended in `state` (RollbackReport::state):
// 3 partial, 130 cancelled, 5 reverted or failed (`rewind recover`), else 0.
inline int exit_code_for_rollback_state(std::string_view state) {
  if (state == "partial") return kExitPartial;
  if (state == "cancelled") return kExitInterrupted;
  if (state == "reverted" || state == "failed") return kExitNeedsRecover;
  return kExitOk;
}

inline int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOther:
      return kExitError;
    case ErrorCode::kUsage:
      return kExitUsage;
    case ErrorCode::kSystemInInvalidState:
      return kExitNeedsRecover;
    case ErrorCode::kNoSpace:
      return kExitNoSpace;
    case ErrorCode::kIo:
      return kExitIo;
    case ErrorCode::kNoRepository:
      return kExitNoRepository;
    case ErrorCode::kBusy:
      return kExitBusy;
    case ErrorCode::kWrongKey:
      return kExitWrongKey;
    case ErrorCode::kCorruptedData:
      return kExitCorrupted;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kPermissionDenied:
      return kExitPermission;
    case ErrorCode::kInvalidState:
      return kExitInvalidState;
    case ErrorCode::kTimeout:
      return kExitTimeout;
  }
  return kExitError;
}

inline constexpr const char* kExitCodeHelp = R"(Exit codes:
  0 ok                     1 other error            2 usage or configuration
  3 partial                4 update rolled back     5 needs `rewind recover`
  6 health degraded        7 health critical        8 no space
  9 I/O error             10 no repository         11 busy (lock held)
 12 wrong key             13 corrupted data        14 not found
 15 permission denied     16 invalid state        124 timeout
130 interrupted)";

}  // namespace rwd::cli
