// SPDX-License-Identifier: BSL-1.0
// The mutation check of the sim: each test is a body that exercises one
// protocol. Built as is (mutants_sim_test) every body passes every schedule;
// built as a mutant (tests/sim/mutants.cmake: one defect re-introduced into
// asynclink's code, ASYNCLINK_SIM_MUTANT names it) the body must fail within
// the budget, and the test prints how many schedules that took under each
// strategy.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;
using sim_test::small_loop;

namespace {

#if defined(ASYNCLINK_SIM_MUTANT)
constexpr bool mutant = true;
#else
constexpr bool mutant = false;
#endif

// Random (PCT) up to 100000 schedules, then exhaustive with bound 2 up to
// 100000: a mutant must be caught by both, the real code passes both.
void check_body(const std::function<void()>& body) {
    sim::Options random;
    random.max_schedules = mutant ? 100000 : 2000;
    random.time_budget = 60s;
    sim::Result r = sim::explore(random, body);
    sim::Options exhaustive;
    exhaustive.strategy = sim::Strategy::exhaustive;
    exhaustive.preemption_bound = 2;
    exhaustive.max_schedules = mutant ? 100000 : 20000;
    exhaustive.time_budget = 60s;
    sim::Result e = sim::explore(exhaustive, body);
    exhaustive.reduce = true;  // the sleep sets must not lose a mutant either
    exhaustive.max_schedules = mutant ? 100000 : 5000;
    sim::Result reduced = sim::explore(exhaustive, body);
    if (mutant) {
        EXPECT_FALSE(r.ok()) << "the random search missed the mutant in " << r.schedules << " schedules";
        EXPECT_FALSE(e.ok()) << "the exhaustive search missed the mutant in " << e.schedules << " schedules";
        EXPECT_FALSE(reduced.ok()) << "the reduced exhaustive search missed the mutant in " << reduced.schedules
                                   << " schedules";
        std::printf(
            "  caught: random after %zu schedule(s) (%s), exhaustive after %zu (%s), with sleep sets after %zu "
            "(%s)\n",
            r.schedules, r.ok() ? "-" : sim::to_string(r.failure->kind), e.schedules,
            e.ok() ? "-" : sim::to_string(e.failure->kind), reduced.schedules,
            reduced.ok() ? "-" : sim::to_string(reduced.failure->kind));
        if (!r.ok()) std::printf("%s", (std::ostringstream() << r).str().c_str());
    } else {
        EXPECT_TRUE(r.ok()) << r;
        EXPECT_TRUE(e.ok()) << e;
        EXPECT_TRUE(reduced.ok()) << reduced;
        std::printf("  exhaustive (bound 2): %zu schedules%s; with sleep sets %zu%s\n", e.schedules,
                    e.complete ? " (all)" : "", reduced.schedules, reduced.complete ? " (all)" : "");
    }
}

}  // namespace

// Loop::wait_for_work's re-check after F2 (proof/loop_wake.pml).
TEST(Mutant, LoopSleepsWithoutRecheck) {
    check_body([] {
        al::ThreadSafeFlag flag;
        sim::Thread setter([&] { flag.set(); });
        al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
    });
}

// ThreadSafeQueue::close takes the producer's waiting flag rather than reading
// it (proof/queue_asymmetric.pml, CONSUMER_CLOSES, MUTANT_CLOSE_READS_FLAG).
TEST(Mutant, QueueCloseReadsTheBit) {
    check_body([] {
        al::ThreadSafeQueue<int> q(1);
        sim::Thread producer([&] {
            try {
                for (int i = 0; i < 3; ++i) q.put_sync(i, true);
            } catch (const al::QueueClosed&) {
            }
        });
        al::run(
            [&]() -> al::Task<> {
                co_await q.get();
                q.close();  // the consumer stops; the blocked producer must end
            }(),
            small_loop());
    });
}

