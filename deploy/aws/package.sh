#!/usr/bin/env bash
# Builds dfstore, dfstore-scheduler and dfstore-executor for the EMR image
# (Amazon Linux 2023: glibc 2.34), checks that no symbol needs a newer glibc,
# strips them and uploads them with SHA256SUMS and the bootstrap script to
# an S3 prefix, which `dfstore emr up --binaries` and the state machine's
# BinariesUri take.
#
#   deploy/aws/package.sh [--arch x86_64|aarch64] [--upload s3://bucket/prefix] [--out DIR]
#
# The build is cargo-zigbuild (crates.io) with zig as the linker (PyPI's
# ziglang), for the target `<arch>-unknown-linux-gnu.2.34`; both are
# installed on first use. aarch64 (Graviton, the default m7g instances)
# also needs `rustup target add aarch64-unknown-linux-gnu`. The upload uses
# the AWS CLI (credential chain, AWS_ENDPOINT_URL honoured).
set -euo pipefail
cd "$(dirname "$0")/../.."

arch=$(uname -m)
upload=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --upload) upload=${2%/}; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown flag $1; see the header of $0" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64|aarch64) ;;
  *) echo "--arch must be x86_64 or aarch64, not $arch" >&2; exit 2 ;;
esac
glibc=2.34
target="$arch-unknown-linux-gnu"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
out="${out:-$CARGO_TARGET_DIR/package/$arch}"

venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
if ! "$venv/bin/python3" -m ziglang version >/dev/null 2>&1; then
  echo "== installing zig (PyPI ziglang) into $venv"
  [ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'ziglang==0.14.1'
fi
# cargo-zigbuild finds zig through `python3 -m ziglang` when zig is not on PATH.
export PATH="$venv/bin:$PATH"
if ! command -v cargo-zigbuild >/dev/null; then
  echo "== installing cargo-zigbuild"
  cargo install --locked cargo-zigbuild@0.24.1
fi
if ! rustup target list --installed | grep -qx "$target"; then
  echo "the Rust target $target is missing: rustup target add $target" >&2
  exit 1
fi

echo "== cargo zigbuild --release --target $target.$glibc"
started=$(date +%s)
cargo zigbuild --release --locked --target "$target.$glibc" \
  -p dfstore-jobs -p dfstore-scheduler -p dfstore-executor --bins
echo "built in $(( $(date +%s) - started ))s"

mkdir -p "$out"
built="$CARGO_TARGET_DIR/$target/release"
for binary in dfstore dfstore-scheduler dfstore-executor; do
  cp "$built/$binary" "$out/$binary"
  strip "$out/$binary" 2>/dev/null || zig objcopy --strip-all "$out/$binary" "$out/$binary"
done
echo "== checking that no symbol needs glibc newer than $glibc"
bash deploy/aws/check_glibc.sh --max "$glibc" "$out/dfstore" "$out/dfstore-scheduler" "$out/dfstore-executor"
cp deploy/aws/bootstrap.sh "$out/bootstrap.sh"
(cd "$out" && sha256sum dfstore dfstore-scheduler dfstore-executor bootstrap.sh > SHA256SUMS)
ls -l "$out"

if [ -n "$upload" ]; then
  echo "== uploading to $upload"
  for file in dfstore dfstore-scheduler dfstore-executor bootstrap.sh SHA256SUMS; do
    aws s3 cp --only-show-errors "$out/$file" "$upload/$file"
  done
  echo "binaries: $upload   (dfstore emr up --binaries $upload)"
fi
