#!/usr/bin/env bash
# publish-check.sh - check that every published crate of the workspace packages and builds
# as crates.io would see it: `cargo publish --workspace --dry-run --locked` packages each
# crate (versions on its path dependencies, description, readme, license, keywords), then
# builds the packaged sources against each other through a local overlay, in dependency
# order, uploading nothing.
#
# Published: aureon-telemetry, aureon-node, aureon-prometheus, aureon-metrics,
# aureon-tracing, aureon-otlp and the CLI aureon-monitor. Not published (`publish = false`):
# benches/ (aureon-benches), loom-tests/, and fuzz/ (outside the workspace).
#
# usage: scripts/publish-check.sh [cargo publish options...]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "publish-check: cargo publish --workspace --dry-run --locked $*" >&2
# --allow-dirty: CI and developers run it on uncommitted trees too; what is checked is the
# packaging, not the git state.
cargo publish --workspace --dry-run --locked --allow-dirty "$@"
echo "publish-check: every published crate packages and builds" >&2
