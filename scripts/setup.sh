#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# setup.sh: installs the Debian 12 packages rewind's build and tests need
# (skipped quickly when they are all there) and builds rewind in Release mode
# into build/. Run as root on a fresh Debian 12 machine.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="build-essential cmake g++ clang-format libexpected-dev libzstd-dev libsodium-dev
libssl-dev libsqlite3-dev libpq-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
libspdlog-dev libfmt-dev libsystemd-dev libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
rsync attr acl libcap2-bin e2fsprogs xfsprogs btrfs-progs binutils python3 util-linux
runit debootstrap systemd systemd-journal-remote postgresql-15 postgresql-client-15 sqlite3"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing:$missing"
  # Debian's postgresql package would create and start a `main` cluster on
  # port 5432; the tests start their own throwaway cluster instead.
  mkdir -p /etc/postgresql-common
  if ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf 2>/dev/null; then
    echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null
fi

BUILD_DIR=${BUILD_DIR:-build}
JOBS=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DREWIND_WERROR=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
