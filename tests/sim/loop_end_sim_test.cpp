// SPDX-License-Identifier: BSL-1.0
// The end of a loop with other contexts in flight, under the sim: a flag's
// setter borrowing the wake core while the loop that armed the flag ends,
// then a second loop using the flag; an event set and a message set while
// their loop ends; two loops one after the other on one thread with an
// interrupt setting into both.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;
using sim_test::explore_both;
using sim_test::small_loop;

TEST(LoopEndSim, AFlagSetWhileItsLoopEndsServesTheNextLoop) {
    explore_both(
        [] {
            al::ThreadSafeFlag flag;
            al::port::atomic<int> phase{0};
            sim::Thread setter([&] {
                flag.set();
                while (phase.load() == 0) sim::yield_now();
                flag.set();  // races the first loop's end, or finds the second loop
            });
            al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
            phase.store(1);
            al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(LoopEndSim, AnEventSetByAnInterruptAsItsLoopEndsTouchesNoDeadLoop) {
    explore_both([] {
        al::ThreadSafeEvent event;
        sim::Interrupt irq([&] { event.set(); }, {.name = "irq1", .core = 1, .fires = 2});
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(event.wait(), 1ms);  // a waiter that may be cancelled
                } catch (const al::TimeoutError&) {
                }
            }(),
            small_loop());
        // the interrupt may still set the event here, after the loop is gone
    });
}

TEST(LoopEndSim, AMessageSetAsItsLoopEndsIsKept) {
    explore_both([] {
        al::Message<int> message;
        bool got = false;
        sim::Thread setter([&] { message.set(7); });
        al::run(
            [&]() -> al::Task<> {
                try {
                    int v = co_await al::wait_for(message.next(), 1ms);
                    sim::check(v == 7, "next() yields what was set");
                    got = true;
                } catch (const al::TimeoutError&) {
                }
            }(),
            small_loop());
        setter.join();
        sim::check(got || message.is_set(), "a set the task did not take stays set");
    });
}
