#!/usr/bin/env bash
# nghttpd (Debian nghttp2-server) and h2load (nghttp2-client): an HTTP/2 server and a load
# generator no one here wrote, for push-delivery's test against nghttpd
# (crates/push-delivery/tests/it/nghttpd.rs) and its benchmark (scripts/nghttp2/bench.sh).
# Installs the packages when the commands are missing (needs root then); prints nothing else.
set -euo pipefail

log() { printf 'nghttp2: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

missing=()
command -v nghttpd >/dev/null 2>&1 || missing+=(nghttp2-server)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
[ "${#missing[@]}" -eq 0 ] && exit 0

[ "$(id -u)" -eq 0 ] || die "${missing[*]} missing and not root: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_log=$(mktemp)
trap 'rm -f "$apt_log"' EXIT
log "installing ${missing[*]}"
if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$apt_log" 2>&1; then
  apt-get update >>"$apt_log" 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 ||
    { tail -n 20 "$apt_log" >&2; die "could not install ${missing[*]}"; }
fi
command -v nghttpd >/dev/null 2>&1 && command -v h2load >/dev/null 2>&1 || die "nghttpd or h2load still missing"
