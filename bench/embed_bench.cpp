// SPDX-License-Identifier: BSL-1.0
// The cost of driving the loop from another event loop (docs/embedding.md):
// the same workloads with the loop run by asynclink's own run() and stepped
// by Boost.Asio's io_context, libuv and GLib through the adapters, in one
// binary:
//
//   round_trip/<driver>   a thread (CPU 1) sets a ThreadSafeFlag, the sleeping
//                         loop (CPU 0) wakes the task, which answers through a
//                         ThreadSafeQueue to the thread parked in get_sync(true)
//                         (bridge_bench's round_trip/across).
//   to_task/<driver>      thread -> task throughput of ThreadSafeQueue<uint64_t>
//                         (capacity 1024, put_sync with block; bridge_bench's
//                         queue/across/asynclink).
//
// Drivers: run (asynclink's run(), which spins up to spin_before_sleep for
// posted work before it sleeps), run_no_spin (run() with the spin off: the
// same sleep-and-wake as a host loop, which never spins), asio, uv, glib.
// The table after the runs gives each driver's median and its ratio against
// run_no_spin and run (> 1: the driver is slower by that factor).
//
//   build-bench/bench/embed_bench
#include <benchmark/benchmark.h>

#include <asynclink/asio.hpp>
#include <asynclink/glib.hpp>
#include <asynclink/uv.hpp>

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace al = asynclink;
namespace net = boost::asio;
using asynclink_bench::repeated;

namespace {

constexpr int loop_cpu = 0;
constexpr int thread_cpu = 1;
constexpr std::uint64_t queue_batch = 100'000;
constexpr std::size_t queue_capacity = 1024;

template <class F>
std::thread start_pinned(int cpu, F fn) {
    return std::thread([cpu, fn = std::move(fn)]() mutable {
        al::port::pin_current_thread(cpu);
        fn();
    });
}

/// Runs `main` to its end on a loop on this thread, driven as `driver` says.
using Driver = void (*)(al::Task<void> main);

void drive_run(al::Task<void> main) { al::run(std::move(main)); }

void drive_run_no_spin(al::Task<void> main) {
    al::LoopOptions options;
    options.spin_before_sleep = al::Clock::duration::zero();
    al::run(std::move(main), options);
}

void drive_asio(al::Task<void> main) {
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    auto task = loop.create_task([&]() -> al::Task<void> {
        co_await std::move(main);
        attachment.stop();
    });
    io.run();
}

void drive_uv(al::Task<void> main) {
    uv_loop_t uv;
    uv_loop_init(&uv);
    {
        al::Loop loop;
        al::uv::Attachment attachment(&uv, loop);
        auto task = loop.create_task([&]() -> al::Task<void> {
            co_await std::move(main);
            attachment.stop();
        });
        uv_run(&uv, UV_RUN_DEFAULT);
    }
    uv_loop_close(&uv);
}

void drive_glib(al::Task<void> main) {
    GMainContext* context = g_main_context_new();
    {
        al::Loop loop;
        al::glib::Attachment attachment(context, loop);
        bool done = false;
        auto task = loop.create_task([&]() -> al::Task<void> {
            co_await std::move(main);
            done = true;
            attachment.stop();
        });
        while (!done) g_main_context_iteration(context, TRUE);
    }
    g_main_context_unref(context);
}

// ---------------------------------------------------------------- round trip

al::Task<void> answerer(al::ThreadSafeFlag& ping, al::ThreadSafeQueue<std::uint64_t>& pong,
                        const std::atomic<bool>& stop) {
    for (std::uint64_t round = 0;; ++round) {
        co_await ping.wait();
        // Relaxed: the flag's wait() acquired what the thread wrote before set().
        if (stop.load(std::memory_order_relaxed)) co_return;
        pong.try_put(round);  // never full: the thread takes each answer before it pings again
    }
}

void round_trip(benchmark::State& state, Driver drive) {
    al::port::pin_current_thread(thread_cpu);
    al::ThreadSafeFlag ping;
    al::ThreadSafeQueue<std::uint64_t> pong(1);
    std::atomic<bool> stop{false};
    std::thread loop_thread = start_pinned(loop_cpu, [&] { drive(answerer(ping, pong, stop)); });
    std::uint64_t expected = 0;
    bool in_order = true;
    for (auto _ : state) {
        ping.set();
        in_order &= pong.get_sync(true) == expected++;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    stop.store(true, std::memory_order_relaxed);  // relaxed: published by the set() below
    ping.set();
    loop_thread.join();
    if (!in_order) state.SkipWithError("an answer was lost or out of order");
}

// ---------------------------------------------------------------- thread -> task

al::Task<void> drain(al::ThreadSafeQueue<std::uint64_t>& queue, std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < queue_batch; ++i) sum += co_await queue.get();
}

void to_task(benchmark::State& state, Driver drive) {
    al::port::pin_current_thread(loop_cpu);
    std::uint64_t sum = 0;
    for (auto _ : state) {
        al::ThreadSafeQueue<std::uint64_t> queue(queue_capacity);
        std::thread producer = start_pinned(thread_cpu, [&queue] {
            for (std::uint64_t v = 1; v <= queue_batch; ++v) queue.put_sync(v, true);
        });
        drive(drain(queue, sum));
        producer.join();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queue_batch));
    if (sum != state.iterations() * (queue_batch * (queue_batch + 1) / 2)) state.SkipWithError("items lost");
}

