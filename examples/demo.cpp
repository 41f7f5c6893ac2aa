// SPDX-License-Identifier: BSL-1.0
// The guided tour of asynclink: one event loop, linked in turn with each
// context the library serves — a signal handler (the hard ISR), a scheduled
// callback (the soft ISR), a thread on the loop's core, a thread on another
// core, a second loop, blocking calls, and a stream shared by several tasks.
// Each step prints what moves where and how fast, and checks what arrived.
// The program exits non-zero if any check fails.
//
// Usage: demo [--short] [--trace FILE]     (--short: a few seconds in all, for the test suite)
#include <asynclink/asynclink.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

int failures = 0;
bool is_short = false;
int cpus_available = 1;  // counted before the loop's thread is pinned to one CPU

void check(bool ok, const char* what) {
    std::printf("   [%s] %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++failures;
}

std::int64_t now_ns() { return al::Clock::now().time_since_epoch().count(); }

double seconds_since(al::Clock::time_point start) {
    return std::chrono::duration<double>(al::Clock::now() - start).count();
}

// Wake latencies in nanoseconds; prints the median and the 99th percentile.
struct Latencies {
    std::vector<std::int64_t> ns;
    void add(std::int64_t v) { ns.push_back(v); }
    void print(const char* what) {
        if (ns.empty()) return;
        std::sort(ns.begin(), ns.end());
        std::printf("   %s: median %.1f us, 99%% under %.1f us (%zu samples)\n", what,
                    static_cast<double>(ns[ns.size() / 2]) / 1000.0,
                    static_cast<double>(ns[ns.size() * 99 / 100]) / 1000.0, ns.size());
    }
};

// What the producers send: a sequence number and when it was sent.
struct Sample {
    std::uint64_t seq;
    std::int64_t sent_ns;
};

// Lets the calling thread run on `cpu`, reporting where it really is.
int pin_to(int cpu) {
    al::port::pin_current_thread(cpu);
    return al::port::current_cpu();
}

// ---------------------------------------------------------------- 0. the loop

al::Task<int> slow_square(int x, std::chrono::milliseconds delay) {
    co_await al::sleep(delay);
    co_return x* x;
}

al::Task<void> ticker(int& ticks, std::chrono::milliseconds period) {
    for (;;) {
        co_await al::sleep(period);
        ++ticks;
    }
}

al::Task<void> the_loop() {
    std::printf("\n0. The loop itself: tasks, gather, cancel, wait_for\n");
    auto start = al::Clock::now();
    auto [a, b, c] = co_await al::gather(slow_square(2, 30ms), slow_square(3, 30ms), slow_square(4, 30ms));
    std::printf("   gather: %d %d %d in %.0f ms (three 30 ms sleeps, run concurrently)\n", a, b, c,
                seconds_since(start) * 1000);
    check(a == 4 && b == 9 && c == 16, "gather returned every result in order");

    int ticks = 0;
    auto t = al::create_task(ticker(ticks, 5ms));
    co_await al::sleep(30ms);
    t.cancel();
    try {
        co_await t;
    } catch (const al::CancelledError&) {
    }
    check(t.cancelled(), "a cancelled task saw CancelledError at its sleep and ended");

    bool timed_out = false;
    try {
        co_await al::wait_for(slow_square(5, 1000ms), 20ms);
    } catch (const al::TimeoutError&) {
        timed_out = true;
    }
    check(timed_out, "wait_for gave up on a 1 s operation after 20 ms with TimeoutError");
}

// ---------------------------------------------------------------- 1. signal handler

struct SignalFeed {
    al::ThreadSafeQueue<Sample> queue{256};
    std::atomic<bool> stop{false};
    std::uint64_t seq = 0;      // signal handler only
    std::uint64_t dropped = 0;  // signal handler only; read after the timer is gone
};

// Runs in a signal handler: try_put and close take no lock and allocate nothing.
void on_timer_signal(void* arg) noexcept {
    auto& feed = *static_cast<SignalFeed*>(arg);
    // Relaxed: a plain request to stop; the queue's close() orders the items.
    if (feed.stop.load(std::memory_order_relaxed)) {
        feed.queue.close();
        return;
    }
    if (!feed.queue.try_put(Sample{++feed.seq, now_ns()})) ++feed.dropped;  // full: the ISR never waits
}

al::Task<void> stop_after(std::atomic<bool>& stop, std::chrono::milliseconds d) {
    co_await al::sleep(d);
    stop.store(true, std::memory_order_relaxed);  // relaxed: see on_timer_signal
}

al::Task<void> signal_handler() {
    std::printf("\n1. Signal handler (the hard ISR) -> task, through a ThreadSafeQueue\n");
    std::printf("   a 10 kHz POSIX timer signal interrupts the loop's thread; its handler try_put()s a sample\n");
    SignalFeed feed;
    Latencies latency;
    std::uint64_t received = 0;
    bool in_order = true;
    auto start = al::Clock::now();
    {
        al::PeriodicSignal timer(100us, &on_timer_signal, &feed);
        auto stopper = al::create_task(stop_after(feed.stop, is_short ? 200ms : 2000ms));
        std::uint64_t last = 0;
        while (std::optional<Sample> s = co_await feed.queue.next()) {
            latency.add(now_ns() - s->sent_ns);
            in_order = in_order && s->seq > last;
            last = s->seq;
            ++received;
        }
        co_await stopper;
    }
    double took = seconds_since(start);
    std::printf("   %llu samples in %.2f s (%.0f items/s), %llu dropped on a full queue\n",
                static_cast<unsigned long long>(received), took, static_cast<double>(received) / took,
                static_cast<unsigned long long>(feed.dropped));
    latency.print("signal -> task wake-up");
    check(received > 0 && in_order, "the task received the samples in order");
    check(received + feed.dropped == feed.seq, "every sample was either received or counted as dropped");
}

// ---------------------------------------------------------------- 2. scheduled callback

struct SoftIsr {
    al::Loop* loop = nullptr;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> accepted{0};  // schedule() returned true
    std::atomic<std::uint64_t> refused{0};   // the schedule queue was full
    std::int64_t stamps[128] = {};           // when each pending callback was scheduled
    std::uint64_t seq = 0;                   // signal handler only
    // Loop thread only: the callback may use loop-only primitives.
    al::Queue<std::int64_t> latencies;
    std::uint64_t ran = 0;
};

struct SoftIsrCall {
    SoftIsr* isr;
    std::uint64_t seq;
};
SoftIsrCall soft_calls[128];

// Runs on the loop between tasks (micropython.schedule's callback).
void on_soft_isr(void* arg) {
    auto& call = *static_cast<SoftIsrCall*>(arg);
    SoftIsr& isr = *call.isr;
    ++isr.ran;
    isr.latencies.put_nowait(now_ns() - isr.stamps[call.seq % 128]);  // a loop-only Queue: legal here
}

void on_soft_timer(void* arg) noexcept {
    auto& isr = *static_cast<SoftIsr*>(arg);
    if (isr.stop.load(std::memory_order_relaxed)) return;  // relaxed: a plain request to stop
    std::uint64_t seq = isr.seq++;
    isr.stamps[seq % 128] = now_ns();
    soft_calls[seq % 128] = SoftIsrCall{&isr, seq};
    // Relaxed counters: read by the loop after the timer is destroyed.
    if (isr.loop->schedule(&on_soft_isr, &soft_calls[seq % 128])) {
        isr.accepted.fetch_add(1, std::memory_order_relaxed);
    } else {
        isr.refused.fetch_add(1, std::memory_order_relaxed);
    }
}

al::Task<void> scheduled_callback() {
    std::printf("\n2. Scheduled callback (the soft ISR): signal handler -> Loop::schedule -> callback on the loop\n");
    std::printf("   the handler queues a callback; the loop runs it between tasks, where loop-only calls are legal\n");
    SoftIsr isr;
    isr.loop = &al::Loop::current();
    auto start = al::Clock::now();
    {
        al::PeriodicSignal timer(100us, &on_soft_timer, &isr);
        co_await stop_after(isr.stop, is_short ? 200ms : 2000ms);
    }
    co_await al::sleep(1ms);  // the loop runs the callbacks still queued
    Latencies latency;
    while (!isr.latencies.empty()) latency.add(isr.latencies.get_nowait());
    double took = seconds_since(start);
    std::uint64_t accepted = isr.accepted.load(std::memory_order_relaxed);
    std::printf("   %llu callbacks ran in %.2f s (%.0f/s), %llu refused by a full schedule queue\n",
                static_cast<unsigned long long>(isr.ran), took, static_cast<double>(isr.ran) / took,
                static_cast<unsigned long long>(isr.refused.load(std::memory_order_relaxed)));
    latency.print("signal -> callback");
    check(isr.ran > 0 && isr.ran == accepted, "every callback schedule() accepted ran, once");
}

// ---------------------------------------------------------------- 3 and 4. threads

void thread_producer(al::ThreadSafeQueue<Sample>& q, int cpu, std::uint64_t count, int& ran_on) {
    ran_on = pin_to(cpu);
    for (std::uint64_t i = 1; i <= count; ++i) q.put_sync(Sample{i, now_ns()}, true);  // parks while full
    q.close();
}

void thread_echo(al::ThreadSafeQueue<Sample>& in, al::ThreadSafeQueue<Sample>& out, int cpu) {
    pin_to(cpu);
    try {
        for (;;) out.put_sync(in.get_sync(true), true);
    } catch (const al::QueueClosed&) {
        out.close();
    }
}

al::Task<void> thread_context(int cpu, const char* title) {
    std::printf("\n%s\n", title);
    int loop_cpu = al::port::current_cpu();
    std::uint64_t count = is_short ? 50'000 : 2'000'000;
    {
        al::ThreadSafeQueue<Sample> q(1024);
        int thread_cpu = -1;
        std::thread producer(thread_producer, std::ref(q), cpu, count, std::ref(thread_cpu));
        auto start = al::Clock::now();
        std::uint64_t received = 0;
        bool in_order = true;
        while (std::optional<Sample> s = co_await q.next()) in_order = in_order && s->seq == ++received;
        double took = seconds_since(start);
        producer.join();
        std::printf(
            "   stream: thread on CPU %d put_sync()s, task on CPU %d awaits next(): %llu items in %.2f s "
            "(%.2f M items/s)\n",
            thread_cpu, loop_cpu, static_cast<unsigned long long>(received), took,
            static_cast<double>(received) / took / 1e6);
        check(received == count && in_order, "every item arrived once, in order, then the end marker");
    }
    {
        al::ThreadSafeQueue<Sample> to_thread(16);
        al::ThreadSafeQueue<Sample> from_thread(16);
        std::thread echo(thread_echo, std::ref(to_thread), std::ref(from_thread), cpu);
        Latencies round_trip;
        int rounds = is_short ? 300 : 5000;
        bool all_back = true;
        for (int i = 1; i <= rounds; ++i) {
            co_await to_thread.put(Sample{static_cast<std::uint64_t>(i), now_ns()});
            Sample back = co_await from_thread.get();
            round_trip.add(now_ns() - back.sent_ns);
            all_back = all_back && back.seq == static_cast<std::uint64_t>(i);
        }
        to_thread.close();
        while (co_await from_thread.next()) {
        }
        echo.join();
        round_trip.print("ping-pong task -> thread -> task (both sides asleep between items)");
        check(all_back, "each ping came back before the next was sent");
    }
}

// ---------------------------------------------------------------- 5. second loop

al::Task<void> echo_loop(al::ThreadSafeQueue<Sample>& in, al::ThreadSafeQueue<Sample>& out) {
    while (std::optional<Sample> s = co_await in.next()) co_await out.put(*s);
    out.close();
}

al::Task<void> sender(al::ThreadSafeQueue<Sample>& out, std::uint64_t count) {
    for (std::uint64_t i = 1; i <= count; ++i) co_await out.put(Sample{i, now_ns()});
    out.close();
}

al::Task<void> second_loop() {
    std::printf("\n5. Second loop: two event loops on two cores, both queue ends async\n");
    al::ThreadSafeQueue<Sample> there(256);
    al::ThreadSafeQueue<Sample> back(256);
    int other_cpu = -1;
    std::thread other([&] {
        other_cpu = pin_to(1);
        al::run(echo_loop(there, back));  // a loop of its own on that thread
    });
    std::uint64_t count = is_short ? 50'000 : 1'000'000;
    auto start = al::Clock::now();
    auto send = al::create_task(sender(there, count));
    std::uint64_t received = 0;
    bool in_order = true;
    Latencies transit;
    while (std::optional<Sample> s = co_await back.next()) {
        in_order = in_order && s->seq == ++received;
        if (received % 64 == 0) transit.add(now_ns() - s->sent_ns);
    }
    co_await send;
    double took = seconds_since(start);
    other.join();
    std::printf("   loop on CPU %d -> loop on CPU %d -> back: %llu items in %.2f s (%.2f M items/s)\n",
                al::port::current_cpu(), other_cpu, static_cast<unsigned long long>(received), took,
                static_cast<double>(received) / took / 1e6);
    transit.print("round trip through both loops, queues busy");
    check(received == count && in_order, "every item crossed both loops once, in order");
}

// ---------------------------------------------------------------- 6. blocking calls

int blocking_read(std::chrono::milliseconds t) {
    std::this_thread::sleep_for(t);  // stands for a driver call that blocks
    return 42;
}

// Relaxed: a counter another thread only watches for change.
al::Task<void> heartbeat(std::atomic<int>& beats, std::chrono::milliseconds period) {
    for (;;) {
        co_await al::sleep(period);
        beats.fetch_add(1, std::memory_order_relaxed);
    }
}

al::Task<int> assign_job(al::Context& ctx, int n) {
    co_return co_await ctx.assign([](int x) { return x + 1; }, n);
}

al::Task<void> blocking_calls() {
    std::printf("\n6. Blocking calls: unblock() and Context::assign() on another core\n");
    std::atomic<int> beats{0};
    auto beat = al::create_task(heartbeat(beats, 2ms));
    auto start = al::Clock::now();
    // For the check, the call also waits (at most 10 s) for a heartbeat after
    // its blocking part: had it blocked the loop, no heartbeat could come.
    int v = co_await al::unblock([&beats, t = is_short ? 50ms : 300ms] {
        int before = beats.load(std::memory_order_relaxed);
        int r = blocking_read(t);
        auto give_up = al::Clock::now() + 10s;
        while (beats.load(std::memory_order_relaxed) == before && al::Clock::now() < give_up) {
            std::this_thread::sleep_for(1ms);
        }
        return r;
    });
    double took = seconds_since(start);
    beat.cancel();
    int ticks = beats.load(std::memory_order_relaxed);
    std::printf("   unblock(blocking_read): %d after %.0f ms; a 2 ms heartbeat task beat %d times meanwhile\n", v,
                took * 1000, ticks);
    check(v == 42 && took < 10.0, "the loop kept running while the call blocked a worker thread");

    // One worker, pinned to CPU 1 when there is one; up to 64 jobs queued.
    al::Context ctx(64, 1, cpus_available > 1 ? std::vector<int>{1} : std::vector<int>{});
    Latencies round_trip;
    for (int i = 0; i < (is_short ? 200 : 2000); ++i) {
        auto t0 = now_ns();
        co_await ctx.assign([] { return al::port::current_cpu(); });
        round_trip.add(now_ns() - t0);
    }
    int worker_cpu = co_await ctx.assign([] { return al::port::current_cpu(); });
    round_trip.print("assign round trip, one at a time");

    int jobs = is_short ? 20'000 : 200'000;
    std::vector<al::Task<int>> batch;
    start = al::Clock::now();
    long long sum = 0;
    for (int done = 0; done < jobs; done += 100) {
        batch.clear();
        for (int n = 0; n < 100; ++n) batch.push_back(assign_job(ctx, done + n));
        std::vector<int> results = co_await al::gather(std::move(batch));
        for (int r : results) sum += r;
    }
    took = seconds_since(start);
    std::printf("   %d jobs to the worker on CPU %d, 100 in flight: %.2f s (%.0f jobs/s)\n", jobs, worker_cpu, took,
                jobs / took);
    long long expected = static_cast<long long>(jobs) * (jobs + 1) / 2;
    check(sum == expected, "every job ran once and returned its result to its task");
}

// ---------------------------------------------------------------- 7. shared stream

al::Task<void> stream_writer(al::Stream& s, al::Lock& lock, int id, int count) {
    for (int seq = 0; seq < count; ++seq) {
        auto guard = co_await lock.acquire();  // keeps this message's parts together
        s.write(std::to_string(id) + " " + std::to_string(seq));
        co_await s.drain();
        s.write(" end\n");
        co_await s.drain();
    }
}

al::Task<int> stream_router(al::Stream& s, std::vector<std::unique_ptr<al::Queue<int>>>& to) {
    int bad = 0;
    for (;;) {
        std::string line = co_await s.readline();
        if (line.empty()) co_return bad;
        int id = -1;
        int seq = -1;
        char tail[8] = {};
        if (std::sscanf(line.c_str(), "%d %d %7s", &id, &seq, tail) != 3 || std::strcmp(tail, "end") != 0 || id < 0 ||
            id >= static_cast<int>(to.size())) {
            ++bad;
            continue;
        }
        to[static_cast<std::size_t>(id)]->put_nowait(seq);
    }
}

al::Task<bool> stream_destination(al::Queue<int>& from, int count) {
    bool in_order = true;
    for (int seq = 0; seq < count; ++seq) in_order = (co_await from.get()) == seq && in_order;
    co_return in_order;
}

al::Task<void> shared_stream() {
    std::printf("\n7. A stream shared by several tasks: 4 writers under a Lock, one router task\n");
    auto [tx, rx] = al::open_socketpair();
    const int writers = 4;
    const int count = is_short ? 2'000 : 50'000;
    std::vector<std::unique_ptr<al::Queue<int>>> queues;
    std::vector<al::TaskHandle<bool>> destinations;
    for (int w = 0; w < writers; ++w) {
        queues.push_back(std::make_unique<al::Queue<int>>());
        destinations.push_back(al::create_task(stream_destination(*queues.back(), count)));
    }
    auto router = al::create_task(stream_router(rx, queues));
    al::Lock lock;
    auto start = al::Clock::now();
    std::vector<al::TaskHandle<void>> senders;
    for (int w = 0; w < writers; ++w) senders.push_back(al::create_task(stream_writer(tx, lock, w, count)));
    co_await al::gather(senders);
    std::vector<bool> ordered = co_await al::gather(destinations);
    double took = seconds_since(start);
    tx.close();
    int bad = co_await router;
    std::printf(
        "   %d messages written in two parts each through one socket, routed by header: %.2f s "
        "(%.0f messages/s)\n",
        writers * count, took, writers * count / took);
    check(bad == 0, "no message was split by another writer's bytes");
    check(std::all_of(ordered.begin(), ordered.end(), [](bool b) { return b; }),
          "every message reached its destination, in order");
}

al::Task<void> tour() {
    std::printf("asynclink demo%s: the loop runs on CPU %d; %d CPUs available\n", is_short ? " (short)" : "", pin_to(0),
                al::port::cpu_count());
    co_await the_loop();
    co_await signal_handler();
    co_await scheduled_callback();
    co_await thread_context(0, "3. Thread on the loop's core -> task, through a ThreadSafeQueue");
    co_await thread_context(1, "4. Thread on another core <-> task, through ThreadSafeQueues");
    co_await second_loop();
    co_await blocking_calls();
    co_await shared_stream();
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    cpus_available = al::port::cpu_count();
    auto start = al::Clock::now();
    al::run(tour());
    std::printf("\ndemo: finished in %.1f s\n", seconds_since(start));
    if (failures != 0) {
        std::printf("demo: %d check(s) FAILED\n", failures);
        return 1;
    }
    std::printf("demo: all checks passed\n");
    return 0;
}
