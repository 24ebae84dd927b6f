#!/usr/bin/env bash
# Fails when a binary needs a newer glibc than the one given: EMR 7.x nodes
# run Amazon Linux 2023, glibc 2.34, so a binary that asks for GLIBC_2.35
# (as a plain build on Debian 12 does, for hypot and hypotf) would not start.
#
#   deploy/aws/check_glibc.sh [--max 2.34] BINARY...
#
# Prints, per binary, the newest glibc version it needs and, when too new,
# the symbols that need it. Needs objdump (binutils).
set -euo pipefail

max=2.34
if [ "${1:-}" = "--max" ]; then
  max=$2
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--max 2.34] BINARY..." >&2; exit 2; }
command -v objdump >/dev/null || { echo "objdump is missing: apt-get install binutils" >&2; exit 2; }

newer() { # is version $1 newer than $2?
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]
}

status=0
for binary in "$@"; do
  [ -f "$binary" ] || { echo "$binary: no such file" >&2; status=1; continue; }
  # Lines like: 0000… DF *UND* 0000… (GLIBC_2.35) hypot
  needed=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*) *[^ ]*$' | sed 's/GLIBC_\([0-9.]*\)) */\1 /' | sort -V -u)
  newest=$(printf '%s\n' "$needed" | awk '{print $1}' | sort -V -u | tail -1)
  if [ -z "$newest" ]; then
    echo "$binary: needs no versioned glibc symbol"
    continue
  fi
  too_new=$(printf '%s\n' "$needed" | while read -r version symbol; do
    if newer "$version" "$max"; then echo "$symbol@GLIBC_$version"; fi
  done | sort -u | tr '\n' ' ')
  if [ -n "$too_new" ]; then
    echo "$binary: needs glibc $newest, newer than $max: $too_new" >&2
    status=1
  else
    echo "$binary: needs glibc $newest at most (<= $max): ok"
  fi
done
exit $status
