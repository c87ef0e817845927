#!/usr/bin/env python3
"""Prints the ratio tables of the aureon-benches criterion run, in markdown.

Reads `<criterion dir>/<group>/<function>/new/estimates.json` (criterion's own output: the
median of the per-iteration times of the last run), the live-heap report the snapshot bench
writes (`aureon-heap.json`) and the scheduling reports of the worker threads
(`<group>/<function>/aureon-workers.json`). Ratios are what to read: the machine is shared
and noisy, and every contender of a table was measured in the same run.

Usage: python3 benches/summarize.py [CRITERION_DIR]
(default: $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else <repo>/target/criterion)
"""

import json
import os
import sys
from pathlib import Path

# A 2-thread sample is trusted only if both threads really ran at once: at least this much
# of their timed loops overlapped, and they waited for a CPU at most this much of the time.
MIN_OVERLAP = 0.90
MAX_RUNQUEUE_WAIT = 0.05


def criterion_dir():
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    if os.environ.get("CRITERION_HOME"):
        return Path(os.environ["CRITERION_HOME"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


ROOT = criterion_dir()
MISSING = []


def median_ns(group, name):
    """Median time per iteration (ns) of group/name in the last run, or None."""
    path = ROOT / group / name / "new" / "estimates.json"
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        MISSING.append(f"{group}/{name}")
        return None


def sched(group, name):
    try:
        with open(ROOT / group / name / "aureon-workers.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ns(x):
    return "n/a" if x is None else (f"{x:.2f}" if x < 100 else f"{x:,.0f}")


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}x"


def fmt_bytes(b):
    return "n/a" if b is None else f"{b / 1024 / 1024:.1f} MiB"


def sched_note(group, name):
    """Overlap / runqueue-wait of a multi-thread benchmark, flagged when disturbed."""
    s = sched(group, name)
    if s is None:
        return "n/a", False
    overlap, wait = s.get("overlap_fraction"), s.get("runqueue_wait_fraction")
    disturbed = (overlap is not None and overlap < MIN_OVERLAP) or (
        wait is not None and wait > MAX_RUNQUEUE_WAIT
    )
    wait_s = "n/a" if wait is None else f"{wait * 100:.1f}%"
    text = f"{overlap * 100:.0f}% / {wait_s}" + (" DISTURBED" if disturbed else "")
    return text, disturbed


RECORD = [
    ("aureon", "aureon-telemetry `Histogram::record`"),
    ("aureon_local", "aureon-telemetry `LocalHistogram::record` (thread-bound)"),
    ("hdrhistogram", "hdrhistogram, thread-owned"),
    ("mutex_hdrhistogram", "`Mutex<hdrhistogram::Histogram>`"),
    ("hdrhistogram_sync", "hdrhistogram `sync::Recorder`"),
    ("metrics_util_atomic_bucket", "metrics-util `AtomicBucket<f64>`"),
    ("prometheus_histogram", "prometheus `Histogram`"),
    ("atomic_array_floor", "bare `[AtomicU64]` floor"),
]

COUNTER = [
    ("aureon", "aureon-telemetry `Counter::increment`"),
    ("aureon_local", "aureon-telemetry `LocalCounter::increment` (thread-bound)"),
    ("shared_atomic_fetch_add", "shared `AtomicU64::fetch_add`"),
    ("prometheus_int_counter", "prometheus `IntCounter::inc`"),
    ("thread_owned_atomic_floor", "thread-owned `AtomicU64` floor"),
]

EXTRAS = [
    ("aureon_record", "aureon `record` (reference)"),
    ("aureon_record_with_exemplar", "aureon `record_with_exemplar`"),
    ("aureon_record_corrected", "aureon `record_corrected` (interval 1 ms)"),
    ("hdrhistogram_record_correct", "hdrhistogram `record_correct` (thread-owned)"),
    ("aureon_timer", "aureon `start_timer` + drop"),
    ("std_instant_hdrhistogram", "`Instant::now` + `elapsed` + hdrhistogram record"),
]


def per_thread_table(title, prefix, rows, lines, disturbed_rows):
    g1, g2 = f"{prefix}_1t", f"{prefix}_2t"
    a1, a2 = median_ns(g1, "aureon"), median_ns(g2, "aureon")
    lines.append(f"### {title}")
    lines.append("")
    lines.append(
        "| contender | ns/op, 1 thread | ns/op per thread, 2 threads | 2t / 1t "
        "| ÷ aureon, 1 thread | ÷ aureon, 2 threads | 2t overlap / CPU wait |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    for key, label in rows:
        t1, t2 = median_ns(g1, key), median_ns(g2, key)
        note, disturbed = sched_note(g2, key)
        if disturbed:
            disturbed_rows.append(f"{g2}/{key}")
        if sched_note(g1, key)[1]:
            disturbed_rows.append(f"{g1}/{key}")
        lines.append(
            f"| {label} | {fmt_ns(t1)} | {fmt_ns(t2)} | {fmt_x(ratio(t2, t1))} "
            f"| {fmt_x(ratio(t1, a1))} | {fmt_x(ratio(t2, a2))} | {note} |"
        )
    lines.append("")


def main():
    lines, goals, disturbed = [], [], []

    per_thread_table("Record: time per record", "record", RECORD, lines, disturbed)
    per_thread_table("Counter: time per increment", "counter", COUNTER, lines, disturbed)

    lines.append("### Other recording paths (1 thread)")
    lines.append("")
    lines.append("| path | ns/op | ÷ aureon `record` |")
    lines.append("|---|---:|---:|")
    base = median_ns("record_extras", "aureon_record")
    for key, label in EXTRAS:
        t = median_ns("record_extras", key)
        lines.append(f"| {label} | {fmt_ns(t)} | {fmt_x(ratio(t, base))} |")
    lines.append("")

    heap = None
    try:
        with open(ROOT / "aureon-heap.json") as f:
            heap = json.load(f)
    except (OSError, ValueError):
        MISSING.append("aureon-heap.json")
    snap = median_ns("snapshot_1000", "aureon_registry_snapshot")
    merge = median_ns("snapshot_1000", "hdrhistogram_dense_merge")
    convert = median_ns("snapshot_1000", "aureon_snapshot_to_hdrhistogram")
    a_heap = heap and heap.get("aureon_live_heap_bytes")
    d_heap = heap and heap.get("dense_live_heap_bytes")
    shape = (
        f"{heap['metrics']} histograms, {heap['threads']} threads, "
        f"{heap['values_per_thread_per_metric']} values per thread per histogram"
        if heap
        else "1000 histograms, 2 threads"
    )
    lines.append(f"### Snapshot and live heap ({shape})")
    lines.append("")
    notes = {}
    for key in ("aureon_registry_snapshot", "hdrhistogram_dense_merge", "aureon_snapshot_to_hdrhistogram"):
        s = sched("snapshot_1000", key)
        wait = s and s.get("runqueue_wait_fraction")
        notes[key] = "n/a" if wait is None else f"{wait * 100:.1f}%"
        if wait is not None and wait > MAX_RUNQUEUE_WAIT:
            notes[key] += " DISTURBED"
            disturbed.append(f"snapshot_1000/{key}")
    lines.append("| measure | aureon-telemetry | dense per-thread hdrhistograms | ratio | CPU wait |")
    lines.append("|---|---:|---:|---:|---|")
    lines.append(
        f"| full snapshot vs `reset` + `add` merge, ms | {fmt_ns(snap and snap / 1e6)} "
        f"| {fmt_ns(merge and merge / 1e6)} | {fmt_x(ratio(snap, merge))} "
        f"| {notes['aureon_registry_snapshot']} / {notes['hdrhistogram_dense_merge']} |"
    )
    lines.append(
        f"| live heap after recording | {fmt_bytes(a_heap)} | {fmt_bytes(d_heap)} "
        f"| {fmt_x(ratio(a_heap, d_heap))} | |"
    )
    lines.append(
        f"| snapshot + `to_hdrhistogram` of every metric, ms (no goal) "
        f"| {fmt_ns(convert and convert / 1e6)} | | {fmt_x(ratio(convert, merge))} "
        f"| {notes['aureon_snapshot_to_hdrhistogram']} |"
    )
    lines.append("")

    # The snapshotter's tick with its history (benches/history.rs): information, no goal.
    merge_only = median_ns("history_tick_1000", "registry_snapshot")
    lines.append("### Snapshotter tick with the five-minute history (1000 busy histograms)")
    lines.append("")
    lines.append("| contender | ms per tick | ÷ the merge alone |")
    lines.append("|---|---:|---:|")
    for key, label in (
        ("registry_snapshot", "the merge alone (`Registry::snapshot`)"),
        ("snapshotter_tick", "`Snapshotter::tick` (merge, interval, thinning)"),
        ("full_snapshot_ring", "ring of whole snapshots (the history before intervals)"),
    ):
        t = median_ns("history_tick_1000", key)
        lines.append(f"| {label} | {fmt_ns(t and t / 1e6)} | {fmt_x(ratio(t, merge_only))} |")
    lines.append("")

    r1 = lambda k: median_ns("record_1t", k)  # noqa: E731
    r2 = lambda k: median_ns("record_2t", k)  # noqa: E731
    # The record goals, for the shared handle and for the thread-bound recorder.
    for key, path in (("aureon", "`record`"), ("aureon_local", "local `record`")):
        goals.append((f"{path}, 1 thread ÷ thread-owned hdrhistogram", "<= 1.00",
                      ratio(r1(key), r1("hdrhistogram")), lambda x: x <= 1.0))
        goals.append((f"{path}, per-thread cost, 2 threads ÷ 1 thread", "<= 1.25",
                      ratio(r2(key), r1(key)), lambda x: x <= 1.25))
        goals.append((f"{path}, 2-thread throughput ÷ `Mutex<Histogram>`'s", ">= 10",
                      ratio(r2("mutex_hdrhistogram"), r2(key)), lambda x: x >= 10.0))
        goals.append((f"{path} ÷ bare atomic array, 1 thread", "<= 2.50",
                      ratio(r1(key), r1("atomic_array_floor")), lambda x: x <= 2.5))
        goals.append((f"{path} ÷ bare atomic array, 2 threads", "<= 2.50",
                      ratio(r2(key), r2("atomic_array_floor")), lambda x: x <= 2.5))
    goals.append(("live heap ÷ dense per-thread hdrhistograms", "<= 0.25",
                  ratio(a_heap, d_heap), lambda x: x <= 0.25))
    goals.append(("full snapshot ÷ dense `add` merge", "<= 0.25",
                  ratio(snap, merge), lambda x: x <= 0.25))

    out = ["### Goals (ratios from this run)", "", "| goal | target | measured | |", "|---|---|---:|---|"]
    for name, target, value, ok in goals:
        status = "n/a" if value is None else ("met" if ok(value) else "**MISSED**")
        out.append(f"| {name} | {target} | {fmt_x(value)} | {status} |")
    out.append("")
    lines = out + lines

    if disturbed:
        lines.append(
            f"Disturbed benchmarks (2 threads overlapped < {MIN_OVERLAP:.0%} of the time, or a "
            f"timed thread waited for a CPU > {MAX_RUNQUEUE_WAIT:.0%} of it): {', '.join(disturbed)}. "
            "Other processes shared the 2 cores; rerun those when the machine is idle."
        )
        lines.append("")
    if MISSING:
        lines.append(f"Missing results (not run?): {', '.join(sorted(set(MISSING)))}")
        lines.append("")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
