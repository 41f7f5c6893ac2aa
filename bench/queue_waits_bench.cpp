// SPDX-License-Identifier: BSL-1.0
// Which end of a ThreadSafeQueue waits, and how often: bridge_bench's
// thread -> task and task -> thread rows (capacity 1024, 2^20 uint64_t per
// iteration, the loop on CPU 0, the thread on CPU 1 or 0) with the queue's
// stats() read after each iteration. A separate program, so that reading the
// counters changes nothing in bridge_bench's timed code (its layout alone has
// moved a row by 6 %: docs/benchmarks.md).
//
//   waits/<direction>/<placement>   counters per item: producer_waits (a put
//                                   that found the queue full), consumer_waits
//                                   (a get that found it empty)
//   round_trip/across               one item at a time: a thread sets a flag,
//                                   a task answers on the queue, the thread
//                                   takes it in get_sync(true)
//   ping_pong/across                one item at a time both ways over two
//                                   queues: each end waits at every item
//
// With --full_fences the queues use the fallback fences (a full fence on
// both sides, as where the kernel has no membarrier), to compare the two.
//
// docs/benchmarks.md ("A producer that waits for a batch of room") reads them.
//
//   build-bench/bench/queue_waits_bench [--full_fences]
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <asynclink/asynclink.hpp>

#include "bench_common.hpp"

#include <cstdint>
#include <string_view>
#include <thread>

namespace al = asynclink;

namespace {

constexpr std::size_t capacity = 1024;
constexpr std::uint64_t batch = std::uint64_t{1} << 20;
constexpr std::uint64_t trips = 1 << 14;  // per iteration of the round-trip rows

void pin(std::thread::native_handle_type thread, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread, sizeof set, &set);
}

/// Pins the calling thread (the loop's) to CPU 0 while it lives, then gives
/// it back the CPUs it had.
class OnCpu0 {
public:
    OnCpu0() : restore_(sched_getaffinity(0, sizeof saved_, &saved_) == 0) { pin(pthread_self(), 0); }
    ~OnCpu0() {
        if (restore_) sched_setaffinity(0, sizeof saved_, &saved_);
    }
    OnCpu0(const OnCpu0&) = delete;
    OnCpu0& operator=(const OnCpu0&) = delete;

private:
    cpu_set_t saved_;
    bool restore_;
};

/// After the round-trip rows: every answer arrived, once.
void count_trips(benchmark::State& state, std::uint64_t sum) {
    if (sum != trips * (trips + 1) / 2 * state.iterations()) state.SkipWithError("items lost or corrupted");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * trips));
}

al::Task<void> drain(al::ThreadSafeQueue<std::uint64_t>& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < batch; ++i) sum += co_await queue.get();
}

al::Task<void> fill(al::ThreadSafeQueue<std::uint64_t>& queue) {
    for (std::uint64_t v = 1; v <= batch; ++v) co_await queue.put(v);
}

/// ToTask: a thread in put_sync(v, true) -> a task in co_await get();
/// otherwise a task in co_await put() -> a thread in get_sync(true).
template <bool ToTask>
void waits(benchmark::State& state, int thread_cpu) {
    OnCpu0 on_cpu0;
    std::uint64_t producer_waits = 0;
    std::uint64_t consumer_waits = 0;
    std::uint64_t full_fences = 0;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeQueue<std::uint64_t> queue(capacity);
        std::thread other([&queue, &sum] {
            if constexpr (ToTask) {
                for (std::uint64_t v = 1; v <= batch; ++v) queue.put_sync(v, true);
            } else {
                for (std::uint64_t i = 0; i < batch; ++i) sum += queue.get_sync(true);
            }
        });
        pin(other.native_handle(), thread_cpu);
        if constexpr (ToTask) {
            al::run(drain(queue, sum));
        } else {
            al::run(fill(queue));
        }
        other.join();
        full_fences += queue.uses_full_fences() ? 1 : 0;
        al::QueueStats s = queue.stats();
        producer_waits += s.producer_waits;
        consumer_waits += s.consumer_waits;
    }
    if (sum != batch * (batch + 1) / 2 * state.iterations()) state.SkipWithError("items lost or corrupted");
    auto items = static_cast<double>(state.iterations() * batch);
    state.SetItemsProcessed(static_cast<std::int64_t>(items));
    state.counters["producer_waits"] = static_cast<double>(producer_waits) / items;
    state.counters["consumer_waits"] = static_cast<double>(consumer_waits) / items;
    state.counters["full_fences"] = static_cast<double>(full_fences) / static_cast<double>(state.iterations());
}

al::Task<void> answer(al::ThreadSafeFlag& ping, al::ThreadSafeQueue<std::uint64_t>& pong) {
    for (std::uint64_t v = 1; v <= trips; ++v) {
        co_await ping.wait();
        // Never full: the thread takes each answer before it pings again.
        pong.try_put(v);
    }
}

/// One item at a time: a thread sets a ThreadSafeFlag, a task answers with
/// an item on a queue of 1024 slots, the thread takes it in get_sync(true).
/// bridge_bench's round_trip/across with a larger queue: the latency of a
/// lone item through the consumer's wait, where the rows above measure a
/// stream (a consumer that waits for a batch while the producer keeps
/// putting must not hold a lone item back).
void round_trip(benchmark::State& state, int thread_cpu) {
    OnCpu0 on_cpu0;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeFlag ping;
        al::ThreadSafeQueue<std::uint64_t> pong(capacity);
        std::thread other([&ping, &pong, &sum] {
            for (std::uint64_t i = 0; i < trips; ++i) {
                ping.set();
                sum += pong.get_sync(true);
            }
        });
        pin(other.native_handle(), thread_cpu);
        al::run(answer(ping, pong));
        other.join();
    }
    count_trips(state, sum);
}

al::Task<void> ping(al::ThreadSafeQueue<std::uint64_t>& there, al::ThreadSafeQueue<std::uint64_t>& back,
                    std::uint64_t& sum) {
    for (std::uint64_t v = 1; v <= trips; ++v) {
        co_await there.put(v);
        sum += co_await back.get();
    }
}

/// One item at a time both ways: a task puts it, a thread in get_sync(true)
/// takes it and puts it back on a second queue, the task takes it in
/// co_await get(). Each end waits at every item, so each wait's arming
/// (sleep_fence: a membarrier, or a full fence) is on the path.
void ping_pong(benchmark::State& state, int thread_cpu) {
    OnCpu0 on_cpu0;
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeQueue<std::uint64_t> there(capacity);
        al::ThreadSafeQueue<std::uint64_t> back(capacity);
        std::thread other([&there, &back] {
            for (std::uint64_t i = 0; i < trips; ++i) back.put_sync(there.get_sync(true), true);
        });
        pin(other.native_handle(), thread_cpu);
        al::run(ping(there, back, sum));
        other.join();
    }
    count_trips(state, sum);
}

}  // namespace

int main(int argc, char** argv) {
    // --full_fences: before any queue chooses its fences, as if the kernel
    // had no membarrier, so a waiting end arms with a full fence and every
    // put and get pays one (port::publish_fence). relaxed: no thread yet.
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--full_fences") {
            al::port::detail::membarrier_state.store(2, std::memory_order_relaxed);
            for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
            --argc;
            break;
        }
    }
    int across = al::port::cpu_count() > 1 ? 1 : 0;
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_task/across", waits<true>, across), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_task/same_core", waits<true>, 0), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_thread/across", waits<false>, across), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_thread/same_core", waits<false>, 0), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("round_trip/across", round_trip, across), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("ping_pong/across", ping_pong, across), 0.2)->UseRealTime();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
