#!/usr/bin/env bash
# The start check package.sh applies to the binaries it ships
# (check_start.sh), on this machine: an aarch64 binary that starts under
# qemu-user must pass, one whose shared library is missing must fail naming
# it, and the x86_64 dfstore given must start natively. The aarch64 binaries
# are small C programs built here with Debian's cross compiler: a cross
# build of dfstore itself takes as long as a cold release build, so it runs
# in package.sh, not in the suite.
#
#   deploy/aws/test_start.sh DFSTORE_BINARY
#
# Installs qemu-user, libc6-arm64-cross and gcc-aarch64-linux-gnu (Debian)
# when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
dfstore=${1:?usage: $0 DFSTORE_BINARY}

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
  || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  echo "installing qemu-user, libc6-arm64-cross and gcc-aarch64-linux-gnu (Debian)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    qemu-user libc6-arm64-cross gcc-aarch64-linux-gnu >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/version.c" <<'C'
#include <stdio.h>
int gone(void);
int main(void) {
#ifdef NEEDS_GONE
  return gone();
#endif
  puts("version 1.0");
  return 0;
}
C
echo 'int gone(void) { return 0; }' > "$work/gone.c"
aarch64-linux-gnu-gcc -O1 -o "$work/starts" "$work/version.c"
aarch64-linux-gnu-gcc -O1 -shared -fPIC -o "$work/libgone.so" "$work/gone.c"
aarch64-linux-gnu-gcc -O1 -DNEEDS_GONE -o "$work/needs-gone" "$work/version.c" -L"$work" -lgone
rm "$work/libgone.so"

failed=0
if bash deploy/aws/check_start.sh "$work/starts" "$dfstore"; then
  echo "ok   check_start.sh: an aarch64 binary under qemu-user and dfstore natively start"
else
  echo "FAIL check_start.sh refused binaries that start" >&2
  failed=1
fi
if said=$(bash deploy/aws/check_start.sh "$work/needs-gone" 2>&1); then
  echo "FAIL check_start.sh accepted an aarch64 binary whose shared library is missing" >&2
  failed=1
elif printf '%s\n' "$said" | grep -q 'libgone.so'; then
  echo "ok   check_start.sh: an aarch64 binary missing a shared library fails, naming it"
else
  echo "FAIL check_start.sh did not name the missing library: $said" >&2
  failed=1
fi
exit "$failed"