// A put that finds the queue closed fails, and the consumer ends only once
// no put is between its look at the closed flag and its publishing store
// (proof/queue_asymmetric.pml, CLOSER): every put that succeeded arrives.
namespace {
void check_every_accepted_put_arrives() {
    check_body([] {
        al::ThreadSafeQueue<int> q(2);
        int put = 0;
        int got = 0;
        sim::Thread producer([&] {
            try {
                for (; put < 3; ++put) q.put_sync(put, true);
            } catch (const al::QueueClosed&) {
            }
        });
        sim::Interrupt closer([&] { q.close(); }, {.name = "closer", .core = 1});
        al::run(
            [&]() -> al::Task<> {
                while (co_await q.next()) ++got;
            }(),
            small_loop());
        producer.join();
        sim::check(got == put, "every item whose put succeeded arrives");
    });
}
}  // namespace

TEST(Mutant, QueuePushIgnoresClose) { check_every_accepted_put_arrives(); }

// The producer marks its tail busy before it reads the closed flag
// (proof/queue_asymmetric.pml MUTANT_NO_BUSY).
TEST(Mutant, QueuePutWithoutBusy) { check_every_accepted_put_arrives(); }

namespace {

struct Counter {
    int ran = 0;
};
void count(void* arg) { ++static_cast<Counter*>(arg)->ran; }

void schedule_while_the_loop_ends() {
    Counter c;
    int accepted = 0;
    std::optional<al::Loop::Handle> handle;
    sim::Thread poster([&] {
        while (!handle) sim::yield_now();
        for (int i = 0; i < 2; ++i) accepted += handle->schedule(&count, &c) ? 1 : 0;
    });
    {
        al::Loop loop(small_loop());
        handle.emplace(loop.handle());
        loop.run_until_complete([]() -> al::Task<> { co_return; }());
    }
    poster.join();
    handle.reset();
    sim::check(c.ran == accepted, "every accepted call ran once");
}

}  // namespace

// The loop's close marks claimed, unpublished cells dead (proof/schedule_close.pml).
TEST(Mutant, ScheduleCloseSkipsClaimed) { check_body(schedule_while_the_loop_ends); }

// schedule() publishes with a CAS the close can fail (proof/schedule_close.pml).
TEST(Mutant, SchedulePlainPublish) { check_body(schedule_while_the_loop_ends); }

// A closed core refuses posts (proof/loop_lifetime.pml): a set racing the end
// of the loop whose waiter just timed out must not leave the flag's node in
// the dead core, or the next loop never hears of the flag again.
TEST(Mutant, LoopAcceptsPostAfterClose) {
    check_body([] {
        al::ThreadSafeFlag flag;
        al::port::atomic<int> phase{0};
        sim::Thread setter([&] {
            sim::sleep_for(1ms);
            flag.set();  // races the first waiter's timeout and its loop's end
            while (phase.load() == 0) sim::yield_now();
            flag.set();
        });
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(flag.wait(), 1ms);
                } catch (const al::TimeoutError&) {
                }
            }(),
            small_loop());
        al::run(
            [&]() -> al::Task<> {
                phase.store(1);
                co_await flag.wait();
            }(),
            small_loop());
    });
}

