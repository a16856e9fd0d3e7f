#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# fuzz.sh [SECONDS]: builds the libFuzzer targets of tests/fuzz/ with
# clang++-14 (ASan and UBSan) in build-fuzz/ and runs each for SECONDS
# (default 3600). The checked-in seeds (tests/fuzz/corpus/<target>/) and past
# crashers (tests/fuzz/crashers/<target>/) are read, never written; inputs the
# fuzzer finds go to build-fuzz/corpus/<target>/. A crash, sanitizer report,
# timeout or runaway allocation fails the run and leaves the input under
# build-fuzz/artifacts/<target>/: fix the bug, then copy the input into
# tests/fuzz/crashers/<target>/ so that every run of the suite replays it.
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_CXX (clang++-14),
# FUZZ_CC (clang-14), FUZZ_JOBS (build jobs, default nproc).
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-3600}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CXX=${FUZZ_CXX:-clang++-14}
CC=${FUZZ_CC:-clang-14}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
TARGETS="fuzz_manifest fuzz_pack_index"
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz.sh: $CXX not found (apt-get install clang-14)" >&2
  exit 2
fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" \
    -DREWIND_FUZZ=ON >/dev/null
fi
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
failed=""
for t in $TARGETS; do
  mkdir -p "$BUILD_DIR/corpus/$t" "$BUILD_DIR/artifacts/$t"
  echo "fuzz.sh: $t for ${SECS}s"
  if ! "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$t/" \
      "$BUILD_DIR/corpus/$t" "tests/fuzz/corpus/$t" "tests/fuzz/crashers/$t"; then
    echo "fuzz.sh: $t FAILED; the input is in $BUILD_DIR/artifacts/$t/" >&2
    failed="$failed $t"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz.sh: failed:$failed" >&2
  exit 1
fi
echo "fuzz.sh: every target ran ${SECS}s without a finding"
