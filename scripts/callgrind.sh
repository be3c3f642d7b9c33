#!/usr/bin/env bash
# Instructions per request of the authorization server, counted by valgrind's callgrind: a
# repeatable figure (the same binary, inputs and environment give the same count whatever else
# the machine is doing), for comparing two builds of a hot path.
#
#   scripts/callgrind.sh [REQUESTS] [ENDPOINT...]    (defaults: 2000, healthz token introspect)
#
# ENDPOINT is healthz, token, introspect, or token_jwt (a token from a server issuing ES256 JWTs)
# at the authorization server; or, at client1 (run under callgrind, with an authorization server
# beside it run normally), c1_healthz, resource (one opaque token, introspected once and then
# cached) or resource_jwt (one JWT, verified once and then cached; client1 --validation jwt).
# TARGET=x86_64-unknown-linux-musl counts the static musl build instead.
#
# Builds the `profiling` profile (the release code with symbols), runs the server under
# callgrind once per endpoint, sends REQUESTS requests over one keep-alive connection (python3),
# and prints the instructions per request (the whole process, start-up subtracted with a run of
# no requests), leaving target/callgrind/ENDPOINT.out for callgrind_annotate. Loopback only;
# every run is bounded; the servers it starts are stopped by their process ids.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-2000}
shift || true
endpoints=("$@")
[ ${#endpoints[@]} -gt 0 ] || endpoints=(healthz token introspect)
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian package valgrind)" >&2; exit 1; }
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ -n "${TARGET:-}" ]; then
  cargo build --profile profiling -q --bin oauth-server --bin client1 --target "$TARGET"
  bin=$target_dir/$TARGET/profiling
  out=target/callgrind/$TARGET
else
  cargo build --profile profiling -q --bin oauth-server --bin client1
  bin=$target_dir/profiling
  out=target/callgrind
fi
mkdir -p "$out"
work=$(mktemp -d)
pid=
as_pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$as_pid" ] && kill "$as_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
svc=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc --scope read | json '["client_secret"]')
# client1's JWTs must name its audience; the token endpoint's figures stay those of a client
# without one.
svc1=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc1 --scope read --audience https://client1.example | json '["client_secret"]')
rs=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id rs --scope read --introspect | json '["client_secret"]')
b64() { printf '%s' "$1" | base64 -w0; }
"$bin/oauth-server" gen-signing-key --keys "$work/keys" >/dev/null

# Runs the server under callgrind, sends $2 requests to endpoint $1, prints the instruction count.
measure() {
  local endpoint=$1 count=$2 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local format=() tls=(--cert "$work/certs/server.pem" --key "$work/certs/server.key")
  case $endpoint in token_jwt | resource_jwt) format=(--token-format jwt --signing-keys "$work/keys") ;; esac
  local url=https://localhost:$port as_url=https://localhost:$port
  case $endpoint in
    c1_healthz | resource | resource_jwt)
      # The authorization server runs normally; client1 is the process counted.
      local as_port
      as_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      as_url=https://localhost:$as_port
      "$bin/oauth-server" serve --listen "127.0.0.1:$as_port" "${tls[@]}" --clients "$work/clients.json" \
        --issuer "$as_url" --token-ttl 86400 "${format[@]}" 2>"$work/as-$endpoint-$count.log" &
      as_pid=$!
      for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "$as_url/healthz" >/dev/null && break; sleep 0.1; done
      local mode=(--client-id rs --cache-ttl 30)
      [ "$endpoint" = resource_jwt ] && mode=(--validation jwt --audience https://client1.example)
      OAUTH_CLIENT_SECRET=$rs valgrind --tool=callgrind --callgrind-out-file="$out/$endpoint-$count.out" \
        "$bin/client1" --listen "127.0.0.1:$port" "${tls[@]}" --auth-server "$as_url" \
        --ca "$work/certs/ca.pem" "${mode[@]}" 2>"$work/valgrind-$endpoint-$count.log" &
      pid=$!
      ;;
    *)
      valgrind --tool=callgrind --callgrind-out-file="$out/$endpoint-$count.out" \
        "$bin/oauth-server" serve --listen "127.0.0.1:$port" "${tls[@]}" --clients "$work/clients.json" \
        --token-ttl 86400 "${format[@]}" 2>"$work/valgrind-$endpoint-$count.log" &
      pid=$!
      ;;
  esac
  for _ in $(seq 1 300); do curl -sf -m 5 --cacert "$work/certs/ca.pem" "$url/healthz" >/dev/null && break; sleep 0.2; done
  local token
  local who=svc:$svc
  [ "$endpoint" = resource_jwt ] && who=svc1:$svc1
  token=$(curl -sf --cacert "$work/certs/ca.pem" -u "$who" -d grant_type=client_credentials "$as_url/oauth/token" | json '["access_token"]')
  if [ "$count" -gt 0 ]; then
    # One keep-alive connection, $count requests, each answer read whole (Python's http.client:
    # no load generator's own pacing to account for).
    local method=GET path=/healthz body= auth=
    case $endpoint in
      token | token_jwt) method=POST path=/oauth/token body="grant_type=client_credentials&scope=read" auth=$(b64 "svc:$svc") ;;
      introspect) method=POST path=/oauth/introspect body="token=$token" auth=$(b64 "rs:$rs") ;;
      resource | resource_jwt) path=/api/resource auth=$token ;;
    esac
    python3 - "$port" "$work/certs/ca.pem" "$count" "$method" "$path" "$body" "$auth" <<'PY'
import http.client, ssl, sys
port, ca, count, method, path, body, auth = sys.argv[1:]
conn = http.client.HTTPSConnection("localhost", int(port), context=ssl.create_default_context(cafile=ca), timeout=60)
headers = {"Authorization": "Bearer " + auth} if auth and method == "GET" else {}
if method == "POST":
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + auth}
for _ in range(int(count)):
    conn.request(method, path, body=body.encode() if method == "POST" else None, headers=headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"{path}: {answer.status}")
PY
  fi
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true; pid=
  if [ -n "$as_pid" ]; then kill "$as_pid"; wait "$as_pid" 2>/dev/null || true; as_pid=; fi
  grep -Eo 'Collected : [0-9]+' "$work/valgrind-$endpoint-$count.log" | grep -Eo '[0-9]+'
}

for endpoint in "${endpoints[@]}"; do
  base=$(measure "$endpoint" 0)
  total=$(measure "$endpoint" "$requests")
  echo "$endpoint: $(( (total - base) / requests )) instructions per request ($requests requests; profile $out/$endpoint-$requests.out)"
done
