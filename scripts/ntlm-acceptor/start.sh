#!/usr/bin/env bash
# Start an NTLM acceptor that is not ours (Python's pyspnego behind http.server, server.py) on
# loopback, for the outside-acceptor tests of crates/exchange-auth (tests/it/ntlm_acceptor.rs).
#
#   eval "$(scripts/ntlm-acceptor/start.sh)"     # exports BEMS_NTLM_ACCEPTOR=<state dir>
#   BEMS_REQUIRE_SERVICES=1 cargo test -p exchange-auth --test it ntlm_acceptor
#   scripts/ntlm-acceptor/stop.sh
#
# Installs pyspnego when `python3 -c 'import spnego'` fails: the Debian package python3-spnego
# when apt has one, else pip (with --break-system-packages where the system Python is
# externally managed), and fails loudly if neither works. Writes the accounts the tests use
# into $ACCEPTOR_DIR/users (NTLM_USER_FILE), starts server.py in the background on 127.0.0.1
# (a free port, written to $ACCEPTOR_DIR/port; the certificates it makes are in
# $ACCEPTOR_DIR/tls), and waits until it answers over HTTPS.
# stdout carries only shell lines (an export and comments); progress goes to stderr.
# Needs no root unless packages must be installed.
set -euo pipefail

ACCEPTOR_DIR=${ACCEPTOR_DIR:-/tmp/bems-ntlm-acceptor}
PYTHON=${PYTHON:-python3}
PYSPNEGO='pyspnego>=0.11,<0.13'
# The accounts (crates/exchange-auth/tests/it/ntlm_acceptor.rs has the same constants).
DOMAIN=CONTOSO
USER=svc-bems
UPN=svc-bems@contoso.com
PASSWORD='Ntlm-Acceptor-Pa55!'
HERE=$(cd "$(dirname "$0")" && pwd)

log() { printf 'ntlm-acceptor: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
have_spnego() { "$PYTHON" -c 'import spnego, cryptography' >/dev/null 2>&1; }
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

# 1. Python and pyspnego.
command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3
if ! have_spnego; then
  candidate=$(apt-cache policy python3-spnego 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && [ "$(command -v "$PYTHON")" = /usr/bin/python3 ]; then
    log "installing the Debian package python3-spnego $candidate"
    apt_install python3-spnego
  else
    "$PYTHON" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "installing $PYSPNEGO with pip (no Debian package python3-spnego for $PYTHON)"
    pip_log=$(mktemp)
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check "$PYSPNEGO" >"$pip_log" 2>&1; then
      if grep -q externally-managed-environment "$pip_log"; then
        log "the system Python is externally managed: pip install --break-system-packages"
        "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages \
          "$PYSPNEGO" >"$pip_log" 2>&1 || { tail -n 20 "$pip_log" >&2; die "pip could not install $PYSPNEGO"; }
      else
        tail -n 20 "$pip_log" >&2
        die "pip could not install $PYSPNEGO"
      fi
    fi
    rm -f "$pip_log"
  fi
  have_spnego || die "pyspnego was installed but $PYTHON cannot import it"
fi

# 2. A fresh state directory: ours alone, not a symlink.
"$HERE/stop.sh"
[ ! -L "$ACCEPTOR_DIR" ] || die "$ACCEPTOR_DIR is a symlink; remove it"
rm -rf "$ACCEPTOR_DIR"
mkdir -p -m 700 "$ACCEPTOR_DIR"
umask 077
printf '%s:%s:%s\n:%s:%s\n' "$DOMAIN" "$USER" "$PASSWORD" "$UPN" "$PASSWORD" >"$ACCEPTOR_DIR/users"

# 3. Start it in its own session; its PID is what stop.sh stops.
NTLM_USER_FILE="$ACCEPTOR_DIR/users" setsid "$PYTHON" "$HERE/server.py" --dir "$ACCEPTOR_DIR" \
  </dev/null >"$ACCEPTOR_DIR/server.log" 2>&1 &
echo $! >"$ACCEPTOR_DIR/server.pid"
i=0
until [ -s "$ACCEPTOR_DIR/port" ]; do
  i=$((i + 1))
  kill -0 "$(cat "$ACCEPTOR_DIR/server.pid")" 2>/dev/null ||
    { tail -n 30 "$ACCEPTOR_DIR/server.log" >&2; die "server.py exited"; }
  [ $i -lt 300 ] || { tail -n 30 "$ACCEPTOR_DIR/server.log" >&2; die "server.py did not listen within 30 s"; }
  sleep 0.1
done
PORT=$(cat "$ACCEPTOR_DIR/port")

# 4. Check it answers over HTTPS with its offers, trusting its CA.
"$PYTHON" - "$ACCEPTOR_DIR/tls/ca.pem" "$PORT" <<'EOF' >&2 || die "no answer over HTTPS (log: $ACCEPTOR_DIR/server.log)"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
conn = http.client.HTTPSConnection("localhost", int(sys.argv[2]), context=ctx, timeout=10)
conn.request("GET", "/ntlm/")
answer = conn.getresponse()
offers = answer.headers.get_all("WWW-Authenticate")
assert answer.status == 401 and offers == ["Negotiate", "NTLM"], (answer.status, offers)
EOF

echo "export BEMS_NTLM_ACCEPTOR=$ACCEPTOR_DIR"
echo "# pyspnego NTLM acceptor on https://127.0.0.1:$PORT (names mail.contoso.test, localhost), pid $(cat "$ACCEPTOR_DIR/server.pid")"
echo "#   CA: $ACCEPTOR_DIR/tls/ca.pem; accounts: $ACCEPTOR_DIR/users; log: $ACCEPTOR_DIR/server.log; stop: $HERE/stop.sh"
