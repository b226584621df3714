#!/usr/bin/env bash
# Stop the PostgreSQL started by start.sh: `pg_ctl stop` on its data directory, which signals the
# postmaster whose PID the cluster recorded (never a process found by name).
# Leaves $PG_DIR in place (its log); start.sh makes it afresh anyway.
set -euo pipefail
PG_DIR=${PG_DIR:-/tmp/bems-postgres}
[ -f "$PG_DIR/data/postmaster.pid" ] || exit 0
BIN=$(cat "$PG_DIR/bin" 2>/dev/null) || BIN=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
owner=$(stat -c %U "$PG_DIR/data")
if [ "$(id -u)" -eq 0 ] && [ "$owner" != root ]; then
  runuser -u "$owner" -- "$BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >&2 || true
else
  "$BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >&2 || true
fi
printf 'postgres: stopped the cluster in %s\n' "$PG_DIR/data" >&2
