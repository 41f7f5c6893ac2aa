#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Turns the raw results of tools/compare into results.md and the chart.

    bench/report.py RESULTS_DIR

Reads from RESULTS_DIR: loop_bench.json, bridge_bench.json and
tcp_bench.json (Google Benchmark), tokio.json and python.json (the peers, same shape), memory.json
(bench/memory_report) and machine.txt (tools/compare). Writes results.md,
chart.dat and chart.gp (gnuplot, run in RESULTS_DIR, renders chart.svg from
them), and summary.md (the summary table alone, for the README).

Every figure is the median of the repetitions; the spread is min-max over the
repetitions and the coefficient of variation. Signal latencies are the
percentiles of one long run of samples.
"""

import json
import math
import os
import re
import sys

# GB's name parts that are run parameters, not part of the workload/side.
PARAM = re.compile(r"^(min_time:|repeats:|iterations:|real_time$|manual_time$|threads:|\d+$)")

# Workloads in display order: (key, title, kind, operation described).
# kind: rate (items/s, higher is better), time (ns per op, lower is better),
# latency (p50/p99/p99.9 of samples), cpu (% of a core).
WORKLOADS = [
    ("queue/across", "Thread -> task queue, across cores", "rate", "items/s"),
    ("queue/same_core", "Thread -> task queue, same core", "rate", "items/s"),
    ("to_thread/across", "Task -> thread queue, across cores", "rate", "items/s"),
    ("to_thread/same_core", "Task -> thread queue, same core", "rate", "items/s"),
    ("many/producers:1", "Many-producer queue -> task, 1 producer thread", "rate", "items/s"),
    ("many/producers:2", "Many-producer queue -> task, 2 producer threads", "rate", "items/s"),
    ("many/producers:4", "Many-producer queue -> task, 4 producer threads", "rate", "items/s"),
    ("many/signal_handler", "Many-producer queue -> task, a signal handler producing", "rate", "items/s"),
    ("round_trip/across", "Wake round trip (thread -> idle loop -> thread)", "time", "per round trip"),
    ("round_trip/contended", "Wake round trip, a CPU-bound thread sharing the loop's CPU", "time", "per round trip"),
    ("signal_wake/periodic", "Signal handler -> task (POSIX timer signal)", "latency", "latency"),
    ("signal_wake/pthread_kill", "Signal handler -> task (pthread_kill from the other core)", "latency", "latency"),
    ("fan_out/waiters:1", "Event fan-out from a thread, 1 waiter", "time", "per round"),
    ("fan_out/waiters:10", "Event fan-out from a thread, 10 waiters", "time", "per round"),
    ("fan_out/waiters:1000", "Event fan-out from a thread, 1000 waiters", "time", "per round"),
    ("offload/across", "Blocking call offload round trip", "time", "per call"),
    ("spawn_complete/batch:1", "Task spawn + complete, one at a time", "rate", "tasks/s"),
    ("spawn_complete/batch:1000", "Task spawn + complete, batches of 1000", "rate", "tasks/s"),
    ("yield/tasks:1", "Yield (sleep(0)), 1 task", "rate", "yields/s"),
    ("yield/tasks:100", "Yield (sleep(0)), 100 tasks", "rate", "yields/s"),
    ("timer_1us/tasks:100", "Timer (1 us sleeps), 100 tasks", "rate", "expiries/s"),
    ("timer_1us/tasks:1000", "Timer (1 us sleeps), 1000 tasks", "rate", "expiries/s"),
    ("event_set_wake", "Event set -> wake between two tasks (loop-only)", "rate", "hand-offs/s"),
    ("tcp_echo/round_trip", "TCP echo round trip on loopback (64 bytes, one client, ping-pong)", "time",
     "per round trip"),
]

# What each side is, for the tables.
SIDES = {
    "asynclink": "asynclink (default options)",
    "asynclink_try_put": "asynclink, producer spins on try_put",
    "asynclink_next": "asynclink, the task iterates with next()",
    "asynclink_no_spin": "asynclink, spin_before_sleep = 0 (sleeps at once)",
    "asynclink_unblock": "asynclink unblock() (shared pool, unpinned)",
    "asynclink_pinned": "asynclink, worker pinned to the other core",
    "asio_thread_pool_pinned": "Boost.Asio thread_pool + co_spawn, worker pinned to the other core",
    "asio": "Boost.Asio",
    "asio_channel": "Boost.Asio concurrent_channel / channel",
    "asio_timer": "Boost.Asio steady_timer as event",
    "asio_post": "Boost.Asio post",
    "asio_thread_pool": "Boost.Asio thread_pool + co_spawn",
    "moodycamel": "moodycamel::ReaderWriterQueue (many/: ConcurrentQueue), busy-poll (raw ceiling)",
    "eventfd_epoll": "raw eventfd + epoll ping-pong (floor)",
    "raw_epoll": "raw eventfd + epoll, no loop (floor)",
    "tokio": "Tokio (current_thread)",
    "tokio_mpsc": "Tokio mpsc, blocking_send / blocking_recv",
    "tokio_notify": "Tokio Notify + mpsc blocking_recv",
    "tokio_watch": "Tokio watch, sent from the thread",
    "tokio_spawn_watch": "Tokio watch, sent by a task the thread spawns",
    "tokio_spawn_blocking": "Tokio spawn_blocking",
    "tokio_signal": "Tokio signal::unix",
    "python_janus": "CPython asyncio + janus",
    "python_call_soon_threadsafe": "CPython asyncio call_soon_threadsafe",
    "python_to_thread": "CPython asyncio.to_thread",
    "python_add_signal_handler": "CPython loop.add_signal_handler",
    "python_asyncio": "CPython asyncio",
}

FAMILIES = [("asynclink", "asynclink"), ("asio", "Boost.Asio"), ("tokio", "Tokio"),
            ("python", "CPython asyncio"), ("raw", "raw floor/ceiling")]


def family(side):
    if side.startswith("asynclink"):
        return "asynclink"
    if side.startswith("asio"):
        return "asio"
    if side.startswith("tokio"):
        return "tokio"
    if side.startswith("python"):
        return "python"
    return "raw"


def split_name(run_name):
    """(workload, side): the side is the last plain part; "name:value" parts
    (arguments) belong to the workload, wherever Google Benchmark put them."""
    parts = [p for p in run_name.split("/") if not PARAM.match(p)]
    side_at = max(i for i, p in enumerate(parts) if ":" not in p or i == 0)
    return "/".join(parts[:side_at] + parts[side_at + 1:]), parts[side_at]


def to_ns(value, unit):
    return value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def load(results):
    """{(workload, side): {"median": {...}, "min": ..., "max": ..., "cv": ..., "iteration": {...}}}"""
    data = {}
    for fname in ("loop_bench.json", "bridge_bench.json", "tcp_bench.json", "tokio.json", "python.json"):
        path = os.path.join(results, fname)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            doc = json.load(f)
        for b in doc.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            workload, side = split_name(b["run_name"])
            slot = data.setdefault((workload, side), {})
            if b.get("run_type") == "aggregate":
                slot[b["aggregate_name"]] = b
            else:
                slot["iteration"] = b
    return data


def value(entry, kind):
    """The figure of one aggregate entry: items/s for rate, ns for time."""
    if kind == "rate":
        return entry.get("items_per_second", 0.0)
    return to_ns(entry["real_time"], entry.get("time_unit", "ns"))


def fmt_rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.3g} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k/s"
    return f"{x:.3g} /s"


def fmt_ns(x):
    if x >= 1e6:
        return f"{x / 1e6:.3g} ms"
    if x >= 1e3:
        return f"{x / 1e3:.3g} us"
    return f"{x:.3g} ns"


def figure(slot, kind):
    """(median, low, high, cv) of one side, or None; for latency (p50, p99, p99.9, max)."""
    if kind == "latency":
        it = slot.get("iteration")
        if not it or "p50_ns" not in it:
            return None
        return it["p50_ns"], it["p99_ns"], it["p99.9_ns"], it.get("max_ns", float("nan"))
    if "median" not in slot:
        return None
    med = value(slot["median"], kind)
    lo = value(slot.get("min", slot["median"]), kind)
    hi = value(slot.get("max", slot["median"]), kind)
    cv = slot.get("cv", {}).get("real_time", 0.0)
    return med, lo, hi, cv


def ratio(ours, theirs, kind):
    """How many times better asynclink's figure is (> 1: asynclink wins)."""
    if not ours or not theirs or ours[0] <= 0 or theirs[0] <= 0:
        return None
    return ours[0] / theirs[0] if kind == "rate" else theirs[0] / ours[0]


