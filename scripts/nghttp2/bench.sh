#!/usr/bin/env bash
# The APNs sender against h2load, in one run, on one nghttpd: how close the sender comes to
# what the HTTP/2 server can take. A benchmark, not a test: it prints, it asserts nothing.
#
#   scripts/nghttp2/bench.sh [pushes] [connections] [streams per connection]
#
# Defaults: 400,000 pushes, 2 connections, 1,000 streams each. nghttpd (TLS, h2) serves a
# docroot file at /3/device/<token>, so every POST is answered 200 with no body, as APNs
# answers. h2load then push_load (release) send the same number of POSTs with the same
# payload over the same connections and streams; the script prints both rates and their
# ratio, and push_load's JSON summary (retries, connections made). PUSH_LOAD=<binary> runs
# that push_load instead of building this tree's (another commit's, to compare).
#
# BEFORE=<binary> runs a second push_load (another commit's) right after the first, against
# the same server, and prints its rate beside.
#
# push_load runs on one runtime thread (THREADS=<n> for more), as h2load runs on one: on
# two cores the other is nghttpd's, and a second sender thread only takes time from it.
set -euo pipefail
cd "$(dirname "$0")/../.."

pushes=${1:-400000}
connections=${2:-2}
streams=${3:-1000}
token=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90

scripts/nghttp2/install.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/bems-h2bench.XXXXXX")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
mkdir -p "$work/docroot/3/device"
: >"$work/docroot/3/device/$token"
printf '%s' '{"aps":{"alert":{"title":"New mail","body":"From: Mara Whitley"},"badge":1}}' >"$work/payload.json"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nghttpd -d "$work/docroot" -m "$streams" --address 127.0.0.1 "$port" "$work/key.pem" "$work/cert.pem" \
  >"$work/nghttpd.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

if [ -n "${PUSH_LOAD:-}" ]; then
  bin=$PUSH_LOAD
else
  printf '==> building push_load (release)\n' >&2
  cargo build --release --locked -q -p push-delivery --example push_load
  bin="${CARGO_TARGET_DIR:-target}/release/examples/push_load"
fi

printf '==> h2load: %s POSTs, %s connections, %s streams each\n' "$pushes" "$connections" "$streams" >&2
h2load -n "$pushes" -c "$connections" -m "$streams" -d "$work/payload.json" \
  -H 'apns-topic: com.example.mail' -H 'apns-push-type: alert' \
  "https://127.0.0.1:$port/3/device/$token" >"$work/h2load.txt"
h2load_rate=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$work/h2load.txt")
grep -E '^(finished in|requests:|status codes:)' "$work/h2load.txt" >&2

# push_load <binary> <name>: the same POSTs through the sender; its JSON to $work/<name>.json.
push_load() {
  printf '==> %s: the same\n' "$2" >&2
  "$1" --url "https://127.0.0.1:$port" --ca "$work/cert.pem" --count "$pushes" \
    --connections "$connections" --streams "$streams" --concurrency $((connections * streams)) \
    --threads "${THREADS:-1}" --warmup 0 >"$work/$2.json" 2>"$work/$2.err" || { cat "$work/$2.err" >&2; exit 1; }
  cat "$work/$2.json"
}
push_load "$bin" push_load
[ -n "${BEFORE:-}" ] && push_load "$BEFORE" before
goaways=$(grep -c 'GOAWAY' "$work/nghttpd.log" || true)

python3 - "$h2load_rate" "$work" "$goaways" <<'PY'
import json, os, sys
h2load, work, goaways = float(sys.argv[1]), sys.argv[2], sys.argv[3]
print(f"h2load      {h2load:12,.0f} req/s")
for name in ("push_load", "before"):
    path = os.path.join(work, name + ".json")
    if os.path.exists(path):
        summary = json.load(open(path))
        rate, retried = summary["pushes_per_second"], summary["outcomes"]["retry"]
        print(f"{name:<11} {rate:12,.0f} pushes/s  {rate / h2load:6.1%} of h2load  {retried} retried")
print(f"GOAWAY lines in nghttpd's log: {goaways}")
PY