// Message::set publishes the value, then rings (the edges fix of next()'s lost
// wake-up; proof/message_next.pml).
TEST(Mutant, MessageRingBeforePublish) {
    check_body([] {
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

// ThreadSafeFlag::clear takes only the set bit: a clear racing a posted
// wake-up leaves the waiting bit, so the next set() posts again
// (proof/thread_safe_flag.pml -DCLEAR, MUTANT_CLEAR_ZEROES).
TEST(Mutant, FlagClearZeroes) {
    check_body([] {
        al::ThreadSafeFlag flag;
        al::port::atomic<int> cleared{0};
        sim::Thread setter([&] {
            flag.set();
            while (cleared.load() == 0) sim::yield_now();
            flag.set();  // a wake-up is owed whatever the clear erased
        });
        sim::Thread clearer(
            [&] {
                flag.clear();
                cleared.store(1);
            },
            {.name = "clearer", .core = 1});
        al::run([&]() -> al::Task<> { co_await flag.wait(); }(), small_loop());
    });
}

namespace {

// A payload whose copy is not one step: a slot written while the loop copies
// from it gives a value whose halves differ.
struct Halves {
    int first;
    int second;
    explicit Halves(int v) noexcept : first(v) {
        sim::preemption_point();
        second = v;
    }
    Halves(const Halves& other) noexcept : first(other.first) {
        sim::preemption_point();
        second = other.second;
    }
    Halves& operator=(const Halves&) = delete;
    ~Halves() = default;
};

// One setter counting up, one task iterating with next(): every value whole,
// each set at most once, in order.
void message_next_counts_up() {
    al::Message<Halves, 1> message;
    sim::Thread setter([&] {
        for (int i = 1; i <= 3; ++i) message.set(i);
    });
    al::run(
        [&]() -> al::Task<> {
            int last = 0;
            while (last < 3) {
                Halves v = co_await message.next();
                sim::check(v.first == v.second, "no slot is written while the loop copies from it");
                sim::check(v.first > last, "next() never yields a set twice, nor an older one");
                last = v.first;
            }
        }(),
        small_loop());
}

}  // namespace

// A setter never claims the slot the loop has pinned to copy from
// (proof/message_next.pml MUTANT_CLAIM_IGNORES_PIN).
TEST(Mutant, MessageClaimIgnoresPin) { check_body(message_next_counts_up); }

// The reader never waits for a set() in flight (proof/message_next.pml
// MUTANT_WAIT_FOR_SETTER; 0.2.0's publishing_ spin on the loop thread): with
// the setter stopped between its claim and its publication, the loop spins
// for good.
TEST(Mutant, MessageReaderWaitsForSetter) { check_body(message_next_counts_up); }

// next() clears the doorbell, then looks at the message once more before it
// sleeps: a set() it missed rang before the clear (proof/message_next.pml
// MUTANT_NO_SECOND_LOOK).
TEST(Mutant, MessageNoSecondLook) { check_body(message_next_counts_up); }

// An event's waiters wake for a set() that clear() undid before the loop
// looked: the epoch carries it (proof/thread_safe_event.pml MUTANT_NO_EPOCH).
TEST(Mutant, EventNoEpoch) {
    check_body([] {
        al::ThreadSafeEvent event;
        sim::Thread setter(
            [&] {
                sim::sleep_for(1ms);  // the task waits by now: the loop idles before the clock moves
                event.set();
                event.clear();  // perhaps before the loop looks: the epoch still carries the set
            },
            {.name = "setter", .core = 1});
        al::run([&]() -> al::Task<> { co_await event.wait(); }(), small_loop());
    });
}

// ThreadSafeQueue's producer looks at the consumer's waiting flag after its
// publishing store, not before (the consumer arms in between and sleeps
// through the item; with capacity 1 the producer then waits for room forever).
TEST(Mutant, QueueLooksBeforePublish) {
    check_body([] {
        al::ThreadSafeQueue<int> q(1);
        sim::Thread producer([&] {
            for (int i = 0; i < 3; ++i) q.put_sync(i, true);
            q.close();
        });
        al::run(
            [&]() -> al::Task<> {
                int expected = 0;
                while (auto v = co_await q.next()) sim::check(*v == expected++, "items arrive once and in order");
            }(),
            small_loop());
    });
}

// The many-producer queue's claim fails once close() set the closed bit, so
// a put is accepted exactly when its claim precedes the close
// (proof/many_producer_queue.pml MUTANT_CLAIM_IGNORES_CLOSE): every put that
// succeeded arrives before the end marker.
TEST(Mutant, ManyProducerClaimIgnoresClose) {
    check_body([] {
        al::ThreadSafeQueue<int, al::many_producers> q(4);
        int accepted[2] = {};
        int received[2] = {};
        sim::Thread producer([&] {
            for (int i = 0; i < 2; ++i) accepted[0] += q.try_put(i) ? 1 : 0;
        });
        sim::Interrupt irq([&] { accepted[1] += q.try_put(100) ? 1 : 0; }, {.name = "irq", .core = 0});
        sim::Interrupt closer([&] { q.close(); }, {.name = "closer", .core = 1});
        al::run(
            [&]() -> al::Task<> {
                while (std::optional<int> v = co_await q.next()) ++received[*v / 100];
            }(),
            small_loop());
        producer.join();
        sim::check(received[0] == accepted[0] && received[1] == accepted[1],
                   "every accepted put arrives before the end marker");
    });
}

namespace {

// A thread and an interrupt nesting over it put to one task through the
// many-producer queue, then the thread closes it: every item whole, each
// producer's in order, all of them before the end marker.
void many_producers_feed_a_task() {
    al::ThreadSafeQueue<Halves, al::many_producers> q(2);
    int accepted[2] = {};
    int received[2] = {};
    {
        sim::Thread producer([&] {
            for (int i = 0; i < 2; ++i) {
                q.put_sync(Halves(i), true);
                ++accepted[0];
            }
            q.close();
        });
        sim::Interrupt irq([&] { accepted[1] += q.try_put(Halves(100)) ? 1 : 0; }, {.name = "irq", .core = 0});
        al::run(
            [&]() -> al::Task<> {
                while (std::optional<Halves> v = co_await q.next()) {
                    sim::check(v->first == v->second, "the consumer reads an item only once it is written");
                    int from = v->first / 100;
                    sim::check(v->first % 100 == received[from], "each producer's items arrive once, in order");
                    ++received[from];
                }
            }(),
            small_loop());
    }  // the interrupt has fired
    sim::check(received[0] == accepted[0] && received[1] == accepted[1], "every accepted put arrives");
}

}  // namespace

// The many-producer queue's publish comes after the item is built
// (proof/many_producer_queue.pml MUTANT_PUBLISH_BEFORE_WRITE).
TEST(Mutant, ManyProducerPublishBeforeWrite) { check_body(many_producers_feed_a_task); }

// The consumer looks at the cell it armed before it sleeps
// (proof/many_producer_queue.pml MUTANT_NO_RECHECK).
TEST(Mutant, ManyProducerNoRecheck) { check_body(many_producers_feed_a_task); }

// A setter borrows the wake core it posts to, so the loop's end cannot free it
// under the setter (proof/loop_lifetime.pml MUTANT_NO_BORROW): without the
// borrow, AddressSanitizer reports the use after free inside a schedule.
TEST(MutantDeathTest, SetterWithoutBorrow) {
    auto body = [] {
        al::ThreadSafeFlag flag;
        al::port::atomic<int> phase{0};
        sim::Thread setter([&] {
            sim::sleep_for(1ms);
            flag.set();  // races the first waiter's timeout, its loop's end and the next loop's binding
            while (phase.load() == 0) sim::yield_now();
            flag.set();
        });
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(flag.wait(), 1ms);
                } catch (const al::TimeoutError&) {
                }
            }(),
            small_loop());
        al::run(
            [&]() -> al::Task<> {
                phase.store(1);
                co_await flag.wait();  // rebinds the flag: the first loop's core goes
            }(),
            small_loop());
    };
    if constexpr (mutant) {
        sim::Options o;
        o.max_schedules = 100000;
        EXPECT_DEATH(sim::explore(o, body), "heap-use-after-free.*the sanitizer stopped schedule");
    } else {
        check_body(body);
    }
}

