// SPDX-License-Identifier: Apache-2.0
// The public facade of rewind: recovery points of file trees in a
// repository. The CLI and the daemon use only this header and its value
// types; internals stay behind the pimpl.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rewind/audit.h"
#include "rewind/auto_rollback.h"
#include "rewind/health.h"
#include "rewind/progress.h"
#include "rewind/result.h"
#include "rewind/retention.h"
#include "rewind/rollback.h"

namespace rwd {

namespace io {
class Fs;
}

struct ComponentInfo {
  std::string name;
  std::string adapter;
  std::string category;
  std::vector<std::string> paths;
  uint64_t entries = 0;
  uint64_t size = 0;    // logical bytes
  uint64_t stored = 0;  // stored bytes of the chunks it references
  uint64_t added = 0;   // stored bytes the point added
  // What the adapter says of its snapshot (a JSON object, "" when not
  // asked): counts, recorded facts, and the "restorable" and "recorded"
  // parts. Filled by get_recovery_point, not by list.
  std::string details;
};

struct RecoveryPointInfo {
  int64_t id = 0;
  std::string name;
  std::string description;
  std::string kind;
  std::string cause;
  int64_t time_ns = 0;
  std::string user;
  std::string host;
  std::string kernel;
  std::vector<std::string> tags;
  bool pinned = false;
  int64_t pre_id = 0;
  std::vector<ComponentInfo> components;
  // Stored bytes of the chunks this point references and no other point
  // does: what forgetting it alone frees once `prune` runs. Filled by list.
  uint64_t unique = 0;
  std::string health;  // good | degraded | critical; "" when no check was configured
};

struct SystemOptions {
  // Repository directory. Empty: the configuration's [repository] path under
  // the system root, else <system root>/var/lib/rewind.
  std::string repository;
  std::string system_root = "/";
  // The configuration file. Unset: <system root>/etc/rewind/rewind.toml and
  // conf.d/*.toml when they exist.
  std::optional<std::string> config_file;
  bool use_config = true;  // false: no configuration file at all
  bool wait_for_lock = false;
  int threads = 2;
  io::Fs* fs = nullptr;  // default: the process-wide io::default_fs()
  // An encrypted repository's passphrase (doc/encryption.md), asked only
  // when the repository is encrypted: `password`, else the first line of
  // `password_file`, else of the file the environment's
  // REWIND_PASSWORD_FILE names, else `ask_password` (the CLI sets it on a
  // terminal; `confirm`: a new passphrase, asked twice). None of them:
  // kWrongKey, with how to give one.
  std::string password{};
  std::string password_file{};
  std::function<Result<std::string>(const std::string& prompt, bool confirm)> ask_password{};
};

// One passphrase of an encrypted repository (`rewind key list`).
struct RepositoryKey {
  std::string id;
  int64_t created_ns = 0;
  uint64_t kdf_opslimit = 0;  // Argon2id passes
  uint64_t kdf_memlimit = 0;  // Argon2id memory, bytes
  bool current = false;       // the key this passphrase opened
};

struct CreateOptions {
  std::vector<std::string> paths;  // absolute, within the system root
  std::vector<std::string> exclude;
  std::string name;
  std::string description;
  std::string kind = "single";
  std::string cause = "manual";
  std::vector<std::string> tags;
  bool pinned = false;
  std::vector<std::string> components;  // configured components (-c); empty = all
  int64_t pre_id = 0;                   // a post point's pre point
  // The health level to record; empty: the configured checks run (when
  // there are any) and their level is recorded.
  std::string health;
};

// What `rewind modify` changes; unset fields stay.
struct PointChanges {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<bool> pinned;
  std::vector<std::string> add_tags;
  std::vector<std::string> remove_tags;
};

struct CreateReport {
  int64_t id = 0;
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t files_read = 0;
  uint64_t bytes_read = 0;
  uint64_t added = 0;
  std::vector<std::string> warnings;
};

struct DiffItem {
  std::string component;
  std::string path;  // absolute within the system root
  std::string kind;  // added, removed, content, metadata, type, damaged
  std::vector<std::string> attributes;
  // A unified diff of a text file, "old -> new" for a value; empty for
  // secrets and binary content.
  std::string detail;
};

struct RestoreRequest {
  std::string point;               // an ID: number, latest, latest:KIND
  std::vector<std::string> paths;  // absolute within the system root; empty = all
  std::optional<std::string> to;   // restore into this directory instead of in place
  bool overwrite = false;          // allow a non-empty --to directory
};

struct RestoreReport {
  int64_t id = 0;
  int64_t operation = 0;  // in place: the operation, and
  int64_t safety = 0;     // the safety point taken before
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  std::vector<std::string> warnings;
};

struct VerifyReport {
  uint64_t packs = 0;
  uint64_t chunks = 0;
  uint64_t points = 0;
  uint64_t bytes_read = 0;
  std::vector<std::string> problems;  // each fails verify
  std::vector<std::string> notes;     // harmless states, such as an interrupted create
};

struct DiffOptions {
  bool content = false;                 // compare live content by hash, whatever the metadata says
  std::vector<std::string> components;  // empty = all
};

// A configured component, as `config validate` prints it.
struct ConfiguredComponent {
  std::string name;
  std::string adapter;
  std::string category;
  std::vector<std::string> paths;
  std::vector<std::string> exclude;
  std::vector<std::string> depends_on;
  std::vector<std::string> services;
  bool critical = false;
  std::string origin;  // file:line
};

struct SystemState {
  bool consistent = true;  // no unfinished operation, no repository problem
  std::vector<RollbackProgress> unfinished;
  std::vector<std::string> problems;
};

struct RepairReport {
  uint64_t packs = 0;
  uint64_t chunks = 0;
  uint64_t points = 0;
  std::vector<std::string> problems;
};

struct PruneRequest {
  bool dry_run = false;
  // Overwrite deleted data before unlinking it; nullopt: the configuration's
  // [repository] shred (default false).
  std::optional<bool> shred;
};

struct PruneReport {
  bool dry_run = false;
  bool shredded = false;
  uint64_t points = 0;  // kept points
  uint64_t live_chunks = 0;
  uint64_t dead_chunks = 0;
  uint64_t packs_before = 0;
  uint64_t packs_removed = 0;
  uint64_t packs_repacked = 0;
  uint64_t packs_written = 0;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t bytes_repacked = 0;
  uint64_t reclaimed = 0;  // bytes_before - bytes_after
  uint64_t roots_removed = 0;
  uint64_t temp_removed = 0;
  // Encrypted repository, --shred, no point left: the data key was replaced
  // and the old one shredded (its chunks can never be opened again).
  bool key_forgotten = false;
  uint64_t data_key_generation = 0;  // in use after the prune (encrypted)
};

class RollbackSystem {
 public:
  // Creates a new repository (at options.repository, or where the
  // configuration says) and returns its path. The compression level
  // defaults to the configuration's, else 3.
  // With `encrypt`, the repository is encrypted under the options'
  // passphrase (asked twice on a terminal).
  static Result<std::string> init_repository(const SystemOptions& options,
                                             std::optional<int> compression_level = std::nullopt,
                                             bool encrypt = false);
  // Loads the configuration (errors name the file, line and key) and
  // resolves the repository's location. The repository is opened per call.
  static Result<std::unique_ptr<RollbackSystem>> open(const SystemOptions& options);
  ~RollbackSystem();

