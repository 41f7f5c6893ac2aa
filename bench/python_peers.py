#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""The CPython asyncio peer of tools/compare.

The workloads of bench/bridge_bench.cpp and bench/loop_bench.cpp that asyncio
has an operation for, on the default event loop (epoll selector) in the main
thread pinned to CPU 0, the other side on CPU 1 ("across") or CPU 0
("same_core"):

  queue/*/python_janus          thread -> task: janus.Queue(1024), sync_q.put / async_q.get
  queue/*/python_call_soon_threadsafe
                                thread -> task: loop.call_soon_threadsafe(q.put_nowait, v)
                                into an asyncio.Queue (no back-pressure: the
                                usual idiom; the thread may run ahead)
  to_thread/*/python_janus      task -> thread: async_q.put / sync_q.get
  round_trip/across/python_call_soon_threadsafe
                                thread: call_soon_threadsafe(event.set); the task
                                answers through janus (thread in sync_q.get())
  round_trip/across/python_janus
                                ping and pong both through janus queues
  fan_out/waiters:N/python_call_soon_threadsafe
                                a thread sets an asyncio.Event N tasks wait on
  offload/across/python_to_thread
                                await asyncio.to_thread(f, x)
  signal_wake/pthread_kill/python_add_signal_handler
                                a thread stamps the time and pthread_kill()s the
                                loop's thread; loop.add_signal_handler's callback
                                wakes the measuring task
  spawn_complete/batch:N/python_asyncio, yield/tasks:N/python_asyncio
  tcp_echo/round_trip/python_asyncio
                                asyncio.start_server and open_connection on
                                127.0.0.1 in one loop: write 64 bytes, await
                                readexactly(64) of the echo (bench/tcp_bench.cpp)

Writes JSON shaped like Google Benchmark's aggregates on stdout (see
bench/report.py). Run with Debian's /usr/bin/python3 (python3-janus).
  ASYNCLINK_BENCH_REPETITIONS (default 5), ASYNCLINK_BENCH_TIME_SCALE (default 1)
"""

import asyncio
import json
import os
import signal
import statistics
import sys
import threading
import time

import janus

LOOP_CPU = 0
CAPACITY = 1024
BATCH = 20000
JANUS_BATCH = 4000  # janus moves about 10k items/s here: keep a repetition short

REPS = max(1, int(os.environ.get("ASYNCLINK_BENCH_REPETITIONS", "5") or 5))
SCALE = float(os.environ.get("ASYNCLINK_BENCH_TIME_SCALE", "1") or 1)
FILTER = sys.argv[sys.argv.index("--filter") + 1] if "--filter" in sys.argv else None
ACROSS_OK = (os.cpu_count() or 1) >= 2

entries = []


def pin(cpu):
    # Pins the calling thread (pid 0 = this thread on Linux).
    os.sched_setaffinity(0, {cpu})


def unpin():
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def wanted(name):
    return FILTER is None or FILTER in name


def report(name, samples):
    """samples: [(ops, seconds)] one per repetition."""
    times = [s / ops * 1e9 for ops, s in samples]
    rates = [ops / s for ops, s in samples]
    cv = statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else 0.0
    for agg, t, r in (("median", statistics.median(times), statistics.median(rates)),
                      ("min", min(times), min(rates)), ("max", max(times), max(rates)), ("cv", cv, cv)):
        entries.append({"run_name": name, "run_type": "aggregate", "aggregate_name": agg,
                        "repetitions": len(samples), "real_time": t, "time_unit": "ns",
                        "items_per_second": r})
    print(f"{name:<52} {statistics.median(times):12.1f} ns/op", file=sys.stderr)


def report_latency(name, samples):
    samples.sort()

    def at(q):
        return float(samples[int(q * (len(samples) - 1))])
    entries.append({"run_name": name, "run_type": "iteration", "iterations": len(samples),
                    "real_time": at(0.5), "time_unit": "ns", "p50_ns": at(0.5), "p99_ns": at(0.99),
                    "p99.9_ns": at(0.999), "max_ns": float(samples[-1])})
    print(f"{name:<52} p50 {at(0.5) / 1e3:.1f} us p99 {at(0.99) / 1e3:.1f} us "
          f"p99.9 {at(0.999) / 1e3:.1f} us", file=sys.stderr)


async def repeat_async(seconds, one):
    """Runs coroutine function `one` (returns its operation count) until the
    budget has passed, once per repetition."""
    budget = seconds * SCALE
    out = []
    for _ in range(REPS):
        start = time.perf_counter()
        ops = 0
        while time.perf_counter() - start < budget:
            ops += await one()
        out.append((ops, time.perf_counter() - start))
    return out


def run_pinned(coro_fn):
    pin(LOOP_CPU)
    try:
        return asyncio.run(coro_fn())
    finally:
        unpin()


# ---------------------------------------------------------------- queues

def queue_janus(other_cpu):
    async def main():
        async def one():
            q = janus.Queue(CAPACITY)

            def produce():
                pin(other_cpu)
                for v in range(1, JANUS_BATCH + 1):
                    q.sync_q.put(v)
            t = threading.Thread(target=produce)
            t.start()
            total = 0
            for _ in range(JANUS_BATCH):
                total += await q.async_q.get()
            await asyncio.to_thread(t.join)
            q.close()
            await q.wait_closed()
            assert total == JANUS_BATCH * (JANUS_BATCH + 1) // 2
            return JANUS_BATCH
        return await repeat_async(0.2, one)
    return run_pinned(main)


def queue_call_soon_threadsafe(other_cpu):
    async def main():
        loop = asyncio.get_running_loop()

        async def one():
            q = asyncio.Queue()

            def produce():
                pin(other_cpu)
                for v in range(1, BATCH + 1):
                    loop.call_soon_threadsafe(q.put_nowait, v)
            t = threading.Thread(target=produce)
            t.start()
            total = 0
            for _ in range(BATCH):
                total += await q.get()
            t.join()
            assert total == BATCH * (BATCH + 1) // 2
            return BATCH
        return await repeat_async(0.2, one)
    return run_pinned(main)


def to_thread_janus(other_cpu):
    async def main():
        async def one():
            q = janus.Queue(CAPACITY)
            result = []

            def consume():
                pin(other_cpu)
                total = 0
                for _ in range(JANUS_BATCH):
                    total += q.sync_q.get()
                result.append(total)
            t = threading.Thread(target=consume)
            t.start()
            for v in range(1, JANUS_BATCH + 1):
                await q.async_q.put(v)
            await asyncio.to_thread(t.join)
            q.close()
            await q.wait_closed()
            assert result == [JANUS_BATCH * (JANUS_BATCH + 1) // 2]
            return JANUS_BATCH
        return await repeat_async(0.2, one)
    return run_pinned(main)


# ---------------------------------------------------------------- wake round trip

def thread_side(seconds, step):
    """The benchmark thread's timed loop (CPU 1): step() is one round trip."""
    pin(1)
    budget = seconds * SCALE
    out = []
    for _ in range(REPS):
        start = time.perf_counter()
        ops = 0
        while time.perf_counter() - start < budget:
            for _ in range(16):
                step()
            ops += 16
        out.append((ops, time.perf_counter() - start))
    return out


def round_trip(kind):
    async def main():
        loop = asyncio.get_running_loop()
        pong = janus.Queue(1)
        ping_event = asyncio.Event()
        ping_q = janus.Queue(1)
        stop = False

        async def answerer():
            n = 0
            while True:
                if kind == "call_soon_threadsafe":
                    await ping_event.wait()
                    ping_event.clear()
                else:
                    await ping_q.async_q.get()
                if stop:
                    return
                pong.async_q.put_nowait(n)
                n += 1

        task = asyncio.create_task(answerer())
        expected = [0]

        def step():
            if kind == "call_soon_threadsafe":
                loop.call_soon_threadsafe(ping_event.set)
            else:
                ping_q.sync_q.put(0)
            assert pong.sync_q.get() == expected[0]
            expected[0] += 1

        samples = await asyncio.to_thread(thread_side, 0.2, step)
        stop = True
        ping_event.set()
        ping_q.async_q.put_nowait(0)
        await task
        return samples
    return run_pinned(main)


def fan_out(waiters):
    async def main():
        loop = asyncio.get_running_loop()
        events = [asyncio.Event(), asyncio.Event()]
        answer = janus.Queue(1)
        woken = [0]
        stop = [False]

        async def waiter():
            r = 0
            while True:
                await events[r & 1].wait()
                if stop[0]:
                    return
                woken[0] += 1
                if woken[0] == waiters:
                    woken[0] = 0
                    answer.async_q.put_nowait(r)
                r += 1

        tasks = [asyncio.create_task(waiter()) for _ in range(waiters)]
        rnd = [0]

        def signal_round(r):
            events[(r + 1) & 1].clear()
            events[r & 1].set()

        def step():
            loop.call_soon_threadsafe(signal_round, rnd[0])
            assert answer.sync_q.get() == rnd[0]
            rnd[0] += 1

        samples = await asyncio.to_thread(thread_side, 0.2, step)
        stop[0] = True
        signal_round(rnd[0])
        await asyncio.gather(*tasks)
        return samples
    return run_pinned(main)


# ---------------------------------------------------------------- offload

def blocking_call(x):
    return x + 1


def offload():
    async def main():
        x = [0]

        async def one():
            for _ in range(16):
                x[0] = await asyncio.to_thread(blocking_call, x[0])
            return 16
        return await repeat_async(0.2, one)
    return run_pinned(main)


# ---------------------------------------------------------------- signal -> task

def signal_latency(n):
    async def main():
        loop = asyncio.get_running_loop()
        stamp = [0]
        measured = [0]
        got = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, got.set)
        target = threading.get_ident()
        stop = [False]

        def sender():
            pin(1)
            sent = 0
            while not stop[0]:
                time.sleep(100e-6)
                if measured[0] != sent:
                    continue
                sent += 1
                stamp[0] = time.monotonic_ns()
                signal.pthread_kill(target, signal.SIGUSR1)
        t = threading.Thread(target=sender)
        t.start()
        samples = []
        while len(samples) < n:
            await got.wait()
            samples.append(time.monotonic_ns() - stamp[0])
            got.clear()
            measured[0] += 1
        stop[0] = True
        await asyncio.to_thread(t.join)
        loop.remove_signal_handler(signal.SIGUSR1)
        return samples
    return run_pinned(main)


# ---------------------------------------------------------------- spawn and yield

def spawn_complete(batch):
    async def main():
        ran = [0]

        async def trivial():
            ran[0] += 1

        async def one():
            tasks = [asyncio.create_task(trivial()) for _ in range(batch)]
            for t in tasks:
                await t
            return batch
        samples = await repeat_async(0.1, one)
        assert ran[0] == sum(ops for ops, _ in samples)
        return samples
    return run_pinned(main)


def yield_round(ntasks):
    async def main():
        count = [0]
        stop = [False]

        async def yielder():
            while not stop[0]:
                await asyncio.sleep(0)
                count[0] += 1
        others = [asyncio.create_task(yielder()) for _ in range(ntasks - 1)]
        budget = 0.1 * SCALE
        out = []
        for _ in range(REPS):
            before = count[0]
            start = time.perf_counter()
            mine = 0
            while time.perf_counter() - start < budget:
                for _ in range(64):
                    await asyncio.sleep(0)
                mine += 64
            out.append((mine + count[0] - before, time.perf_counter() - start))
        stop[0] = True
        await asyncio.gather(*others)
        return out
    return run_pinned(main)


# ---------------------------------------------------------------- TCP

def tcp_echo():
    async def main():
        async def echo(reader, writer):
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)  # TCP_NODELAY: asyncio's default
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        message = b"x" * 64

        async def one():
            for _ in range(100):
                writer.write(message)
                await reader.readexactly(64)
            return 100
        samples = await repeat_async(0.3, one)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return samples
    return run_pinned(main)


def main():
    placements = ([("across", 1)] if ACROSS_OK else []) + [("same_core", LOOP_CPU)]
    for placement, cpu in placements:
        for name, fn in ((f"queue/{placement}/python_janus", queue_janus),
                         (f"queue/{placement}/python_call_soon_threadsafe", queue_call_soon_threadsafe),
                         (f"to_thread/{placement}/python_janus", to_thread_janus)):
            if wanted(name):
                report(name, fn(cpu))
    if ACROSS_OK:
        for kind in ("call_soon_threadsafe", "janus"):
            name = f"round_trip/across/python_{kind}"
            if wanted(name):
                report(name, round_trip(kind))
        for waiters in (1, 10, 1000):
            name = f"fan_out/waiters:{waiters}/python_call_soon_threadsafe"
            if wanted(name):
                report(name, fan_out(waiters))
        name = "offload/across/python_to_thread"
        if wanted(name):
            report(name, offload())
        name = "signal_wake/pthread_kill/python_add_signal_handler"
        if wanted(name):
            report_latency(name, signal_latency(int(5000 * min(1.0, SCALE)) or 500))
    for batch in (1, 1000):
        name = f"spawn_complete/batch:{batch}/python_asyncio"
        if wanted(name):
            report(name, spawn_complete(batch))
    for ntasks in (1, 100):
        name = f"yield/tasks:{ntasks}/python_asyncio"
        if wanted(name):
            report(name, yield_round(ntasks))
    name = "tcp_echo/round_trip/python_asyncio"
    if wanted(name):
        report(name, tcp_echo())
    json.dump({"context": {"peer": "python", "python": sys.version.split()[0], "janus": janus.__version__
                           if hasattr(janus, "__version__") else "1.0"},
               "benchmarks": entries}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
