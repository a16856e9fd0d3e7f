// SPDX-License-Identifier: Apache-2.0
// The adapter seam (DESIGN.md "The adapter seam"): every kind of component
// captures into the store, describes what differs between a snapshot and
// the live system, plans and applies a restore (whole, incremental, or a
// selection), validates that every chunk a restore needs is intact, and
// names the services to stop while it is restored. A new kind is one folder
// under components/, one line in registry.cc, and its name in the
// configuration's list of kinds (config.cc kAdapters, default_category).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/fs.h"
#include "rewind/progress.h"
#include "store/manifest.h"
#include "store/repository.h"

namespace rwd::components {

// One component as the engine sees it: from the configuration, or from a
// snapshot's own record (ad-hoc `--path` components).
struct ComponentSpec {
  std::string name;
  std::string adapter = "files";
  std::string category = "other";
  std::vector<std::string> paths;    // absolute within the system root, normalized
  std::vector<std::string> exclude;  // patterns
  std::vector<std::string> depends_on;
  std::vector<std::string> services;
  bool critical = false;
  std::vector<std::string> pre_capture;
  std::vector<std::string> post_capture;
  // The adapter's own keys of the [[component]] table (host, port, parts,
  // manager, ...). An adapter that needs a setting again at restore keeps it
  // in its snapshot, so that a point restores without the configuration.
  nlohmann::json settings = nlohmann::json::object();
};

struct Context {
  io::Fs& fs;
  store::Repository& repo;
  std::string system_root;
  ProgressObserver& obs;
  int threads = 2;
  // The rollback may run the package manager (rollback --apply-packages);
  // otherwise the packages adapter only reports the apt-get lines.
  bool apply_packages = false;
};

struct Captured {
  store::ChunkId manifest;
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t stored = 0;
  uint64_t files_read = 0;
  uint64_t bytes_read = 0;
  std::vector<std::string> warnings;
};

struct Change {
  std::string path;  // absolute within the system root, or a key for non-file adapters
  std::string kind;  // added, removed, content, metadata, type
  std::vector<std::string> attributes;
  // What a person reads beside the change: a unified diff of a text file,
  // "1 -> 0" for a tunable, "2.36-9 -> 2.36-9+deb12u4" for a package. Empty
  // for secrets and binary content.
  std::string detail;
};

// A restore planned against the live system. Lists are absolute paths (or
// keys); `remove` holds what the live system has and the snapshot lacks.
struct Plan {
  std::vector<std::string> replace;
  std::vector<std::string> add;
  std::vector<std::string> remove;
  uint64_t bytes = 0;  // content to write
  uint64_t files = 0;
  bool incremental = false;
  bool absent = false;                       // the component does not exist on the live system
  bool remove_extra = true;                  // a rollback removes; a restore does not
  std::vector<store::Entry> entries;         // the snapshot's manifest
  std::vector<std::string> select;           // component-relative selection of a restore
  std::shared_ptr<const void> adapter_data;  // whatever else the adapter keeps
};

struct Applied {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  uint64_t removed = 0;
  std::vector<std::string> warnings;
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual std::string_view name() const = 0;
  virtual Result<Captured> capture(Context& ctx, const ComponentSpec& spec,
                                   store::ChunkWriter& writer,
                                   const std::optional<store::ChunkId>& previous) = 0;
  // Differences from the snapshot to the live system; `content` compares
  // content by hash even where the metadata is unchanged.
  virtual Result<std::vector<Change>> diff_live(Context& ctx, const ComponentSpec& spec,
                                                const store::ChunkId& manifest, bool content) = 0;
  // What a rollback (or, with remove_extra false, a restore of `select`)
  // would do. Changes nothing.
  virtual Result<Plan> plan(Context& ctx, const ComponentSpec& spec, const store::ChunkId& manifest,
                            bool incremental, bool remove_extra,
                            const std::vector<std::string>& select) = 0;
  // Reads and hash-checks every chunk the plan needs; kCorruptedData names
  // the first one missing or damaged.
  virtual Status validate(Context& ctx, const Plan& plan) = 0;
  virtual Result<Applied> apply(Context& ctx, const ComponentSpec& spec, const Plan& plan) = 0;
  // Makes the component absent again (it did not exist before a rollback
  // created it, so the safety point has no snapshot of it).
  virtual Status remove(Context& ctx, const ComponentSpec& spec) = 0;
  virtual std::vector<std::string> services(const ComponentSpec& spec) const {
    return spec.services;
  }
  // Differences between two snapshots of the component (older, newer);
  // either may be missing (the component was added or dropped). The default
  // compares the manifests entry by entry (path, content, metadata).
  virtual Result<std::vector<Change>> diff_snapshots(Context& ctx, const ComponentSpec& spec,
                                                     const std::optional<store::ChunkId>& older,
                                                     const std::optional<store::ChunkId>& newer);
  // What `show` says of one snapshot, beyond entries and size: counts,
  // recorded facts, and which parts a rollback restores ("restorable" and
  // "recorded" arrays of part names by convention). Default: nothing.
  virtual Result<nlohmann::json> describe(Context& ctx, const ComponentSpec& spec,
                                          const store::ChunkId& manifest);
  // Checks the adapter's settings when the configuration is loaded; the
  // message names the key.
  virtual Status check_settings(const ComponentSpec& spec) const;
};

// The adapter for a kind ("files"), or nullptr. Calls through it never
// throw: an exception inside the adapter (a damaged snapshot's data that
// does not decode) comes back as an error (see guard).
Adapter* find_adapter(std::string_view kind);
// `inner` behind a wrapper that turns exceptions into errors:
// kCorruptedData for data that does not decode, kOther for the rest.
std::unique_ptr<Adapter> guard(Adapter& inner);
// The kinds this build knows.
std::vector<std::string> adapter_kinds();
// Whether a kind's snapshots are file trees at the component's paths
// ("files", "config"), which a restore can select paths within; the others
// hold adapter state, restored whole.
bool holds_file_tree(std::string_view kind);

// The directory a files-like component is rooted at: its one path, or the
// common ancestor of several.
std::string component_root(const std::vector<std::string>& paths);

// `abs` relative to `root` when it is `root` ("") or lies beneath it.
std::optional<std::string> relative_path(const std::string& root, const std::string& abs);
// The absolute path of `rel` under `root` ("" is `root` itself).
std::string join_path(const std::string& root, const std::string& rel);

}  // namespace rwd::components