  // Takes a recovery point of configured components or of the given paths.
  Result<CreateReport> create_recovery_point(const CreateOptions& opts, ProgressObserver& obs);
  // Same with a name (the seed's helper).
  Result<CreateReport> create_recovery_point_with_name(const std::string& name,
                                                       const std::vector<std::string>& paths,
                                                       ProgressObserver& obs);
  // A `pre` point of every configured component, cause "update".
  Result<CreateReport> create_update_recovery_point(const std::string& name, ProgressObserver& obs);
  Result<std::vector<RecoveryPointInfo>> list_recovery_points();
  Result<RecoveryPointInfo> get_recovery_point(const std::string& id);
  Status modify_recovery_point(const std::string& id, const PointChanges& changes);
  // Forgets recovery points (tombstones them; `prune` reclaims their data).
  // Pinned points, the pre point of a kept post point and the points of an
  // unfinished operation are refused. Returns the numbers forgotten.
  Result<std::vector<int64_t>> forget_recovery_points(const std::vector<std::string>& ids);
  // The retention policy of the configuration ([retention], else the
  // defaults of RetentionPolicy).
  const RetentionPolicy& retention_policy() const;
  // Applies `policy` (DESIGN.md, decision "Retention."): every point with the
  // rules that keep it or why it goes; unless `dry_run`, the points to remove
  // are forgotten (tombstoned; `prune` reclaims their data). Damaged points
  // are reported in the notes and the policy still applies to the rest.
  // Errors: kBusy (another writer), the error that stopped a removal (the
  // message names the points forgotten before it).
  Result<RetentionReport> apply_retention(const RetentionPolicy& policy, bool dry_run);
  // Resolves a number, `latest` or `latest:KIND`. kNotFound, kUsage.
  Result<int64_t> resolve(const std::string& id);
  // Differences between two points, or between a point and the live system.
  Result<std::vector<DiffItem>> diff(const std::string& id, const std::optional<std::string>& id2,
                                     ProgressObserver& obs, const DiffOptions& opts = {});
  Result<RestoreReport> restore(const RestoreRequest& req, ProgressObserver& obs);
  Result<VerifyReport> verify(bool read_data, ProgressObserver& obs);
  // Writes one file of a point to out_fd.
  Status dump(const std::string& id, const std::string& path, int out_fd);
  // Rebuilds the catalog's index and points from packs and root records.
  Result<RepairReport> repair(ProgressObserver& obs);
  // Removes the data no kept point references (repacking partly live packs),
  // superseded root records and leftover temporary files. A writer.
  Result<PruneReport> prune(const PruneRequest& req, ProgressObserver& obs);

