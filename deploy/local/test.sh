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

# The PostgreSQL tests use a server of their own on loopback: Debian's
# postgresql package, a cluster `dfstoretest` created and started here and
# stopped on exit, and an admin role whose fresh random password reaches the
# tests through the environment only.
pg_port="${DFSTORE_TEST_PG_PORT:-5439}"
if ! command -v pg_createcluster > /dev/null; then
  echo "== installing postgresql"
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql > /dev/null
fi
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx dfstoretest; then
  echo "== creating PostgreSQL $pg_version cluster dfstoretest on port $pg_port"
  pg_createcluster -p "$pg_port" "$pg_version" dfstoretest > /dev/null
fi
if ! pg_lsclusters -h | awk '$2 == "dfstoretest" {print $4}' | grep -qx online; then
  pg_ctlcluster "$pg_version" dfstoretest start
  trap 'pg_ctlcluster "$pg_version" dfstoretest stop' EXIT
fi
pg_isready -q -h 127.0.0.1 -p "$pg_port"
DFSTORE_TEST_PG_PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -p "$pg_port" -d postgres > /dev/null << SQL
SELECT 'CREATE ROLE dfstore_admin' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dfstore_admin') \gexec
ALTER ROLE dfstore_admin LOGIN CREATEDB CREATEROLE PASSWORD '$DFSTORE_TEST_PG_PASSWORD';
GRANT pg_read_all_stats, pg_signal_backend TO dfstore_admin;
SQL
export DFSTORE_TEST_PG="postgresql://dfstore_admin@127.0.0.1:$pg_port/postgres"
export DFSTORE_TEST_PG_PASSWORD

echo "== cargo build (the cluster tests start the real binaries)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked
