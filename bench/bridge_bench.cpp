// SPDX-License-Identifier: BSL-1.0
// The thread-safe bridge against its peers, workload by workload, in one
// binary:
//
//   queue/<placement>/*       thread -> task throughput of ThreadSafeQueue<uint64_t>
//                             against Boost.Asio's experimental::concurrent_channel
//                             (try_send, consumed by a coroutine) and the raw SPSC
//                             ceiling, moodycamel::ReaderWriterQueue with a
//                             busy-polling consumer thread. Capacity 1024 for all.
//                             asynclink's task awaits get() (asynclink_next:
//                             next(), as an async-for would).
//   round_trip/across/*       a thread sets a ThreadSafeFlag, the sleeping loop
//                             wakes the task, the task answers through a
//                             ThreadSafeQueue to the thread parked in get_sync(true);
//                             against the floor (eventfd + epoll ping-pong between
//                             two threads) and asio::post to an io_context thread
//                             answering through a futex.
//   round_trip/contended/*    the same, with a CPU-bound thread sharing the loop's CPU.
//   signal_wake/<source>/*    signal handler -> task wake latency (median, p99,
//                             p99.9): the handler stamps the time and sets a
//                             ThreadSafeFlag; the task measures now - stamp. The
//                             floor: the same handler writing an eventfd a plain
//                             thread waits on in epoll_wait.
//   to_thread/<placement>/*   task -> thread throughput: co_await put() against a
//                             thread in get_sync(true); Asio: async_send against a
//                             thread polling try_receive; moodycamel as above.
//   fan_out/waiters:N/*       a thread sets a ThreadSafeEvent N tasks wait on; the
//                             last one woken answers the thread; against a thread
//                             posting a timer cancel() to N Asio coroutines.
//   many/producers:N/*        N = 1, 2, 4 producer threads -> one task through
//                             ThreadSafeQueue<uint64_t, many_producers> (put_sync
//                             with block; try_put spinning), against Boost.Asio's
//                             concurrent_channel (try_send, as above) and the raw
//                             MPSC ceiling, moodycamel::ConcurrentQueue with a
//                             producer token per thread (enqueue: unbounded, it
//                             allocates blocks as it needs them) and a
//                             busy-polling consumer thread. Producers alternate between CPU 1
//                             and the loop's CPU 0, starting on CPU 1. Reports
//                             heap allocations per item (count_allocations.hpp;
//                             the whole iteration: threads, loop and queue too).
//   many/signal_handler/*     a thread on CPU 1 signals itself once per item and
//                             its handler puts the item (try_put until accepted;
//                             moodycamel: try_enqueue with a token the handler
//                             owns). Asio's channel takes a mutex: not in a handler.
//   offload/across/*          a task awaits a trivial blocking call on a worker:
//                             Context::assign, unblock(), and co_spawn on a
//                             one-thread asio::thread_pool (workers unpinned, and
//                             pinned to CPU 1 in the *_pinned variants).
//
// Repetitions and run time come from the environment (bench_common.hpp).
//
// Placement: "across" puts the consumer (the loop) on CPU 0 and the producer on
// CPU 1; "same_core" puts both on CPU 0. Spinning peers yield the CPU on a miss
// when they share it (spinning there only measures the scheduler's time slice);
// across CPUs they spin with a pause instruction.
//
// After the runs a table gives each workload's sides and the ratio against
// asynclink, from the medians of the repetitions (> 1: asynclink is better).
//
//   build-bench/bench/bridge_bench
//   build-bench/bench/bridge_bench --benchmark_filter=round_trip
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>

#include <asynclink/asynclink.hpp>
#include <asynclink/posix/periodic_signal.hpp>

#include "bench_common.hpp"
#include "epoll_eventfd.hpp"
#include "count_allocations.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace al = asynclink;
namespace asio = boost::asio;
using asynclink_bench::repeated;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- placement and spinning

constexpr int loop_cpu = 0;
constexpr std::size_t queue_capacity = 1024;
constexpr std::uint64_t queue_batch = std::uint64_t{1} << 20;  // items per timed iteration

enum class Placement { across, same_core };

int producer_cpu(Placement p) { return p == Placement::across ? 1 : loop_cpu; }

/// Pins the calling thread for its lifetime, then gives it back every CPU it
/// could use before, so one benchmark's placement does not leak into the next.
class PinGuard {
public:
    explicit PinGuard(int cpu) noexcept {
        saved_ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
        pinned_ = al::port::pin_current_thread(cpu);
    }
    ~PinGuard() {
        if (saved_ok_) sched_setaffinity(0, sizeof saved_, &saved_);
    }
    PinGuard(const PinGuard&) = delete;
    PinGuard& operator=(const PinGuard&) = delete;
    bool pinned() const noexcept { return pinned_; }

private:
    cpu_set_t saved_{};
    bool saved_ok_ = false;
    bool pinned_ = false;
};

/// Starts fn on a new thread pinned to `cpu` before fn runs. The parent sets
/// the affinity: a thread born on a CPU where its parent spins might otherwise
/// never get to run and pin itself (under a real-time policy it would not).
template <class F>
std::thread start_pinned(int cpu, F fn) {
    std::thread thread(std::move(fn));
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread.native_handle(), sizeof set, &set);
    return thread;
}

/// One miss of a spinning peer: a pause across CPUs, a yield on a shared CPU.
void spin_once(Placement p) noexcept {
    if (p == Placement::same_core) {
        sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

bool placement_possible(benchmark::State& state, Placement p) {
    if (p == Placement::across && al::port::cpu_count() < 2) {
        state.SkipWithError("needs two CPUs");
        return false;
    }
    return true;
}

std::uint64_t expected_sum(std::uint64_t n) { return n * (n + 1) / 2; }

void check_sum(benchmark::State& state, std::uint64_t sum, std::uint64_t iterations) {
    if (sum != expected_sum(queue_batch) * iterations) state.SkipWithError("items lost, duplicated or corrupted");
}

// ---------------------------------------------------------------- raw futex flag (for the peers' answers)

/// A one-shot "answered" flag a thread can park on: 0 empty, 1 answered,
/// 2 a waiter is parked (the answerer must wake it).
class FutexFlag {
public:
    void set() noexcept {
        // release: the waiter sees what the answerer did before; acquire: nothing
        // needed, but exchange keeps the waiter's 2 from being lost.
        if (word_.exchange(1, std::memory_order_acq_rel) == 2) {
            syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
        }
    }
    void wait_and_clear() noexcept {
        std::uint32_t expected = 0;
        // acquire on success and failure: pairs with set()'s release.
        if (word_.compare_exchange_strong(expected, 2, std::memory_order_acquire, std::memory_order_acquire)) {
            // acquire: pairs with set()'s release once it stops reading 2.
            while (word_.load(std::memory_order_acquire) == 2) {
                syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr,
                        0);
            }
        }
        // Relaxed: the next set() comes only after our next request, which is
        // published by the request's own synchronisation.
        word_.store(0, std::memory_order_relaxed);
    }

private:
    std::atomic<std::uint32_t> word_{0};
};
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "futex needs a plain 32-bit word");

// ---------------------------------------------------------------- 1. queue throughput

al::Task<void> al_drain(al::ThreadSafeQueue<std::uint64_t>& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < queue_batch; ++i) sum += co_await queue.get();
}

/// The same with next(), the loop an async-for would be.
al::Task<void> al_drain_next(al::ThreadSafeQueue<std::uint64_t>& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < queue_batch; ++i) sum += *co_await queue.next();
}

template <bool UsePutSync, bool UseNext = false>
void asynclink_queue(benchmark::State& state, Placement placement) {
    if (!placement_possible(state, placement)) return;
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeQueue<std::uint64_t> queue(queue_capacity);
        std::thread producer = start_pinned(producer_cpu(placement), [&queue, placement] {
            for (std::uint64_t v = 1; v <= queue_batch; ++v) {
                if constexpr (UsePutSync) {
                    queue.put_sync(v, true);
                } else {
                    while (!queue.try_put(v)) spin_once(placement);
                }
            }
        });
        al::run(UseNext ? al_drain_next(queue, sum) : al_drain(queue, sum));
        producer.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    check_sum(state, sum, state.iterations());
}

using AsioValueChannel = asio::experimental::concurrent_channel<void(boost::system::error_code, std::uint64_t)>;

asio::awaitable<void> asio_drain(AsioValueChannel& channel, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < queue_batch; ++i) sum += co_await channel.async_receive(asio::use_awaitable);
}

void asio_channel_queue(benchmark::State& state, Placement placement) {
    if (!placement_possible(state, placement)) return;
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        // Concurrency hint 1: one thread runs the context (locking stays on,
        // which the producer thread needs).
        asio::io_context context(1);
        AsioValueChannel channel(context, queue_capacity);
        std::thread producer = start_pinned(producer_cpu(placement), [&channel, placement] {
            for (std::uint64_t v = 1; v <= queue_batch; ++v) {
                while (!channel.try_send(boost::system::error_code{}, v)) spin_once(placement);
            }
        });
        std::exception_ptr failure;
        asio::co_spawn(context, asio_drain(channel, sum), [&failure](std::exception_ptr e) { failure = e; });
        context.run();
        producer.join();
        if (failure) std::rethrow_exception(failure);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    check_sum(state, sum, state.iterations());
}

void moodycamel_queue(benchmark::State& state, Placement placement) {
    if (!placement_possible(state, placement)) return;
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        moodycamel::ReaderWriterQueue<std::uint64_t> queue(queue_capacity);
        std::thread producer = start_pinned(producer_cpu(placement), [&queue, placement] {
            for (std::uint64_t v = 1; v <= queue_batch; ++v) {
                while (!queue.try_enqueue(v)) spin_once(placement);
            }
        });
        for (std::uint64_t i = 0; i < queue_batch; ++i) {
            std::uint64_t v;
            while (!queue.try_dequeue(v)) spin_once(placement);
            sum += v;
        }
        producer.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    check_sum(state, sum, state.iterations());
}

// ---------------------------------------------------------------- 2. wake round trip

/// Reports the time per iteration as ns per round trip as well as round trips/s.
void report_round_trips(benchmark::State& state) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

/// A thread pinned to `cpu` that burns it until destroyed: the competing
/// program of the round_trip/contended workloads.
class CpuHog {
public:
    explicit CpuHog(int cpu)
        : thread_(start_pinned(cpu, [this] {
              // Relaxed: only ends the loop.
              while (!stop_.load(std::memory_order_relaxed)) {
              }
          })) {}
    ~CpuHog() {
        stop_.store(true, std::memory_order_relaxed);
        thread_.join();
    }
    CpuHog(const CpuHog&) = delete;
    CpuHog& operator=(const CpuHog&) = delete;

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

al::Task<void> al_answerer(al::ThreadSafeFlag& ping, al::ThreadSafeQueue<std::uint64_t>& pong,
                           const std::atomic<bool>& stop) {
    for (std::uint64_t round = 0;; ++round) {
        co_await ping.wait();
        // Relaxed: the flag's wait() acquired what the thread wrote before set().
        if (stop.load(std::memory_order_relaxed)) co_return;
        // Never full: the thread takes each answer before it pings again.
        pong.try_put(round);
    }
}

void asynclink_round_trip(benchmark::State& state, al::LoopOptions options) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(1);
    al::ThreadSafeFlag ping;
    al::ThreadSafeQueue<std::uint64_t> pong(1);
    std::atomic<bool> stop{false};
    std::thread loop_thread = start_pinned(loop_cpu, [&] { al::run(al_answerer(ping, pong, stop), options); });
    std::uint64_t expected = 0;
    bool in_order = true;
    for (auto _ : state) {
        ping.set();
        in_order &= pong.get_sync(true) == expected++;
    }
    report_round_trips(state);
    // Relaxed: published by the set() below.
    stop.store(true, std::memory_order_relaxed);
    ping.set();
    loop_thread.join();
    if (!in_order) state.SkipWithError("an answer was lost or out of order");
}

using bench::EpollEventfd;

void eventfd_round_trip(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(1);
    EpollEventfd ping;
    EpollEventfd pong;
    std::atomic<bool> stop{false};
    std::thread answerer = start_pinned(loop_cpu, [&] {
        for (;;) {
            ping.wait_signalled();
            // Relaxed: the eventfd write/read pair orders it (a system call each).
            if (stop.load(std::memory_order_relaxed)) return;
            pong.signal();
        }
    });
    for (auto _ : state) {
        ping.signal();
        pong.wait_signalled();
    }
    report_round_trips(state);
    stop.store(true, std::memory_order_relaxed);
    ping.signal();
    answerer.join();
}

void asio_post_round_trip(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(1);
    asio::io_context context(1);
    auto work = asio::make_work_guard(context);
    std::thread runner = start_pinned(loop_cpu, [&context] { context.run(); });
    FutexFlag answered;
    for (auto _ : state) {
        asio::post(context, [&answered] { answered.set(); });
        answered.wait_and_clear();
    }
    report_round_trips(state);
    work.reset();
    runner.join();
}

// ---------------------------------------------------------------- 3. signal handler -> task wake latency

constexpr std::int64_t signal_samples = 20000;
constexpr auto signal_period = 200us;

std::int64_t now_ns() noexcept { return al::Clock::now().time_since_epoch().count(); }

/// Latency samples of one run, reported as median / p99 / p99.9 counters (ns).
class Latencies {
public:
    explicit Latencies(std::int64_t expected) { samples_.reserve(static_cast<std::size_t>(expected)); }
    void add(std::int64_t ns) { samples_.push_back(ns); }
    void report(benchmark::State& state) {
        if (samples_.empty()) return;
        std::sort(samples_.begin(), samples_.end());
        auto at = [this](double q) {
            auto i = static_cast<std::size_t>(q * static_cast<double>(samples_.size() - 1));
            return static_cast<double>(samples_[i]);
        };
        state.counters["p50_ns"] = at(0.5);
        state.counters["p99_ns"] = at(0.99);
        state.counters["p99.9_ns"] = at(0.999);
        state.counters["max_ns"] = static_cast<double>(samples_.back());
    }

private:
    std::vector<std::int64_t> samples_;
};

// What the signal handlers reach: one benchmark at a time installs its target.
std::atomic<std::int64_t> signal_stamp{0};
std::atomic<al::ThreadSafeFlag*> signal_flag{nullptr};
std::atomic<const EpollEventfd*> signal_eventfd{nullptr};

/// The handler's work, shared by the periodic and the pthread_kill sources.
/// stamp_here: the timer's handler stamps the time; a pthread_kill sender
/// stamped it before sending.
void on_signal_work(bool stamp_here) noexcept {
    // Relaxed: published by the flag's set() / the eventfd write that follows.
    if (stamp_here) signal_stamp.store(now_ns(), std::memory_order_relaxed);
    // Acquire: pairs with the benchmark's release store of the target.
    if (al::ThreadSafeFlag* flag = signal_flag.load(std::memory_order_acquire)) flag->set();
    if (const EpollEventfd* fd = signal_eventfd.load(std::memory_order_acquire)) fd->signal();
}

void periodic_callback(void*) noexcept { on_signal_work(true); }

al::Task<void> al_periodic_main(benchmark::State& state, al::ThreadSafeFlag& flag) {
    Latencies latencies(signal_samples);
    al::PeriodicSignal timer(signal_period, &periodic_callback, nullptr);
    co_await flag.wait();  // the first tick may predate the loop's first sleep: not a sample
    for (auto _ : state) {
        co_await flag.wait();
        latencies.add(now_ns() - signal_stamp.load(std::memory_order_relaxed));
    }
    latencies.report(state);
}

void asynclink_periodic_signal(benchmark::State& state) {
    PinGuard pin(loop_cpu);
    al::ThreadSafeFlag flag;
    // Release: the handler's acquire load then sees a fully built flag.
    signal_flag.store(&flag, std::memory_order_release);
    al::run(al_periodic_main(state, flag));
    signal_flag.store(nullptr, std::memory_order_release);
}

void raw_periodic_signal(benchmark::State& state) {
    PinGuard pin(loop_cpu);
    EpollEventfd fd;
    signal_eventfd.store(&fd, std::memory_order_release);
    Latencies latencies(signal_samples);
    {
        al::PeriodicSignal timer(signal_period, &periodic_callback, nullptr);
        fd.wait_signalled();
        for (auto _ : state) {
            fd.wait_signalled();
            latencies.add(now_ns() - signal_stamp.load(std::memory_order_relaxed));
        }
    }
    signal_eventfd.store(nullptr, std::memory_order_release);
    latencies.report(state);
}

// pthread_kill: a sender thread on the other CPU stamps the time and signals
// the loop's thread, once the previous signal was measured and the loop had
// time to fall asleep again. Measures delivery across CPUs plus the wake.
constexpr int kill_signal_offset = 3;  // SIGRTMIN + 3: PeriodicSignal uses + 2
int kill_signal() { return SIGRTMIN + kill_signal_offset; }

void on_kill_signal(int) noexcept {
    int saved = errno;
    on_signal_work(false);
    errno = saved;
}

/// Installs the pthread_kill handler for its lifetime, and runs the sender.
class KillSender {
public:
    explicit KillSender(pthread_t target) {
        struct sigaction action {};
        action.sa_handler = &on_kill_signal;
        sigemptyset(&action.sa_mask);
        sigaction(kill_signal(), &action, &previous_);
        sender_ = start_pinned(1, [this, target] {
            // Relaxed: stop_ only ends the pacing loop.
            while (!stop_.load(std::memory_order_relaxed)) {
                std::this_thread::sleep_for(100us);
                // acquire: pairs with measured(), so the loop's read of the old
                // stamp happens before we overwrite it.
                if (measured_.load(std::memory_order_acquire) != sent_) continue;
                ++sent_;
                signal_stamp.store(now_ns(), std::memory_order_relaxed);
                pthread_kill(target, kill_signal());
            }
        });
    }
    ~KillSender() {
        stop_.store(true, std::memory_order_relaxed);
        sender_.join();
        sigaction(kill_signal(), &previous_, nullptr);
    }
    KillSender(const KillSender&) = delete;
    KillSender& operator=(const KillSender&) = delete;

    /// The loop measured the latest signal: the sender may send the next.
    /// release: see the sender's acquire.
    void measured() noexcept { measured_.fetch_add(1, std::memory_order_release); }

private:
    struct sigaction previous_ {};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> measured_{0};
    std::uint64_t sent_ = 0;
    std::thread sender_;
};

al::Task<void> al_kill_main(benchmark::State& state, al::ThreadSafeFlag& flag) {
    Latencies latencies(signal_samples);
    KillSender sender(pthread_self());
    for (auto _ : state) {
        co_await flag.wait();
        latencies.add(now_ns() - signal_stamp.load(std::memory_order_relaxed));
        sender.measured();
    }
    latencies.report(state);
}

void asynclink_kill_signal(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    al::ThreadSafeFlag flag;
    signal_flag.store(&flag, std::memory_order_release);
    al::run(al_kill_main(state, flag));
    signal_flag.store(nullptr, std::memory_order_release);
}

void raw_kill_signal(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    EpollEventfd fd;
    signal_eventfd.store(&fd, std::memory_order_release);
    Latencies latencies(signal_samples);
    {
        KillSender sender(pthread_self());
        for (auto _ : state) {
            fd.wait_signalled();
            latencies.add(now_ns() - signal_stamp.load(std::memory_order_relaxed));
            sender.measured();
        }
    }
    signal_eventfd.store(nullptr, std::memory_order_release);
    latencies.report(state);
}

// ---------------------------------------------------------------- 4. what idling costs

// The loop's adaptive spin must not make an idle loop burn CPU: a task waits on
// a ThreadSafeFlag that a thread on the other CPU sets `rate` times a second
// (0: never) for idle_window; reported is the CPU time of the loop's thread as
// a percentage of one core, with the default LoopOptions and with no spin.
constexpr auto idle_window = 500ms;

std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

al::Task<void> wait_flag_forever(al::ThreadSafeFlag& flag) {
    for (;;) co_await flag.wait();
}

al::Task<double> al_idle_main(al::ThreadSafeFlag& flag, std::int64_t rate) {
    std::atomic<bool> stop{false};
    std::thread setter = start_pinned(1, [&flag, &stop, rate] {
        if (rate == 0) return;
        auto period = std::chrono::nanoseconds(1s) / rate;
        auto next = std::chrono::steady_clock::now();
        // Relaxed: only ends the loop.
        while (!stop.load(std::memory_order_relaxed)) {
            next += period;
            std::this_thread::sleep_until(next);
            flag.set();
        }
    });
    auto cpu0 = thread_cpu_time();
    auto wall0 = al::Clock::now();
    try {
        co_await al::wait_for(wait_flag_forever(flag), idle_window);
    } catch (const al::TimeoutError&) {
    }
    double percent = 100.0 * static_cast<double>((thread_cpu_time() - cpu0).count()) /
                     static_cast<double>(std::chrono::nanoseconds(al::Clock::now() - wall0).count());
    stop.store(true, std::memory_order_relaxed);
    setter.join();
    co_return percent;
}

void asynclink_idle(benchmark::State& state, const al::LoopOptions& options, std::int64_t rate) {
    PinGuard pin(loop_cpu);
    double percent = 0;
    for (auto _ : state) {
        al::ThreadSafeFlag flag;
        percent = al::run(al_idle_main(flag, rate), options);
    }
    state.counters["cpu_%"] = percent;
}

// ---------------------------------------------------------------- 5. task -> thread throughput

// A task produces queue_batch items; a thread pinned per the placement
// consumes them. asynclink: co_await put() / get_sync(true). Asio: the
// coroutine's async_send, the thread polling try_receive. The moodycamel
// ceiling is the same SPSC pair as for thread -> task.

al::Task<void> al_fill(al::ThreadSafeQueue<std::uint64_t>& queue) {
    for (std::uint64_t v = 1; v <= queue_batch; ++v) co_await queue.put(v);
}

void asynclink_to_thread(benchmark::State& state, Placement placement) {
    if (!placement_possible(state, placement)) return;
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeQueue<std::uint64_t> queue(queue_capacity);
        std::thread consumer = start_pinned(producer_cpu(placement), [&queue, &sum] {
            for (std::uint64_t i = 0; i < queue_batch; ++i) sum += queue.get_sync(true);
        });
        al::run(al_fill(queue));
        consumer.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    check_sum(state, sum, state.iterations());
}

asio::awaitable<void> asio_fill(AsioValueChannel& channel) {
    for (std::uint64_t v = 1; v <= queue_batch; ++v) {
        co_await channel.async_send(boost::system::error_code{}, v, asio::use_awaitable);
    }
}

void asio_channel_to_thread(benchmark::State& state, Placement placement) {
    if (!placement_possible(state, placement)) return;
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        asio::io_context context(1);
        AsioValueChannel channel(context, queue_capacity);
        std::thread consumer = start_pinned(producer_cpu(placement), [&channel, &sum, placement] {
            for (std::uint64_t i = 0; i < queue_batch; ++i) {
                while (!channel.try_receive([&sum](boost::system::error_code, std::uint64_t v) { sum += v; })) {
                    spin_once(placement);
                }
            }
        });
        std::exception_ptr failure;
        asio::co_spawn(context, asio_fill(channel), [&failure](std::exception_ptr e) { failure = e; });
        context.run();
        consumer.join();
        if (failure) std::rethrow_exception(failure);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    check_sum(state, sum, state.iterations());
}

// ---------------------------------------------------------------- 6. ThreadSafeEvent fan-out

