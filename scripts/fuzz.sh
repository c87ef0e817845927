#!/usr/bin/env bash
# fuzz.sh - run every cargo-fuzz target of fuzz/ for a bounded time (libFuzzer, nightly).
#
# Installs cargo-fuzz from crates.io when missing (and the nightly toolchain through rustup),
# builds the targets once, then runs each for FUZZ_SECS seconds (default 60) starting from
# its committed seed corpus under fuzz/corpus/<target>/ (what a run discovers goes to a
# scratch copy under target/, so the committed corpus stays small). A crash, a leak, an
# allocation over the limits or a timeout fails the script; the reproducer is kept under
# fuzz/artifacts/<target>/ (rerun it with `cargo +nightly fuzz run <target> <file>`).
#
# usage: scripts/fuzz.sh [target...]     (default: every target; FUZZ_SECS=300 for a longer run)
# env:   FUZZ_SECS (60), FUZZ_RSS_MB (2048), FUZZ_MALLOC_MB (512), FUZZ_JOBS (1),
#        FUZZ_LOG (a file: each target's final libFuzzer figures are appended to it)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "fuzz.sh: $*" >&2; }

secs=${FUZZ_SECS:-60}
rss=${FUZZ_RSS_MB:-2048}
malloc=${FUZZ_MALLOC_MB:-512}
toolchain=nightly

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  say "installing the $toolchain toolchain (cargo-fuzz needs -Zsanitizer)"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo +"$toolchain" fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz from crates.io"
  cargo +stable install cargo-fuzz --locked
fi

mapfile -t all < <(cargo +"$toolchain" fuzz list --fuzz-dir fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

say "building the targets"
# (one build of every target: cargo-fuzz builds one or all, and they share their dependencies)
cargo +"$toolchain" fuzz build -O --fuzz-dir fuzz >&2

status=0
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work" "fuzz/artifacts/$t"
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  say "running $t for ${secs}s (rss ${rss} MB, malloc ${malloc} MB)"
  log="target/fuzz-$t.log"
  # -timeout: one input taking 10 s is a hang. The second corpus dir is read-only seeds.
  if cargo +"$toolchain" fuzz run -O --fuzz-dir fuzz "$t" "$work" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc" \
      -timeout=10 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" \
      >"$log" 2>&1; then
    say "$t: ok: $(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1)"
  else
    status=1
    say "$t: FAILED (log: $log; reproducer under fuzz/artifacts/$t/)"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20 >&2 || true
  fi
  if [ -n "${FUZZ_LOG:-}" ]; then
    { echo "== $t (${secs}s)"; grep -E '^#[0-9]+.*DONE|^stat::' "$log"; } >>"$FUZZ_LOG"
  fi
done
exit $status
