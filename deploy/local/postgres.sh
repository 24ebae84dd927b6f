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
#   DFSTORE_TEST_PG_CA        the CA that signed the server's TLS certificate
#   DFSTORE_TEST_PG_OTHER_CA  a CA that did not
# The server speaks TLS with a certificate for 127.0.0.1 and localhost made
# here once, and members of the group dfstore_tls_only may connect over TLS
# only. Needs root (apt-get, pg_ctlcluster, runuser, openssl).

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
tls_dir=/var/lib/postgresql/dfstore-tls
if [ ! -s "$tls_dir/server.crt" ]; then
  mkdir -p "$tls_dir"
  for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=dfstore test $ca" \
      -keyout "$tls_dir/$ca.key" -out "$tls_dir/$ca.crt" 2> /dev/null
  done
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2> /dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls_dir/san.ext"
  openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls_dir/san.ext" -out "$tls_dir/server.crt" 2> /dev/null
  chown -R postgres:postgres "$tls_dir"
  chmod 600 "$tls_dir"/*.key
fi
pg_conf="/etc/postgresql/$pg_version/dfstoretest"
printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" "$tls_dir/server.crt" "$tls_dir/server.key" \
  > "$pg_conf/conf.d/dfstore-tls.conf"
grep -q dfstore_tls_only "$pg_conf/pg_hba.conf" ||
  sed -i '1i hostnossl all +dfstore_tls_only 127.0.0.1/32 reject' "$pg_conf/pg_hba.conf"
if ! pg_lsclusters -h | awk '$2 == "dfstoretest" {print $4}' | grep -qx online; then
  pg_ctlcluster "$pg_version" dfstoretest start
  trap 'pg_ctlcluster "$pg_version" dfstoretest stop' EXIT
fi
pg_ctlcluster "$pg_version" dfstoretest reload
pg_isready -q -h 127.0.0.1 -p "$pg_port"
DFSTORE_TEST_PG_PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -p "$pg_port" -d postgres > /dev/null << SQL
SET client_min_messages = error;
SELECT 'CREATE ROLE dfstore_admin' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dfstore_admin') \gexec
ALTER ROLE dfstore_admin LOGIN CREATEDB CREATEROLE PASSWORD '$DFSTORE_TEST_PG_PASSWORD';
GRANT pg_read_all_stats, pg_signal_backend TO dfstore_admin;
SELECT 'CREATE ROLE dfstore_tls_only NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dfstore_tls_only') \gexec
REVOKE dfstore_tls_only FROM dfstore_admin;
SQL
export DFSTORE_TEST_PG="postgresql://dfstore_admin@127.0.0.1:$pg_port/postgres"
export DFSTORE_TEST_PG_PASSWORD
export DFSTORE_TEST_PG_CA="$tls_dir/ca.crt"
export DFSTORE_TEST_PG_OTHER_CA="$tls_dir/other-ca.crt"