// A thread (CPU 1) signals an event that range(0) tasks on a loop (CPU 0)
// wait on; the last task to wake answers the thread, which then signals the
// next round. One iteration = one set -> every waiter woken -> answer.
//
// asynclink: ThreadSafeEvent::set() from the thread. Two events alternate so
// that a task woken early waits on a cleared event: the thread clears the
// other event (whose round is over: every waiter answered) before setting
// this round's. Asio has no cross-thread event: the thread posts a handler
// that cancels a never-expiring timer, which wakes every coroutine waiting on
// it (a woken coroutine's next wait is a new one, not cancelled).

struct AlFanOut {
    al::ThreadSafeEvent events[2];
    al::ThreadSafeQueue<std::uint64_t> answer{1};
    std::int64_t waiters = 0;
    std::int64_t woken = 0;  // loop thread only
    bool stop = false;       // written before the last set(); read after a wake
};

al::Task<void> al_fan_waiter(AlFanOut& f) {
    for (std::uint64_t round = 0;; ++round) {
        co_await f.events[round & 1].wait();
        if (f.stop) co_return;
        if (++f.woken == f.waiters) {
            f.woken = 0;
            f.answer.try_put(round);  // never full: the thread takes each answer before the next set
        }
    }
}

al::Task<void> al_fan_main(AlFanOut& f) {
    // A set() before a waiter first waits is kept by the event: no round is lost.
    std::vector<al::TaskHandle<void>> tasks;
    tasks.reserve(static_cast<std::size_t>(f.waiters));
    for (std::int64_t i = 0; i < f.waiters; ++i) tasks.push_back(al::create_task(al_fan_waiter(f)));
    for (auto& t : tasks) co_await t;
}

void asynclink_fan_out(benchmark::State& state, al::LoopOptions options) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(1);
    AlFanOut f;
    f.waiters = state.range(0);
    std::thread loop_thread = start_pinned(loop_cpu, [&f, options] { al::run(al_fan_main(f), options); });
    std::uint64_t round = 0;
    bool in_order = true;
    for (auto _ : state) {
        f.events[(round + 1) & 1].clear();
        f.events[round & 1].set();
        in_order &= f.answer.get_sync(true) == round;
        ++round;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    f.events[(round + 1) & 1].clear();
    f.stop = true;  // published by the set() below
    f.events[round & 1].set();
    loop_thread.join();
    if (!in_order) state.SkipWithError("a round's answer was lost or out of order");
}

