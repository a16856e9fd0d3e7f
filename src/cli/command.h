// SPDX-License-Identifier: Apache-2.0
// What every subcommand shares: the global options, the per-command option
// storage, the command table's entry type, and output helpers. Each
// subcommand lives in its own cmd_<verb>.cc and is listed once in commands.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/output.h"
#include "rewind/rollback_system.h"

namespace rwd::cli {

using nlohmann::json;

struct Globals {
  std::string repo;
  std::string root = "/";
  std::string config;  // --config FILE
  OutputMode out;
  bool wait = false;
  int threads = 2;
  std::string password_file{};  // --password-file FILE
};

// Storage for the options a command parses (each command has its own).
struct CommandOptions {
  int compression = 3;
  CreateOptions create;
  std::string id, id2, path;
  std::vector<std::string> paths;
  std::string to;
  bool overwrite = false;
  bool to_stdout = false;
  bool read_data = false;
  std::vector<std::string> components, categories, kinds, tags;
  bool content = false;
  std::string scope = "full";
  bool with_dependents = false, dry_run = false, yes = false, apply_packages = false;
  PointChanges changes;
  bool pin = false, unpin = false;
  int64_t limit = 20;
  bool encrypt = false;
  bool shred = false, no_shred = false;
};

struct Command {
  const char* name;
  const char* help;
  std::function<void(CLI::App&)> setup;    // adds the command's options
  std::function<int(const Globals&)> run;  // returns the exit code
  // Whether this run changes the system or the repository (unset: never).
  // When it returns true after the command ran, its name, arguments and
  // result are appended to the audit log (cmd_audit.cc).
  std::function<bool()> mutating = nullptr;
};
// For commands that always change something.
inline const std::function<bool()> kMutating = [] { return true; };

// Prints the error (and, with --json, an error document); returns its exit code.
int report_error(const Globals& g, const Error& e);
// The message of the last error report_error printed ("" when none), for
// the audit log's entry of the command.
const std::string& last_error_message();
// Appends the audit entry of a mutating command that returned `code` and
// returns `code`; a failed append is reported on standard error.
int append_audit_entry(const Globals& g, const Command& cmd, const std::vector<std::string>& args,
                       int code);
SystemOptions system_options(const Globals& g);
json component_json(const ComponentInfo& c);
// A rollback report as `rollback --json` and rewindd print it (without the plan).
json rollback_json(const RollbackReport& r);
json point_json(const RecoveryPointInfo& p);
void print_json(const json& j);

Command init_command();
Command create_command();
Command list_command();
Command show_command();
Command diff_command();
Command restore_command();
Command verify_command();
Command dump_command();
Command repair_command();
Command modify_command();
Command forget_command();
Command prune_command();
Command rollback_command();
Command undo_command();
Command recover_command();
Command status_command();
Command cancel_command();
Command config_command();
Command hook_command();
Command key_command();
Command daemon_command();
Command boot_check_command();
Command audit_command();

// The text and JSON forms of a rollback report; returns the exit code.
int print_rollback_report(const Globals& g, const RollbackReport& r);
json progress_json(const RollbackProgress& p);

}  // namespace rwd::cli
