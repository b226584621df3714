#!/usr/bin/env bash
# nghttpd (Debian nghttp2-server) and h2load (nghttp2-client): an HTTP/2 server and a load
# generator no one here wrote, for push-delivery's test against nghttpd
# (crates/push-delivery/tests/it/nghttpd.rs) and its benchmark (scripts/nghttp2/bench.sh).
# Installs the packages when the commands are missing (needs root then); prints nothing else.
set -euo pipefail
exec "$(dirname "$0")/../apt-ensure.sh" nghttp2 nghttpd:nghttp2-server h2load:nghttp2-client