  // The passphrases of an encrypted repository (kInvalidState when it is
  // not encrypted; kWrongKey when the options' passphrase opens none).
  Result<std::vector<RepositoryKey>> list_keys();
  // Adds a passphrase; returns the new key's id.
  Result<std::string> add_key(const std::string& new_passphrase);
  // Replaces the key the options' passphrase opens by one for
  // `new_passphrase`; returns the new key's id.
  Result<std::string> change_passphrase(const std::string& new_passphrase);
  // Removes a key; the last one cannot be removed (kInvalidState).
  Status remove_key(const std::string& id);
  // A new passphrase from `file` (its first line) or, without one, from
  // ask_password (asked twice); kUsage when neither is available.
  Result<std::string> new_passphrase(const std::string& file);

  // Rolls back per the request. A report whose state is `completed` or
  // `planned` is success; `partial`, `reverted` and `cancelled` carry what
  // happened (report.error says why). An error means nothing was changed,
  // or (kSystemInInvalidState) that `recover` must finish the operation.
  Result<RollbackReport> execute_rollback(const RollbackRequest& req);
  // Finishes or reverts unfinished operations (safe to run at every boot).
  Result<std::vector<RollbackReport>> recover(ProgressObserver& obs);
  // Rolls back to the safety point of the last rollback.
  Result<RollbackReport> undo(const RollbackRequest& req);
  Result<RollbackProgress> get_rollback_progress(int64_t operation);
  Result<std::vector<RollbackProgress>> list_operations(int64_t limit = 20);
  // Asks the running operation (or the given one) to stop and revert.
  Status cancel_rollback(std::optional<int64_t> operation = std::nullopt);
  // Unfinished operations and repository problems (structure, not data).
  Result<SystemState> validate_system_state();

