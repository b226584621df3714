#!/usr/bin/env bash
# Start a throwaway PostgreSQL on loopback for the PostgreSQL store tests of crates/bems-store
# (tests/conformance.rs, module `postgres`: the conformance suite, each check in a fresh database).
#
#   eval "$(scripts/postgres/start.sh)"     # exports BEMS_POSTGRES_URL=postgres://..., BEMS_POSTGRES_TLS_URL, BEMS_POSTGRES_CA
#   BEMS_REQUIRE_SERVICES=1 cargo test -p bems-store --test conformance postgres
#   scripts/postgres/stop.sh
#
# Installs Debian's `postgresql` when initdb/pg_ctl are missing, makes a fresh cluster in
# $PG_DIR/data (initdb, superuser `bems` with a password, scram-sha-256 over TCP), starts it with
# pg_ctl on 127.0.0.1:$PG_PORT (not 5432, so as not to meet a system instance; its Unix socket in
# $PG_DIR), waits until it accepts connections and creates the database `bems`.
# PostgreSQL refuses to run as root: as root, the cluster belongs to and runs as the `postgres`
# user (made by the Debian package; a system user `bems-postgres` is created when there is none).
# The cluster is for tests only: fsync is off.
# TLS: the cluster always has `ssl = on`, with a fresh CA and a server certificate for 127.0.0.1
# and localhost made with `openssl` (Debian's `openssl` is installed when missing) in $PG_DIR/tls;
# pg_hba allows TCP with and without TLS. BEMS_POSTGRES_URL says `sslmode=disable` (plain, as
# the tests that do not test TLS want it); BEMS_POSTGRES_TLS_URL says `sslmode=require` and
# BEMS_POSTGRES_CA names the CA's PEM file (tests/tls.rs of bems-store uses both).
# Another cluster beside it: PG_PORT=55433 PG_DIR=/tmp/bems-pg-tls scripts/postgres/start.sh
# (and stop it with the same PG_DIR).
# stdout carries only shell lines (exports and comments); progress goes to stderr.
set -euo pipefail

PG_DIR=${PG_DIR:-/tmp/bems-postgres}
PG_PORT=${PG_PORT:-55432}
PG_USER=bems
PG_PASSWORD='Bems-Postgres-Pa55'
PG_DATABASE=bems
HERE=$(cd "$(dirname "$0")" && pwd)

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "$* missing and not root: install them (apt-get install $*) or run as root"
  export DEBIAN_FRONTEND=noninteractive
  local apt_log
  apt_log=$(mktemp)
  if ! apt-get install -y --no-install-recommends "$@" >"$apt_log" 2>&1; then
    apt-get update >>"$apt_log" 2>&1 && apt-get install -y --no-install-recommends "$@" >>"$apt_log" 2>&1 ||
      { tail -n 20 "$apt_log" >&2; rm -f "$apt_log"; die "could not install $*"; }
  fi
  rm -f "$apt_log"
}
# The directory of initdb, pg_ctl and psql: pg_ctl's on PATH (links resolved), else Debian's newest /usr/lib/postgresql/*/bin.
pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

# 1. The binaries.
BIN=$(pg_bin) || true
if [ -z "$BIN" ]; then
  log "installing the Debian package postgresql"
  apt_install postgresql
  BIN=$(pg_bin) || die "postgresql was installed but initdb/pg_ctl are not found"
fi

if ! command -v openssl >/dev/null 2>&1; then
  log "installing the Debian package openssl"
  apt_install openssl
  command -v openssl >/dev/null 2>&1 || die "openssl was installed but is not found"
fi

# 2. Who runs it: us, or (as root) an unprivileged user.
if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=postgres
  if ! id "$RUN_AS" >/dev/null 2>&1; then
    RUN_AS=bems-postgres
    id "$RUN_AS" >/dev/null 2>&1 ||
      useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_AS" ||
      die "cannot create the system user $RUN_AS"
  fi
  as_owner() { runuser -u "$RUN_AS" -- "$@"; }
