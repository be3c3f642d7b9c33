#!/usr/bin/env bash
# Load test of the release binaries over HTTPS with wrk: /healthz, token, introspection, and
# client1's resource with a cached token, at 1, 8, 32 and 128 connections.
#
#   scripts/load.sh [SECONDS_PER_RUN] [CONNECTION_COUNTS...]      (defaults: 10, 1 8 32 128)
#
# Prints one row per run (requests/s, p50, p99, errors, ratio to /healthz of the same server at
# the same connection count) and writes the rows as TSV to target/load/results.tsv, plus a
# picture of throughput against connections to target/load/throughput.svg.
# Loopback only; every run is bounded by its duration; the servers it starts are stopped by
# their process ids when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
conns=("$@")
[ ${#conns[@]} -gt 0 ] || conns=(1 8 32 128)

. scripts/common.sh
out=target/load
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
svc_secret=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc --scope "read write" | json '["client_secret"]')
rs_secret=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id rs --scope read --introspect | json '["client_secret"]')
read -r pa pc1 <<<"$(python3 -c 'import socket; s=[socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1",0)) for x in s]; print(*[x.getsockname()[1] for x in s])')"
as=https://localhost:$pa
c1=https://localhost:$pc1
tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
# Long-lived tokens and a long cache: the runs measure steady state, not expiry.
"$bin/oauth-server" serve --listen "127.0.0.1:$pa" "${tls[@]}" --clients "$work/clients.json" \
  --issuer "$as" --token-ttl 86400 2>"$work/as.log" &
pids+=($!)
OAUTH_CLIENT_SECRET=$rs_secret "$bin/client1" --listen "127.0.0.1:$pc1" "${tls[@]}" --auth-server "$as" \
  --ca "$work/certs/ca.pem" --client-id rs --cache-ttl 30 2>"$work/client1.log" &
pids+=($!)
export SSL_CERT_FILE=$work/certs/ca.pem
for url in "$as" "$c1"; do
  for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "$url/healthz" >/dev/null && break; sleep 0.1; done
done
c() { curl -sf -m 5 --cacert "$work/certs/ca.pem" "$@"; }
token=$(c -u "svc:$svc_secret" -d grant_type=client_credentials -d scope=read "$as/oauth/token" | json '["access_token"]')

b64() { printf '%s' "$1" | base64 -w0; }
cat >"$work/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end
EOF
post_script() {  # $1 file, $2 authorization, $3 body
  cat "$work/report.lua" >"$1"
  cat >>"$1" <<EOF
wrk.method = "POST"
wrk.body = "$3"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$2"
EOF
}
get_script() {  # $1 file, $2 authorization or empty
  cat "$work/report.lua" >"$1"
  [ -z "$2" ] || echo "wrk.headers[\"Authorization\"] = \"$2\"" >>"$1"
}
get_script "$work/healthz.lua" ""
post_script "$work/token.lua" "Basic $(b64 "svc:$svc_secret")" "grant_type=client_credentials&scope=read"
post_script "$work/introspect.lua" "Basic $(b64 "rs:$rs_secret")" "token=$token"
get_script "$work/resource.lua" "Bearer $token"

results=$out/results.tsv
printf 'server\tendpoint\tconnections\trequests_per_s\tp50_ms\tp99_ms\terrors\tratio_to_healthz\n' >"$results"
run() {  # server endpoint url script connections
  local line
  line=$(wrk -t"$(( $5 < 2 ? 1 : 2 ))" -c"$5" -d"${secs}s" --timeout 5s -s "$4" "$3" | grep '^RESULT') || true
  read -r _ reqs dur_us p50_us p99_us errs <<<"$line"
  python3 - "$1" "$2" "$5" "$reqs" "$dur_us" "$p50_us" "$p99_us" "$errs" "$results" <<'EOF'
import sys
server, endpoint, conns, reqs, dur, p50, p99, errs, path = sys.argv[1:]
rps = int(reqs) / (int(dur) / 1e6)
base = None
for row in open(path).read().splitlines()[1:]:
    f = row.split('\t')
    if f[0] == server and f[1] == 'healthz' and f[2] == conns:
        base = float(f[3])
ratio = f"{rps / base:.2f}" if base else "1.00" if endpoint == 'healthz' else "-"
row = [server, endpoint, conns, f"{rps:.0f}", f"{float(p50)/1000:.2f}", f"{float(p99)/1000:.2f}", errs, ratio]
open(path, 'a').write('\t'.join(row) + '\n')
print(f"{server:13} {endpoint:11} c={conns:>4}  {rps:>9.0f} req/s  p50 {float(p50)/1000:6.2f} ms  p99 {float(p99)/1000:6.2f} ms  errors {errs:>4}  x{ratio} of /healthz")
EOF
}
echo "wrk, ${secs}s per run, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for n in "${conns[@]}"; do
  run oauth-server healthz "$as/healthz" "$work/healthz.lua" "$n"
  run oauth-server token "$as/oauth/token" "$work/token.lua" "$n"
  run oauth-server introspect "$as/oauth/introspect" "$work/introspect.lua" "$n"
  run client1 healthz "$c1/healthz" "$work/healthz.lua" "$n"
  run client1 resource "$c1/api/resource" "$work/resource.lua" "$n"
done
python3 scripts/plot_load.py "$results" "$out/throughput.svg"
echo "results: $results, picture: $out/throughput.svg"
