// SPDX-License-Identifier: BSL-1.0
// unblock: await a slow blocking function while a busy task keeps printing
// (the seed's unblock example).
//
// slow_add() blocks its thread in ten steps, as a driver that polls a device
// would. Called directly from a task it would freeze the whole loop for its
// duration; awaited through unblock() it runs on a worker thread, the task
// that awaits it pauses, and every other task (here one printing '#') goes on.
//
//   task --unblock(slow_add, 1, 2)--> worker thread (blocks) --result 3--> task
//   busywork task: # # # # ...  (keeps running meanwhile)
//
// Usage: unblock_busy [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// An ordinary blocking function: it knows nothing about the loop.
int slow_add(int a, int b, std::chrono::milliseconds step) {
    for (int x = 0; x < 10; ++x) std::this_thread::sleep_for(step);  // a blocking call
    return a + b;
}

al::Task<void> busywork(std::atomic<int>& ticks, std::chrono::milliseconds period) {
    for (;;) {
        std::printf("#");
        std::fflush(stdout);
        ticks.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter, read for the check only
        co_await al::sleep(period);
    }
}

al::Task<int> run_example(std::chrono::milliseconds step) {
    std::atomic<int> ticks{0};
    auto bw = al::create_task(busywork(ticks, step / 2));
    co_await al::sleep(0);  // let busywork print its first '#'
    int ticks_before = ticks.load(std::memory_order_relaxed);
    auto start = al::Clock::now();

    // The loop runs busywork while slow_add blocks a worker thread. For the
    // check, the call also waits (at most 10 s) until busywork has printed
    // since it began: had the call blocked the loop, busywork could not have.
    int res = co_await al::unblock([&ticks, ticks_before, step] {
        int sum = slow_add(1, 2, step);
        auto give_up = al::Clock::now() + std::chrono::seconds(10);
        while (ticks.load(std::memory_order_relaxed) == ticks_before && al::Clock::now() < give_up) {
            std::this_thread::sleep_for(step);
        }
        return sum;
    });

    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(al::Clock::now() - start);
    int ticks_during = ticks.load(std::memory_order_relaxed) - ticks_before;
    bw.cancel();
    try {
        co_await bw;  // a '#' already due may still print: the cancel lands at busywork's next sleep
    } catch (const al::CancelledError&) {
    }
    std::printf("\nDone. Result = %d after %lld ms; busywork printed %d '#' meanwhile\n", res,
                static_cast<long long>(took.count()), ticks_during);

    int errors = 0;
    if (res != 3) {
        std::printf("FAILED: slow_add(1, 2) returned %d\n", res);
        ++errors;
    }
    if (ticks_during == 0) {
        std::printf("FAILED: busywork never ran while slow_add blocked: the loop was stalled\n");
        ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = al::run(run_example(is_short ? 30ms : 500ms));
    std::printf(errors == 0 ? "unblock_busy: all checks passed (the loop kept running during the blocking call)\n"
                            : "unblock_busy: FAILED\n");
    return errors == 0 ? 0 : 1;
}