  // Runs the configured health checks ([[check]], [health]). kNotFound for
  // a name in opts.only that is not configured.
  Result<HealthReport> check_health(const HealthOptions& opts = {});
  // Rolls back to req.point for req.trigger through the engine (safety
  // point first): priority components first, abort past max_rollback_time,
  // recorded in the catalog's auto_rollbacks table. An error means nothing
  // was attempted (bad point, busy repository); a failed rollback is a
  // report whose result says so (and is recorded).
  Result<AutoRollbackReport> auto_rollback(const AutoRollbackRequest& req);
  // Who holds the repository's writer lock ("pid 123 (rollback)"), or none
  // when it is free (then taken and released at once, as by any writer).
  Result<std::optional<std::string>> repository_lock_holder();
  // Automatic rollbacks, newest first, taken at or after since_ns.
  Result<std::vector<AutoRollbackRecord>> list_auto_rollbacks(int64_t since_ns = 0);
  // Pending confirmations of `run --confirm-within` (and their fate).
  Result<int64_t> add_confirmation(int64_t pre_id, int64_t post_id, int64_t deadline_ns);
  Result<std::vector<Confirmation>> list_confirmations();
  // Marks the pending confirmation `id` (all pending when unset) confirmed;
  // returns those it changed. kNotFound: no such pending confirmation.
  Result<std::vector<Confirmation>> confirm(std::optional<int64_t> id = std::nullopt);
  Status set_confirmation_state(int64_t id, const std::string& state);
  const AutoRollbackConfig& auto_rollback_config() const;
  // [daemon] socket, resolved under the system root (default
  // /run/rewind/rewindd.sock).
  std::string daemon_socket() const;
  // Appends an entry to the repository's audit log (doc/audit.md): the CLI
  // does after every command that declares itself mutating, rewindd after
  // each decision. kNoRepository when there is no repository (nothing to
  // append to); kInvalidState when entries exist but the key is missing.
  Status audit(const AuditEntry& entry);
  // The log's entries with time >= since_ns, oldest first.
  Result<std::vector<AuditRecord>> audit_log(int64_t since_ns = INT64_MIN);
  // Checks the chain and the head kept beside the key; the report names the
  // first bad entry. An error only when the log cannot be checked at all.
  Result<AuditVerifyReport> verify_audit();

  const SystemOptions& options() const;
  const std::vector<ConfiguredComponent>& configured_components() const;
  const std::vector<std::string>& configuration_files() const;

 private:
  struct Impl;
  explicit RollbackSystem(std::unique_ptr<Impl> impl);
  void record_verify_result(const VerifyReport& rep, bool read_data, ProgressObserver& obs);
  std::unique_ptr<Impl> impl_;
};

// The seed's helpers.
// Rolls back every component of the newest recovery point.
Result<RollbackReport> quick_rollback(RollbackSystem& sys, ProgressObserver* obs = nullptr);
// Rolls back the components of category `configuration` of a point.
Result<RollbackReport> rollback_configuration(RollbackSystem& sys,
                                              const std::string& point = "latest",
                                              ProgressObserver* obs = nullptr);
// Rolls back the components of category `kernel_core` of a point.
Result<RollbackReport> rollback_kernel_state(RollbackSystem& sys,
                                             const std::string& point = "latest",
                                             ProgressObserver* obs = nullptr);
// Rolls back every component to the newest point whose data verifies.
Result<RollbackReport> emergency_rollback(RollbackSystem& sys, ProgressObserver* obs = nullptr);

// Rolls back every pending confirmation whose deadline is at or before
// now_ns to its pre point (trigger "unconfirmed") and marks it rolled-back
// (or leaves it pending when the rollback failed, so it is tried again).
// Returns one report per expired confirmation.
Result<std::vector<AutoRollbackReport>> enforce_confirmations(RollbackSystem& sys, int64_t now_ns,
                                                              ProgressObserver* obs = nullptr);

// Version strings for --version.
const char* version();
int repository_format_version();

}  // namespace rwd
