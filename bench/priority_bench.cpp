// SPDX-License-Identifier: BSL-1.0
// Signal handler -> task latency with N busy tasks on the loop, for a waiting
// task of Priority::high and of Priority::normal, in one run.
//
// A PeriodicSignal (a POSIX timer signal aimed at the loop's thread, so its
// handler interrupts whatever the loop is doing, as an interrupt does) stamps
// the time in its handler and sets a ThreadSafeFlag; the waiting task
// measures now - stamp when it resumes. Meanwhile N busy tasks yield in a loop
// (`co_await sleep(0)`, one loop iteration each), so the loop never sleeps and
// the ready queue always holds N tasks. A normal waiter is queued behind them
// (a round of N steps, growing with N); a high one runs right after the busy
// step the signal interrupted (flat in N). Reported: median, p99, p99.9 and
// max of `samples` signals per row, and the timer expirations the kernel
// merged because the previous signal was still pending (not samples lost: the
// latency is measured from the handler that did run).
//
//   build-bench/bench/priority_bench                 about 10 s (N = 0, 10, 100, 1000)
//   build-bench/bench/priority_bench 2000            samples per row (default 5000)
//
// Plain program (no Google Benchmark): each row is one long run whose
// percentiles come from its samples, as bridge_bench's signal_wake rows.
#include <asynclink/asynclink.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr auto signal_period = 200us;

std::int64_t now_ns() noexcept { return al::Clock::now().time_since_epoch().count(); }

// What the handler reaches: one row at a time installs its flag.
std::atomic<std::int64_t> signal_stamp{0};
std::atomic<al::ThreadSafeFlag*> signal_flag{nullptr};

void on_tick(void*) noexcept {
    // Relaxed: published to the waiter by the flag's set() (release) below.
    signal_stamp.store(now_ns(), std::memory_order_relaxed);
    // Acquire: pairs with the row's release store of its flag.
    if (al::ThreadSafeFlag* flag = signal_flag.load(std::memory_order_acquire)) flag->set();
}

struct Row {
    int busy_tasks;
    al::Priority priority;
    std::vector<std::int64_t> samples;  // ns, sorted
    std::uint32_t merged = 0;           // timer expirations the kernel merged (the signal was still pending)
};

al::Task<void> busy(const bool& stop) {
    while (!stop) co_await al::sleep(0);
}

al::Task<void> measure(al::ThreadSafeFlag& flag, std::vector<std::int64_t>& samples, std::size_t count) {
    co_await flag.wait();  // the first tick may predate the first wait: not a sample
    while (samples.size() < count) {
        co_await flag.wait();
        samples.push_back(now_ns() - signal_stamp.load(std::memory_order_relaxed));
    }
}

al::Task<void> run_row(Row& row, std::size_t count) {
    al::ThreadSafeFlag flag;
    // Release: the handler's acquire load then sees a fully built flag.
    signal_flag.store(&flag, std::memory_order_release);
    bool stop = false;
    std::vector<al::TaskHandle<void>> busy_tasks;
    for (int i = 0; i < row.busy_tasks; ++i) busy_tasks.push_back(al::create_task(busy(stop)));
    row.samples.reserve(count);
    {
        al::PeriodicSignal timer(signal_period, &on_tick, nullptr);
        co_await al::create_task(measure(flag, row.samples, count), row.priority);
        row.merged = timer.overruns();
    }
    signal_flag.store(nullptr, std::memory_order_release);
    stop = true;
    for (auto& b : busy_tasks) co_await b;
    std::sort(row.samples.begin(), row.samples.end());
}

double percentile_us(const std::vector<std::int64_t>& sorted, double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
    return static_cast<double>(sorted[i]) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t count = argc > 1 ? static_cast<std::size_t>(std::atol(argv[1])) : 5000;
    if (count == 0) count = 5000;
    std::vector<Row> rows;
    for (int n : {0, 10, 100, 1000}) {
        for (al::Priority p : {al::Priority::high, al::Priority::normal}) rows.push_back(Row{n, p, {}});
    }
    for (Row& row : rows) al::run(run_row(row, count));

    std::printf("signal handler -> task latency, %zu signals per row, one every %lld us\n", count,
                static_cast<long long>(std::chrono::microseconds(signal_period).count()));
    std::printf("%-10s %-8s %10s %10s %10s %10s %8s\n", "busy", "waiter", "p50 us", "p99 us", "p99.9 us", "max us",
                "merged");
    for (const Row& row : rows) {
        std::printf("%-10d %-8s %10.2f %10.2f %10.2f %10.2f %8u\n", row.busy_tasks,
                    row.priority == al::Priority::high ? "high" : "normal", percentile_us(row.samples, 0.5),
                    percentile_us(row.samples, 0.99), percentile_us(row.samples, 0.999),
                    static_cast<double>(row.samples.back()) / 1e3, row.merged);
    }
    return 0;
}
