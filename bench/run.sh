#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# run.sh [--scale F] [--runs N] [--tools a,b] [--workdir DIR] [--rewind PATH] ...
# Benchmark rewind against restic, borg, rsync --link-dest and tar+zstd.
# See bench/README.md and run.py --help.
exec python3 "$(dirname "$0")/run.py" "$@"