struct AsioFanOut {
    explicit AsioFanOut(asio::io_context& context) : timer(context) {
        timer.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer timer;
    FutexFlag answer;
    std::int64_t waiters = 0;
    std::int64_t woken = 0;
    bool stop = false;
};

asio::awaitable<void> asio_fan_waiter(AsioFanOut& f) {
    for (;;) {
        boost::system::error_code ignored;
        co_await f.timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        if (f.stop) co_return;
        if (++f.woken == f.waiters) {
            f.woken = 0;
            f.answer.set();
        }
    }
}

void asio_fan_out(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(1);
    asio::io_context context(1);
    AsioFanOut f(context);
    f.waiters = state.range(0);
    for (std::int64_t i = 0; i < f.waiters; ++i) asio::co_spawn(context, asio_fan_waiter(f), asio::detached);
    std::thread runner = start_pinned(loop_cpu, [&context] { context.run(); });
    for (auto _ : state) {
        asio::post(context, [&f] { f.timer.cancel(); });
        f.answer.wait_and_clear();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    asio::post(context, [&f] {
        f.stop = true;
        f.timer.cancel();
    });
    runner.join();
}

// ---------------------------------------------------------------- 7. blocking call offload

// A task on the loop (CPU 0) awaits a trivial blocking function run on a
// worker, one call at a time: the round trip loop -> worker -> loop.
// asynclink: Context(64, 1).assign, and unblock() (its shared pool). Asio:
// co_spawn of the call on a one-thread asio::thread_pool, awaited from a
// coroutine on the io_context. The worker is left where the scheduler puts it
// (as Tokio's spawn_blocking and CPython's to_thread leave theirs), and, in
// the *_pinned variants, pinned to CPU 1.

std::uint64_t blocking_call(std::uint64_t x) noexcept { return x + 1; }

enum class Offload { context, context_pinned, unblock };

al::Task<void> al_offload_main(benchmark::State& state, Offload how) {
    bool use_unblock = how == Offload::unblock;
    std::optional<al::Context> context;
    if (how == Offload::context) context.emplace(64, 1);
    if (how == Offload::context_pinned) context.emplace(64, 1, std::vector<int>{1});
    std::uint64_t x = 0;
    for (auto _ : state) {
        x = use_unblock ? co_await al::unblock(blocking_call, x) : co_await context->assign(blocking_call, x);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (x != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("a call's result was lost");
}

void asynclink_offload(benchmark::State& state, Offload how) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    al::run(al_offload_main(state, how));
}

asio::awaitable<std::uint64_t> asio_blocking_call(std::uint64_t x) { co_return blocking_call(x); }

asio::awaitable<void> asio_offload_main(benchmark::State& state, asio::thread_pool& pool) {
    std::uint64_t x = 0;
    for (auto _ : state) x = co_await asio::co_spawn(pool, asio_blocking_call(x), asio::use_awaitable);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (x != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("a call's result was lost");
}

void asio_offload(benchmark::State& state, bool pinned) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    asio::thread_pool pool(1);
    if (pinned) asio::post(pool, [] { al::port::pin_current_thread(1); });
    asio::io_context context(1);
    std::exception_ptr failure;
    asio::co_spawn(context, asio_offload_main(state, pool), [&failure](std::exception_ptr e) { failure = e; });
    context.run();
    pool.join();
    if (failure) std::rethrow_exception(failure);
}

// ---------------------------------------------------------------- 8. many producers -> one task

using ManyQueue = al::ThreadSafeQueue<std::uint64_t, al::many_producers>;

int many_producer_cpu(std::int64_t p) { return p % 2 == 0 ? 1 : loop_cpu; }

/// A spinning side's miss: across CPUs with one producer; with more, every
/// CPU is shared by two spinners or more, so a miss yields.
void many_spin_once(std::int64_t producers) noexcept {
    spin_once(producers == 1 ? Placement::across : Placement::same_core);
}

/// Producer p's share of the batch: p * n + 1 .. (p + 1) * n, so the sum is
/// that of 1 .. queue_batch.
template <class Put>
std::thread start_many_producer(std::int64_t producers, std::int64_t p, Put put) {
    return start_pinned(many_producer_cpu(p), [producers, p, put] {
        std::uint64_t n = queue_batch / static_cast<std::uint64_t>(producers);
        std::uint64_t first = static_cast<std::uint64_t>(p) * n + 1;
        for (std::uint64_t v = first; v < first + n; ++v) put(v);
    });
}

/// Counts heap allocations over a benchmark's iterations, per item.
class AllocationsPerItem {
public:
    AllocationsPerItem() : before_(asynclink_bench::heap_allocations.load(std::memory_order_relaxed)) {}
    void report(benchmark::State& state, std::uint64_t items) const {
        // Relaxed: read after the threads that allocated were joined.
        std::uint64_t n = asynclink_bench::heap_allocations.load(std::memory_order_relaxed) - before_;
        state.counters["allocs_per_item"] =
            static_cast<double>(n) / static_cast<double>(std::max<std::uint64_t>(items, 1));
    }

private:
    std::uint64_t before_;
};

al::Task<void> al_many_drain(ManyQueue& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < queue_batch; ++i) sum += co_await queue.get();
}

template <bool UsePutSync>
void asynclink_many(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    std::int64_t producers = state.range(0);
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    AllocationsPerItem allocations;
    for (auto _ : state) {
        ManyQueue queue(queue_capacity);
        std::vector<std::thread> threads;
        for (std::int64_t p = 0; p < producers; ++p) {
            threads.push_back(start_many_producer(producers, p, [&queue, producers](std::uint64_t v) {
                if constexpr (UsePutSync) {
                    queue.put_sync(v, true);
                } else {
                    while (!queue.try_put(v)) many_spin_once(producers);
                }
            }));
        }
        al::run(al_many_drain(queue, sum));
        for (auto& t : threads) t.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    allocations.report(state, state.iterations() * queue_batch);
    check_sum(state, sum, state.iterations());
}

void asio_channel_many(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    std::int64_t producers = state.range(0);
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    AllocationsPerItem allocations;
    for (auto _ : state) {
        asio::io_context context(1);
        AsioValueChannel channel(context, queue_capacity);
        std::vector<std::thread> threads;
        for (std::int64_t p = 0; p < producers; ++p) {
            threads.push_back(start_many_producer(producers, p, [&channel, producers](std::uint64_t v) {
                while (!channel.try_send(boost::system::error_code{}, v)) many_spin_once(producers);
            }));
        }
        std::exception_ptr failure;
        asio::co_spawn(context, asio_drain(channel, sum), [&failure](std::exception_ptr e) { failure = e; });
        context.run();
        for (auto& t : threads) t.join();
        if (failure) std::rethrow_exception(failure);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    allocations.report(state, state.iterations() * queue_batch);
    check_sum(state, sum, state.iterations());
}

void moodycamel_many(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    std::int64_t producers = state.range(0);
    PinGuard pin(loop_cpu);
    std::uint64_t sum = 0;
    AllocationsPerItem allocations;
    for (auto _ : state) {
        moodycamel::ConcurrentQueue<std::uint64_t> queue(queue_capacity);
        std::vector<std::thread> threads;
        for (std::int64_t p = 0; p < producers; ++p) {
            threads.push_back(start_pinned(many_producer_cpu(p), [&queue, producers, p] {
                moodycamel::ProducerToken token(queue);
                std::uint64_t n = queue_batch / static_cast<std::uint64_t>(producers);
                std::uint64_t first = static_cast<std::uint64_t>(p) * n + 1;
                // enqueue, not try_enqueue: the ceiling grows its blocks as it
                // needs them (try_enqueue over the preallocated blocks stalls
                // for long stretches with two producers or more).
                for (std::uint64_t v = first; v < first + n; ++v) queue.enqueue(token, v);
            }));
        }
        moodycamel::ConsumerToken token(queue);
        for (std::uint64_t i = 0; i < queue_batch; ++i) {
            std::uint64_t v;
            while (!queue.try_dequeue(token, v)) many_spin_once(producers);
            sum += v;
        }
        for (auto& t : threads) t.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    allocations.report(state, state.iterations() * queue_batch);
    check_sum(state, sum, state.iterations());
}

// A signal handler as the producer: the thread signals itself once per item
// (pthread_kill to itself is delivered before it returns), and the handler
// puts the next item, retrying until the consumer on the other CPU made room.
constexpr std::uint64_t signal_batch = queue_batch / 16;
constexpr int many_signal_offset = 4;  // SIGRTMIN + 4: the others use + 2 and + 3

std::atomic<ManyQueue*> signal_many_queue{nullptr};
std::atomic<moodycamel::ConcurrentQueue<std::uint64_t>*> signal_moodycamel{nullptr};
std::atomic<moodycamel::ProducerToken*> signal_moodycamel_token{nullptr};
std::uint64_t signal_next_item = 0;  // the handler's, on the one producer thread

void on_many_signal(int) noexcept {
    std::uint64_t v = ++signal_next_item;
    // Acquire (both): pairs with the benchmark's release store of the target.
    if (ManyQueue* q = signal_many_queue.load(std::memory_order_acquire)) {
        while (!q->try_put(v)) spin_once(Placement::across);
    } else if (auto* mq = signal_moodycamel.load(std::memory_order_acquire)) {
        auto* token = signal_moodycamel_token.load(std::memory_order_acquire);
        while (!mq->try_enqueue(*token, v)) spin_once(Placement::across);
    }
}

/// Installs the handler for its lifetime.
class ManySignal {
public:
    ManySignal() {
        struct sigaction action {};
        action.sa_handler = &on_many_signal;
        sigemptyset(&action.sa_mask);
        sigaction(SIGRTMIN + many_signal_offset, &action, &previous_);
    }
    ~ManySignal() { sigaction(SIGRTMIN + many_signal_offset, &previous_, nullptr); }
    ManySignal(const ManySignal&) = delete;
    ManySignal& operator=(const ManySignal&) = delete;
    static std::thread start_producer() {
        return start_pinned(1, [] {
            signal_next_item = 0;
            for (std::uint64_t i = 0; i < signal_batch; ++i)
                pthread_kill(pthread_self(), SIGRTMIN + many_signal_offset);
        });
    }

private:
    struct sigaction previous_ {};
};

al::Task<void> al_signal_drain(ManyQueue& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < signal_batch; ++i) sum += co_await queue.get();
}

void asynclink_many_signal(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    ManySignal handler;
    std::uint64_t sum = 0;
    AllocationsPerItem allocations;
    for (auto _ : state) {
        ManyQueue queue(queue_capacity);
        signal_many_queue.store(&queue, std::memory_order_release);  // release: see the handler
        std::thread producer = ManySignal::start_producer();
        al::run(al_signal_drain(queue, sum));
        producer.join();
        signal_many_queue.store(nullptr, std::memory_order_release);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * signal_batch));
    allocations.report(state, state.iterations() * signal_batch);
    if (sum != expected_sum(signal_batch) * state.iterations()) state.SkipWithError("items lost or corrupted");
}

void moodycamel_many_signal(benchmark::State& state) {
    if (!placement_possible(state, Placement::across)) return;
    PinGuard pin(loop_cpu);
    ManySignal handler;
    std::uint64_t sum = 0;
    AllocationsPerItem allocations;
    for (auto _ : state) {
        moodycamel::ConcurrentQueue<std::uint64_t> queue(queue_capacity);
        moodycamel::ProducerToken token(queue);
        signal_moodycamel_token.store(&token, std::memory_order_release);  // release: see the handler
        signal_moodycamel.store(&queue, std::memory_order_release);
        std::thread producer = ManySignal::start_producer();
        moodycamel::ConsumerToken consumer(queue);
        for (std::uint64_t i = 0; i < signal_batch; ++i) {
            std::uint64_t v;
            while (!queue.try_dequeue(consumer, v)) spin_once(Placement::across);
            sum += v;
        }
        producer.join();
        signal_moodycamel.store(nullptr, std::memory_order_release);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * signal_batch));
    allocations.report(state, state.iterations() * signal_batch);
    if (sum != expected_sum(signal_batch) * state.iterations()) state.SkipWithError("items lost or corrupted");
}

// ---------------------------------------------------------------- registration

using BenchFn = void (*)(benchmark::State&);

void register_queue(const char* placement_name, Placement placement) {
    const std::pair<const char*, void (*)(benchmark::State&, Placement)> sides[] = {
        {"asynclink", asynclink_queue<true>},
        {"asynclink_try_put", asynclink_queue<false>},
        {"asynclink_next", asynclink_queue<true, true>},
        {"asio_channel", asio_channel_queue},
        {"moodycamel", moodycamel_queue},
    };
    for (const auto& [side, fn] : sides) {
        repeated(
            benchmark::RegisterBenchmark((std::string("queue/") + placement_name + "/" + side).c_str(), fn, placement)
                ->UseRealTime(),
            0.2);
    }
    const std::pair<const char*, void (*)(benchmark::State&, Placement)> to_thread_sides[] = {
        {"asynclink", asynclink_to_thread},
        {"asio_channel", asio_channel_to_thread},
        {"moodycamel", moodycamel_queue},
    };
    for (const auto& [side, fn] : to_thread_sides) {
        repeated(benchmark::RegisterBenchmark((std::string("to_thread/") + placement_name + "/" + side).c_str(), fn,
                                              placement)
                     ->UseRealTime(),
                 0.2);
    }
}

void register_many() {
    const std::pair<const char*, BenchFn> sides[] = {
        {"asynclink", asynclink_many<true>},
        {"asynclink_try_put", asynclink_many<false>},
        {"asio_channel", asio_channel_many},
        {"moodycamel", moodycamel_many},
    };
    for (std::int64_t producers : {1, 2, 4}) {
        for (const auto& [side, fn] : sides) {
            std::string name = "many/producers:" + std::to_string(producers) + "/" + side;
            repeated(benchmark::RegisterBenchmark(name.c_str(), fn)->Arg(producers)->UseRealTime(), 0.2);
        }
    }
    const std::pair<const char*, BenchFn> signal_sides[] = {
        {"asynclink", asynclink_many_signal},
        {"moodycamel", moodycamel_many_signal},
    };
    for (const auto& [side, fn] : signal_sides) {
        std::string name = std::string("many/signal_handler/") + side;
        repeated(benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime(), 0.2);
    }
}

void register_all() {
    register_queue("across", Placement::across);
    register_queue("same_core", Placement::same_core);
    register_many();

    al::LoopOptions no_spin;
    no_spin.spin_before_sleep = al::Clock::duration::zero();
    const std::pair<const char*, std::function<void(benchmark::State&)>> round_trips[] = {
        {"asynclink", [](benchmark::State& s) { asynclink_round_trip(s, al::LoopOptions{}); }},
        {"asynclink_no_spin", [no_spin](benchmark::State& s) { asynclink_round_trip(s, no_spin); }},
        {"eventfd_epoll", eventfd_round_trip},
        {"asio_post", asio_post_round_trip},
    };
    for (const auto& [side, fn] : round_trips) {
        repeated(benchmark::RegisterBenchmark((std::string("round_trip/across/") + side).c_str(), fn)
                     ->UseRealTime()
                     ->Unit(benchmark::kMicrosecond),
                 0.2);
    }
    // The same with a CPU-bound thread sharing the loop's CPU (another program
    // on a busy machine): what a waiter that yields its CPU while it spins pays.
    for (const auto& [side, fn] : round_trips) {
        repeated(benchmark::RegisterBenchmark((std::string("round_trip/contended/") + side).c_str(),
                                              [fn = fn](benchmark::State& s) {
                                                  CpuHog hog(loop_cpu);
                                                  fn(s);
                                              })
                     ->UseRealTime()
                     ->Unit(benchmark::kMicrosecond),
                 0.2);
    }

    const std::pair<const char*, std::function<void(benchmark::State&)>> fan_outs[] = {
        {"asynclink", [](benchmark::State& s) { asynclink_fan_out(s, al::LoopOptions{}); }},
        {"asynclink_no_spin", [no_spin](benchmark::State& s) { asynclink_fan_out(s, no_spin); }},
        {"asio_post", asio_fan_out},
    };
    for (std::int64_t waiters : {1, 10, 1000}) {
        for (const auto& [side, fn] : fan_outs) {
            std::string name = "fan_out/waiters:" + std::to_string(waiters) + "/" + side;
            repeated(benchmark::RegisterBenchmark(name.c_str(), fn)
                         ->Arg(waiters)
                         ->UseRealTime()
                         ->Unit(benchmark::kMicrosecond),
                     0.2);
        }
    }

    const std::pair<const char*, BenchFn> offloads[] = {
        {"asynclink", [](benchmark::State& s) { asynclink_offload(s, Offload::context); }},
        {"asynclink_pinned", [](benchmark::State& s) { asynclink_offload(s, Offload::context_pinned); }},
        {"asynclink_unblock", [](benchmark::State& s) { asynclink_offload(s, Offload::unblock); }},
        {"asio_thread_pool", [](benchmark::State& s) { asio_offload(s, false); }},
        {"asio_thread_pool_pinned", [](benchmark::State& s) { asio_offload(s, true); }},
    };
    for (const auto& [side, fn] : offloads) {
        repeated(benchmark::RegisterBenchmark((std::string("offload/across/") + side).c_str(), fn)
                     ->UseRealTime()
                     ->Unit(benchmark::kMicrosecond),
                 0.2);
    }

    const std::pair<const char*, al::LoopOptions> idles[] = {{"asynclink", al::LoopOptions{}},
                                                             {"asynclink_no_spin", no_spin}};
    for (std::int64_t rate : {0, 1000, 10000, 30000}) {
        for (const auto& [side, options] : idles) {
            std::string name = "idle_cpu/sets_per_s:" + std::to_string(rate) + "/" + side;
            benchmark::RegisterBenchmark(name.c_str(), asynclink_idle, options, rate)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond)
                ->Iterations(1);
        }
    }

    const std::pair<const char*, BenchFn> signals[] = {
        {"signal_wake/periodic/asynclink", asynclink_periodic_signal},
        {"signal_wake/periodic/raw_epoll", raw_periodic_signal},
        {"signal_wake/pthread_kill/asynclink", asynclink_kill_signal},
        {"signal_wake/pthread_kill/raw_epoll", raw_kill_signal},
    };
    for (const auto& [name, fn] : signals) {
        // One long run: the percentiles come from its samples, not from repetitions.
        benchmark::RegisterBenchmark(name, fn)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond)
            ->Iterations(signal_samples);
    }
}

