#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The systemd units of dist/systemd, linted: copies whose programs are the
# build's binaries (@REWIND_BIN@, @REWINDD_BIN@) go through
# `systemd-analyze verify`, which loads each unit with the others beside it
# and checks dependencies, ordering, sections, keys and that every Exec*
# program exists and is executable. Any line it prints about these units
# fails the test (it warns without failing for some mistakes). Also checks
# what the issue asks of each unit.
# Usage: units_test.sh UNIT_SOURCE_DIR REWIND_BIN REWINDD_BIN
set -eu
[ $# -eq 3 ] || { echo "usage: units_test.sh UNIT_SOURCE_DIR REWIND_BIN REWINDD_BIN" >&2; exit 2; }
src=$1
rewind=$2
rewindd=$3
command -v systemd-analyze >/dev/null || { echo "no systemd-analyze: skipped"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rewind-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

units=""
count=0
for f in "$src"/*; do
  name=$(basename "$f" .in)
  sed -e "s|@REWIND_BIN@|$rewind|g" -e "s|@REWINDD_BIN@|$rewindd|g" "$f" >"$tmp/$name"
  units="$units $tmp/$name"
  count=$((count + 1))
done
# shellcheck disable=SC2086  # one argument per unit
if grep -n '@[A-Z_]*@' $units; then
  echo "a placeholder is left in the units above" >&2
  exit 1
fi

# shellcheck disable=SC2086  # one argument per unit
(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no $units) >"$tmp/verify.log" 2>&1 || {
  cat "$tmp/verify.log"
  echo "systemd-analyze verify failed" >&2
  exit 1
}
if grep -e 'rewind' "$tmp/verify.log"; then
  echo "systemd-analyze verify complains about the units (above)" >&2
  exit 1
fi

# What the units must say.
want() {
  grep -qx -- "$2" "$tmp/$1" || { echo "$1: no line \"$2\"" >&2; exit 1; }
}
want rewindd.service "Type=notify"
want rewindd.service "ExecStart=$rewindd"
# shellcheck disable=SC2016  # systemd expands $MAINPID, not the shell
want rewindd.service 'ExecReload=/bin/kill -HUP $MAINPID'
grep -q '^WatchdogSec=' "$tmp/rewindd.service" || { echo "rewindd.service: no WatchdogSec" >&2; exit 1; }
want rewind-recover.service "DefaultDependencies=no"
want rewind-recover.service "ExecStart=$rewind recover"
grep -q '^Before=.*sysinit.target' "$tmp/rewind-recover.service" ||
  { echo "rewind-recover.service: not before sysinit.target" >&2; exit 1; }
grep -q '^After=.*local-fs.target' "$tmp/rewind-recover.service" ||
  { echo "rewind-recover.service: not after local-fs.target" >&2; exit 1; }
want rewind-boot-check.service "ExecStart=$rewind boot-check"
grep -q '^After=.*multi-user.target' "$tmp/rewind-boot-check.service" ||
  { echo "rewind-boot-check.service: not after multi-user.target" >&2; exit 1; }
want rewind-verify.service "ExecStart=$rewind --quiet verify"
want rewind-cleanup.service "ExecStart=$rewind --quiet forget --policy"
want rewind-cleanup.service "ExecStart=$rewind --quiet prune"
for t in rewind-verify rewind-cleanup; do
  [ -f "$tmp/$t.timer" ] || { echo "no $t.timer" >&2; exit 1; }
done
echo "units_test: ok ($count units)"
