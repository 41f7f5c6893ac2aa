// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue<T, many_producers> under the sim: threads on two cores and
// an interrupt nesting over one of them (so it lands between a producer's
// claim and its publish) put to one consumer task, with close() after the
// last put or racing them from another core; tasks of another loop put too.
// Checked: every accepted put arrives exactly once, each producer's items in
// the order it put them, the end marker only after all of them; the
// consumer is never left parked (that would be a deadlock).
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

using Queue = al::ThreadSafeQueue<int, al::many_producers>;

constexpr int producer_count = 3;

/// Items are producer * 100 + its count of accepted puts so far.
struct Ledger {
    int accepted[producer_count] = {};
    int received[producer_count] = {};
    bool ended = false;

    int next_item(int producer) const { return producer * 100 + accepted[producer]; }

    /// Puts from a thread, blocking while full; stops at QueueClosed.
    void put_blocking(Queue& q, int producer, int items) {
        try {
            for (int i = 0; i < items; ++i) {
                q.put_sync(next_item(producer), true);
                ++accepted[producer];
            }
        } catch (const al::QueueClosed&) {
        }
    }
    /// Puts from a task, waiting on its loop while full.
    al::Task<> put_from_task(Queue& q, int producer, int items) {
        for (int i = 0; i < items; ++i) {
            co_await q.put(next_item(producer));
            ++accepted[producer];
        }
    }
    /// Puts from a handler: never waits.
    void try_put(Queue& q, int producer) {
        if (q.try_put(next_item(producer))) ++accepted[producer];
    }

    al::Task<> consume(Queue& q) {
        while (std::optional<int> v = co_await q.next()) {
            int producer = *v / 100;
            sim::check(producer >= 0 && producer < producer_count, "an item that was put");
            sim::check(*v % 100 == received[producer], "each producer's items arrive once, in its order");
            ++received[producer];
        }
        ended = true;
    }

    void check_all_arrived() const {
        sim::check(ended, "the consumer saw the end marker");
        for (int p = 0; p < producer_count; ++p) {
            sim::check(received[p] == accepted[p], "every accepted put arrives before the end marker");
        }
    }
};

}  // namespace

TEST(ManyProducerQueueSim, TwoThreadsAndAnInterruptNestingOverOneFeedATask) {
    explore_both(
        [] {
            Queue q(2);
            Ledger ledger;
            al::port::atomic<int> done{0};
            auto finish = [&] {
                if (done.fetch_add(1) == producer_count - 1) q.close();  // the last producer ends the stream
            };
            sim::Thread near([&] {
                ledger.put_blocking(q, 0, 2);
                finish();
            });
            sim::Thread far(
                [&] {
                    ledger.put_blocking(q, 1, 1);
                    finish();
                },
                {.name = "far", .core = 1});
            // Core 0: preempts the near thread (perhaps between its claim and
            // publish) or the loop.
            sim::Interrupt irq(
                [&] {
                    ledger.try_put(q, 2);
                    finish();
                },
                {.name = "irq", .core = 0});
            al::run(ledger.consume(q), small_loop());
            ledger.check_all_arrived();
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ManyProducerQueueSim, CloseFromAnotherCoreRacesEveryProducer) {
    explore_both(
        [] {
            Queue q(2);
            Ledger ledger;
            sim::Thread near([&] { ledger.put_blocking(q, 0, 2); });
            sim::Thread far([&] { ledger.put_blocking(q, 1, 2); }, {.name = "far", .core = 1});
            sim::Interrupt irq([&] { ledger.try_put(q, 2); }, {.name = "irq", .core = 0});
            sim::Interrupt closer([&] { q.close(); }, {.name = "closer", .core = 1});
            al::run(ledger.consume(q), small_loop());
            near.join();
            far.join();
            ledger.check_all_arrived();
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ManyProducerQueueSim, TasksOfAnotherLoopAndAThreadFeedATask) {
    explore_both(
        [] {
            Queue q(1);
            Ledger ledger;
            al::port::atomic<int> done{0};
            auto finish = [&] {
                if (done.fetch_add(1) == 1) q.close();
            };
            sim::Thread other_loop(
                [&] {
                    al::run(ledger.put_from_task(q, 1, 2), small_loop());
                    finish();
                },
                {.name = "loop2", .core = 1});
            sim::Thread near([&] {
                ledger.put_blocking(q, 0, 1);
                finish();
            });
            al::run(ledger.consume(q), small_loop());
            ledger.check_all_arrived();
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}
