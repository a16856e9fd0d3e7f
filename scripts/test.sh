#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test.sh: sets up and builds rewind with its tests, checks formatting, and
# runs the whole test suite (everything but the `exhaustive` label).
# Pass `--exhaustive` to run only the exhaustive sweeps instead.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/check-format.sh
cd build
if [ "${1:-}" = "--exhaustive" ]; then
  exec ctest -L exhaustive --output-on-failure -j1
fi
exec ctest -LE exhaustive --output-on-failure -j2 --timeout 900
