#!/usr/bin/env bash
# publish-check.sh - check that every published crate of the workspace packages and builds
# as crates.io would see it: `cargo publish --workspace --dry-run --locked` packages each
# crate (versions on its path dependencies, description, readme, license, keywords), then
# builds the packaged sources against each other through a local overlay, in dependency
# order, uploading nothing.
#
# Published: aureon-telemetry, aureon-node, aureon-push, aureon-prometheus, aureon-metrics,
# aureon-tracing, aureon-otlp and the CLI aureon-monitor. Not published (`publish = false`):
# benches/ (aureon-benches), loom-tests/, and fuzz/ (outside the workspace).
#
# usage: scripts/publish-check.sh [cargo publish options...]
set -euo pipefail
cd "$(dirname "$0")/.."
# The verification builds each packaged crate against the others through a throw-away
# registry in target/package/tmp-registry, which cargo unpacks under
# $CARGO_HOME/registry/src/-<hash>/ (the hash is of the workspace path). An unpacked copy
# left there by an earlier run at the same path is reused as it is, so a CI machine that
# keeps CARGO_HOME between runs verified against last week's aureon-push (the same failure
# as in 0xMiden/miden-vm#2530). Remove both before packaging; the `-*` directories hold only
# such overlays, never anything downloaded from crates.io.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rm -rf "${CARGO_TARGET_DIR:-target}/package"
shopt -s nullglob
for dir in "$cargo_home"/registry/src/-* "$cargo_home"/registry/cache/-*; do
    rm -rf "$dir"/aureon-*
done
shopt -u nullglob
echo "publish-check: cargo publish --workspace --dry-run --locked $*" >&2
# --allow-dirty: CI and developers run it on uncommitted trees too; what is checked is the
# packaging, not the git state.
cargo publish --workspace --dry-run --locked --allow-dirty "$@"
echo "publish-check: every published crate packages and builds" >&2
