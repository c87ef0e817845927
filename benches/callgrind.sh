#!/usr/bin/env bash
# Instructions per operation for every contender, counted by valgrind's callgrind: exact and
# repeatable whatever the machine's load, so it backs the diagnosis of a missed timing goal.
# Each contender runs twice (N and 2N operations, single thread); the difference / N cancels
# process start-up, setup and first-touch costs.
#
# Usage: benches/callgrind.sh [N] [contender...]     (default N=200000, all contenders;
#        the *_1000 snapshot contenders always use N=8: one op is a whole snapshot)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)"; exit 1; }

N=${1:-200000}
shift || true
cargo build --release -q -p aureon-benches --example instructions
BIN=${CARGO_TARGET_DIR:-target}/release/examples/instructions
if [[ $# -gt 0 ]]; then contenders=("$@"); else mapfile -t contenders < <("$BIN" list); fi

count() { # contender n -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| contender | instructions per op |"
echo "|---|---:|"
for c in "${contenders[@]}"; do
  n=$N
  # One op of a *_1000 contender is a whole snapshot (or merge) of 1000 histograms.
  [[ "$c" == *_1000 ]] && n=8
  a=$(count "$c" "$n"); b=$(count "$c" $((2 * n)))
  echo "| $c | $(python3 -c "print(f'{($b - $a) / $n:,.1f}')") |"
done
