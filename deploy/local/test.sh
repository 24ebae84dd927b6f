#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test of
# the workspace. Services the tests need are started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The build folder `cargo run` uses (./target), so that this script and the
# README's first command share one build; CI (.ci/run) sets its own.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all --check

# One build, shared with the README's first command: the release profile and,
# through the workspace-hack crate (cargo hakari), one feature set whichever
# package is asked for. The cluster tests start these binaries.
echo "== cargo build --release (the binaries; the cluster tests start them)"
cargo build --release --workspace --bins --locked
echo "== the README's first command reuses that build"
readme_build=$(cargo build --release -p dfstore-jobs --bin dfstore --locked 2>&1)
if grep -q "Compiling" <<<"$readme_build"; then
  echo "$readme_build" >&2
  echo "cargo run --release -p dfstore-jobs recompiled crates after the workspace build: the feature sets differ; run \`cargo hakari generate\` and commit workspace-hack/" >&2
  exit 1
fi

# The book (docs/): built by mdBook, every link and anchor checked.
echo "== docs: mdbook build and link check"
bash docs/check.sh

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The smaller builds of the cargo features (README, "Building"): the library
# and the CLI without the AWS SDKs, the SQL endpoint or the dashboard.
cargo clippy -p dfstore-jobs --lib --bins --locked --no-default-features -- -D warnings
cargo clippy -p dfstore-jobs --lib --bins --locked --no-default-features --features serve -- -D warnings
cargo clippy -p dfstore-jobs --lib --bins --locked --no-default-features --features dashboard -- -D warnings

# The S3 tests start moto's S3 server (PyPI) from this virtual environment.
venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
# The same environment holds the SQL endpoint's Python client (psycopg), the
# dashboard's browser driver (Playwright, driving Debian's Chromium) and
# DuckDB, which the example project's answers are checked against.
if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python3" -c 'import boto3, psycopg, playwright, duckdb' 2>/dev/null; then
  echo "== installing moto[server], psycopg, Playwright and DuckDB into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'moto[server]==5.2.1' 'psycopg[binary]==3.3.9' 'playwright==1.65.2' 'duckdb==2.0.0'
fi
export DFSTORE_MOTO_SERVER="$venv/bin/moto_server"
if ! command -v chromium >/dev/null; then
  echo "== installing chromium (Debian) for the dashboard's browser test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The PostgreSQL tests use a server of their own on loopback, started here
# and stopped on exit; the admin password reaches them by environment only.
. deploy/local/postgres.sh

echo "== cargo test --release"
cargo test --release --workspace --locked

# The AWS side of the nightly pipeline: cfn-lint on the CloudFormation
# template, asl-validator on the state machine, and the state machine
# executed on moto's Step Functions and EMR (its failure path, end to end).
echo "== deploy/aws: template and state machine"
DFSTORE_VENV="$venv" bash deploy/aws/validate.sh

# The EMR bootstrap action on this machine, against moto: a primary and two
# core nodes form a cluster that must publish what the embedded engine does
# and survive a killed executor; then the IAM policy documents (parliament),
# and the glibc check package.sh applies, on a binary it must refuse (a
# build on this Debian needs glibc 2.35; EMR's Amazon Linux 2023 has 2.34)
# and on one it must accept; and the start check package.sh applies, on
# aarch64 binaries under qemu-user (test_start.sh).
echo "== deploy/aws: EMR bootstrap, IAM policies, glibc check"
DFSTORE_VENV="$venv" DFSTORE_BIN_DIR="$CARGO_TARGET_DIR/release" bash deploy/aws/test_bootstrap.sh
bash deploy/aws/check_iam.sh
if bash deploy/aws/check_glibc.sh --max 2.34 "$CARGO_TARGET_DIR/release/dfstore" 2>/dev/null; then
  echo "check_glibc.sh accepted a binary that needs glibc 2.35" >&2
  exit 1
fi
bash deploy/aws/check_glibc.sh --max 2.35 "$CARGO_TARGET_DIR/release/dfstore"
bash deploy/aws/test_start.sh "$CARGO_TARGET_DIR/release/dfstore"

# The benchmark's answer check (never its timings): the report of dfstore
# equals DuckDB's, and PySpark's where it is installed, at a tiny scale.
echo "== benchmark answer check at scale 0.01"
compare_dir=$(mktemp -d)
BENCH_BIN_DIR="$CARGO_TARGET_DIR/release" BENCH_DIR="$compare_dir" \
  benches/compare.sh --check-only --scale 0.01 --engines 'dfstore,duckdb,duckdb-plain,spark?'
rm -rf "$compare_dir"
