#!/usr/bin/env bash
# Stop the Samba AD DC started by start.sh (by the PID it recorded, never by name).
# Leaves $SAMBA_DIR in place (logs); start.sh provisions afresh anyway.
set -euo pipefail
SAMBA_DIR=${SAMBA_DIR:-/tmp/bems-samba/ad}
pid=$(cat "$SAMBA_DIR/samba.pid" 2>/dev/null) || exit 0
rm -f "$SAMBA_DIR/ready"
# Running and not a zombie (an orphan may wait a while for its reaper).
alive() { [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ -e "/proc/$pid" ]; }
# Only a `samba` process: the PID may have been reused since.
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = samba ] && alive; then
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while alive && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  if alive; then
    printf 'samba-ad: pid %s ignored SIGTERM for 10 s; killing it\n' "$pid" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  printf 'samba-ad: stopped pid %s\n' "$pid" >&2
fi
rm -f "$SAMBA_DIR/samba.pid"
