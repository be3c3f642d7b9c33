#!/usr/bin/env bash
# Does the background sweep of expired tokens stall requests? Measures token-endpoint latency
# (wrk, 32 connections) on a fresh server, then for as long again on a server holding about
# 1,000,000 tokens that all expire during the measurement, and prints both p99s and their ratio.
#
#   scripts/sweep.sh [TOKENS [FILL_SECS]]      (defaults 1000000 and 25)
#
# Loopback only; every run bounded in time; stops the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-1000000}
. scripts/common.sh
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
secret=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc --scope read \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
auth="Basic $(printf 'svc:%s' "$secret" | base64 -w0)"
cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$auth"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.2f %.2f\n", summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
cat >"$work/fill.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$auth"
local count = 0
response = function(status, headers, body)
  count = count + 1
  if count >= $((tokens / 2)) then wrk.thread:stop() end
end
LUA
start() {  # token TTL
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin/oauth-server" serve --listen "127.0.0.1:$port" --cert "$work/certs/server.pem" \
    --key "$work/certs/server.key" --clients "$work/clients.json" --token-ttl "$1" 2>/dev/null &
  pid=$!
  url=https://localhost:$port
  for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "$url/healthz" >/dev/null && break; sleep 0.1; done
}
measure() { wrk -t2 -c32 -d"$1"s -s "$work/token.lua" "$url/oauth/token" | grep '^RESULT'; }

# wrk runs for its whole duration even after the fill script stops its threads, so the fill
# is given a fixed time (long enough for TOKENS on this machine) and the TTL is set from it:
# the filled tokens expire between 2 s and fill_secs + 2 s into the measurement.
fill_secs=${2:-25}
ttl=$((fill_secs + 2))
duration=$((fill_secs + 5))

start 3600
read -r _ n0 p50_0 p99_0 <<<"$(measure "$duration")"
kill $pid; wait $pid 2>/dev/null || true

start "$ttl"
filled=$(wrk -t2 -c32 -d"${fill_secs}s" -s "$work/fill.lua" "$url/oauth/token" | grep -Eo '^ *[0-9]+ requests' | grep -Eo '[0-9]+')
live=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
read -r _ n1 p50_1 p99_1 <<<"$(measure "$duration")"
echo "fresh server:                 $n0 tokens in $duration s, p50 $p50_0 ms, p99 $p99_0 ms"
echo "$filled tokens expiring:  $n1 tokens in $duration s, p50 $p50_1 ms, p99 $p99_1 ms (RSS before the run $live KiB, TTL $ttl s)"
python3 -c "print(f'p99 ratio (expiring / fresh): {float($p99_1) / float($p99_0):.2f}')"
