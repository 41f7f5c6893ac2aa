// SPDX-License-Identifier: BSL-1.0
// ThreadSafeEvent set by a timer interrupt (the seed's section 3.1).
//
// A PeriodicSignal (a POSIX timer whose callback runs in a signal handler: the
// Linux stand-in for the seed's pyb.Timer interrupt) sets a ThreadSafeEvent.
// Each round, four waiter tasks wait on the event and a fifth task cancels one
// of them shortly after the round starts; gather(return_exceptions, ...)
// collects the four outcomes, the event is cleared, and the next round cancels
// the next waiter.
//
//   signal handler --set()--> [ThreadSafeEvent] --wait()--> waiters 1..4
//                                                 cancel()--> one of them
//
// The check: a cancelled waiter never costs the others their wake-up (the seed
// needed a helper task for that; here the event itself guarantees it).
//
// Usage: event_timer_signal [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct TimerInterrupt {
    al::ThreadSafeEvent event;
    std::atomic<std::int64_t> last_set_ns{0};  // when the handler last ran, to show the wake latency
};

// Runs in a signal handler: only async-signal-safe calls. ThreadSafeEvent::set
// takes no lock and allocates nothing; reading the clock is safe too.
void on_timer(void* arg) noexcept {
    auto& irq = *static_cast<TimerInterrupt*>(arg);
    // Relaxed: the event's set() below publishes it to the waiters.
    irq.last_set_ns.store(al::Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    irq.event.set();
}

// Returns the wake latency in microseconds; rethrows CancelledError so that
// gather's outcome says the waiter was cancelled.
al::Task<double> waiter(int n, TimerInterrupt& irq) {
    try {
        co_await irq.event.wait();
        std::int64_t ns = al::Clock::now().time_since_epoch().count() - irq.last_set_ns.load(std::memory_order_relaxed);
        double us = static_cast<double>(ns) / 1000.0;
        std::printf("Waiter %d got event (%.0f us after the timer signal)\n", n, us);
        co_return us;
    } catch (const al::CancelledError&) {
        std::printf("Waiter %d cancelled\n", n);
        throw;
    }
}

al::Task<void> can(al::TaskHandle<double> task, std::chrono::milliseconds delay) {
    co_await al::sleep(delay);
    task.cancel();  // does nothing if the waiter has already finished
}

al::Task<int> run_rounds(int rounds, std::chrono::milliseconds period) {
    TimerInterrupt irq;
    al::PeriodicSignal timer(period, &on_timer, &irq);
    int errors = 0;
    int cancelled_rounds = 0;
    int nt = 0;
    for (int round = 1; round <= rounds; ++round) {
        std::vector<al::TaskHandle<double>> tasks;
        for (int n = 0; n < 4; ++n) tasks.push_back(al::create_task(waiter(n + 1, irq)));
        auto canceller = al::create_task(can(tasks[nt], period / 10));
        std::vector<al::Outcome<double>> outcomes = co_await al::gather(al::return_exceptions, tasks);
        irq.event.clear();
        std::printf("Cleared event\n");

        co_await canceller;
        for (int n = 0; n < 4; ++n) {
            if (outcomes[n].has_value()) continue;
            if (n == nt) {
                ++cancelled_rounds;  // the cancel reached the waiter before the event did
            } else {
                std::printf("FAILED: round %d, waiter %d lost its wake-up\n", round, n + 1);
                ++errors;
            }
        }
        nt = (nt + 1) % 4;
    }
    std::printf("%d rounds, %d with a waiter cancelled, %llu timer signals\n", rounds, cancelled_rounds,
                static_cast<unsigned long long>(timer.ticks()));
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = is_short ? al::run(run_rounds(4, 50ms)) : al::run(run_rounds(8, 500ms));
    std::printf(errors == 0
                    ? "event_timer_signal: all checks passed (every waiter that was not cancelled got the event)\n"
                    : "event_timer_signal: FAILED\n");
    return errors == 0 ? 0 : 1;
}
