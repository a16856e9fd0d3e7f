#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# demo.sh: sets up and builds rewind, then does the main job on the embedded
# default (a repository on local disk with the SQLite catalog): configures
# four components of a demo system root (configuration, application files, a
# SQLite database and kernel tunables), takes a recovery point, breaks them,
# shows the difference and the rollback plan, rolls back, shows the operation
# and undoes it. Nothing outside /var/tmp is touched.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
REWIND=$(pwd)/build/src/cli/rewind
DEMO=${DEMO_DIR:-/var/tmp/rewind-demo}
R="$DEMO/root"
rm -rf "$DEMO"
mkdir -p "$R/etc/app" "$R/etc/rewind" "$R/var/lib/app" "$R/srv/app" "$R/proc/sys/vm"
printf 'listen = 8080\nworkers = 4\n' > "$R/etc/app/app.conf"
echo "127.0.0.1 localhost" > "$R/etc/hosts"
head -c 1048576 /dev/urandom > "$R/srv/app/data.bin"
echo 60 > "$R/proc/sys/vm/swappiness"   # a tunable, as a plain file in the demo root
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders (item) VALUES (\"bolt\"), (\"nut\");"); c.commit()' "$R/var/lib/app/app.db"
cat > "$R/etc/rewind/rewind.toml" <<'TOML'
[service_manager]
stop = ["sh", "-c", "echo '  (demo) stopping {service}'"]
start = ["sh", "-c", "echo '  (demo) starting {service}'"]

[[component]]
name = "etc"
adapter = "config"                # /etc; diff shows unified diffs, never secrets

[[component]]
name = "appdata"
category = "user_data"
paths = ["/srv/app"]
depends_on = ["etc"]
services = ["app"]
critical = true

[[component]]
name = "appdb"
adapter = "sqlite"                # an online, consistent copy; restored in one transaction
path = "/var/lib/app/app.db"
depends_on = ["etc"]
services = ["app"]

[[component]]
name = "tunables"
adapter = "kernel"
parts = ["sysctl"]
TOML

set -x
"$REWIND" --root "$R" config validate
"$REWIND" --root "$R" init
"$REWIND" --root "$R" create -n before-change
printf 'listen = 9090\nworkers = 4\n' > "$R/etc/app/app.conf"
echo "junk" > "$R/srv/app/left-behind.tmp"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM orders"); c.commit()' "$R/var/lib/app/app.db"
echo 10 > "$R/proc/sys/vm/swappiness"
"$REWIND" --root "$R" diff latest
"$REWIND" --root "$R" rollback latest --dry-run -v
"$REWIND" --root "$R" rollback latest --yes
cat "$R/etc/app/app.conf" "$R/proc/sys/vm/swappiness"
python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM orders").fetchone()[0], "orders")' "$R/var/lib/app/app.db"
"$REWIND" --root "$R" status
"$REWIND" --root "$R" undo --yes
cat "$R/etc/app/app.conf"
"$REWIND" --root "$R" verify --read-data
"$REWIND" --root "$R" list
