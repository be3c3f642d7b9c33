#!/usr/bin/env bash
# Redis memory per live token: INFO used_memory before and after 1,000,000 tokens in a
# redis-server of its own (free port, no persistence).
#
#   scripts/redis_memory.sh [TOKENS]          (default 1000000)
#
# One token is issued through a real oauth-server --store redis://, so its key and record are
# exactly what the server writes; the rest are written by a Lua loop inside Redis with keys
# and values of the same shape (the prefix, `t`, 32 random bytes; a value of the same length;
# the same EXAT expiry), 100,000 per call, because issuing a million tokens over HTTPS would
# measure wrk for minutes and Redis's memory the same. Loopback only; stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-1000000}
. scripts/common.sh
read -r pr pa <<<"$(python3 -c "import socket; s=[socket.socket() for _ in range(2)]; [x.bind(('127.0.0.1',0)) for x in s]; print(*[x.getsockname()[1] for x in s])")"
redis-server --port "$pr" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$pr" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$bin/oauth-server" gen-certs --out "$work/certs" 2>/dev/null
secret=$("$bin/oauth-server" add-client --clients "$work/clients.json" --id svc --scope "read write" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
"$bin/oauth-server" serve --listen "127.0.0.1:$pa" --cert "$work/certs/server.pem" --key "$work/certs/server.key" \
  --clients "$work/clients.json" --issuer "https://localhost:$pa" --store "redis://127.0.0.1:$pr" 2>"$work/as.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -sf -m 2 --cacert "$work/certs/ca.pem" "https://localhost:$pa/healthz" >/dev/null && break; sleep 0.1; done
used() { redis-cli -p "$pr" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
before=$(used)
curl -sf --cacert "$work/certs/ca.pem" -u "svc:$secret" -d grant_type=client_credentials \
  "https://localhost:$pa/oauth/token" >/dev/null
key=$(redis-cli -p "$pr" --scan --pattern 'tollgate:t*' | head -n 1)
value_len=$(redis-cli -p "$pr" strlen "$key")
exat=$(( $(date +%s) + 3600 ))
batch=100000
# shellcheck disable=SC2016
# 28 random bytes and a 4-byte counter: unique whatever the script's random seed.
lua='local n, len, exat, start = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local value = string.rep("x", len)
for i = 1, n do
  local bytes = {}
  for b = 1, 28 do bytes[b] = string.char(math.random(0, 255)) end
  local c = start + i
  for b = 0, 3 do bytes[29 + b] = string.char(math.floor(c / 256 ^ (3 - b)) % 256) end
  redis.call("SET", "tollgate:t" .. table.concat(bytes), value, "EXAT", exat)
end
return n'
left=$(( total - 1 ))
while [ "$left" -gt 0 ]; do
  n=$(( left < batch ? left : batch ))
  redis-cli -p "$pr" eval "$lua" 0 "$n" "$value_len" "$exat" "$(( total - left ))" >/dev/null
  left=$(( left - n ))
done
after=$(used)
keys=$(redis-cli -p "$pr" dbsize)
echo "one record: ${value_len} bytes; key: the prefix (9 bytes), t, 32 bytes"
echo "used_memory before ${before}, after ${after} bytes, ${keys} keys: $(( (after - before) / total )) bytes per live token"
