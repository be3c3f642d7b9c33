#!/usr/bin/env bash
# Load test of the release binaries over HTTPS with wrk: /healthz, token, introspection, and
# client1's resource with a cached token, at 1, 8, 32 and 128 connections; with JWT=1 also the
# JWT formats (token issue with ES256 and EdDSA keys; client1 validating locally, a repeated
# token and a distinct token per request).
#
#   scripts/load.sh [SECONDS_PER_RUN] [CONNECTION_COUNTS...]      (defaults: 10, 1 8 32 128)
#   JWT=1 scripts/load.sh 8 32                                     (adds the JWT rows)
#   REDIS=1 scripts/load.sh 10 32                                  (adds the Redis-store rows)
#
# With REDIS=1 it also starts a redis-server of its own (free port, no persistence) and two
# replicas on it: token and introspection at one replica beside its /healthz, both replicas
# loaded at once (half the connections each; the row is the sum), Redis's own CPU time during
# the runs, and Redis's memory per stored key (INFO used_memory and DBSIZE at the end).
#
# Prints one row per run: requests/s, p50, p99, errors, the ratio to /healthz of the same
# server at the same connection count, and the server's CPU time per request (user + system
# time from /proc/PID/stat before and after the run, divided by the requests served: steadier
# than requests/s when wrk shares the cores) with its ratio to /healthz's. Writes the rows as
# TSV to target/load/results.tsv, and a picture of throughput against connections to
# target/load/throughput.svg. Loopback only; every run is bounded by its duration; the servers
# it starts are stopped by their process ids when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
conns=("$@")
[ ${#conns[@]} -gt 0 ] || conns=(1 8 32 128)
jwt=${JWT:-0}
redis=${REDIS:-0}

. scripts/common.sh
out=target/load
mkdir -p "$out"

"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
c1_aud=https://client1.example
add() { "$bin/oauth-server" add-client --clients "$work/clients.json" "$@" | json '["client_secret"]'; }
svc_secret=$(add --id svc --scope "read write" --audience "$c1_aud")
rs_secret=$(add --id rs --scope read --introspect)
read -r pa pc1 pj pe pjc1 pr pra prb <<<"$(free_ports 8)"
as=https://localhost:$pa
c1=https://localhost:$pc1
# Long-lived tokens and a long cache: the runs measure steady state, not expiry.
"$bin/oauth-server" serve --listen "127.0.0.1:$pa" "${tls[@]}" --clients "$work/clients.json" \
  --issuer "$as" --token-ttl 86400 2>"$work/as.log" &
pids+=($!); pid_as=$!
OAUTH_CLIENT_SECRET=$rs_secret "$bin/client1" --listen "127.0.0.1:$pc1" "${tls[@]}" --auth-server "$as" \
  --ca "$work/certs/ca.pem" --client-id rs --cache-ttl 30 2>"$work/client1.log" &
pids+=($!); pid_c1=$!
urls=("$as" "$c1")
if [ "$jwt" = 1 ]; then
  asj=https://localhost:$pj; ase=https://localhost:$pe; c1j=https://localhost:$pjc1
  "$bin/oauth-server" gen-signing-key --keys "$work/keys-es256" --alg ES256 >/dev/null
  "$bin/oauth-server" gen-signing-key --keys "$work/keys-eddsa" --alg EdDSA >/dev/null
  for pair in "$pj es256" "$pe eddsa"; do
    read -r port alg <<<"$pair"
    "$bin/oauth-server" serve --listen "127.0.0.1:$port" "${tls[@]}" --clients "$work/clients.json" \
      --issuer "https://localhost:$port" --token-ttl 86400 --token-format jwt \
      --signing-keys "$work/keys-$alg" 2>"$work/as-$alg.log" &
    pids+=($!); eval "pid_as_$alg=$!"
  done
  "$bin/client1" --listen "127.0.0.1:$pjc1" "${tls[@]}" --auth-server "$asj" \
    --ca "$work/certs/ca.pem" --validation jwt --audience "$c1_aud" 2>"$work/client1-jwt.log" &
  pids+=($!); pid_c1j=$!
  urls+=("$asj" "$ase" "$c1j")
fi
if [ "$redis" = 1 ]; then
  redis-server --port "$pr" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  pids+=($!); pid_redis=$!
  for _ in $(seq 1 50); do redis-cli -p "$pr" ping >/dev/null 2>&1 && break; sleep 0.1; done
  for port in "$pra" "$prb"; do
    "$bin/oauth-server" serve --listen "127.0.0.1:$port" "${tls[@]}" --clients "$work/clients.json" \
      --issuer "$as" --token-ttl 86400 --store "redis://127.0.0.1:$pr" 2>"$work/as-redis-$port.log" &
    pids+=($!)
    [ "$port" = "$pra" ] && pid_asr=$!
  done
  asr=https://localhost:$pra; asr_b=https://localhost:$prb
  urls+=("$asr" "$asr_b")
fi
export SSL_CERT_FILE=$work/certs/ca.pem
for url in "${urls[@]}"; do
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
if [ "$redis" = 1 ]; then
  token_redis=$(c -u "svc:$svc_secret" -d grant_type=client_credentials -d scope=read "$asr/oauth/token" | json '["access_token"]')
  post_script "$work/introspect-redis.lua" "Basic $(b64 "rs:$rs_secret")" "token=$token_redis"
fi
get_script "$work/resource.lua" "Bearer $token"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_hz=$(getconf CLK_TCK)

results=$out/results.tsv
printf 'server\tendpoint\tconnections\trequests_per_s\tp50_ms\tp99_ms\terrors\tratio_to_healthz\tcpu_us_per_request\tcpu_ratio_to_healthz\n' >"$results"
run() {  # server endpoint url script connections pid
  local line before after
  before=$(cpu_ticks "$6")
  line=$(wrk -t"$(( $5 < 2 ? 1 : 2 ))" -c"$5" -d"${secs}s" --timeout 5s -s "$4" "$3" | grep '^RESULT') || true
  after=$(cpu_ticks "$6")
  read -r _ reqs dur_us p50_us p99_us errs <<<"$line"
  python3 - "$1" "$2" "$5" "$reqs" "$dur_us" "$p50_us" "$p99_us" "$errs" "$results" \
    "$(( after - before ))" "$tick_hz" <<'EOF'
import sys
server, endpoint, conns, reqs, dur, p50, p99, errs, path, ticks, hz = sys.argv[1:]
rps = int(reqs) / (int(dur) / 1e6)
cpu_us = int(ticks) / int(hz) * 1e6 / max(int(reqs), 1)
base = base_cpu = None
for row in open(path).read().splitlines()[1:]:
    f = row.split('\t')
    if f[0] == server and f[1] == 'healthz' and f[2] == conns:
        base, base_cpu = float(f[3]), float(f[8])
ratio = f"{rps / base:.2f}" if base else "1.00" if endpoint == 'healthz' else "-"
cpu_ratio = f"{cpu_us / base_cpu:.2f}" if base_cpu else "1.00" if endpoint == 'healthz' else "-"
row = [server, endpoint, conns, f"{rps:.0f}", f"{float(p50)/1000:.2f}", f"{float(p99)/1000:.2f}",
       errs, ratio, f"{cpu_us:.1f}", cpu_ratio]
open(path, 'a').write('\t'.join(row) + '\n')
print(f"{server:17} {endpoint:18} c={conns:>4}  {rps:>9.0f} req/s  p50 {float(p50)/1000:6.2f} ms"
      f"  p99 {float(p99)/1000:6.2f} ms  errors {errs:>4}  x{ratio} of /healthz"
      f"  cpu {cpu_us:6.1f} us/req x{cpu_ratio}")
EOF
}

# Both Redis replicas at once, half the connections each: the sum of their token rates.
replicas() {  # connections
  local half=$(( $1 / 2 > 0 ? $1 / 2 : 1 )) a b
  wrk -t1 -c"$half" -d"${secs}s" --timeout 5s -s "$work/token.lua" "$asr/oauth/token" >"$work/wrk-a" &
  a=$!
  wrk -t1 -c"$half" -d"${secs}s" --timeout 5s -s "$work/token.lua" "$asr_b/oauth/token" >"$work/wrk-b" &
  b=$!
  wait "$a" "$b"
  python3 - "$work/wrk-a" "$work/wrk-b" "$1" <<'EOF'
import sys
rows = [open(p).read().split("RESULT")[1].split() for p in sys.argv[1:3]]
rps = sum(int(r[0]) / (int(r[1]) / 1e6) for r in rows)
p99 = max(float(r[3]) for r in rows) / 1000
print(f"{'two replicas':17} {'token (sum)':18} c={sys.argv[3]:>4}  {rps:>9.0f} req/s  p99 {p99:6.2f} ms (the slower)")
EOF
}

if [ "$jwt" = 1 ]; then
  token_jwt=$(c -u "svc:$svc_secret" -d grant_type=client_credentials -d scope=read "$asj/oauth/token" | json '["access_token"]')
  get_script "$work/resource-jwt.lua" "Bearer $token_jwt"
  # Distinct tokens: first collect JWTs with wrk (one file per wrk thread), then send each
  # once, so every request at client1 is a signature check (until the tokens run out and
  # wrap around; the count of tokens is printed).
  cat >"$work/collect.lua" <<'EOF'
local counter = 0
setup = function(thread) counter = counter + 1; thread:set("id", counter) end
init = function(args) file = io.open(os.getenv("TOKENS_DIR") .. "/tokens-" .. id, "w") end
response = function(status, headers, body)
  local t = body:match('"access_token":"([^"]+)"')
  if t then file:write(t, "\n") end
end
done = function() end
EOF
  cat >>"$work/collect.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(b64 "svc:$svc_secret")"
EOF
  mkdir -p "$work/tokens"
  TOKENS_DIR=$work/tokens wrk -t2 -c32 -d"${secs}s" -s "$work/collect.lua" "$asj/oauth/token" >/dev/null
  cat "$work"/tokens/tokens-* >"$work/tokens.txt"
  echo "distinct-token run: $(wc -l <"$work/tokens.txt") tokens collected"
  cat "$work/report.lua" >"$work/resource-distinct.lua"
  cat >>"$work/resource-distinct.lua" <<EOF
local counter = 0
setup = function(thread) counter = counter + 1; thread:set("id", counter) end
init = function(args)
  tokens = {}
  for line in io.lines("$work/tokens.txt") do tokens[#tokens + 1] = line end
  -- Threads start at opposite ends so they do not send the same tokens.
  next_token = (id - 1) * math.floor(#tokens / 2)
end
request = function()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[next_token] })
end
EOF
fi

echo "wrk, ${secs}s per run, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for n in "${conns[@]}"; do
  run oauth-server healthz "$as/healthz" "$work/healthz.lua" "$n" "$pid_as"
  run oauth-server token "$as/oauth/token" "$work/token.lua" "$n" "$pid_as"
  run oauth-server introspect "$as/oauth/introspect" "$work/introspect.lua" "$n" "$pid_as"
  run client1 healthz "$c1/healthz" "$work/healthz.lua" "$n" "$pid_c1"
  run client1 resource "$c1/api/resource" "$work/resource.lua" "$n" "$pid_c1"
  if [ "$jwt" = 1 ]; then
    run oauth-server-jwt healthz "$asj/healthz" "$work/healthz.lua" "$n" "$pid_as_es256"
    run oauth-server-jwt token_es256 "$asj/oauth/token" "$work/token.lua" "$n" "$pid_as_es256"
    run oauth-server-eddsa healthz "$ase/healthz" "$work/healthz.lua" "$n" "$pid_as_eddsa"
    run oauth-server-eddsa token_eddsa "$ase/oauth/token" "$work/token.lua" "$n" "$pid_as_eddsa"
    run client1-jwt healthz "$c1j/healthz" "$work/healthz.lua" "$n" "$pid_c1j"
    run client1-jwt resource_repeated "$c1j/api/resource" "$work/resource-jwt.lua" "$n" "$pid_c1j"
    run client1-jwt resource_distinct "$c1j/api/resource" "$work/resource-distinct.lua" "$n" "$pid_c1j"
  fi
  if [ "$redis" = 1 ]; then
    run oauth-server-redis healthz "$asr/healthz" "$work/healthz.lua" "$n" "$pid_asr"
    redis_before=$(cpu_ticks "$pid_redis")
    run oauth-server-redis token "$asr/oauth/token" "$work/token.lua" "$n" "$pid_asr"
    run oauth-server-redis introspect "$asr/oauth/introspect" "$work/introspect-redis.lua" "$n" "$pid_asr"
    redis_ticks=$(( $(cpu_ticks "$pid_redis") - redis_before ))
    echo "redis-server CPU during those two runs: $(( redis_ticks * 1000 / tick_hz )) ms"
    replicas "$n"
  fi
done
if [ "$redis" = 1 ]; then
  used=$(redis-cli -p "$pr" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  keys=$(redis-cli -p "$pr" dbsize)
  echo "redis: $keys keys, used_memory $used bytes, $(( used / (keys > 0 ? keys : 1) )) bytes per key"
fi
python3 scripts/plot_load.py "$results" "$out/throughput.svg"
echo "results: $results, picture: $out/throughput.svg"
