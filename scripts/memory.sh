#!/usr/bin/env bash
# Resident memory of the release oauth-server: idle, and per live token after issuing
# TOKENS tokens (default 1,000,000) over keep-alive TLS with wrk. FORMAT=jwt issues JWT access
# tokens instead (the server keeps no state for them: the growth should be near zero).
#
#   scripts/memory.sh [TOKENS]
#   FORMAT=jwt scripts/memory.sh 1000000
#
# Loopback only; bounded by the token count and a 300 s cap; stops the server it started.
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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
format=${FORMAT:-opaque}
format_args=()
if [ "$format" = jwt ]; then
  "$bin/oauth-server" gen-signing-key --keys "$work/keys" >/dev/null
  format_args=(--token-format jwt --signing-keys "$work/keys")
fi
"$bin/oauth-server" serve --listen "127.0.0.1:$port" --cert "$work/certs/server.pem" \
  --key "$work/certs/server.key" --clients "$work/clients.json" --token-ttl 86400 \
  "${format_args[@]}" 2>/dev/null &
pid=$!
url=https://localhost:$port
for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "$url/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
idle=$(rss)
per_thread=$((tokens / 2))
cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'svc:%s' "$secret" | base64 -w0)"
local count = 0
response = function(status, headers, body)
  count = count + 1
  if count >= $per_thread then wrk.thread:stop() end
end
LUA
before=$(rss)
wrk -t2 -c2 -d300s -s "$work/token.lua" "$url/oauth/token" >"$work/wrk.txt"
issued=$(grep -Eo '^ *[0-9]+ requests' "$work/wrk.txt" | grep -Eo '[0-9]+')
sleep 1
after=$(rss)
echo "idle RSS: $idle KiB"
echo "issued $issued $format tokens: RSS $before KiB -> $after KiB ($(( (after - before) / 1024 )) MiB), $(( (after - before) * 1024 / issued )) bytes per live token"
