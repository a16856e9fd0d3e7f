// SPDX-License-Identifier: Apache-2.0
// dpkg's package database as the packages adapter sees it: the deb822
// status file (Package, Status "want flag status", Version, Architecture),
// a stable text form of it for snapshots, and the differences between two
// package sets (what `diff` shows and what a restore asks apt to do).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "components/adapter.h"
#include "rewind/result.h"

namespace rwd::components::packages {

struct Package {
  std::string name;
  std::string arch;     // "amd64", "all", ...
  std::string version;  // empty for packages that were never installed
  std::string want;     // unknown | install | hold | deinstall | purge
  std::string flag;     // ok | reinstreq
  std::string status;   // not-installed | config-files | half-installed | unpacked | ...
  // Files of the package are on disk: dpkg's "installed-ish" states.
  bool installed() const;
  bool held() const { return want == "hold"; }
};

// A package set keyed by (name, architecture).
using PackageSet = std::map<std::pair<std::string, std::string>, Package>;

// Parses a dpkg status file. Paragraphs without Package or Status are
// skipped (dpkg never writes them); a Status that is not three words is
// kCorruptedData naming the package.
Result<PackageSet> parse_status(std::string_view text);

// dpkg's native architecture as the database says: that of the package
// "dpkg" itself, else the most frequent architecture other than "all".
std::string native_arch(const PackageSet& set);

// The snapshot form: one package a line, tab-separated
// name arch version want flag status, in key order.
std::string format_set(const PackageSet& set);
// Reads format_set's text back; anything else is kCorruptedData.
Result<PackageSet> parse_set(std::string_view text);

// The differences from `older` to `newer`: installed, removed, upgraded,
// downgraded (by Debian's version order), held (the hold mark changed) and
// selection (the wanted state changed otherwise). Paths are package names,
// with ":arch" for foreign architectures; sorted by name.
std::vector<Change> diff_sets(const PackageSet& older, const PackageSet& newer,
                              const std::string& native);

// What apt must do to turn `live` into `target`: packages to install at the
// target's version (name[:arch]=version), whether one of them is a
// downgrade, and packages to remove (name[:arch]).
struct AptWork {
  std::vector<std::string> install;
  std::vector<std::string> remove;
  bool downgrade = false;
  bool empty() const { return install.empty() && remove.empty(); }
};
AptWork apt_work(const PackageSet& live, const PackageSet& target, const std::string& native);

}  // namespace rwd::components::packages
