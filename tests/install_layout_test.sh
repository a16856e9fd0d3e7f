#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cmake --install as a Debian package build runs it (DESTDIR=tmp, prefix
# /usr): every file lands where Debian keeps it, the installed programs,
# units and hook name the installed paths, the man pages render without
# warnings and list every subcommand, and the bash completion completes
# subcommands and their options from the installed binary.
# Usage: install_layout_test.sh BUILD_DIR HAVE_REWINDD(yes|no)
set -eu
[ $# -eq 2 ] || { echo "usage: install_layout_test.sh BUILD_DIR yes|no" >&2; exit 2; }
build=$1
have_rewindd=$2
cmake=${REWIND_CMAKE:-cmake}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rewind-layout.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest

fail() {
  echo "install_layout_test: $*" >&2
  exit 1
}

DESTDIR=$dest "$cmake" --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"
  fail "cmake --install failed"
}

expect="
usr/bin/rewind
etc/apt/apt.conf.d/99rewind
lib/systemd/system/rewind-recover.service
lib/systemd/system/rewind-boot-check.service
lib/systemd/system/rewind-verify.service
lib/systemd/system/rewind-verify.timer
lib/systemd/system/rewind-cleanup.service
lib/systemd/system/rewind-cleanup.timer
usr/share/man/man8/rewind.8
usr/share/bash-completion/completions/rewind
"
if [ "$have_rewindd" = yes ]; then
  expect="$expect usr/sbin/rewindd lib/systemd/system/rewindd.service usr/share/man/man8/rewindd.8"
fi
for f in $expect; do
  [ -f "$dest/$f" ] || fail "not installed: /$f"
done
[ -x "$dest/usr/bin/rewind" ] || fail "/usr/bin/rewind is not executable"
"$dest/usr/bin/rewind" --version >/dev/null || fail "the installed rewind does not run"

# The hook and the units name the installed programs, nothing of the build.
grep -q 'DPkg::Pre-Invoke { "if \[ -x /usr/bin/rewind \]; then /usr/bin/rewind hook apt-pre; fi"; };' \
  "$dest/etc/apt/apt.conf.d/99rewind" || fail "99rewind: no Pre-Invoke of /usr/bin/rewind"
grep -q 'DPkg::Pre-Install-Pkgs { "/usr/bin/rewind hook apt-pkgs"; };' \
  "$dest/etc/apt/apt.conf.d/99rewind" || fail "99rewind: no Pre-Install-Pkgs"
grep -q 'DPkg::Tools::Options::/usr/bin/rewind::Version "3";' \
  "$dest/etc/apt/apt.conf.d/99rewind" || fail "99rewind: protocol version 3 is not asked for"
grep -q 'DPkg::Post-Invoke' "$dest/etc/apt/apt.conf.d/99rewind" || fail "99rewind: no Post-Invoke"
grep -q '^ExecStart=/usr/bin/rewind recover$' "$dest/lib/systemd/system/rewind-recover.service" ||
  fail "rewind-recover.service does not run /usr/bin/rewind"
if grep -rn "$build" "$dest/etc" "$dest/lib/systemd" "$dest/usr/share"; then
  fail "installed files name the build directory (above)"
fi
# apt reads the hook file (apt-config parses it, if apt is here).
if command -v apt-config >/dev/null; then
  apt-config -c "$dest/etc/apt/apt.conf.d/99rewind" dump >"$tmp/apt.dump" 2>&1 ||
    { cat "$tmp/apt.dump"; fail "apt-config cannot parse 99rewind"; }
  grep -q 'DPkg::Tools::Options::/usr/bin/rewind::Version "3"' "$tmp/apt.dump" ||
    { cat "$tmp/apt.dump"; fail "apt does not see the protocol version"; }
fi

# The man pages: roff that renders without warnings, every subcommand in it.
for page in "$dest"/usr/share/man/man8/*; do
  if command -v groff >/dev/null; then
    groff -man -t -Tutf8 -ww -z "$page" 2>"$tmp/groff.log" || true
    [ ! -s "$tmp/groff.log" ] || { cat "$tmp/groff.log"; fail "$page: groff warns"; }
  fi
done
subs=$("$dest/usr/bin/rewind" --help | awk '/^Subcommands:$/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }')
[ -n "$subs" ] || fail "rewind --help lists no subcommands"
for s in $subs; do
  grep -q "^\.SS $s\$" "$dest/usr/share/man/man8/rewind.8" || fail "rewind.8 has no section for $s"
done
grep -q '^\.SH APT INTEGRATION' "$dest/usr/share/man/man8/rewind.8" || fail "rewind.8: no APT INTEGRATION"

# The completion, from the installed binary's help.
cat >"$tmp/complete.sh" <<SCRIPT
. "$dest/usr/share/bash-completion/completions/rewind"
complete_words() {
  COMP_WORDS=("\$@")
  COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _rewind
  echo "\${COMPREPLY[*]}"
}
complete_words "$dest/usr/bin/rewind" cre
complete_words "$dest/usr/bin/rewind" --js
complete_words "$dest/usr/bin/rewind" create --ki
complete_words "$dest/usr/bin/rewind" hook apt-p
SCRIPT
bash "$tmp/complete.sh" >"$tmp/complete.out" 2>&1 || { cat "$tmp/complete.out"; fail "completion failed"; }
printf 'create\n--json\n--kind\napt-pre apt-pkgs apt-post\n' >"$tmp/complete.want"
diff -u "$tmp/complete.want" "$tmp/complete.out" || fail "completion differs (above)"
echo "install_layout_test: ok"
