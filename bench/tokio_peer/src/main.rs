// SPDX-License-Identifier: BSL-1.0
// The Tokio peer of tools/compare: the workloads of bench/bridge_bench.cpp and
// bench/loop_bench.cpp that Tokio has an operation for, on a current_thread
// runtime (Tokio's single-threaded loop, the analogue of an asynclink Loop)
// pinned to CPU 0, with the other side on CPU 1 ("across") or CPU 0 ("same_core").
//
// Writes JSON shaped like Google Benchmark's aggregates (run_name,
// aggregate_name = median/min/max/cv, real_time in ns per operation,
// items_per_second, latency counters) so that bench/report.py reads it like
// the C++ results.
//
//   tokio_peer [--filter SUBSTRING] > tokio.json
//   ASYNCLINK_BENCH_REPETITIONS (default 5), ASYNCLINK_BENCH_TIME_SCALE (default 1)

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, watch, Notify};

const LOOP_CPU: usize = 0;
const QUEUE_CAPACITY: usize = 1024;
const QUEUE_BATCH: u64 = 1 << 20;

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn unpin() {
    // SAFETY: as in pin().
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        for cpu in 0..n {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn runtime() -> Runtime {
    Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn repetitions() -> usize {
    std::env::var("ASYNCLINK_BENCH_REPETITIONS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(5)
}

fn min_time(seconds: f64) -> Duration {
    let scale: f64 = std::env::var("ASYNCLINK_BENCH_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&x: &f64| x > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64(seconds * scale)
}

/// One repetition: how many operations took how long.
struct Sample {
    ops: u64,
    elapsed: Duration,
}

impl Sample {
    fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.ops.max(1) as f64
    }
}

fn median(v: &mut Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Output {
    entries: Vec<String>,
    filter: Option<String>,
}

impl Output {
    fn wanted(&self, name: &str) -> bool {
        self.filter.as_ref().map_or(true, |f| name.contains(f.as_str()))
    }

    /// Aggregates of repeated samples, as Google Benchmark reports them.
    fn report(&mut self, name: &str, samples: &[Sample]) {
        let mut times: Vec<f64> = samples.iter().map(|s| s.ns_per_op()).collect();
        let rates: Vec<f64> = times.iter().map(|t| 1e9 / t).collect();
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let var = times.iter().map(|t| (t - mean) * (t - mean)).sum::<f64>() / (times.len().max(2) - 1) as f64;
        let cv = if mean > 0.0 { var.sqrt() / mean } else { 0.0 };
        let mut rates_sorted = rates.clone();
        let stats = [
            ("median", median(&mut times), median(&mut rates_sorted)),
            ("min", times.iter().cloned().fold(f64::INFINITY, f64::min), rates.iter().cloned().fold(f64::INFINITY, f64::min)),
            ("max", times.iter().cloned().fold(0.0, f64::max), rates.iter().cloned().fold(0.0, f64::max)),
            ("cv", cv, cv),
        ];
        for (agg, t, r) in stats.iter() {
            self.entries.push(format!(
                "{{\"run_name\": \"{}\", \"run_type\": \"aggregate\", \"aggregate_name\": \"{}\", \"repetitions\": {}, \
                 \"real_time\": {:.3}, \"time_unit\": \"ns\", \"items_per_second\": {:.3}}}",
                name, agg, samples.len(), t, r
            ));
        }
        eprintln!("{:<40} {:>12.1} ns/op  {:>10.3} M/s", name, stats[0].1, stats[0].2 / 1e6);
    }

    fn report_latency(&mut self, name: &str, mut samples: Vec<u64>) {
        samples.sort_unstable();
        let at = |q: f64| samples[(q * (samples.len() - 1) as f64) as usize] as f64;
        self.entries.push(format!(
            "{{\"run_name\": \"{}\", \"run_type\": \"iteration\", \"iterations\": {}, \"real_time\": {:.1}, \
             \"time_unit\": \"ns\", \"p50_ns\": {:.1}, \"p99_ns\": {:.1}, \"p99.9_ns\": {:.1}, \"max_ns\": {:.1}}}",
            name,
            samples.len(),
            at(0.5),
            at(0.5),
            at(0.99),
            at(0.999),
            *samples.last().unwrap() as f64
        ));
        eprintln!("{:<40} p50 {:.1} us p99 {:.1} us p99.9 {:.1} us", name, at(0.5) / 1e3, at(0.99) / 1e3, at(0.999) / 1e3);
    }
}

/// Runs `one` (which performs a number of operations and returns it) until
/// min_time has passed, once per repetition.
fn repeat(seconds: f64, mut one: impl FnMut() -> u64) -> Vec<Sample> {
    let budget = min_time(seconds);
    (0..repetitions())
        .map(|_| {
            let start = Instant::now();
            let mut ops = 0;
            while start.elapsed() < budget {
                ops += one();
            }
            Sample { ops, elapsed: start.elapsed() }
        })
        .collect()
}

fn expected_sum(n: u64) -> u64 {
    n * (n + 1) / 2
}

// ------------------------------------------------------------------ queues

fn queue_to_task(other_cpu: usize) -> u64 {
    let rt = runtime();
    let (tx, mut rx) = mpsc::channel::<u64>(QUEUE_CAPACITY);
    let producer = std::thread::spawn(move || {
        pin(other_cpu);
        for v in 1..=QUEUE_BATCH {
            tx.blocking_send(v).unwrap();
        }
    });
    let sum = rt.block_on(async move {
        let mut sum = 0u64;
        for _ in 0..QUEUE_BATCH {
            sum += rx.recv().await.unwrap();
        }
        sum
    });
    producer.join().unwrap();
    assert_eq!(sum, expected_sum(QUEUE_BATCH));
    QUEUE_BATCH
}

/// Many producers -> one task: `producers` threads (alternating between CPU 1
/// and the loop's CPU 0, starting on CPU 1) each blocking_send their share of
/// QUEUE_BATCH, as bridge_bench's many/producers:N workloads do.
fn many_to_task(producers: u64) -> u64 {
    let rt = runtime();
    let (tx, mut rx) = mpsc::channel::<u64>(QUEUE_CAPACITY);
    let share = QUEUE_BATCH / producers;
    let threads: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                pin(if p % 2 == 0 { 1 } else { LOOP_CPU });
                for v in p * share + 1..=(p + 1) * share {
                    tx.blocking_send(v).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let sum = rt.block_on(async move {
        let mut sum = 0u64;
        for _ in 0..QUEUE_BATCH {
            sum += rx.recv().await.unwrap();
        }
        sum
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sum, expected_sum(QUEUE_BATCH));
    QUEUE_BATCH
}

fn queue_to_thread(other_cpu: usize) -> u64 {
    let rt = runtime();
    let (tx, mut rx) = mpsc::channel::<u64>(QUEUE_CAPACITY);
    let consumer = std::thread::spawn(move || {
        pin(other_cpu);
        let mut sum = 0u64;
        for _ in 0..QUEUE_BATCH {
            sum += rx.blocking_recv().unwrap();
        }
        sum
    });
    rt.block_on(async move {
        for v in 1..=QUEUE_BATCH {
            tx.send(v).await.unwrap();
        }
    });
    assert_eq!(consumer.join().unwrap(), expected_sum(QUEUE_BATCH));
    QUEUE_BATCH
}

// ------------------------------------------------------------------ wake round trip

/// A thread (CPU 1) notifies a task on the loop (CPU 0), the task answers
/// through an mpsc the thread waits on in blocking_recv.
fn round_trip(seconds: f64) -> Vec<Sample> {
    pin(1);
    let ping = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::channel::<u64>(1);
    let (p, s) = (ping.clone(), stop.clone());
    let loop_thread = std::thread::spawn(move || {
        pin(LOOP_CPU);
        runtime().block_on(async move {
            let mut round = 0u64;
            loop {
                p.notified().await;
                if s.load(Ordering::Acquire) {
                    return;
                }
                tx.try_send(round).unwrap();
                round += 1;
            }
        });
    });
    let mut expected = 0u64;
    let samples = repeat(seconds, || {
        for _ in 0..64 {
            ping.notify_one();
            assert_eq!(rx.blocking_recv().unwrap(), expected);
            expected += 1;
        }
        64
    });
    stop.store(true, Ordering::Release);
    ping.notify_one();
    loop_thread.join().unwrap();
    unpin();
    samples
}

// ------------------------------------------------------------------ fan-out

/// A thread (CPU 1) publishes on a watch channel that `waiters` tasks wait on
/// (changed()); the last task woken answers the thread. `via_spawn`: the
/// thread spawns a task on the runtime that publishes (every wake-up then
/// happens on the loop's thread, as with Asio's post), instead of publishing
/// itself (each wake-up then crosses threads).
fn fan_out(waiters: usize, seconds: f64, via_spawn: bool) -> Vec<Sample> {
    pin(1);
    let (wtx, wrx) = watch::channel(0u64);
    let wtx = Arc::new(wtx);
    let (atx, mut arx) = mpsc::channel::<u64>(1);
    let woken = Arc::new(AtomicUsize::new(0));
    let (htx, hrx) = std::sync::mpsc::channel::<tokio::runtime::Handle>();
    let loop_thread = std::thread::spawn(move || {
        pin(LOOP_CPU);
        let rt = runtime();
        htx.send(rt.handle().clone()).unwrap();
        rt.block_on(async move {
            let mut handles = Vec::with_capacity(waiters);
            for _ in 0..waiters {
                let mut rx = wrx.clone();
                let atx = atx.clone();
                let woken = woken.clone();
                handles.push(tokio::spawn(async move {
                    loop {
                        if rx.changed().await.is_err() {
                            return;
                        }
                        let round = *rx.borrow();
                        if round == u64::MAX {
                            return;
                        }
                        // Relaxed: one loop thread runs every waiter.
                        if woken.fetch_add(1, Ordering::Relaxed) + 1 == waiters {
                            woken.store(0, Ordering::Relaxed);
                            atx.try_send(round).unwrap();
                        }
                    }
                }));
            }
            drop(wrx);
            drop(atx);
            for h in handles {
                h.await.unwrap();
            }
        });
    });
    let handle = hrx.recv().unwrap();
    let mut round = 0u64;
    let samples = repeat(seconds, || {
        for _ in 0..16 {
            round += 1;
            if via_spawn {
                let (wtx, r) = (wtx.clone(), round);
                handle.spawn(async move { wtx.send(r).unwrap() });
            } else {
                wtx.send(round).unwrap();
            }
            assert_eq!(arx.blocking_recv().unwrap(), round);
        }
        16
    });
    wtx.send(u64::MAX).unwrap();
    loop_thread.join().unwrap();
    unpin();
    samples
}

// ------------------------------------------------------------------ offload

fn offload(seconds: f64) -> Vec<Sample> {
    pin(LOOP_CPU);
    let rt = runtime();
    let samples = rt.block_on(async {
        let mut x = 0u64;
        let mut samples = Vec::new();
        let budget = min_time(seconds);
        for _ in 0..repetitions() {
            let start = Instant::now();
            let mut ops = 0u64;
            while start.elapsed() < budget {
                for _ in 0..16 {
                    let y = x;
                    x = tokio::task::spawn_blocking(move || y + 1).await.unwrap();
                }
                ops += 16;
            }
            samples.push(Sample { ops, elapsed: start.elapsed() });
        }
        samples
    });
    drop(rt);
    unpin();
    samples
}

// ------------------------------------------------------------------ spawn and yield

fn spawn_complete(batch: usize, seconds: f64) -> Vec<Sample> {
    pin(LOOP_CPU);
    let rt = runtime();
    let ran = Arc::new(AtomicU64::new(0));
    let samples = rt.block_on(async {
        let mut samples = Vec::new();
        let budget = min_time(seconds);
        let mut handles = Vec::with_capacity(batch);
        for _ in 0..repetitions() {
            let start = Instant::now();
            let mut ops = 0u64;
            while start.elapsed() < budget {
                for _ in 0..batch {
                    let ran = ran.clone();
                    // Relaxed: a counter only read at the end, on this thread.
                    handles.push(tokio::spawn(async move {
                        ran.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                for h in handles.drain(..) {
                    h.await.unwrap();
                }
                ops += batch as u64;
            }
            samples.push(Sample { ops, elapsed: start.elapsed() });
        }
        samples
    });
    let total: u64 = samples.iter().map(|s| s.ops).sum();
    assert_eq!(ran.load(Ordering::Relaxed), total);
    unpin();
    samples
}

fn yield_round(tasks: usize, seconds: f64) -> Vec<Sample> {
    pin(LOOP_CPU);
    let rt = runtime();
    let yields = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = rt.block_on(async {
        let mut others = Vec::new();
        for _ in 1..tasks {
            let (yields, stop) = (yields.clone(), stop.clone());
            others.push(tokio::spawn(async move {
                // Relaxed: one thread runs every task.
                while !stop.load(Ordering::Relaxed) {
                    tokio::task::yield_now().await;
                    yields.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let mut samples = Vec::new();
        let budget = min_time(seconds);
        for _ in 0..repetitions() {
            let before = yields.load(Ordering::Relaxed);
            let start = Instant::now();
            let mut mine = 0u64;
            while start.elapsed() < budget {
                for _ in 0..64 {
                    tokio::task::yield_now().await;
                }
                mine += 64;
            }
            let elapsed = start.elapsed();
            samples.push(Sample { ops: mine + yields.load(Ordering::Relaxed) - before, elapsed });
        }
        stop.store(true, Ordering::Relaxed);
        for h in others {
            h.await.unwrap();
        }
        samples
    });
    unpin();
    samples
}

// ------------------------------------------------------------------ signal -> task

static STAMP: AtomicU64 = AtomicU64::new(0);

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A sender thread on CPU 1 stamps the time and sends SIGUSR1 to the loop's
/// thread (pthread_kill) once the previous one was measured, paced by 100 us;
/// a task awaiting tokio::signal measures now - stamp.
fn signal_latency(samples_wanted: usize) -> Vec<u64> {
    use tokio::signal::unix::{signal, SignalKind};
    pin(LOOP_CPU);
    let rt = runtime();
    let measured = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { libc::pthread_self() } as usize;
    let result = rt.block_on(async {
        let mut stream = signal(SignalKind::user_defined1()).expect("SIGUSR1 stream");
        let (m, s) = (measured.clone(), stop.clone());
        let sender = std::thread::spawn(move || {
            pin(1);
            let mut sent = 0u64;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_micros(100));
                // Acquire: pairs with the loop's release once it read the stamp.
                if m.load(Ordering::Acquire) != sent {
                    continue;
                }
                sent += 1;
                STAMP.store(now_ns(), Ordering::Relaxed);
                // SAFETY: target is this process's loop thread, alive until joined below.
                unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
            }
        });
        let mut out = Vec::with_capacity(samples_wanted);
        while out.len() < samples_wanted {
            stream.recv().await;
            out.push(now_ns().saturating_sub(STAMP.load(Ordering::Relaxed)));
            measured.fetch_add(1, Ordering::Release);
        }
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        out
    });
    unpin();
    result
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let filter = args.iter().position(|a| a == "--filter").and_then(|i| args.get(i + 1)).cloned();
    let mut out = Output { entries: Vec::new(), filter };
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let across_ok = cpus >= 2;

    for (placement, cpu) in [("across", 1usize), ("same_core", LOOP_CPU)] {
        if placement == "across" && !across_ok {
            continue;
        }
        let name = format!("queue/{}/tokio_mpsc", placement);
        if out.wanted(&name) {
            pin(LOOP_CPU);
            let s = repeat(0.2, || queue_to_task(cpu));
            out.report(&name, &s);
        }
        let name = format!("to_thread/{}/tokio_mpsc", placement);
        if out.wanted(&name) {
            pin(LOOP_CPU);
            let s = repeat(0.2, || queue_to_thread(cpu));
            out.report(&name, &s);
        }
    }
    if across_ok {
        for producers in [1u64, 2, 4] {
            let name = format!("many/producers:{}/tokio_mpsc", producers);
            if out.wanted(&name) {
                pin(LOOP_CPU);
                let s = repeat(0.2, || many_to_task(producers));
                out.report(&name, &s);
            }
        }
    }
    unpin();
    if across_ok {
        let name = "round_trip/across/tokio_notify";
        if out.wanted(name) {
            let s = round_trip(0.2);
            out.report(name, &s);
        }
        for waiters in [1usize, 10, 1000] {
            for (side, via_spawn) in [("tokio_watch", false), ("tokio_spawn_watch", true)] {
                let name = format!("fan_out/waiters:{}/{}", waiters, side);
                if out.wanted(&name) {
                    let s = fan_out(waiters, 0.2, via_spawn);
                    out.report(&name, &s);
                }
            }
        }
        let name = "offload/across/tokio_spawn_blocking";
        if out.wanted(name) {
            let s = offload(0.2);
            out.report(name, &s);
        }
        let name = "signal_wake/pthread_kill/tokio_signal";
        if out.wanted(name) {
            let s = signal_latency(20000);
            out.report_latency(name, s);
        }
    }
    for batch in [1usize, 1000] {
        let name = format!("spawn_complete/batch:{}/tokio", batch);
        if out.wanted(&name) {
            let s = spawn_complete(batch, 0.1);
            out.report(&name, &s);
        }
    }
    for tasks in [1usize, 100] {
        let name = format!("yield/tasks:{}/tokio", tasks);
        if out.wanted(&name) {
            let s = yield_round(tasks, 0.1);
            out.report(&name, &s);
        }
    }
    println!("{{\"context\": {{\"peer\": \"tokio\", \"tokio\": \"1.24 (Debian librust-tokio-dev)\"}}, \"benchmarks\": [\n{}\n]}}", out.entries.join(",\n"));
}