// ---------------------------------------------------------------- the ratio table

/// Prints what the console reporter prints, then per workload each side's
/// figure (median of the repetitions) and asynclink's ratio against it.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (!median && run.run_type == Run::RT_Aggregate) continue;
            if (run.error_occurred) continue;
            // function_name is "<workload>/<side>".
            const std::string& function = run.run_name.function_name;
            std::size_t slash = function.rfind('/');
            std::string workload = function.substr(0, slash);
            std::string side = function.substr(slash + 1);
            Result r;
            if (workload.starts_with("queue/") || workload.starts_with("many/")) {
                r = {counter(run, "items_per_second") / 1e6, "M items/s", true};
            } else if (workload.starts_with("to_thread/")) {
                r = {counter(run, "items_per_second") / 1e6, "M items/s", true};
            } else if (workload.starts_with("round_trip/") || workload.starts_with("fan_out/") ||
                       workload.starts_with("offload/")) {
                r = {run.GetAdjustedRealTime(), "us/round trip", false};
            } else if (workload.starts_with("idle_cpu/")) {
                r = {counter(run, "cpu_%"), "% of a core", false};
            } else {
                r = {counter(run, "p50_ns") / 1e3, "us median", false};
                r.extra = counter(run, "p99_ns") / 1e3;
                r.extra2 = counter(run, "p99.9_ns") / 1e3;
            }
            auto [slot, added] = rows_[workload].try_emplace(side, r);
            if (!added && median) slot->second = r;
            if (std::find(order_.begin(), order_.end(), workload) == order_.end()) order_.push_back(workload);
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::FILE* out = stdout;
        std::fflush(out);
        std::fprintf(out, "\n%-24s %-18s %12s %-14s %10s\n", "workload", "side", "value", "unit", "asynclink x");
        for (const std::string& workload : order_) {
            const auto& sides = rows_[workload];
            auto ours = sides.find("asynclink");
            for (const auto& [side, r] : sides) {
                std::fprintf(out, "%-24s %-18s %12.3f %-14s", workload.c_str(), side.c_str(), r.value, r.unit);
                if (ours != sides.end() && r.value > 0 && ours->second.value > 0) {
                    double ratio = r.higher_is_better ? ours->second.value / r.value : r.value / ours->second.value;
                    std::fprintf(out, " %10.2f", ratio);
                }
                if (r.extra > 0) std::fprintf(out, "   p99 %.1f us, p99.9 %.1f us", r.extra, r.extra2);
                std::fputc('\n', out);
            }
        }
        std::fprintf(out,
                     "asynclink x = how many times better asynclink's figure is than that side's (> 1: asynclink "
                     "wins)\n");
    }

private:
    struct Result {
        double value = 0;
        const char* unit = "";
        bool higher_is_better = false;
        double extra = 0;
        double extra2 = 0;
    };
    static double counter(const Run& run, const char* name) {
        auto it = run.counters.find(name);
        return it == run.counters.end() ? 0.0 : it->second.value;
    }
    std::map<std::string, std::map<std::string, Result>> rows_;
    std::vector<std::string> order_;
};

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
