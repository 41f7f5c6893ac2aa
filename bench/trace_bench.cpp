// SPDX-License-Identifier: BSL-1.0
// What the trace recorder and the stall detector cost, per operation: each
// workload runs with the recorder off (compiled in, not recording) and on;
// the difference divided by the records an operation makes is the cost of a
// record. allocs/op counts every heap allocation in the timed loop (the
// recording path must have none). Build with -DASYNCLINK_TRACE=OFF for the
// "compiled out" column (the on rows are then absent).
//
//   build-bench/bench/trace_bench
//
// | workload         | one operation                              | records when on |
// |------------------|--------------------------------------------|-----------------|
// | flag_set         | ThreadSafeFlag::set(), nobody waiting      | 1 hand-over     |
// | queue_put_get    | try_put() then try_get() on the same thread | 1 hand-over     |
// | yield            | one sleep(0) of one task                   | 1 slice         |
// | yield_stalls     | the same with the stall detector on        | 1 slice         |
#include <benchmark/benchmark.h>

#include <asynclink/asynclink.hpp>

#include <cstdint>
#include <string>

#include "count_allocations.hpp"

namespace al = asynclink;

namespace {

class Allocations {
public:
    explicit Allocations(benchmark::State& state) noexcept
        : state_(state), at_start_(asynclink_bench::heap_allocations.load(std::memory_order_relaxed)) {}
    ~Allocations() {
        auto n = asynclink_bench::heap_allocations.load(std::memory_order_relaxed) - at_start_;
        auto ops = static_cast<double>(state_.iterations());
        state_.counters["allocs/op"] = ops == 0 ? 0.0 : static_cast<double>(n) / ops;
    }
    Allocations(const Allocations&) = delete;
    Allocations& operator=(const Allocations&) = delete;

private:
    benchmark::State& state_;
    std::uint64_t at_start_;
};

// The recording rows run this many operations, and the lanes hold them all:
// what is timed is the recording path, not the cheaper drop of a full lane.
constexpr std::int64_t recorded_operations = 1 << 19;

// Recording on for one benchmark run (a fresh recording each run).
class Recording {
public:
    explicit Recording(bool on) : on_(on) {
#if ASYNCLINK_TRACE
        if (on_) {
            al::trace::Options options;
            options.records_per_lane = recorded_operations + 1024;
            options.lanes = 2;
            al::trace::start(options);
        }
#endif
    }
    ~Recording() {
#if ASYNCLINK_TRACE
        if (on_) al::trace::stop();
#endif
    }
    Recording(const Recording&) = delete;
    Recording& operator=(const Recording&) = delete;

private:
    bool on_;
};

void flag_set(benchmark::State& state, bool record) {
    al::ThreadSafeFlag flag;
    Recording recording(record);
    {
        Allocations allocations(state);
        for (auto _ : state) flag.set();
    }
    state.SetItemsProcessed(state.iterations());
}

void queue_put_get(benchmark::State& state, bool record) {
    al::ThreadSafeQueue<std::uint64_t> queue(64);
    Recording recording(record);
    std::uint64_t sum = 0;
    {
        Allocations allocations(state);
        for (auto _ : state) {
            queue.try_put(1);
            sum += *queue.try_get();
        }
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}

void yield(benchmark::State& state, bool record, al::Clock::duration stall_threshold) {
    al::LoopOptions options;
    options.stall_threshold = stall_threshold;
    Recording recording(record);
    al::run(
        [](benchmark::State& s) -> al::Task<void> {
            Allocations allocations(s);
            for (auto _ : s) co_await al::sleep(0);
        }(state),
        options);
    state.SetItemsProcessed(state.iterations());
}

void register_all() {
    const bool sides[] = {false, true};
    for (bool on : sides) {
        if (on && !ASYNCLINK_TRACE) continue;
        const char* side = on ? "/recording" : "/off";
        auto fixed = [on](benchmark::internal::Benchmark* b) {
            if (on) b->Iterations(recorded_operations);
        };
        fixed(benchmark::RegisterBenchmark((std::string("flag_set") + side).c_str(), flag_set, on));
        fixed(benchmark::RegisterBenchmark((std::string("queue_put_get") + side).c_str(), queue_put_get, on));
        fixed(benchmark::RegisterBenchmark((std::string("yield") + side).c_str(), yield, on,
                                           al::Clock::duration::zero()));
        fixed(benchmark::RegisterBenchmark((std::string("yield_stalls") + side).c_str(), yield, on,
                                           al::LoopOptions::recommended_stall_threshold));
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
