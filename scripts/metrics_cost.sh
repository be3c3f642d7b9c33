#!/usr/bin/env bash
# The cost of metrics: two release authorization servers, one with --metrics-listen (scraped
# once a second during its runs, as Prometheus would, more often than its default 15 s) and one
# without, measured in interleaved rounds with wrk: /healthz, then the token request, on each.
# Prints each run (requests/s, the token ratio to /healthz of the same server in the same round,
# the server's CPU time per request from /proc/PID/stat) and the mean ratio of each server.
# Request counting itself is always on (atomic adds in the transport); the flag adds the
# listener and the scrapes.
#
#   scripts/metrics_cost.sh [SECONDS_PER_RUN] [ROUNDS]      (defaults: 8, 3; CONNS=32)
#
# Loopback only; every run is bounded by its duration; the servers it starts are stopped by
# their process ids when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
rounds=${2:-3}
conns=${CONNS:-32}

. scripts/common.sh

"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
secret=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc --scope read |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
read -r p_off p_on p_metrics <<<"$(python3 -c "import socket; s=[socket.socket() for _ in range(3)]; [x.bind(('127.0.0.1',0)) for x in s]; print(*[x.getsockname()[1] for x in s])")"
tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
serve() {  # PORT ARGS...
  "$bin/oauth-server" serve --listen "127.0.0.1:$1" "${tls[@]}" --clients "$work/clients.json" \
    --issuer "https://localhost:$1" --token-ttl 86400 "${@:2}" 2>/dev/null &
  pids+=($!)
}
serve "$p_off"; pid_off=$!
serve "$p_on" --metrics-listen "127.0.0.1:$p_metrics"; pid_on=$!
for port in "$p_off" "$p_on"; do
  for _ in $(seq 1 100); do
    curl -sf -m 2 --cacert "$work/certs/ca.pem" "https://localhost:$port/healthz" >/dev/null && break
    sleep 0.1
  done
done

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d\n", summary.requests, summary.duration))
end
LUA
cp "$work/report.lua" "$work/healthz.lua"
{
  cat "$work/report.lua"
  echo 'wrk.method = "POST"'
  echo 'wrk.body = "grant_type=client_credentials&scope=read"'
  echo 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"'
  echo "wrk.headers[\"Authorization\"] = \"Basic $(printf 'svc:%s' "$secret" | base64 -w0)\""
} >"$work/token.lua"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run URL SCRIPT PID SCRAPE: prints "REQUESTS_PER_S CPU_US_PER_REQUEST"
run() {
  local before after line scraper=
  if [ "$4" = 1 ]; then
    (end=$((SECONDS + secs)); while [ "$SECONDS" -lt "$end" ]; do
      curl -sf -m 2 "http://127.0.0.1:$p_metrics/metrics" >/dev/null || true; sleep 1; done) &
    scraper=$!
  fi
  before=$(cpu_ticks "$3")
  line=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s -s "$2" "$1" | grep '^RESULT')
  after=$(cpu_ticks "$3")
  [ -z "$scraper" ] || wait "$scraper"
  read -r _ reqs dur_us <<<"$line"
  python3 -c "import sys; r, d, t, hz = map(int, sys.argv[1:]); print(f'{r / (d / 1e6):.0f} {t / hz * 1e6 / max(r, 1):.1f}')" \
    "$reqs" "$dur_us" "$(( after - before ))" "$(getconf CLK_TCK)"
}

echo "wrk -t2 -c$conns, ${secs}s per run, $rounds rounds, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf 'round\tserver\thealthz_rps\ttoken_rps\tratio\thealthz_cpu_us\ttoken_cpu_us\n'
ratios_off=() ratios_on=()
for round in $(seq 1 "$rounds"); do
  for which in off on; do
    if [ "$which" = on ]; then port=$p_on pid=$pid_on scrape=1; else port=$p_off pid=$pid_off scrape=0; fi
    read -r h_rps h_cpu <<<"$(run "https://localhost:$port/healthz" "$work/healthz.lua" "$pid" "$scrape")"
    read -r t_rps t_cpu <<<"$(run "https://localhost:$port/oauth/token" "$work/token.lua" "$pid" "$scrape")"
    ratio=$(python3 -c "print(f'{$t_rps / $h_rps:.3f}')")
    printf '%s\tmetrics-%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$which" "$h_rps" "$t_rps" "$ratio" "$h_cpu" "$t_cpu"
    if [ "$which" = on ]; then ratios_on+=("$ratio"); else ratios_off+=("$ratio"); fi
  done
done
python3 -c "import sys; a = sys.argv[1].split(); b = sys.argv[2].split(); m = lambda x: sum(map(float, x)) / len(x); print(f'mean token/healthz ratio: without --metrics-listen {m(a):.3f}, with {m(b):.3f}')" \
  "${ratios_off[*]}" "${ratios_on[*]}"