else
  RUN_AS=$(id -un)
  as_owner() { "$@"; }
fi

# 3. A fresh state directory: ours alone, not a symlink.
PG_DIR=$PG_DIR "$HERE/stop.sh"
[ ! -L "$PG_DIR" ] || die "$PG_DIR is a symlink; remove it"
rm -rf "$PG_DIR"
mkdir -p -m 755 "$PG_DIR"
[ "$(id -u)" -ne 0 ] || chown "$RUN_AS" "$PG_DIR"
pwfile=$(mktemp)
printf '%s\n' "$PG_PASSWORD" >"$pwfile"
chmod 644 "$pwfile"
log "initdb $PG_DIR/data (as $RUN_AS, $BIN)"
init_log=$(mktemp)
if ! as_owner "$BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >"$init_log" 2>&1; then
  tail -n 20 "$init_log" >&2
  rm -f "$pwfile" "$init_log"
  die "initdb failed"
fi
rm -f "$pwfile" "$init_log"

# 4. TLS: a fresh CA (its key is thrown away) and a server certificate for 127.0.0.1 and
# localhost, the server's key readable by the cluster's owner alone.
TLS_DIR=$PG_DIR/tls
mkdir -p -m 755 "$TLS_DIR"
log "a CA and a server certificate for 127.0.0.1 and localhost in $TLS_DIR"
cat >"$TLS_DIR/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = ca
prompt = no
[dn]
CN = bems throwaway PostgreSQL CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
cat >"$TLS_DIR/server.cnf" <<'CNF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
tls_log=$(mktemp)
if ! {
  openssl req -x509 -new -config "$TLS_DIR/ca.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" -days 30 &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=localhost" -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" &&
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$TLS_DIR/server.cnf" \
      -out "$TLS_DIR/server.pem"
} >"$tls_log" 2>&1; then
  tail -n 20 "$tls_log" >&2
  rm -f "$tls_log"
  die "openssl could not make the certificates"
fi
rm -f "$tls_log" "$TLS_DIR/ca.key" "$TLS_DIR/server.csr" "$TLS_DIR"/*.cnf
chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem"
chmod 600 "$TLS_DIR/server.key"
[ "$(id -u)" -ne 0 ] || chown "$RUN_AS" "$TLS_DIR/server.key"

# 5. Start it on loopback and wait until it accepts connections.
log "starting on 127.0.0.1:$PG_PORT"
if ! as_owner "$BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c ssl=on -c ssl_cert_file=$TLS_DIR/server.pem -c ssl_key_file=$TLS_DIR/server.key" \
  start >&2; then
  tail -n 30 "$PG_DIR/postgres.log" >&2 || true
  die "PostgreSQL did not start (is port $PG_PORT taken? set PG_PORT)"
fi
echo "$BIN" >"$PG_DIR/bin"
as_owner "$BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -q \
  -c "CREATE DATABASE $PG_DATABASE" >&2 ||
  { PG_DIR=$PG_DIR "$HERE/stop.sh"; die "cannot create the database $PG_DATABASE (log: $PG_DIR/postgres.log)"; }

echo "export BEMS_POSTGRES_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE?sslmode=disable"
echo "export BEMS_POSTGRES_TLS_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE?sslmode=require"
echo "export BEMS_POSTGRES_CA=$TLS_DIR/ca.pem"
echo "# PostgreSQL $("$BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT as $RUN_AS, data $PG_DIR/data, pid $(head -n 1 "$PG_DIR/data/postmaster.pid")"
echo "#   TLS (ssl = on, plain TCP allowed too): server certificate for 127.0.0.1 and localhost, CA $TLS_DIR/ca.pem"
echo "#   the tests create a database per check from these URLs; log: $PG_DIR/postgres.log; stop: $HERE/stop.sh"
