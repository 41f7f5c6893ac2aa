// SPDX-License-Identifier: BSL-1.0
// The loop's posted work under the sim, many posters at once: threads on two
// cores and an interrupt nesting over the loop's core post wake-up nodes
// (flags with a task waiting), schedule() calls and call_soon_threadsafe()
// calls while the loop drains them, then ends and closes its lists. Every
// accepted call runs exactly once, every refused one is refused (false or
// UsageError), and a set() whose wake-up met the closed loop is still in its
// flag.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <optional>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using sim_test::explore_both;
using sim_test::small_loop;

namespace {

constexpr int flag_count = 4;

/// What the posters did and what the loop ran, kind by kind.
struct Tally {
    int scheduled = 0;  // schedule() returned true
    int schedule_refused = 0;
    int scheduled_ran = 0;
    int called = 0;  // call_soon_threadsafe() returned
    int call_refused = 0;
    int called_ran = 0;
};

void count_scheduled(void* tally) { ++static_cast<Tally*>(tally)->scheduled_ran; }

al::Task<> wait_on(al::ThreadSafeFlag& flag, bool& woke) {
    co_await flag.wait();
    woke = true;
}

struct World {
    al::ThreadSafeFlag flags[flag_count];
    bool set[flag_count] = {};
    bool woke[flag_count] = {};
    Tally tally;
    std::optional<al::Loop::Handle> handle;
    al::port::atomic<bool> have_handle{false};

    void set_flag(int i) {
        set[i] = true;
        flags[i].set();
    }
    void schedule() { (handle->schedule(&count_scheduled, &tally) ? tally.scheduled : tally.schedule_refused) += 1; }
    void call() {
        try {
            handle->call_soon_threadsafe([this] { ++tally.called_ran; });
            ++tally.called;
        } catch (const al::UsageError&) {
            ++tally.call_refused;
        }
    }
    void wait_for_handle() const {
        while (!have_handle.load()) sim::yield_now();
    }

    /// A loop whose task parks a waiter on each flag, lets the posters race a
    /// couple of iterations, and ends: ~Loop cancels the waiters still parked,
    /// runs what was accepted and closes the lists.
    void run_loop() {
        al::Loop loop(small_loop());
        handle.emplace(loop.handle());
        have_handle.store(true);
        loop.run_until_complete([](World& w) -> al::Task<> {
            for (int i = 0; i < flag_count; ++i) (void)al::create_task(wait_on(w.flags[i], w.woke[i]));
            for (int i = 0; i < 2; ++i) co_await al::sleep(0);
        }(*this));
    }

    void check_every_post_accounted_for() {
        handle.reset();
        sim::check(tally.scheduled_ran == tally.scheduled, "every accepted schedule() ran, once");
        sim::check(tally.called_ran == tally.called, "every accepted call_soon_threadsafe() ran, once");
        for (int i = 0; i < flag_count; ++i) {
            sim::check(!woke[i] || set[i], "a task wakes only for a set()");
            sim::check(!set[i] || woke[i] || flags[i].is_set(), "a set() wakes its task or stays in its flag");
        }
    }
};

}  // namespace

TEST(PostedListSim, ThreadsOnTwoCoresAndAnInterruptPostWhileTheLoopDrainsAndEnds) {
    explore_both(
        [] {
            World w;
            sim::Thread near([&] {
                w.wait_for_handle();
                w.set_flag(0);
                w.call();
                w.set_flag(1);
            });
            sim::Thread far(
                [&] {
                    w.wait_for_handle();
                    w.schedule();
                    w.set_flag(2);
                    w.call();
                },
                {.name = "far", .core = 1});
            // Nests over the loop or the near thread, whichever runs on core 0.
            sim::Interrupt irq(
                [&] {
                    if (!w.have_handle.load()) return;
                    w.set_flag(3);
                    w.schedule();
                },
                {.name = "irq", .core = 0});
            w.run_loop();
            near.join();
            far.join();
            w.check_every_post_accounted_for();
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(PostedListSim, PostsAfterTheLoopEndedAreRefusedAndLeaveNothingBehind) {
    explore_both([] {
        World w;
        sim::Thread late(
            [&] {
                w.wait_for_handle();
                for (int i = 0; i < 2; ++i) {
                    w.call();
                    w.schedule();
                    w.set_flag(i);
                }
            },
            {.name = "late", .core = 1});
        w.run_loop();
        late.join();
        sim::check(w.tally.called + w.tally.call_refused == 2 && w.tally.scheduled + w.tally.schedule_refused == 2,
                   "every post was accepted or refused");
        w.check_every_post_accounted_for();
    });
}
