#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""A stand-in benchmark program for tools/bench-ab's tests: prints Google
Benchmark's console lines (a mean and a median per row) with every time
multiplied by its first argument; ignores the rest. A time of 2 us or more
is printed in us, as Google Benchmark does, so the two programs of a test
print one row in different units."""
import sys

scale = float(sys.argv[1])
print("Benchmark                         Time             CPU   Iterations")
for name, ns in (("queue/same_core/asynclink", 20.0), ("round_trip/across/asynclink", 1500.0)):
    row = f"{name}/min_time:0.200/repeats:5/real_time"
    t = ns * scale
    shown = f"{t / 1000:.2f} us" if t >= 2000 else f"{t:.1f} ns"
    print(f"{row}_mean   {shown}   1 ns   5")
    print(f"{row}_median {shown}   1 ns   5")
