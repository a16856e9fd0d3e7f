#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# check-format.sh: fails when a C++ file is not clang-formatted. With --fix, formats them.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || find src include tests -name '*.h' -o -name '*.cc')
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086
  clang-format -i $files
  exit 0
fi
# shellcheck disable=SC2086
if ! clang-format --dry-run --Werror $files 2>/tmp/rewind-format.log; then
  head -20 /tmp/rewind-format.log
  echo "check-format: files above are not clang-formatted; run scripts/check-format.sh --fix" >&2
  exit 1
fi
