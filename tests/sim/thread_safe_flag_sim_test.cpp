// SPDX-License-Identifier: BSL-1.0
// ThreadSafeFlag's protocol under the sim: a set from a thread, an interrupt
// of the loop's core or of another core always wakes the waiting task; two
// setters at once; a set racing the waiter's timeout is kept for the next
// wait.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;
using sim_test::explore_both;
using sim_test::small_loop;

TEST(ThreadSafeFlagSim, ASetFromAThreadWakesTheWaitingTask) {
    explore_both([] {
        al::ThreadSafeFlag flag;
        sim::Thread setter([&] { flag.set(); });
        al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
    });
}

TEST(ThreadSafeFlagSim, ASetFromAnInterruptOfTheLoopsCoreWakesTheTask) {
    explore_both([] {
        al::ThreadSafeFlag flag;
        sim::Interrupt irq([&] { flag.set(); }, {.name = "irq", .core = 0});
        al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
    });
}

TEST(ThreadSafeFlagSim, ASetFromAnInterruptOfAnotherCoreWakesTheTask) {
    explore_both([] {
        al::ThreadSafeFlag flag;
        sim::Interrupt irq([&] { flag.set(); }, {.name = "irq1", .core = 1});
        al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
    });
}

TEST(ThreadSafeFlagSim, TwoSettersAndATaskThatWaitsForBoth) {
    explore_both(
        [] {
            al::ThreadSafeFlag flag;
            al::port::atomic<int> done{0};
            sim::Thread a([&] {
                done.fetch_add(1);
                flag.set();
            });
            sim::Interrupt b(
                [&] {
                    done.fetch_add(1);
                    flag.set();
                },
                {.name = "irq", .core = 0});
            al::run(
                [&]() -> al::Task<> {
                    while (done.load() < 2) co_await flag.wait();
                }(),
                small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeFlagSim, ASetRacingTheWaitersTimeoutIsKeptForTheNextWait) {
    explore_both([] {
        al::ThreadSafeFlag flag;
        sim::Thread setter([&] {
            sim::sleep_for(1ms);
            flag.set();
        });
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(flag.wait(), 1ms);
                    co_return;  // the set came in time
                } catch (const al::TimeoutError&) {
                }
                co_await flag.wait();  // the set that raced the timeout, or one still to come
            }(),
            small_loop());
    });
}
