// SPDX-License-Identifier: BSL-1.0
// Message, ThreadSafeEvent and Shared under the sim: next() with one setter
// counting up gets the last value and never a set twice; two setters and a
// clearer; an event set and cleared around a waiter; a Shared written by an
// interrupt of another core and read by a task, never torn.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;
using sim_test::explore_both;
using sim_test::small_loop;

TEST(MessageSim, NextGetsTheLastSetAndNeverOneTwice) {
    explore_both([] {
        al::Message<int, 1> message;
        sim::Thread setter([&] {
            for (int i = 1; i <= 3; ++i) message.set(i);
        });
        al::run(
            [&]() -> al::Task<> {
                int last = 0;
                while (last < 3) {
                    int v = co_await message.next();
                    sim::check(v > last, "next() never yields a set twice, nor an older one");
                    last = v;
                }
            }(),
            small_loop());
    });
}

TEST(MessageSim, TwoSettersAndAClearer) {
    explore_both(
        [] {
            al::Message<int, 2> message;
            sim::Thread counter([&] {
                for (int i = 1; i <= 2; ++i) message.set(i);
            });
            sim::Interrupt other([&] { message.set(100); }, {.name = "setter2", .core = 1});
            sim::Interrupt clearer([&] { message.clear(); }, {.name = "clearer", .core = 0});
            al::run(
                [&]() -> al::Task<> {
                    int last_count = 0;
                    int hundreds = 0;
                    for (;;) {
                        int v;
                        try {
                            v = co_await al::wait_for(message.next(), 1s);
                        } catch (const al::TimeoutError&) {
                            break;  // the last set was cleared, or taken already
                        }
                        if (v == 100) {
                            sim::check(++hundreds == 1, "one set of 100, yielded at most once");
                        } else {
                            sim::check(v > last_count && v <= 2, "the counter's sets come once, in order");
                            last_count = v;
                        }
                    }
                }(),
                small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeEventSim, SetClearSetFromAnotherCoreWakesTheWaiter) {
    explore_both([] {
        al::ThreadSafeEvent event;
        {
            sim::Interrupt irq(
                [&] {
                    event.set();
                    event.clear();
                    event.set();
                },
                {.name = "irq1", .core = 1});
            al::run([&]() -> al::Task<> { co_await event.wait(); }(), small_loop());
        }  // the handler has returned
        sim::check(event.is_set(), "the last set stays");
    });
}

TEST(ThreadSafeEventSim, ACancelledWaiterLeavesNoWakeUpBehind) {
    explore_both([] {
        al::ThreadSafeEvent event;
        sim::Thread setter([&] {
            sim::sleep_for(1ms);
            event.set();
        });
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(event.wait(), 1ms);
                } catch (const al::TimeoutError&) {
                }
                co_await event.wait();
            }(),
            small_loop());
    });
}

TEST(SharedSim, AReaderNeverSeesATornValue) {
    struct Pair {
        std::uint64_t a;
        std::uint64_t b;
    };
    explore_both([] {
        al::Shared<Pair> shared(Pair{0, 0});
        sim::Interrupt writer(
            [&] {
                static std::uint64_t n = 0;
                ++n;
                shared.write(Pair{n, n});
            },
            {.name = "writer", .core = 1, .fires = 2});
        al::run(
            [&]() -> al::Task<> {
                for (int i = 0; i < 3; ++i) {
                    Pair p = shared.read();
                    sim::check(p.a == p.b, "read() returns a whole write");
                    co_await al::sleep(0s);
                }
            }(),
            small_loop());
    });
}
