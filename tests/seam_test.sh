#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The io seam (STYLE.md §4): no static library but io/ may call the OS's file
# functions directly. Fails listing each library and symbol that does.
# Usage: seam_test.sh BUILD_SRC_DIR
set -eu
dir=$1
bad=0
pattern=' U (open|open64|openat|openat64|creat|creat64|write|pwrite|pwrite64|writev|pwritev|rename|renameat|renameat2|fsync|fdatasync|syncfs|sync_file_range|unlink|unlinkat|rmdir|mkdir|mkdirat|truncate|truncate64|ftruncate|ftruncate64|symlink|symlinkat|link|linkat|mknod|mknodat|fchown|fchownat|chown|lchown|fchmod|fchmodat|chmod|futimens|utimensat|utimes|setxattr|lsetxattr|fsetxattr|removexattr|fremovexattr|fopen|fopen64)(@.*)?$'
count=0
for lib in $(find "$dir" -name "librewind_*.a" | sort); do
  count=$((count + 1))
  case "$(basename "$lib")" in librewind_io.a | librewind_io_daemon.a) continue ;; esac
  hits=$(nm -u "$lib" 2>/dev/null | grep -E "$pattern" || true)
  if [ -n "$hits" ]; then
    echo "$(basename "$lib") calls the OS directly:"
    echo "$hits"
    bad=1
  fi
done
[ "$count" -ge 7 ] || { echo "expected the 7 layer libraries in $dir, found $count"; exit 1; }
# The check must be able to fail: io/ itself does make these calls.
nm -u "$(find "$dir" -name librewind_io.a)" | grep -qE "$pattern" || { echo "seam check is blind: io/ shows no calls"; exit 1; }
exit $bad
