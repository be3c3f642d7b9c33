#!/usr/bin/env bash
# Idle resident memory of the three services after one call through the chain (client2 asks
# the authorization server for a token and calls client1, which introspects it), as each
# service's VmRSS, with its anonymous and file-backed parts (RssAnon, RssFile: the file-backed
# pages are the binary's and the shared libraries' code, shared with the page cache).
#
#   scripts/idle.sh                                  (the release build)
#   TARGET=x86_64-unknown-linux-musl scripts/idle.sh (the static musl build)
#
# Loopback only; stops the services it started by their process ids.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
add() { "$bin/oauth-server" add-client --clients "$work/clients.json" "$@" | json '["client_secret"]'; }
rs_secret=$(add --id rs --scope read --introspect)
c2_secret=$(add --id c2 --scope read)
read -r pa pc1 pc2 <<<"$(free_ports 3)"
as=https://localhost:$pa
ready() { for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "$1/healthz" >/dev/null && return; sleep 0.1; done; echo "$1 did not start" >&2; exit 1; }
"$bin/oauth-server" serve --listen "127.0.0.1:$pa" "${tls[@]}" --clients "$work/clients.json" --issuer "$as" 2>"$work/as.log" &
pids+=($!); pid_as=$!
ready "$as"
OAUTH_CLIENT_SECRET=$rs_secret "$bin/client1" --listen "127.0.0.1:$pc1" "${tls[@]}" --auth-server "$as" \
  --ca "$work/certs/ca.pem" --client-id rs 2>"$work/client1.log" &
pids+=($!); pid_c1=$!
ready "https://localhost:$pc1"
OAUTH_CLIENT_SECRET=$c2_secret "$bin/client2" --listen "127.0.0.1:$pc2" "${tls[@]}" --auth-server "$as" \
  --ca "$work/certs/ca.pem" --client-id c2 --resource "https://localhost:$pc1/api/resource" 2>"$work/client2.log" &
pids+=($!); pid_c2=$!
ready "https://localhost:$pc2"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/certs/ca.pem" "https://localhost:$pc2/call")
[ "$code" = 200 ] || { echo "client2 /call answered $code" >&2; exit 1; }
sleep 1
for svc in "oauth-server $pid_as" "client1 $pid_c1" "client2 $pid_c2"; do
  set -- $svc
  awk -v name="$1" '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {printf "%-13s idle RSS %6d KiB (anonymous %5d, file-backed %5d)\n", name, r, a, f}' "/proc/$2/status"
done
