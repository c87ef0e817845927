#!/usr/bin/env bash
# Runs every aureon-benches benchmark with modest criterion settings, then prints the ratio
# tables (benches/summarize.py) and keeps a copy of them under target/criterion/.
#
# Usage: benches/run.sh [criterion args...]     e.g. benches/run.sh record_2t   (a filter)
#        benches/run.sh --summary-only           (reprint the tables of the last run)
# Settings can be overridden: WARM_UP=2 MEASURE=5 benches/run.sh
# Only some bench targets: BENCHES="record counter" benches/run.sh   (default: all of them)
#
# The machine has 2 cores shared with other work: run this when `uptime` shows a low load,
# ideally twice, and compare. The tables flag 2-thread samples whose threads did not really
# run at the same time. AUREON_BENCH_CLOCK=cpu makes the worker benchmarks report each
# thread's CPU time instead of wall time (see aureon_benches::cpu_clock): the figures then
# leave out the time other processes held the cores.
set -euo pipefail
cd "$(dirname "$0")/.."

WARM_UP=${WARM_UP:-1}
MEASURE=${MEASURE:-3}
OUT_DIR=${CARGO_TARGET_DIR:-target}/criterion

if [[ "${1:-}" != "--summary-only" ]]; then
  # benches/flood.rs floods /metrics with Debian's wrk; install it when that bench runs (all
  # benches, or BENCHES naming flood). Without root, sudo or apt-get the flood contender is
  # skipped with a message, and the other benches run.
  if ! command -v wrk >/dev/null && [[ -z "${BENCHES:-}" || " ${BENCHES} " == *" flood "* ]]; then
    # sudo -n: never stop a bench run to ask for a password (it fails at once instead);
    # env after sudo, whose env_reset would drop DEBIAN_FRONTEND.
    SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
    if command -v apt-get >/dev/null && { [ ${#SUDO[@]} -eq 0 ] || command -v sudo >/dev/null; }; then
      echo "run.sh: installing wrk (Debian) for the scrape-flood bench" >&2
      "${SUDO[@]}" apt-get update -qq || true
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null ||
        echo "run.sh: could not install wrk; the flood contender will be skipped" >&2
    else
      echo "run.sh: wrk is not installed and cannot be (no root/sudo or apt-get); the flood contender will be skipped" >&2
    fi
  fi
  echo "load before: $(uptime)"
  targets=()
  for b in ${BENCHES:-}; do targets+=(--bench "$b"); done
  cargo bench -p aureon-benches "${targets[@]}" -- --warm-up-time "$WARM_UP" --measurement-time "$MEASURE" "$@"
  echo "load after: $(uptime)"
fi

mkdir -p "$OUT_DIR"
summary="$OUT_DIR/aureon-summary-$(date +%Y%m%d-%H%M%S).md"
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(uptime | sed 's/.*load/load/')"
  echo
  python3 benches/summarize.py "$OUT_DIR"
} | tee "$summary"
echo "(saved to $summary)"
