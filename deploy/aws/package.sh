#!/usr/bin/env bash
# Builds dfstore, dfstore-scheduler and dfstore-executor for the EMR image
# (Amazon Linux 2023: glibc 2.34), for each architecture asked for, checks
# that no symbol needs a newer glibc, strips them and uploads them to an S3
# prefix, which `dfstore emr up --binaries` and the template's BinariesUri
# take, once each binary has been started (check_start.sh: under qemu-user
# for the other architecture, which needs Debian's qemu-user and
# libc6-arm64-cross). One folder per architecture, which the bootstrap picks by `uname -m`
# (aarch64 for the default Graviton m7g nodes, x86_64 for m5/m6i/m7i):
#
#   PREFIX/bootstrap.sh
#   PREFIX/<arch>/dfstore, dfstore-scheduler, dfstore-executor, SHA256SUMS
#   PREFIX/<arch>/db-ca.pem      (with --ca-bundle; listed in SHA256SUMS)
#
#   deploy/aws/package.sh [--arch x86_64|aarch64|all] [--ca-bundle FILE] [--upload s3://bucket/prefix] [--out DIR]
#
# --arch defaults to all (both). --ca-bundle ships a PEM bundle of the
# databases' CAs (for RDS, AWS's regional bundle, e.g. us-east-1-bundle.pem
# from truststore.pki.rds.amazonaws.com); the bootstrap installs it as
# /mnt/dfstore/db-ca.pem, which the URLs name with sslrootcert=.
# The build is cargo-zigbuild (crates.io) with zig as the linker (PyPI's
# ziglang), for the target `<arch>-unknown-linux-gnu.2.34`; both are
# installed on first use, and each architecture needs its Rust target
# (`rustup target add aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu`).
# A cross build of aarch64 on a 2-core x86_64 machine takes as long as a
# cold release build (30 min or more). The upload uses the AWS CLI
# (credential chain, AWS_ENDPOINT_URL honoured).
set -euo pipefail
cd "$(dirname "$0")/../.."

arches=(x86_64 aarch64)
ca_bundle=""
upload=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch)
      case "$2" in
        x86_64|aarch64) arches=("$2") ;;
        all) arches=(x86_64 aarch64) ;;
        *) echo "--arch must be x86_64, aarch64 or all, not $2" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --ca-bundle) ca_bundle=$2; shift 2 ;;
    --upload) upload=${2%/}; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown flag $1; see the header of $0" >&2; exit 2 ;;
  esac
done
if [ -n "$ca_bundle" ] && ! grep -q -- '-----BEGIN CERTIFICATE-----' "$ca_bundle" 2>/dev/null; then
  echo "--ca-bundle $ca_bundle: not a PEM file of certificates" >&2
  exit 2
fi
glibc=2.34
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
out="${out:-$CARGO_TARGET_DIR/package}"

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
for arch in "${arches[@]}"; do
  if ! rustup target list --installed | grep -qx "$arch-unknown-linux-gnu"; then
    echo "the Rust target $arch-unknown-linux-gnu is missing: rustup target add $arch-unknown-linux-gnu" >&2
    exit 1
  fi
done

mkdir -p "$out"
cp deploy/aws/bootstrap.sh "$out/bootstrap.sh"
for arch in "${arches[@]}"; do
  target="$arch-unknown-linux-gnu"
  echo "== cargo zigbuild --release --target $target.$glibc"
  started=$(date +%s)
  cargo zigbuild --release --locked --target "$target.$glibc" \
    -p dfstore-jobs -p dfstore-scheduler -p dfstore-executor --bins
  echo "built in $(( $(date +%s) - started ))s"

  dir="$out/$arch"
  mkdir -p "$dir"
  built="$CARGO_TARGET_DIR/$target/release"
  files=(dfstore dfstore-scheduler dfstore-executor)
  for binary in "${files[@]}"; do
    # zig's objcopy strips either architecture; the host's strip only its
    # own. Its input and output must be two files: in place, it truncates.
    rm -f "$dir/$binary"
    if ! python3 -m ziglang objcopy --strip-all "$built/$binary" "$dir/$binary"; then
      cp "$built/$binary" "$dir/$binary"
      strip "$dir/$binary"
    fi
  done
  echo "== checking that no symbol needs glibc newer than $glibc ($arch)"
  bash deploy/aws/check_glibc.sh --max "$glibc" "$dir/dfstore" "$dir/dfstore-scheduler" "$dir/dfstore-executor"
  echo "== checking that each binary starts ($arch; another architecture under qemu-user)"
  bash deploy/aws/check_start.sh "$dir/dfstore" "$dir/dfstore-scheduler" "$dir/dfstore-executor"
  if [ -n "$ca_bundle" ]; then
    cp "$ca_bundle" "$dir/db-ca.pem"
    files+=(db-ca.pem)
  else
    rm -f "$dir/db-ca.pem"
  fi
  (cd "$dir" && sha256sum "${files[@]}" > SHA256SUMS)
  ls -l "$dir"
done

if [ -n "$upload" ]; then
  echo "== uploading to $upload"
  aws s3 cp --only-show-errors "$out/bootstrap.sh" "$upload/bootstrap.sh"
  for arch in "${arches[@]}"; do
    for file in "$out/$arch"/*; do
      aws s3 cp --only-show-errors "$file" "$upload/$arch/$(basename "$file")"
    done
  done
  echo "binaries: $upload (one folder per architecture: ${arches[*]}); bootstrap: $upload/bootstrap.sh"
fi