// A queue's wake block outlives the queue while its wake-up is posted to the
// other end's loop (proof/queue_destruction.pml MUTANT_NODE_IN_QUEUE; 0.2.0's
// queue with both ends async on two loops): with the block freed with the
// queue, AddressSanitizer reports the loop's run of the stale wake-up.
TEST(MutantDeathTest, QueueNodeInQueue) {
    auto body = [] {
        auto q = std::make_unique<al::ThreadSafeQueue<int>>(1);
        (void)q->try_put(0);  // full: the producer's put waits
        al::port::atomic<int> producer_done{0};
        sim::Thread producer_loop(
            [&] {
                al::run(
                    [&]() -> al::Task<> {
                        try {
                            co_await al::wait_for(q->put(1), 1ms);
                        } catch (const al::TimeoutError&) {
                        }
                        producer_done.store(1);   // nobody waits at the queue from here on
                        co_await al::sleep(1ms);  // this loop takes a stale wake-up after the queue is gone
                    }(),
                    small_loop());
            },
            {.name = "loop2", .core = 1});
        al::run(
            [&]() -> al::Task<> {
                co_await al::sleep(1ms);  // races the producer's timeout
                (void)co_await q->get();  // makes room: may post the producer's wake-up to loop2
                while (producer_done.load() == 0) co_await al::sleep(10us);
                q.reset();  // as the contract says: on an async end's loop, nobody waiting
            }(),
            small_loop());
    };
    if constexpr (mutant) {
        sim::Options o;
        o.max_schedules = 100000;
        EXPECT_DEATH(sim::explore(o, body), "heap-use-after-free.*the sanitizer stopped schedule");
    } else {
        check_body(body);
    }
}
