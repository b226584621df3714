#!/usr/bin/env bash
# Headless Chromium and chromedriver (Debian chromium and chromium-driver): a real browser for
# the console's browser test (tests/console_browser.rs). Installs the packages when the
# commands are missing (needs root then); prints nothing else.
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
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
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || die "chromium or chromedriver still missing"
