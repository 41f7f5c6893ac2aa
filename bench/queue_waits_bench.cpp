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
//
// docs/benchmarks.md ("A producer that waits for a batch of room") reads them.
//
//   build-bench/bench/queue_waits_bench
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <asynclink/asynclink.hpp>

#include "bench_common.hpp"

#include <cstdint>
#include <thread>

namespace al = asynclink;

namespace {

constexpr std::size_t capacity = 1024;
constexpr std::uint64_t batch = std::uint64_t{1} << 20;

void pin(std::thread::native_handle_type thread, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(thread, sizeof set, &set);
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
    cpu_set_t saved;
    bool restore = sched_getaffinity(0, sizeof saved, &saved) == 0;
    pin(pthread_self(), 0);
    std::uint64_t producer_waits = 0;
    std::uint64_t consumer_waits = 0;
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
        al::QueueStats s = queue.stats();
        producer_waits += s.producer_waits;
        consumer_waits += s.consumer_waits;
    }
    if (sum != batch * (batch + 1) / 2 * state.iterations()) state.SkipWithError("items lost or corrupted");
    auto items = static_cast<double>(state.iterations() * batch);
    state.SetItemsProcessed(static_cast<std::int64_t>(items));
    state.counters["producer_waits"] = static_cast<double>(producer_waits) / items;
    state.counters["consumer_waits"] = static_cast<double>(consumer_waits) / items;
    if (restore) sched_setaffinity(0, sizeof saved, &saved);
}

}  // namespace

int main(int argc, char** argv) {
    int across = al::port::cpu_count() > 1 ? 1 : 0;
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_task/across", waits<true>, across), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_task/same_core", waits<true>, 0), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_thread/across", waits<false>, across), 0.2)
        ->UseRealTime();
    asynclink_bench::repeated(benchmark::RegisterBenchmark("waits/to_thread/same_core", waits<false>, 0), 0.2)
        ->UseRealTime();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
