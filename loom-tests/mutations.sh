#!/usr/bin/env bash
# Mutation check for the loom models: breaks one ordering or synchronisation at a time in a
# throw-away copy of the workspace and shows which model catches it.
#
#   loom-tests/mutations.sh            # every mutation (about 20 s of build + model each)
#   loom-tests/mutations.sh M3 M8      # only these
#
# The checkout itself is never modified: the workspace is copied to $MUT_DIR (default
# /tmp/aureon-mutations, target dir inside it). A mutation counts as CAUGHT when its model
# fails; "NOT APPLIED" means the source no longer matches the pattern (update this script).
# Exit status is non-zero if any mutation survives or does not apply.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MUT_DIR="${MUT_DIR:-/tmp/aureon-mutations}"
export CARGO_TARGET_DIR="$MUT_DIR/target-loom"
export RUSTFLAGS="--cfg aureon_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"

# id @ file @ perl substitution @ model @ what it breaks. A model written `unit:<path>` is a unit
# test of aureon-telemetry, run without loom (for what loom cannot order: thread-local
# destructors); `itest:<file>:<name>` one of its integration tests (tests/<file>.rs), for what
# loom cannot see (std::sync::Arc's own fences: the last handle's drop on another thread). An
# itest that hunts a race catches its mutation with high probability, not certainty.
MUTATIONS=(
  "M1@crates/aureon-telemetry/src/shard.rs@s/slot\.store\(page, Ordering::Release\)/slot.store(page, Ordering::Relaxed)/@page_allocation_races_reader@page pointer published Relaxed instead of Release"
  "M2@crates/aureon-telemetry/src/shard.rs@s/cell\.store\(new, Ordering::Release\)/cell.store(new, Ordering::Relaxed)/g@shard_record_while_snapshot@bin count stored Relaxed instead of Release"
  "M3@crates/aureon-telemetry/src/histogram.rs@REORDER@shard_record_while_snapshot@snapshot reads min/max/sum before the bins"
  "M4@crates/aureon-telemetry/src/wide_sum.rs@s/\n\s*self\.hi_seq\.store\(seq \+ 1, Ordering::Relaxed\);//@wide_sum_carry_is_never_torn@odd \"carry in progress\" store removed"
  "M5@crates/aureon-telemetry/src/wide_sum.rs@s/if h1 == h2 \{/if true {/@wide_sum_carry_is_never_torn@reader does not re-check the high word"
  "M6@crates/aureon-telemetry/src/per_thread.rs@s/match self\.buckets\[b\]\.compare_exchange\(\s*ptr::null_mut\(\),\s*fresh,\s*Ordering::AcqRel,\s*Ordering::Acquire,\s*\) \{/match { self.buckets[b].store(fresh, Ordering::Release); Ok::<_, *mut AtomicPtr<T>>(fresh) } {/s@per_thread_first_touch_races_install_and_walk@bucket installed by plain store instead of CAS"
  "M7@crates/aureon-telemetry/src/per_thread.rs@s/entry\.store\(p, Ordering::Release\)/entry.store(p, Ordering::Relaxed)/@per_thread_first_touch_races_install_and_walk@per-thread entry published Relaxed instead of Release"
  "M8@crates/aureon-telemetry/src/thread_slot.rs@s/match alloc\.free\.pop\(\) \{/match alloc.free.peek().copied() {/@thread_slot_handover_keeps_counts_exact@a freed slot handed out without being removed (two live owners)"
  "M9@crates/aureon-telemetry/src/thread_slot.rs@s/lock\(&ALLOCATOR\)\.free\.push\(Reverse\(self\.id\)\);/let _ = self.id;/@thread_slot_handover_keeps_counts_exact@exiting thread never gives its slot back"
  "M10@crates/aureon-telemetry/src/exemplar.rs@s/\n\s*slot\.seq\.store\(seq \+ 1, Ordering::Relaxed\);//@exemplar_seqlock_never_tears@exemplar seqlock: odd store before the data removed"
  "M11@crates/aureon-telemetry/src/snapshotter.rs@s/let _serial = lock\(&self\.tick_lock\);//@snapshotter_publishes_complete_histories@ticks no longer serialised by tick_lock"
  "M12@crates/aureon-telemetry/src/snapshotter.rs@s/\*lock\(&self\.stop\) = true;\n(\s*)self\.wake\.notify_all\(\);/self.wake.notify_all();\n\$1*lock(&self.stop) = true;/@snapshotter_shutdown_is_prompt@shutdown notifies before setting the flag"
  "M13@crates/aureon-telemetry/src/sync.rs@s/let v = make\(\)\?;\n(\s*)map\.insert\(key, v\.clone\(\)\);/drop(map);\n\$1let v = make()?;\n\$1super::lock(self.shard(\&key)).insert(key, v.clone());/@racing_registrations_respect_label_cap_and_kind@name family get-or-create split into lookup, then insert (two kinds for one name)"
  "M14@crates/aureon-telemetry/src/gauge.rs@s/let _ = self\s*\.core\s*\.bits\s*\.fetch_update\(Ordering::Relaxed, Ordering::Relaxed, \|b\| \{\s*Some\(\(f64::from_bits\(b\) \+ delta\)\.to_bits\(\)\)\s*\}\);/let b = self.core.bits.load(Ordering::Relaxed);\n        self.core.bits.store((f64::from_bits(b) + delta).to_bits(), Ordering::Relaxed);/s@gauge_adds_are_atomic@gauge add as load + store instead of a CAS loop"
  "M15@crates/aureon-node/src/production_monitoring/throughput_tracker/ring.rs@s/\n\s*slot\.epoch\.store\(ROLLING, Ordering::Relaxed\);//@throughput_window_roll_over_never_mixes_buckets@throughput roll-over: ROLLING marker store removed"
  "M16@crates/aureon-node/src/production_monitoring/throughput_tracker/ring.rs@s/slot\.count\.store\(n, Ordering::Release\)/slot.count.store(n, Ordering::Relaxed)/@throughput_window_roll_over_never_mixes_buckets@throughput roll-over: new count stored Relaxed instead of Release"
  "M17@crates/aureon-node/src/production_monitoring/throughput_tracker/threads.rs@s/\.find\(\|r\| !r\.owned\.load\(Ordering::Relaxed\)\)/.find(|r| !Arc::ptr_eq(r, \&self.orphan))/@throughput_ring_handover_loses_nothing@throughput: a ring still owned by a live thread is adopted"
  "M18@crates/aureon-node/src/production_monitoring/throughput_tracker/threads.rs@s/self\.ring\.owned\.store\(false, Ordering::Relaxed\);//@throughput_ring_handover_loses_nothing@throughput: an exiting thread never releases its ring"
  "M19@crates/aureon-telemetry/src/shard.rs@s/(WIDE_TAG\)\.cast::<NarrowPage>\(\),\s*)Ordering::Release/\$1Ordering::Relaxed/s@page_widening_keeps_counts@widened page published Relaxed instead of Release"
  "M20@crates/aureon-telemetry/src/shard.rs@s/(if i == bin \{\s*)count\.saturating_add\(n\)/\${1}n/s@page_widening_keeps_counts@widening drops the overflowing bin's old count"
  "M21@crates/aureon-telemetry/src/shard.rs@s/counts\[bin\] \}, n, Ordering::Release\)/counts[bin] }, n, Ordering::Relaxed)/g@page_widening_keeps_counts@wide page's bin count stored Relaxed instead of Release"
  "M22@crates/aureon-telemetry/src/thread_slot.rs@s/\n(\s*)drop\(lease\);/\n\$1lock(\&ALLOCATOR).free.push(Reverse(lease.id()));\n\$1std::mem::forget(lease);/@unit:local::tests::a_local_recorder_keeps_its_slot_after_the_threads_guard_is_gone@exiting thread gives its slot back while a local recorder still holds it"
  "M23@crates/aureon-telemetry/src/expiry.rs@s/metric: metric\.clone\(\),\n(\s*)fingerprint,\n/metric: metric.clone(),\n\$1fingerprint: crate::entry::fingerprint(\&metric.read(false)),\n/@record_racing_expiry_reaches_a_later_snapshot@expiry: dormant fingerprint read at apply time instead of the snapshot's value"
  "M24@crates/aureon-telemetry/src/expiry.rs@s/if unchanged_without_handles\(metric, fingerprint\) \{/if true {/g@itest:expiry:records_on_handles_dropped_during_a_pass_reach_a_snapshot_before_the_series_is_freed@expiry: a series without handles freed without re-reading its value (a record just before the last drop is lost)"
  "M25@crates/aureon-telemetry/src/sync.rs@s/let mut map = super::lock\(self\.shard\(&key\)\);\n(\s*)let \(change, r\) = f\(map\.get_mut\(&key\)\);/let mut snapshot = super::lock(self.shard(\&key)).get(\&key).cloned();\n\$1let (change, r) = f(snapshot.as_mut());\n\$1let mut map = super::lock(self.shard(\&key));/@racing_get_or_create_yields_one_metric@registry update split into a read, then a locked write"
  "M26@crates/aureon-telemetry/src/per_thread.rs@s/for entry in &self\.inline \{\n(\s*)let p = entry\.load\(Ordering::Acquire\);/for entry in \&self.inline {\n\$1let p = entry.load(Ordering::Relaxed);/@shard_record_while_snapshot@per-thread walk loads the inline entries Relaxed instead of Acquire (only the inline path)"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# One copy of the workspace sources (no target/, no .git), made once; each mutation starts from a clean
# copy: every mutation edits one file and puts it back afterwards.
rm -rf "$MUT_DIR/ws"
mkdir -p "$MUT_DIR/ws"
tar -C "$ROOT" --exclude=./target --exclude='./target-*' --exclude=./.git -cf - . | tar -C "$MUT_DIR/ws" -xf -
survived=0
printf '%-4s %-12s %-46s %s\n' id result model mutation
for m in "${MUTATIONS[@]}"; do
  IFS='@' read -r id file subst model what <<<"$m"
  selected "$id" || continue
  src="$MUT_DIR/ws/$file"
  before="$(md5sum <"$src")"
  if [ "$subst" = REORDER ]; then
    # M3: move the totals loop in front of the page walk.
    perl -0pi -e 's/(\n(\s*)\/\/ Which pages any shard has.*?\n)(\s*\/\/ Totals after bins[^\n]*\n.*?\n)(\s*exemplar::keep_slowest)/\n$3$1$4/s' "$src"
  else
    perl -0pi -e "$subst" "$src"
  fi
  if [ "$before" = "$(md5sum <"$src")" ]; then
    printf '%-4s %-12s %-46s %s\n' "$id" "NOT APPLIED" "$model" "$what"
    cp "$ROOT/$file" "$src"
    survived=1
    continue
  fi
  log="$MUT_DIR/$id.log"
  if [[ "$model" == itest:* ]]; then
    spec="${model#itest:}"
    (cd "$MUT_DIR/ws" && RUSTFLAGS="" CARGO_TARGET_DIR="$MUT_DIR/target-unit" \
      cargo test -p aureon-telemetry --test "${spec%%:*}" -- --exact "${spec#*:}") >"$log" 2>&1
  elif [[ "$model" == unit:* ]]; then
    (cd "$MUT_DIR/ws" && RUSTFLAGS="" CARGO_TARGET_DIR="$MUT_DIR/target-unit" \
      cargo test -p aureon-telemetry --lib -- --exact "${model#unit:}") >"$log" 2>&1
  else
    (cd "$MUT_DIR/ws" && cargo test -p loom-tests --release --lib -- --exact "$(cd "$ROOT/loom-tests/src" && grep -l "fn $model()" ./*.rs | sed 's|^\./||; s|\.rs$||')::$model" --test-threads=1) >"$log" 2>&1
  fi
  rc=$?
  if grep -q "error\[E\|error: could not compile" "$log"; then
    result="BUILD ERROR"
    survived=1
  elif [ $rc -ne 0 ]; then
    result="CAUGHT"
  else
    result="SURVIVED"
    survived=1
  fi
  cp "$ROOT/$file" "$src" # back to the original for the next mutation
  printf '%-4s %-12s %-46s %s\n' "$id" "$result" "$model" "$what"
  if [ "$result" = CAUGHT ]; then
    # The first line of the failure, for the record.
    grep -m1 -E "panicked at|Causality violation|deadlock|assertion" "$log" | sed 's/^/       /' | cut -c1-160
    grep -m1 -A2 "panicked at" "$log" | tail -n +2 | head -2 | sed 's/^/       /' | cut -c1-160
  fi
done
exit $survived
