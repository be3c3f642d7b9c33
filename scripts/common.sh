# Shared set-up of the measurement scripts (sourced, not run): installs wrk if missing, builds
# the release binaries (for $TARGET when set, e.g. the static musl build; none when $BIN names
# a directory of binaries) and sets $bin to the directory that holds them (cargo's own answer, so CARGO_TARGET_DIR is honoured); makes $work, a scratch directory, and $pids, the processes the
# script starts (append to it), both cleaned up when the script exits; json (a member of the
# JSON on stdin) and free_ports N (N free loopback ports).
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# TARGET=x86_64-unknown-linux-musl measures the static musl build instead; BIN=DIR measures
# the binaries already in DIR (a copy of another build, for interleaved comparisons).
if [ -n "${BIN:-}" ]; then
  bin=$BIN
elif [ -n "${TARGET:-}" ]; then
  cargo build --release -q --bins --target "$TARGET"
  bin=$target_dir/$TARGET/release
else
  cargo build --release -q
  bin=$target_dir/release
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
free_ports() { python3 -c "import socket; s=[socket.socket() for _ in range($1)]; [x.bind(('127.0.0.1',0)) for x in s]; print(*[x.getsockname()[1] for x in s])"; }
