#!/usr/bin/env bash
# Fails when a binary does not start: each is run with --version, natively
# when it is built for this machine's architecture, else under qemu-user
# with the target's C library (Debian's qemu-user and libc6-<arch>-cross),
# as a Graviton node would run an aarch64 build. A binary that cannot load
# (a shared library or glibc symbol its system lacks, another
# architecture's instructions) exits non-zero and is named with the
# loader's message.
#
#   deploy/aws/check_start.sh BINARY...
#
# package.sh runs it on the binaries it ships, after check_glibc.sh.
# Needs readelf (binutils); for another architecture, qemu-user and the
# cross C library: apt-get install qemu-user libc6-arm64-cross.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
command -v readelf >/dev/null || { echo "readelf is missing: apt-get install binutils" >&2; exit 2; }

host=$(uname -m)
status=0
for binary in "$@"; do
  [ -f "$binary" ] || { echo "$binary: no such file" >&2; status=1; continue; }
  machine=$(readelf -h "$binary" 2>/dev/null | sed -n 's/^ *Machine: *//p')
  case "$machine" in
    *AArch64*) arch=aarch64 ;;
    *X86-64*) arch=x86_64 ;;
    *) echo "$binary: not an ELF binary for x86_64 or aarch64 (${machine:-unreadable})" >&2; status=1; continue ;;
  esac
  run=("$binary")
  if [ "$arch" != "$host" ]; then
    case "$arch" in
      aarch64) qemu="qemu-aarch64"; sysroot=/usr/aarch64-linux-gnu; packages="qemu-user libc6-arm64-cross" ;;
      x86_64) qemu="qemu-x86_64"; sysroot=/usr/x86_64-linux-gnu; packages="qemu-user libc6-amd64-cross" ;;
    esac
    if ! command -v "$qemu" >/dev/null || [ ! -d "$sysroot/lib" ]; then
      echo "$binary is built for $arch: checking it needs $qemu and $sysroot (apt-get install $packages)" >&2
      exit 2
    fi
    run=("$qemu" -L "$sysroot" "$binary")
  fi
  if said=$(timeout 60 "${run[@]}" --version 2>&1); then
    echo "ok   $binary ($arch) starts: $(printf '%s\n' "$said" | head -1)"
  else
    echo "FAIL $binary ($arch) does not start: $(printf '%s\n' "$said" | head -3 | tr '\n' ' ')" >&2
    status=1
  fi
done
exit "$status"
