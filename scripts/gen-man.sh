#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Writes a man page from a program's own help text, so that the page lists
# exactly the options and subcommands the binary has: HEAD (hand-written
# roff: .TH, NAME, SYNOPSIS, DESCRIPTION), then OPTIONS from `BIN --help`,
# then COMMANDS from `BIN SUB --help` for every subcommand it lists, then
# TAIL (hand-written roff: FILES, EXIT STATUS, SEE ALSO ...).
# Usage: gen-man.sh BIN HEAD TAIL OUT
set -eu
[ $# -eq 4 ] || { echo "usage: gen-man.sh BIN HEAD TAIL OUT" >&2; exit 2; }
bin=$1
head=$2
tail=$3
out=$4
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT INT TERM

# CLI11's help: "Options:" and "Subcommands:" sections of lines
# "  NAME    description", long descriptions continued on deeper-indented
# lines; the "Exit codes:" footer is left to TAIL. Prints roff: one .TP per
# entry (or, with "names", just the subcommand names); -h,--help is
# left out (every command has it, OPTIONS says so once).
help_to_roff() {
  awk -v mode="$1" '
    function esc(s) { gsub(/\\/, "\\e", s); gsub(/-/, "\\-", s); return s }
    function flush() {
      if (name != "" && name != "-h,--help") {
        if (mode == "names") print name
        else { print ".TP"; print "\\fB" esc(name) "\\fR"; if (desc != "") print esc(desc) }
      }
      name = ""; desc = ""
    }
    /^[A-Z][A-Za-z ]*:$/ { flush(); section = $0; next }
    section != want && want != "" { next }
    /^$/ { flush(); next }
    /^  [^ ]/ {
      flush()
      line = substr($0, 3)
      n = match(line, /  +/)
      if (n) { name = substr(line, 1, n - 1); desc = substr(line, n + RLENGTH) }
      else { name = line; desc = "" }
      next
    }
    /^   +[^ ]/ { sub(/^ +/, ""); desc = desc == "" ? $0 : desc " " $0; next }
    END { flush() }
  ' want="$2"
}

{
  cat "$head"
  echo ".SH OPTIONS"
  "$bin" --help | help_to_roff roff "Options:"
  subs=$("$bin" --help | help_to_roff names "Subcommands:")
  if [ -n "$subs" ]; then
    echo ".SH COMMANDS"
    for sub in $subs; do
      echo ".SS $sub"
      # The first line of a subcommand's help is its description.
      "$bin" "$sub" --help | head -n 1 | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/^\./\\\&./'
      "$bin" "$sub" --help | awk 'NR > 1' | help_to_roff roff "Options:"
      pos=$("$bin" "$sub" --help | awk 'NR > 1' | help_to_roff roff "Positionals:")
      [ -z "$pos" ] || printf '%s\n' "$pos"
    done
  fi
  cat "$tail"
} >"$tmp"
mv "$tmp" "$out"
