#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# sanitize.sh: builds rewind and its tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (g++) in build-asan/ and runs the normal suite
# there (everything but the `exhaustive` label). Leaks are reported; any
# undefined behaviour stops the process with a stack trace. Extra arguments
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
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
cd "$BUILD_DIR"
exec ctest -LE exhaustive --output-on-failure -j "${CTEST_JOBS:-2}" "$@"
