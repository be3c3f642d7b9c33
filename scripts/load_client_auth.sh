#!/usr/bin/env bash
# Load test of the client authentication methods against the release oauth-server, with the
# client_auth_load example (wrk can neither sign a fresh assertion per request nor present a
# client certificate): /healthz and token requests by client_secret_basic, private_key_jwt
# (ES256, EdDSA and RS256 assertions: one signature verify per request) and tls_client_auth, on
# keep-alive connections and with a new connection (a full TLS handshake, no resumption) per
# request; and, for secret clients, the same server with and without --client-ca.
#
#   scripts/load_client_auth.sh [SECONDS_PER_RUN] [CONNECTION_COUNTS...]   (defaults: 10, 8 32)
#
# Prints one row per run (requests/s, p50, p99, errors, the ratio to /healthz of the same
# server, connection mode and connection count) and writes them as TSV to
# target/load/client-auth.tsv. Loopback only; every run is bounded by its duration; the
# servers it starts are stopped by their process ids when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
conns=("$@")
[ ${#conns[@]} -gt 0 ] || conns=(8 32)

. scripts/common.sh
cargo build --release -q --example client_auth_load
load=$bin/examples/client_auth_load
out=target/load
mkdir -p "$out"

"$bin/oauth-server" gen-certs --out "$work/certs" --client m1 2>/dev/null
ca=$work/certs/ca.pem
tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
add() { "$bin/oauth-server" add-client --clients "$work/clients.json" "$@"; }
svc_secret=$(add --id svc --scope read | json '["client_secret"]')
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/es256.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/eddsa.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rs256.pem" 2>/dev/null
for alg in es256 eddsa rs256; do
  "$load" jwks "$work/$alg.pem" >"$work/$alg.jwks"
  add --id "pkj-$alg" --scope read --jwks "$work/$alg.jwks" >/dev/null
done
add --id m1 --scope read --tls-subject-dn CN=m1 >/dev/null
read -r pa pb <<<"$(free_ports 2)"
as=https://localhost:$pa
plain=https://localhost:$pb
# Long-lived tokens: the runs measure steady state, not expiry.
"$bin/oauth-server" serve --listen "127.0.0.1:$pa" "${tls[@]}" --clients "$work/clients.json" \
  --issuer "$as" --token-ttl 86400 --client-ca "$ca" 2>"$work/as.log" &
pids+=($!)
"$bin/oauth-server" serve --listen "127.0.0.1:$pb" "${tls[@]}" --clients "$work/clients.json" \
  --issuer "$plain" --token-ttl 86400 2>"$work/plain.log" &
pids+=($!)
for url in "$as" "$plain"; do
  for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$ca" "$url/healthz" >/dev/null && break; sleep 0.1; done
done

results=$out/client-auth.tsv
printf 'server\tendpoint\tmode\tconnections\trequests_per_s\tp50_ms\tp99_ms\terrors\tratio_to_healthz\n' >"$results"
run() {  # server endpoint mode connections base-url path [client_auth_load flags...]
  local server=$1 endpoint=$2 mode=$3 n=$4 url=$5$6 line
  shift 6
  local flags=()
  [ "$mode" = new ] && flags+=(--new-connections)
  line=$("$load" run "$url" --ca "$ca" --connections "$n" --seconds "$secs" "${flags[@]}" "$@")
  python3 - "$server" "$endpoint" "$mode" "$n" "$line" "$results" <<'PY'
import sys
server, endpoint, mode, conns, line, path = sys.argv[1:]
f = line.split()
v = dict(zip(f[0::2], f[1::2]))
rps = float(v["rps"])
base = None
for row in open(path).read().splitlines()[1:]:
    r = row.split('\t')
    if r[0] == server and r[1] == 'healthz' and r[2] == mode and r[3] == conns:
        base = float(r[4])
ratio = f"{rps / base:.2f}" if base else ("1.00" if endpoint == 'healthz' else "-")
row = [server, endpoint, mode, conns, f"{rps:.0f}", v["p50_ms"], v["p99_ms"], v["errors"], ratio]
open(path, 'a').write('\t'.join(row) + '\n')
print(f"{server:22} {endpoint:18} {mode:10} c={conns:>3} {rps:>8.0f} req/s  p50 {v['p50_ms']:>6} ms"
      f"  p99 {v['p99_ms']:>6} ms  errors {v['errors']:>3}  x{ratio} of /healthz")
PY
}

token=(--form grant_type=client_credentials)
echo "client_auth_load, ${secs}s per run, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for n in "${conns[@]}"; do
  for mode in keep-alive new; do
    run oauth-server healthz "$mode" "$n" "$plain" /healthz
    run oauth-server token_secret "$mode" "$n" "$plain" /oauth/token "${token[@]}" --basic "svc:$svc_secret"
    run oauth-server+client-ca healthz "$mode" "$n" "$as" /healthz
    [ "$mode" = new ] && run oauth-server+client-ca healthz_with_cert "$mode" "$n" "$as" /healthz \
      --cert "$work/certs/m1.pem" --key "$work/certs/m1.key"
    run oauth-server+client-ca token_secret "$mode" "$n" "$as" /oauth/token "${token[@]}" --basic "svc:$svc_secret"
    for alg in es256 eddsa rs256; do
      # RSA signing is slow at the client (about 1 ms): fewer assertions, a shorter run.
      count=()
      [ "$alg" = rs256 ] && count=(--count 30000)
      run oauth-server+client-ca "token_pkjwt_$alg" "$mode" "$n" "$as" /oauth/token "${token[@]}" \
        --assertions "pkj-$alg" "$work/$alg.pem" "$as" "${count[@]}"
    done
    run oauth-server+client-ca token_mtls "$mode" "$n" "$as" /oauth/token \
      --form "grant_type=client_credentials&client_id=m1" \
      --cert "$work/certs/m1.pem" --key "$work/certs/m1.key"
  done
done
echo "results: $results"
