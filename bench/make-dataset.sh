#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make-dataset.sh OUTDIR [--scale F] [--seed N] [--estimate]
# Generate the deterministic benchmark tree shaped like a Linux system root
# (scale 1: ~63,000 entries, 1.27 GiB). See make-dataset.py --help.
exec python3 "$(dirname "$0")/make-dataset.py" "$@"
