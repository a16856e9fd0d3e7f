// SPDX-License-Identifier: Apache-2.0
// `rewind hook apt-pre | apt-pkgs | apt-post`: recovery points around every
// dpkg run that apt makes, called by /etc/apt/apt.conf.d/99rewind.
//
//   DPkg::Pre-Invoke        apt-pre   takes the `pre` point (before any other
//                                     hook, such as debconf's, changes things)
//   DPkg::Pre-Install-Pkgs  apt-pkgs  reads apt's hook protocol 3 on its
//                                     input and writes apt's command line and
//                                     the package changes into the `pre`
//                                     point's description
//   DPkg::Post-Invoke       apt-post  takes the `post` point, linked to it
//
// Runs of one apt process belong together; so do all the dpkg runs of one
// unattended-upgrades run (it calls dpkg in many small steps): the hook walks
// its ancestors in <root>/proc, and the nearest one named in [hooks]
// apt_coalesce (default "unattended-upgrade") makes the session, else the
// nearest one that is not a shell (apt itself; of the forks apt runs its
// hooks from, the outermost). The session (pid and start
// time, so a reused pid is a new session) and its points are kept in
// <root>/run/rewind/apt-hook.json (gone at reboot). Within a session the
// first Pre-Invoke takes the `pre` point and later ones keep it; every
// Post-Invoke takes a `post` point of the state so far and forgets the
// session's earlier `post`, so that when the run ends one pair remains whose
// `post` is the final state.
//
// apt must never be blocked by rewind: the repository lock is not waited
// for (a long operation such as prune holds it: the point is skipped), and
// any failure is logged and the hook exits 0, unless [hooks]
// apt_refuse_on_error = true (then a failed `pre` point aborts apt). The
// hook never runs apt or dpkg. Every action is logged to
// <root>/var/log/rewind/apt-hook.log, to standard error (apt shows it) and,
// on the running system (root "/"), to syslog.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "io/fs.h"
#include "rewind/result.h"
#include "rewind/rollback_system.h"

namespace rwd::system {

// One package line of apt's hook protocol (version 2 or 3).
struct AptPackageChange {
  std::string name;
  std::string arch;         // "" in version 2
  std::string old_version;  // "" when not installed before
  std::string new_version;  // "" when removed
  // install, upgrade, downgrade, reinstall, remove or configure.
  std::string action;
};

// What apt sends to a Pre-Install-Pkgs hook.
struct AptHookInfo {
  int version = 0;
  std::string command_line;  // CommandLine::AsString
  // One entry per package (name:arch): an unpack's action wins over the
  // configure step that follows it.
  std::vector<AptPackageChange> changes;
};

// Parses protocol version 2 or 3 (a first line "VERSION N", %-encoded
// key=value configuration lines up to a blank line, then one line per
// package action). Errors: kCorruptedData for another version or a
// malformed line.
Result<AptHookInfo> parse_apt_hook_info(std::string_view text);

// "upgrade hello:amd64 2.10-2 -> 2.10-3" ("-" stands for no version).
std::string describe_change(const AptPackageChange& c);

// The [hooks] table.
struct HookSettings {
  bool apt_refuse_on_error = false;
  std::vector<std::string> apt_coalesce = {"unattended-upgrade"};
  std::vector<std::string> apt_components;  // empty: every configured component
};

// Errors: kUsage for an unknown key or a wrong type.
Result<HookSettings> parse_hook_settings(const nlohmann::json& section);

enum class AptHookStage { kPre, kPackages, kPost };

struct AptHookOptions {
  SystemOptions system;  // the root, repository and configuration
  AptHookStage stage = AptHookStage::kPre;
  int info_fd = 0;  // apt-pkgs: where apt writes the protocol (APT_HOOK_INFO_FD)
};

struct AptHookOutcome {
  // created, coalesced, annotated, skipped or failed.
  std::string action;
  int64_t pre = 0;
  int64_t post = 0;
  int64_t forgotten = 0;  // the session's earlier post point, replaced
  std::string session;    // "unattended-upgrade 812" or "apt-get 901"
  std::vector<AptPackageChange> changes;
  std::string message;  // what was logged
  // Whether apt must be stopped (failed and [hooks] apt_refuse_on_error).
  bool refuse = false;
};

// Runs one stage. Never fails: problems are logged and reported in the
// outcome (action "skipped" or "failed").
AptHookOutcome run_apt_hook(io::Fs& fs, const AptHookOptions& o);

}  // namespace rwd::system
