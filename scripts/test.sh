#!/usr/bin/env bash
# The README's test command: installs what the tests need (Debian's prometheus/promtool,
# the pinned toolchain's components), then runs every test of the workspace, including the
# ones that drive a real Prometheus. Safe to run again; installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-prometheus.sh
# rust-toolchain.toml pins the toolchain; rustup installs it and its components on first use.
rustup show active-toolchain >/dev/null

echo "== cargo test --workspace"
cargo test --workspace --locked "$@"
