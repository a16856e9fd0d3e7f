#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# demo.sh: sets up and builds rewind, then does the main job on the embedded
# default (a repository on local disk with the SQLite catalog): configures two
# components of a demo system root, takes a recovery point, breaks the system,
# shows the difference and the rollback plan, rolls back, shows the operation
# and undoes it. Nothing outside /var/tmp is touched.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
REWIND=$(pwd)/build/src/cli/rewind
DEMO=${DEMO_DIR:-/var/tmp/rewind-demo}
R="$DEMO/root"
rm -rf "$DEMO"
mkdir -p "$R/etc/app" "$R/etc/rewind" "$R/var/lib/app"
echo "listen = 8080" > "$R/etc/app/app.conf"
echo "127.0.0.1 localhost" > "$R/etc/hosts"
head -c 1048576 /dev/urandom > "$R/var/lib/app/data.bin"
cat > "$R/etc/rewind/rewind.toml" <<'TOML'
[service_manager]
stop = ["sh", "-c", "echo '  (demo) stopping {service}'"]
start = ["sh", "-c", "echo '  (demo) starting {service}'"]

[[component]]
name = "etc"
category = "configuration"
paths = ["/etc"]

[[component]]
name = "appdata"
category = "user_data"
paths = ["/var/lib/app"]
depends_on = ["etc"]
services = ["app"]
critical = true
TOML

set -x
"$REWIND" --root "$R" config validate
"$REWIND" --root "$R" init
"$REWIND" --root "$R" create -n before-change
echo "listen = 9090" > "$R/etc/app/app.conf"
echo "junk" > "$R/var/lib/app/left-behind.tmp"
"$REWIND" --root "$R" diff latest
"$REWIND" --root "$R" rollback latest --dry-run -v
"$REWIND" --root "$R" rollback latest --yes
cat "$R/etc/app/app.conf"
"$REWIND" --root "$R" status
"$REWIND" --root "$R" undo --yes
cat "$R/etc/app/app.conf"
"$REWIND" --root "$R" verify --read-data
"$REWIND" --root "$R" list
