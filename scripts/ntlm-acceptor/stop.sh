#!/usr/bin/env bash
# Stop the NTLM acceptor started by start.sh (by the PID it recorded, never by name).
# Leaves $ACCEPTOR_DIR in place (its log); start.sh makes it afresh anyway.
set -euo pipefail
ACCEPTOR_DIR=${ACCEPTOR_DIR:-/tmp/bems-ntlm-acceptor}
pid=$(cat "$ACCEPTOR_DIR/server.pid" 2>/dev/null) || exit 0
rm -f "$ACCEPTOR_DIR/port"
# Running and not a zombie.
alive() { [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; }
# Only our server.py: the PID may have been reused since.
if alive && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'ntlm-acceptor/server.py'; then
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while alive && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if alive; then
    printf 'ntlm-acceptor: pid %s ignored SIGTERM for 5 s; killing it\n' "$pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  printf 'ntlm-acceptor: stopped pid %s\n' "$pid" >&2
fi
rm -f "$ACCEPTOR_DIR/server.pid"
