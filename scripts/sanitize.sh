#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# sanitize.sh: builds rewind and its tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (g++) in build-asan/ and runs the normal suite
# there (everything but the `exhaustive` label). Leaks are reported; any
# undefined behaviour stops the process with a stack trace; a report from
# any process, the tests' children included, fails the run. Extra arguments
# go to ctest (e.g. -R Manifest). Environment: ASAN_BUILD_DIR (default
# build-asan), ASAN_JOBS (build jobs, default nproc), CTEST_JOBS (default 2).
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
JOBS=${ASAN_JOBS:-$(nproc 2>/dev/null || echo 2)}
FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
# Reports also go to files, so that one in a child process (the rewind
# binary a test runs) is seen even where the test expected a failure anyway.
LOGS="$PWD/$BUILD_DIR/sanitizer-logs"
rm -rf "$LOGS"
mkdir -p "$LOGS"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:log_path=$LOGS/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}:log_path=$LOGS/ubsan"
status=0
(cd "$BUILD_DIR" && ctest -LE exhaustive --output-on-failure -j "${CTEST_JOBS:-2}" "$@") || status=$?
if [ -n "$(ls -A "$LOGS")" ]; then
  for f in "$LOGS"/*; do
    echo "==== $f"
    head -60 "$f"
  done
  echo "sanitize.sh: sanitizer reports above (all in $LOGS)" >&2
  exit 1
fi
exit "$status"
