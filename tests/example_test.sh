#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The installed library (issue 3, "The library"): installs the build into a
# temporary prefix, builds examples/ against it with find_package(rewind),
# runs the example under a temporary system root, and compiles and runs a
# one-file program with the flags of `pkg-config --cflags --libs rewind`.
# Usage: example_test.sh BUILD_DIR SOURCE_DIR
# Environment (set by tests/CMakeLists.txt, so that a sanitizer or clang
# build links its own libraries the same way): REWIND_CMAKE,
# REWIND_EXAMPLE_CXX, REWIND_EXAMPLE_CXXFLAGS, REWIND_EXAMPLE_LDFLAGS,
# REWIND_EXAMPLE_BUILD_TYPE.
set -eu
[ $# -eq 2 ] || { echo "usage: example_test.sh BUILD_DIR SOURCE_DIR" >&2; exit 2; }
build=$1
src=$2
cmake=${REWIND_CMAKE:-cmake}
cxx=${REWIND_EXAMPLE_CXX:-c++}
cxxflags=${REWIND_EXAMPLE_CXXFLAGS:-}
ldflags=${REWIND_EXAMPLE_LDFLAGS:-}
build_type=${REWIND_EXAMPLE_BUILD_TYPE:-Release}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rewind-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

step() { echo "== $*"; }

step "install $build into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  exit 1
}
for f in bin/rewind include/rewind/rollback_system.h include/rewind/rollback.h \
         include/rewind/progress.h include/rewind/result.h; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
config=$(find "$prefix" -name rewindConfig.cmake)
pc=$(find "$prefix" -name rewind.pc)
[ -n "$config" ] || { echo "no rewindConfig.cmake under $prefix" >&2; exit 1; }
[ -n "$pc" ] || { echo "no rewind.pc under $prefix" >&2; exit 1; }
# Only the public headers: nothing of src/ is installed.
extra=$(find "$prefix/include" -type f ! -path "$prefix/include/rewind/*.h")
[ -z "$extra" ] || { echo "unexpected headers installed: $extra" >&2; exit 1; }
"$prefix/bin/rewind" --version

step "build examples/ against the package (find_package(rewind))"
"$cmake" -S "$src/examples" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log"
  exit 1
}
"$cmake" --build "$tmp/build" >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log"
  exit 1
}

step "run the example"
mkdir "$tmp/root"
"$tmp/build/quick_start" --root "$tmp/root" --repo "$tmp/repo"
# The example's point and the rollback's safety point are in the repository;
# the installed CLI reads it too.
"$prefix/bin/rewind" --root "$tmp/root" --repo "$tmp/repo" verify

step "compile a program with pkg-config --cflags --libs rewind"
PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
pkg-config --print-errors --exists rewind
echo "rewind.pc: version $(pkg-config --modversion rewind)"
cat >"$tmp/pc_program.cc" <<'PROGRAM'
#include <rewind/rollback_system.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  rwd::SystemOptions opts;
  opts.system_root = argv[1];
  opts.repository = argv[2];
  opts.use_config = false;
  auto repo = rwd::RollbackSystem::init_repository(opts);
  if (!repo) {
    std::fprintf(stderr, "init_repository: %s\n", repo.error().message().c_str());
    return 1;
  }
  auto sys = rwd::RollbackSystem::open(opts);
  if (!sys) return 1;
  auto points = (*sys)->list_recovery_points();
  if (!points || !points->empty()) return 1;
  std::printf("rewind %s: empty repository at %s\n", rwd::version(), repo->c_str());
  return 0;
}
PROGRAM
# shellcheck disable=SC2046,SC2086  # word splitting of the flags is intended
"$cxx" -std=c++20 $cxxflags -o "$tmp/pc_program" "$tmp/pc_program.cc" \
  $(pkg-config --cflags --libs rewind) $ldflags
mkdir "$tmp/root2"
"$tmp/pc_program" "$tmp/root2" "$tmp/repo2"
echo "example_test: ok"
