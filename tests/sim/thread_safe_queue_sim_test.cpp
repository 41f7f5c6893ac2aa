// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue's protocol under the sim: every item put arrives once, in
// order, then the end marker, with the producer or the consumer blocked on a
// full or empty queue at any point: thread to task, task to thread, an
// interrupt to a task, loop to loop; close() racing both ends; the queue
// destroyed right after two loops used its ends.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using sim_test::explore_both;
using sim_test::small_loop;

namespace {

constexpr int items = 4;

al::Task<> consume_in_order(al::ThreadSafeQueue<int>& q) {
    int expected = 0;
    while (auto v = co_await q.next()) {
        sim::check(*v == expected, "items arrive once and in order");
        ++expected;
    }
    sim::check(expected == items, "every item arrives before the end marker");
}

}  // namespace

TEST(ThreadSafeQueueSim, AThreadBlockedOnAFullQueueFeedsATask) {
    explore_both(
        [] {
            al::ThreadSafeQueue<int> q(2);
            sim::Thread producer([&] {
                for (int i = 0; i < items; ++i) q.put_sync(i, true);
                q.close();
            });
            al::run(consume_in_order(q), small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeQueueSim, ATaskFeedsAThreadBlockedOnAnEmptyQueue) {
    explore_both(
        [] {
            al::ThreadSafeQueue<int> q(2);
            int got = 0;
            sim::Thread consumer([&] {
                try {
                    for (;;) {
                        int v = q.get_sync(true);
                        sim::check(v == got, "items arrive once and in order");
                        ++got;
                    }
                } catch (const al::QueueClosed&) {
                }
            });
            al::run(
                [&]() -> al::Task<> {
                    for (int i = 0; i < items; ++i) co_await q.put(i);
                    q.close();
                }(),
                small_loop());
            consumer.join();
            sim::check(got == items, "every item arrives before the end marker");
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeQueueSim, AnInterruptFeedsATaskAndCountsWhatItCouldNotPut) {
    explore_both([] {
        al::ThreadSafeQueue<int> q(2);
        int next = 0;
        int refused = 0;
        sim::Interrupt irq(
            [&] {
                if (q.try_put(next)) {
                    ++next;
                } else {
                    ++refused;
                }
            },
            {.name = "adc", .core = 0, .priority = 1, .fires = 3});
        al::run(
            [&]() -> al::Task<> {
                for (int expected = 0; expected + refused < 3; ++expected) {
                    int v = co_await q.get();
                    sim::check(v == expected, "samples arrive in order");
                }
            }(),
            small_loop());
    });
}

TEST(ThreadSafeQueueSim, ALoopFeedsAnotherLoop) {
    explore_both(
        [] {
            al::ThreadSafeQueue<int> q(2);
            sim::Thread other_loop([&] { al::run(consume_in_order(q), small_loop()); }, {.name = "loop2", .core = 1});
            al::run(
                [&]() -> al::Task<> {
                    for (int i = 0; i < items; ++i) co_await q.put(i);
                    q.close();
                }(),
                small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeQueueSim, CloseFromAThirdContextRacesBothEnds) {
    explore_both(
        [] {
            al::ThreadSafeQueue<int> q(2);
            int put = 0;
            sim::Thread producer([&] {
                try {
                    for (; put < items; ++put) q.put_sync(put, true);
                } catch (const al::QueueClosed&) {
                }
            });
            sim::Interrupt closer([&] { q.close(); }, {.name = "closer", .core = 1});
            al::run(
                [&]() -> al::Task<> {
                    int expected = 0;
                    while (auto v = co_await q.next()) {
                        sim::check(*v == expected, "items arrive once and in order");
                        ++expected;
                    }
                }(),
                small_loop());
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ThreadSafeQueueSim, DestroyedRightAfterTwoLoopsUsedItsEnds) {
    explore_both(
        [] {
            auto q = std::make_unique<al::ThreadSafeQueue<int>>(1);
            {
                sim::Thread other_loop([&] { al::run(consume_in_order(*q), small_loop()); },
                                       {.name = "loop2", .core = 1});
                al::run(
                    [&]() -> al::Task<> {
                        for (int i = 0; i < items; ++i) co_await q->put(i);
                        q->close();
                    }(),
                    small_loop());
            }
            q.reset();  // a wake-up the queue posted may still be on its way: it holds the wake block only
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}