// ---------------------------------------------------------------- the table

/// Prints what the console reporter prints, then per workload each driver's
/// median and its ratio against run_no_spin and run.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred || run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") continue;
            const std::string& function = run.run_name.function_name;
            std::size_t slash = function.rfind('/');
            std::string workload = function.substr(0, slash);
            double value =
                workload == "round_trip" ? run.GetAdjustedRealTime() : run.counters.at("items_per_second").value / 1e6;
            rows_[workload][function.substr(slash + 1)] = value;
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\n%-12s %-12s %12s %-14s %14s %8s\n", "workload", "driver", "median", "unit", "x run_no_spin",
                    "x run");
        for (const auto& [workload, drivers] : rows_) {
            bool latency = workload == "round_trip";
            for (const char* driver : {"run", "run_no_spin", "asio", "uv", "glib"}) {
                auto it = drivers.find(driver);
                if (it == drivers.end()) continue;
                auto ratio = [&](const char* base) {
                    auto b = drivers.find(base);
                    if (b == drivers.end() || b->second <= 0 || it->second <= 0) return 0.0;
                    return latency ? it->second / b->second : b->second / it->second;
                };
                std::printf("%-12s %-12s %12.3f %-14s %14.2f %8.2f\n", workload.c_str(), driver, it->second,
                            latency ? "us/round trip" : "M items/s", ratio("run_no_spin"), ratio("run"));
            }
        }
        std::printf("x = how many times slower than that run() (> 1: the driver costs more)\n");
    }

private:
    std::map<std::string, std::map<std::string, double>> rows_;
};

}  // namespace

int main(int argc, char** argv) {
    const std::pair<const char*, Driver> drivers[] = {
        {"run", drive_run},   {"run_no_spin", drive_run_no_spin}, {"asio", drive_asio}, {"uv", drive_uv},
        {"glib", drive_glib},
    };
    for (const auto& [name, drive] : drivers) {
        repeated(benchmark::RegisterBenchmark((std::string("round_trip/") + name).c_str(), round_trip, drive)
                     ->UseRealTime()
                     ->Unit(benchmark::kMicrosecond),
                 0.2);
    }
    for (const auto& [name, drive] : drivers) {
        repeated(benchmark::RegisterBenchmark((std::string("to_task/") + name).c_str(), to_task, drive)->UseRealTime(),
                 0.2);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
