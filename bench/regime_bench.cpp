// SPDX-License-Identifier: BSL-1.0
// Which regime an SPSC ring runs in, and what each costs: asynclink's
// ThreadSafeQueue and moodycamel's ReaderWriterQueue (the raw ceiling of
// bridge_bench) moving one uint64_t at a time from a thread on CPU 1 to a
// thread on CPU 0, both spinning with a pause instruction on a full or empty
// ring (try_put / try_get; try_enqueue / try_dequeue), capacity 1024.
//
//   regime/<queue>/work:W   before each put the producer does W dependent
//                           multiply-adds (the same code for both queues), so
//                           it is slower than its consumer from some W on
//
// A ring whose producer is faster than its consumer stays full: the consumer
// reads slots the producer wrote long ago, and lines cross at the producer's
// pace of looking for room. One whose consumer is faster stays nearly empty:
// the consumer reads the slot and the index the producer is writing, so lines
// cross at almost every item. The counters say which: `empty_looks` is the
// consumer's failed looks per item, `full_looks` the producer's.
// docs/benchmarks.md ("The queue rows against the raw ceiling") reads them.
//
//   build-bench/bench/regime_bench
#include <benchmark/benchmark.h>

#include <readerwriterqueue/readerwriterqueue.h>

#include <asynclink/asynclink.hpp>

#include "bench_common.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include <sched.h>

namespace al = asynclink;

namespace {

constexpr std::size_t capacity = 1024;
constexpr std::uint64_t items = std::uint64_t{1} << 20;  // per timed iteration

void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// W dependent multiply-adds: a producer's own work per item that the
/// compiler can neither drop nor overlap (each step needs the last).
[[gnu::always_inline]] inline std::uint64_t work(std::uint64_t x, int w) noexcept {
    for (int i = 0; i < w; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

struct AsynclinkRing {
    al::ThreadSafeQueue<std::uint64_t> queue{capacity};
    bool put(std::uint64_t v) noexcept { return queue.try_put(v); }
    bool get(std::uint64_t& v) noexcept {
        std::optional<std::uint64_t> item = queue.try_get();
        if (item) v = *item;
        return item.has_value();
    }
};

struct MoodycamelRing {
    moodycamel::ReaderWriterQueue<std::uint64_t> queue{capacity};
    bool put(std::uint64_t v) noexcept { return queue.try_enqueue(v); }
    bool get(std::uint64_t& v) noexcept { return queue.try_dequeue(v); }
};

template <class Ring>
void regime(benchmark::State& state) {
    if (al::port::cpu_count() < 2) {
        state.SkipWithError("needs two CPUs");
        return;
    }
    const int w = static_cast<int>(state.range(0));
    cpu_set_t saved;
    bool restore = sched_getaffinity(0, sizeof saved, &saved) == 0;
    al::port::pin_current_thread(0);
    std::uint64_t empty_looks = 0, full_looks = 0, sum = 0, expected = 0, seed = 1;
    for (auto _ : state) {
        Ring ring;
        std::uint64_t full = 0;
        // Each thread counts in a local and writes it once at the end: a
        // counter shared on a line with the other side's would be a third
        // line crossing at every miss.
        std::thread producer([&ring, &full, &seed, w] {
            al::port::pin_current_thread(1);
            std::uint64_t misses = 0, x = seed;
            for (std::uint64_t v = 1; v <= items; ++v) {
                x = work(x, w);
                while (!ring.put(v + (x & 0))) {
                    ++misses;
                    relax();
                }
            }
            full = misses;
            seed = x;
        });
        std::uint64_t misses = 0, got = 0;
        for (std::uint64_t i = 0; i < items; ++i) {
            std::uint64_t v = 0;
            while (!ring.get(v)) {
                ++misses;
                relax();
            }
            got += v;
        }
        producer.join();
        empty_looks += misses;
        full_looks += full;
        sum += got;
        expected += items * (items + 1) / 2;
    }
    if (restore) sched_setaffinity(0, sizeof saved, &saved);
    if (sum != expected) state.SkipWithError("wrong checksum: an item was lost or changed");
    double moved = static_cast<double>(state.iterations()) * static_cast<double>(items);
    state.SetItemsProcessed(static_cast<std::int64_t>(moved));
    state.counters["empty_looks"] = static_cast<double>(empty_looks) / moved;
    state.counters["full_looks"] = static_cast<double>(full_looks) / moved;
}

}  // namespace

int main(int argc, char** argv) {
    for (int w : {0, 2, 4, 8, 16}) {
        asynclink_bench::repeated(benchmark::RegisterBenchmark("regime/asynclink", regime<AsynclinkRing>), 0.2)
            ->Arg(w)
            ->ArgName("work")
            ->UseRealTime();
        asynclink_bench::repeated(benchmark::RegisterBenchmark("regime/moodycamel", regime<MoodycamelRing>), 0.2)
            ->Arg(w)
            ->ArgName("work")
            ->UseRealTime();
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
