#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# mutate-dataset.sh TREE [--seed N] [--json FILE]
# Apply the deterministic "update" in place: 1% of files modified, 0.5% added,
# 0.5% deleted, one 4 KiB page rewritten in the database-like file.
exec python3 "$(dirname "$0")/mutate-dataset.py" "$@"