def noisy(fig, kind):
    """A mark for a figure whose repetitions spread by more than 30 %."""
    return " †" if kind != "latency" and fig is not None and fig[3] > 0.30 else ""


def ns_per_op(fig, kind):
    if fig is None:
        return None
    return 1e9 / fig[0] if kind == "rate" else fig[0]


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    data = load(results)
    lines = []
    out = lines.append
    machine = ""
    mpath = os.path.join(results, "machine.txt")
    if os.path.exists(mpath):
        with open(mpath) as f:
            machine = f.read().strip()

    out("# asynclink against its peers")
    out("")
    out("Written by `tools/compare` (bench/report.py); raw figures in the JSON files")
    out("beside this one. Every figure is the **median** of the repetitions, with the")
    out("spread over the repetitions (min - max, and the coefficient of variation).")
    out("Signal latencies are the percentiles of one long run of samples. **asynclink x**")
    out("is how many times better asynclink's figure is than that side's (> 1: asynclink")
    out("wins, < 1: it loses). See docs/benchmarks.md for what each workload does and how")
    out("each peer is set up.")
    out("")
    out("## Machine and run")
    out("")
    out("```")
    out(machine)
    out("```")
    out("")

    # ---- summary: asynclink against the best of each family
    summary_start = len(lines)
    out("## Summary")
    out("")
    out("Per workload: asynclink with its default options (its idle loop polls briefly")
    out("before sleeping), and the best variant of each peer (time per operation; lower")
    out("is better; ratio = peer / asynclink). The wake-up workloads are shown a second")
    out("time with asynclink's loop set to sleep at once, as the peers' loops do.")
    out("")
    out("| workload | asynclink | " + " | ".join(name for key, name in FAMILIES[1:]) + " |")
    out("|---|---:|" + "---:|" * (len(FAMILIES) - 1))
    chart_rows = []
    summary_rows = []
    for key, title, kind, what in WORKLOADS:
        summary_rows.append((key, title, kind, "asynclink"))
        if key.startswith(("round_trip/", "fan_out/")):
            # The same workload with a loop that sleeps at once, as the peers' do.
            summary_rows.append((key, title + ", asynclink loop sleeping at once (no spin)", kind, "asynclink_no_spin"))
    for key, title, kind, our_side in summary_rows:
        sides = {side: figure(slot, kind) for (w, side), slot in data.items() if w == key}
        sides = {s: f for s, f in sides.items() if f is not None}
        ours = sides.get(our_side)
        if ours is None:
            continue
        cells = []
        chart = {"asynclink": ns_per_op(ours, kind)}
        for fam, _ in FAMILIES[1:]:
            cands = [(ns_per_op(f, kind), s, f) for s, f in sides.items() if family(s) == fam]
            if not cands:
                cells.append("-")
                chart[fam] = None
                continue
            best = min(cands)
            chart[fam] = best[0]
            r = ratio(ours, best[2], kind)
            cells.append((f"{fmt_ns(best[0])} ({r:.2g}x)" if r else fmt_ns(best[0])) + noisy(best[2], kind))
        label = title + (" (p50)" if kind == "latency" else "")
        out(f"| {label} | {fmt_ns(ns_per_op(ours, kind))}{noisy(ours, kind)} | " + " | ".join(cells) + " |")
        if our_side == "asynclink":
            chart_rows.append((key, chart))
    out("")
    out("(Nx) = the peer's time / asynclink's: above 1 asynclink is faster. "
        "† = the repetitions spread by more than 30 % (coefficient of variation): a busy machine, read with care.")
    out("")
    summary = lines[summary_start + 2:]

    # ---- details
    out("## Every side of every workload")
    out("")
    for key, title, kind, what in WORKLOADS:
        sides = {side: figure(slot, kind) for (w, side), slot in data.items() if w == key}
        sides = {s: f for s, f in sides.items() if f is not None}
        if not sides:
            continue
        ours = sides.get("asynclink")
        out(f"### {title} (`{key}`)")
        out("")
        if kind == "latency":
            out("| side | p50 | p99 | p99.9 | max | asynclink x (p50) |")
            out("|---|---:|---:|---:|---:|---:|")
        else:
            out(f"| side | median ({what}) | min - max | cv | asynclink x |")
            out("|---|---:|---:|---:|---:|")
        order = sorted(sides, key=lambda s: ([f for f, _ in FAMILIES].index(family(s)), s))
        for side in order:
            f = sides[side]
            r = ratio(ours, f, kind)
            rs = f"{r:.2f}" if r is not None else ""
            name = SIDES.get(side, side)
            if kind == "latency":
                out(f"| {name} | {fmt_ns(f[0])} | {fmt_ns(f[1])} | {fmt_ns(f[2])} | {fmt_ns(f[3])} | {rs} |")
            elif kind == "rate":
                out(f"| {name} | {fmt_rate(f[0])} | {fmt_rate(f[1])} - {fmt_rate(f[2])} | {f[3] * 100:.0f} % | {rs} |")
            else:
                out(f"| {name} | {fmt_ns(f[0])} | {fmt_ns(f[1])} - {fmt_ns(f[2])} | {f[3] * 100:.0f} % | {rs} |")
        out("")

    # ---- idle CPU
    idle = sorted(((w, s, slot["iteration"]) for (w, s), slot in data.items()
                   if w.startswith("idle_cpu/") and "iteration" in slot),
                  key=lambda t: (int(t[0].split(":")[1]), t[1]))
    if idle:
        out("### What waiting costs: CPU of the loop's thread")
        out("")
        out("A task waits on a ThreadSafeFlag that a thread on the other core sets N times a")
        out("second, for 0.5 s (one run each). The adaptive spin before sleeping must not")
        out("make an idle or lightly used loop burn CPU.")
        out("")
        out("| sets per second | side | CPU of one core |")
        out("|---:|---|---:|")
        for w, s, it in idle:
            out(f"| {w.split(':')[1]} | {SIDES.get(s, s)} | {it.get('cpu_%', float('nan')):.2f} % |")
        out("")

    # ---- memory
    mem_path = os.path.join(results, "memory.json")
    if os.path.exists(mem_path):
        with open(mem_path) as f:
            mem = json.load(f)
        out("## Memory")
        out("")
        out("Measured by `bench/memory_report` (heap counted at malloc level: malloc, calloc,")
        out("realloc, aligned_alloc, posix_memalign are interposed, so Asio's frames, which")
        out("bypass operator new, are counted too).")
        out("")
        out("| instance | sizeof (bytes) |")
        out("|---|---:|")
        for k, v in mem["sizeof"].items():
            out(f"| {k} | {v:g} |")
        out("")
        out("| per task (10000 tasks alive, each parked) | value |")
        out("|---|---:|")
        for k, v in mem["bytes_per_task"].items():
            out(f"| {k} | {v:g} |")
        out("")
        out("| heap allocations per operation (whole exchange, every thread) | allocs/op |")
        out("|---|---:|")
        for k, v in mem["allocs_per_op"].items():
            out(f"| {k} | {v:.3g} |")
        out("")

    out("## Chart")
    out("")
    out("![time per operation, log scale](chart.svg)")
    out("")
    with open(os.path.join(results, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if os.path.exists(mem_path):
        per_task = mem["bytes_per_task"]
        signalling = {k: v for k, v in mem["allocs_per_op"].items()
                      if k.startswith(("ThreadSafe", "Loop::schedule", "Message", "Shared"))}
        summary += [
            "Memory (bench/memory_report): a task costs "
            f"{per_task['asynclink create_task, parked on an Event: bytes']:g} heap bytes in "
            f"{per_task['asynclink create_task, parked on an Event: allocations']:g} allocation "
            f"(Asio co_spawn: {per_task['Asio co_spawn (detached), parked on a steady_timer: bytes']:g} bytes in "
            f"{per_task['Asio co_spawn (detached), parked on a steady_timer: allocations']:.3g}); "
            f"the {len(signalling)} signalling paths measured make "
            f"{max(signalling.values()):g} heap allocations per operation at most.",
            "",
        ]
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write("\n".join(summary) + "\n")

    # ---- chart data: ns per operation, one row per workload, one column per family
    with open(os.path.join(results, "chart.dat"), "w") as f:
        f.write("workload " + " ".join(fam for fam, _ in FAMILIES) + "\n")
        for key, chart in chart_rows:
            cells = [("%.6g" % chart[fam]) if chart.get(fam) else "-" for fam, _ in FAMILIES]
            f.write('"%s" %s\n' % (key, " ".join(cells)))
    with open(os.path.join(results, "chart.gp"), "w") as f:
        f.write(f"""set terminal svg size 1400,760 dynamic noenhanced font "sans,11" background rgb "white"
set output "chart.svg"
set title "asynclink against its peers: time per operation (median; lower is better; log scale)"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%.0s%c"
set ylabel "ns per operation (k = 1000)"
set xtics rotate by 35 right scale 0 font ",10"
set bmargin 9
set key top left
set grid ytics
plot "chart.dat" using 2:xtic(1) title "asynclink" lc rgb "#1f77b4", \\
     "" using 3 title "Boost.Asio" lc rgb "#ff7f0e", \\
     "" using 4 title "Tokio" lc rgb "#2ca02c", \\
     "" using 5 title "CPython asyncio" lc rgb "#d62728", \\
     "" using 6 title "raw floor/ceiling" lc rgb "#7f7f7f"
""")


if __name__ == "__main__":
    main()
