#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test of
# the workspace. Services the tests need are started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# One build folder outside the clone, reused between runs (and by CI).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The S3 tests start moto's S3 server (PyPI) from this virtual environment.
venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python3" -c 'import boto3' 2>/dev/null; then
  echo "== installing moto[server] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.1'
fi
export DFSTORE_MOTO_SERVER="$venv/bin/moto_server"

# The PostgreSQL tests use a server of their own on loopback, started here
# and stopped on exit; the admin password reaches them by environment only.
. deploy/local/postgres.sh

echo "== cargo build (the cluster tests start the real binaries)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked

# The AWS side of the nightly pipeline: cfn-lint on the CloudFormation
# template, asl-validator on the state machine, and the state machine
# executed on moto's Step Functions and EMR (its failure path, end to end).
echo "== deploy/aws: template and state machine"
DFSTORE_VENV="$venv" bash deploy/aws/validate.sh

# The benchmark's answer check (never its timings): the report of dfstore
# equals DuckDB's, and PySpark's where it is installed, at a tiny scale.
echo "== benchmark answer check at scale 0.01"
compare_dir=$(mktemp -d)
BENCH_BIN_DIR="$CARGO_TARGET_DIR/debug" BENCH_DIR="$compare_dir" \
  benches/compare.sh --check-only --scale 0.01 --engines 'dfstore,duckdb,spark?'
rm -rf "$compare_dir"
