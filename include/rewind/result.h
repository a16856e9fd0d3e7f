// SPDX-License-Identifier: Apache-2.0
// rewind's error type and Result<T>: every fallible function returns one.
// Built on tl::expected, which is an implementation detail: callers use only
// the names defined here.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace rwd {

// The error kinds of DESIGN.md's decisions. The CLI maps each to one exit code.
enum class ErrorCode {
  kOther,
  kNotFound,
  kInvalidState,
  kCorruptedData,
  kTimeout,
  kSystemInInvalidState,
  kBusy,
  kNoSpace,
  kPermissionDenied,
  kIo,
  kUsage,
  kWrongKey,
  kNoRepository,
};

std::string_view error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), message_(std::move(message)), errno_(sys_errno) {}

  template <typename... Args>
  static Error make(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
    return Error(code, fmt::format(f, std::forward<Args>(args)...));
  }
#define REWIND_ERROR_FACTORY(fn, code)                                          \
  template <typename... Args>                                                   \
  static Error fn(fmt::format_string<Args...> f, Args&&... args) {              \
    return Error(ErrorCode::code, fmt::format(f, std::forward<Args>(args)...)); \
  }
  REWIND_ERROR_FACTORY(other, kOther)
  REWIND_ERROR_FACTORY(not_found, kNotFound)
  REWIND_ERROR_FACTORY(invalid_state, kInvalidState)
  REWIND_ERROR_FACTORY(corrupted_data, kCorruptedData)
  REWIND_ERROR_FACTORY(timeout, kTimeout)
  REWIND_ERROR_FACTORY(system_invalid, kSystemInInvalidState)
  REWIND_ERROR_FACTORY(busy, kBusy)
  REWIND_ERROR_FACTORY(no_space, kNoSpace)
  REWIND_ERROR_FACTORY(permission_denied, kPermissionDenied)
  REWIND_ERROR_FACTORY(io, kIo)
  REWIND_ERROR_FACTORY(usage, kUsage)
  REWIND_ERROR_FACTORY(wrong_key, kWrongKey)
  REWIND_ERROR_FACTORY(no_repository, kNoRepository)
#undef REWIND_ERROR_FACTORY

  // An error from a failed system call: the code follows errno (ENOSPC ->
  // kNoSpace, EACCES/EPERM -> kPermissionDenied, ENOENT -> kNotFound, ...).
  static Error from_errno(int err, std::string_view what);

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // Adds context at a layer boundary: "restoring /etc: <message>".
  Error& context(std::string_view what) {
    message_ = fmt::format("{}: {}", what, message_);
    return *this;
  }
  Error with_context(std::string_view what) const& {
    Error e = *this;
    e.context(what);
    return e;
  }

 private:
  ErrorCode code_;
  std::string message_;
  int errno_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }
inline Status ok() { return {}; }

// Explicitly ignores a status; the reason documents why that is safe.
inline void ignore_status(const Status& /*st*/, std::string_view /*reason*/) {}

}  // namespace rwd

#define REWIND_CONCAT_INNER(a, b) a##b
#define REWIND_CONCAT(a, b) REWIND_CONCAT_INNER(a, b)

// Propagates an error from an expression returning Result<T> or Status.
#define REWIND_TRY(expr)                                                                     \
  do {                                                                                       \
    auto&& rewind_try_result_ = (expr);                                                      \
    if (!rewind_try_result_) return ::tl::unexpected(std::move(rewind_try_result_).error()); \
  } while (0)

#define REWIND_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)         \
  auto tmp = (expr);                                         \
  if (!tmp) return ::tl::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

// REWIND_ASSIGN_OR_RETURN(auto x, f()): declares x from f()'s value or returns its error.
#define REWIND_ASSIGN_OR_RETURN(lhs, expr) \
  REWIND_ASSIGN_OR_RETURN_IMPL(REWIND_CONCAT(rewind_aor_, __LINE__), lhs, expr)
