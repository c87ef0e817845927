#!/usr/bin/env bash
# The README's test command: installs what the tests need (Debian's prometheus/promtool,
# the pinned toolchain's components), then runs every test of the workspace, including the
# ones that drive a real Prometheus. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-prometheus.sh
bash scripts/ensure-rotel.sh >/dev/null  # the OTLP receiver of crates/aureon-otlp's tests
# The TUI test drives the demo's dashboard in a real pseudo-terminal through tmux.
if ! command -v tmux >/dev/null; then
  echo "test.sh: installing tmux (Debian) for the terminal-dashboard test" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends tmux >/dev/null
fi
# The slow-client test attacks the endpoint with the real tool (Debian's slowhttptest).
if ! command -v slowhttptest >/dev/null; then
  echo "test.sh: installing slowhttptest (Debian) for the slow-client test" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slowhttptest >/dev/null
fi
# rust-toolchain.toml pins the toolchain; rustup installs it and its components on first use.
rustup show active-toolchain >/dev/null

echo "== cargo test --workspace"
cargo test --workspace --locked "$@"
