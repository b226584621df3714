#!/usr/bin/env bash
# Installs Debian packages for the commands that are missing (needs root then); prints
# nothing else. Usage: scripts/apt-ensure.sh <what, for messages> <command>:<package> ...
# (scripts/nghttp2/install.sh, scripts/chromium/install.sh).
set -euo pipefail

what=$1
shift
log() { printf '%s: %s\n' "$what" "$*" >&2; }
die() { log "error: $*"; exit 1; }

missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
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
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair%%:*} still missing"
done
