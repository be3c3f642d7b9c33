# Shared set-up of the measurement scripts (sourced, not run): installs wrk if missing, builds
# the release binaries and sets $bin to the directory that holds them (cargo's own answer, so
# CARGO_TARGET_DIR is honoured).
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi
cargo build --release -q
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
