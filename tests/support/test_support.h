// SPDX-License-Identifier: Apache-2.0
// Test support: matchers for Result/Status, temporary directories that clean
// up after themselves, running the rewind binary, and a tree comparison that
// shares no code with rewind (rsync as the oracle, plus a sparseness check).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "rewind/result.h"

namespace rwd::testing {

// EXPECT_THAT(result, IsOk());
MATCHER(IsOk, "is ok") {
  if (arg) return true;
  *result_listener << "error " << error_code_name(arg.error().code()) << ": "
                   << arg.error().message();
  return false;
}

// EXPECT_THAT(result, HasError(ErrorCode::kCorruptedData));
MATCHER_P(HasError, code, "fails with " + std::string(error_code_name(code))) {
  if (arg) {
    *result_listener << "succeeded";
    return false;
  }
  *result_listener << "error " << error_code_name(arg.error().code()) << ": "
                   << arg.error().message();
  return arg.error().code() == code;
}

// A temporary directory under $TMPDIR (or /var/tmp), removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rewind-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;  // or 128+signal
  std::string out;
  std::string err;
};

// Runs argv (argv[0] is looked up in PATH unless it contains a '/'), with
// extra environment variables, capturing stdout and stderr. Never a shell.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {}, int timeout_seconds = 600,
              const std::string& stdin_data = "");

// Path of the rewind binary under test (and of the fault-injecting build).
std::string rewind_binary();
std::string rewind_faulty_binary();

// Runs the rewind binary with args.
RunResult rewind(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {});

// Compares two trees in contents and every attribute, with rsync
// (-naHAXc --numeric-ids --modify-window=-1 --itemize-changes) plus a check
// that sparse files stayed sparse. Returns the differences ("" when equal).
// The roots' own attributes are ignored when `ignore_root` is set.
std::string tree_diff(const std::string& a, const std::string& b, bool ignore_root = true);

// Writes a file (creating parents), for building test trees.
void write_file(const std::string& path, const std::string& data, int mode = 0644);
std::string read_file(const std::string& path);
// Deterministic pseudo-random bytes from a seed.
std::string random_bytes(size_t n, uint64_t seed);

}  // namespace rwd::testing
