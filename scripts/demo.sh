#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# demo.sh: sets up and builds rewind, then does the main job on the embedded
# default (a repository on local disk with the SQLite catalog): takes a
# recovery point of a demo system root, changes it, shows the difference,
# rolls one file back and lists the points. Nothing outside /var/tmp is touched.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
REWIND=$(pwd)/build/src/cli/rewind
DEMO=${DEMO_DIR:-/var/tmp/rewind-demo}
rm -rf "$DEMO"
mkdir -p "$DEMO/root/etc/app" "$DEMO/root/var/lib/app"
echo "listen = 8080" > "$DEMO/root/etc/app/app.conf"
echo "127.0.0.1 localhost" > "$DEMO/root/etc/hosts"
head -c 1048576 /dev/urandom > "$DEMO/root/var/lib/app/data.bin"

set -x
"$REWIND" --root "$DEMO/root" init
"$REWIND" --root "$DEMO/root" create -n before-change --path /etc --path /var/lib/app
echo "listen = 9090" > "$DEMO/root/etc/app/app.conf"
"$REWIND" --root "$DEMO/root" diff latest
"$REWIND" --root "$DEMO/root" restore latest /etc/app/app.conf
cat "$DEMO/root/etc/app/app.conf"
"$REWIND" --root "$DEMO/root" verify --read-data
"$REWIND" --root "$DEMO/root" list
