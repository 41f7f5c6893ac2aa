// SPDX-License-Identifier: BSL-1.0
// Loop::schedule() and call_soon_threadsafe() under the sim: every call the
// ring accepted runs once, from an interrupt nesting on the loop's core, from
// another core, and while the loop ends (accepted calls run; after the close
// they are refused).
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using sim_test::explore_both;

namespace {

struct Counter {
    int ran = 0;
    al::ThreadSafeFlag changed;
};

void count(void* arg) {
    auto& c = *static_cast<Counter*>(arg);
    ++c.ran;
    c.changed.set();
}

al::LoopOptions ring_of(std::size_t capacity) {
    al::LoopOptions o;
    o.schedule_capacity = capacity;
    return o;
}

}  // namespace

TEST(ScheduleSim, NestedInterruptsScheduleAndEachAcceptedCallRunsOnce) {
    explore_both([] {
        Counter c;
        int accepted = 0;
        int fired = 0;
        al::Loop loop(ring_of(2));  // three calls, room for two: one may be refused
        auto post = [&] {
            accepted += loop.schedule(&count, &c) ? 1 : 0;
            ++fired;
            c.changed.set();
        };
        sim::Interrupt low(post, {.name = "low", .core = 0, .priority = 1, .fires = 2});
        sim::Interrupt high(post, {.name = "high", .core = 0, .priority = 2, .fires = 1});
        loop.run_until_complete([&]() -> al::Task<> {
            while (fired < 3 || c.ran < accepted) co_await c.changed.wait();
        }());
        sim::check(c.ran == accepted, "each accepted call ran once");
        sim::check(accepted >= 2, "a ring of two has room for two calls at least");
    });
}

TEST(ScheduleSim, ACallFromAnotherCoreRunsOnce) {
    explore_both([] {
        Counter c;
        al::Loop loop(ring_of(2));
        sim::Interrupt other([&] { sim::check(loop.schedule(&count, &c), "a ring with room accepts"); },
                             {.name = "core1", .core = 1, .fires = 1});
        loop.run_until_complete([&]() -> al::Task<> {
            while (c.ran < 1) co_await c.changed.wait();
        }());
        sim::check(c.ran == 1, "the call ran once");
    });
}

TEST(ScheduleSim, ALoopEndingWithAPosterInFlightRunsEveryAcceptedCall) {
    explore_both(
        [] {
            Counter c;
            int accepted = 0;
            int refused = 0;
            std::optional<al::Loop::Handle> handle;
            al::ThreadSafeFlag have_handle;
            sim::Thread poster([&] {
                while (!handle) sim::yield_now();
                for (int i = 0; i < 3; ++i) (handle->schedule(&count, &c) ? accepted : refused) += 1;
            });
            {
                al::Loop loop(ring_of(4));
                handle.emplace(loop.handle());
                loop.run_until_complete([]() -> al::Task<> { co_return; }());
            }  // ~Loop runs what was accepted, then closes the ring
            poster.join();
            handle.reset();
            sim::check(c.ran == accepted, "every accepted call ran, once, and no refused one");
            sim::check(accepted + refused == 3, "every call was accepted or refused");
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ScheduleSim, CallSoonThreadsafeWhileTheLoopEndsRunsOrThrows) {
    explore_both(
        [] {
            int ran = 0;
            int accepted = 0;
            std::optional<al::Loop::Handle> handle;
            sim::Thread poster([&] {
                while (!handle) sim::yield_now();
                for (int i = 0; i < 2; ++i) {
                    try {
                        handle->call_soon_threadsafe([&] { ++ran; });
                        ++accepted;
                    } catch (const al::UsageError&) {
                    }
                }
            });
            {
                al::Loop loop(ring_of(2));
                handle.emplace(loop.handle());
                loop.run_until_complete([]() -> al::Task<> { co_return; }());
            }
            poster.join();
            handle.reset();
            sim::check(ran == accepted, "every accepted call ran once");
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}
