# A PostgreSQL server of dfstore's own on loopback, for the tests and the
# ingest benchmark. Source it:  . deploy/local/postgres.sh
#
# Installs Debian's postgresql package when absent, creates the cluster
# `dfstoretest` (port $DFSTORE_TEST_PG_PORT, default 5439) the first time,
# starts it if it is down (and stops it again when the calling script exits),
# and gives the role `dfstore_admin` (CREATEDB, CREATEROLE, may watch and end
# other sessions) a fresh random password. Exports:
#   DFSTORE_TEST_PG           postgresql://dfstore_admin@127.0.0.1:PORT/postgres
#   DFSTORE_TEST_PG_PASSWORD  its password (environment only, never a file or argument)
# Needs root (apt-get, pg_ctlcluster, runuser).

pg_port="${DFSTORE_TEST_PG_PORT:-5439}"
if ! command -v pg_createcluster > /dev/null; then
  echo "== installing postgresql" >&2
  apt-get update -q > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql > /dev/null
fi
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx dfstoretest; then
  echo "== creating PostgreSQL $pg_version cluster dfstoretest on port $pg_port" >&2
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
