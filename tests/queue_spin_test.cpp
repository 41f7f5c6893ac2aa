// SPDX-License-Identifier: BSL-1.0
// The spin of ThreadSafeQueue's blocking ends: what a blocked get_sync costs in
// CPU when its partner answers late (printed, not asserted: it depends on the
// machine), and the budget's policy (asserted: it depends on nothing but the
// durations it is fed).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include <sys/resource.h>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// CPU time (user + system) the calling thread has used, from getrusage.
std::chrono::microseconds thread_rusage_cpu() {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    auto micros = [](const timeval& tv) {
        return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    };
    return micros(usage.ru_utime) + micros(usage.ru_stime);
}

// A thread takes `waits` items with get_sync(block = true), each put by the
// partner `answer_after` after the previous one was taken; returns the
// consumer thread's CPU time per wait.
std::chrono::nanoseconds cpu_per_blocking_get(std::uint64_t waits, std::chrono::microseconds answer_after) {
    al::ThreadSafeQueue<std::uint64_t> q(1);
    al::ThreadSafeQueue<std::uint64_t> taken(1);
    std::chrono::microseconds cpu{};
    std::thread consumer([&] {
        auto before = thread_rusage_cpu();
        for (std::uint64_t i = 0; i < waits; ++i) {
            EXPECT_EQ(q.get_sync(true), i);
            while (!taken.try_put(i)) std::this_thread::yield();  // never full: the partner takes each at once
        }
        cpu = thread_rusage_cpu() - before;
    });
    for (std::uint64_t i = 0; i < waits; ++i) {
        std::this_thread::sleep_for(answer_after);
        q.put_sync(i);
        while (!taken.try_get()) std::this_thread::yield();  // the consumer took it: it blocks again next
    }
    consumer.join();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(cpu) / waits;
}

}  // namespace

// The figure: CPU per blocking get_sync whose partner
// answers after 1 ms. A fixed 50 us spin cost 57-97 us per wait; the adaptive
// budget stops spinning once spinning keeps missing, so a wait then costs the
// futex's system calls only.
TEST(QueueSpin, CpuPerBlockingGetSyncWhenThePartnerAnswersAfterAMillisecond) {
    const std::uint64_t waits = bridge_test::scaled(400, 40);
    auto per_wait = cpu_per_blocking_get(waits, 1ms);
    std::printf("CPU per blocking get_sync, partner answering after 1 ms: %.1f us (%llu waits)\n",
                static_cast<double>(per_wait.count()) / 1000.0, static_cast<unsigned long long>(waits));
}

TEST(QueueSpin, TheBudgetHalvesWhileSpinningMissesAndIsFullAgainOnceItWouldPay) {
    const auto full = std::chrono::duration_cast<al::Clock::duration>(50us);
    al::detail::SpinBudget budget(full);
    EXPECT_EQ(budget.next(), full);
    budget.waited(1ms);  // the partner answered long after a spin would have given up
    EXPECT_EQ(budget.next(), full / 2);
    for (int i = 0; i < 10; ++i) budget.waited(1ms);
    EXPECT_EQ(budget.next(), al::Clock::duration::zero()) << "below a microsecond the waiter sleeps at once";
    budget.waited(full);  // an answer a full spin would have caught
    EXPECT_EQ(budget.next(), full);
}

TEST(QueueSpin, AnOverrunSpinSkipsTheNextSpinsAndMoreEachTime) {
    const auto full = std::chrono::duration_cast<al::Clock::duration>(50us);
    al::detail::SpinBudget budget(full);
    auto overrun_spin = [&] {
        al::detail::SpinWait spin(budget.next());
        std::this_thread::sleep_for(2 * full);  // the CPU was away for longer than the whole spin
        EXPECT_FALSE(spin.once());
        ASSERT_TRUE(spin.overran());
        budget.spun(spin, false);
    };
    overrun_spin();
    for (int i = 0; i < 16; ++i) EXPECT_EQ(budget.next(), al::Clock::duration::zero()) << "skipped wait " << i;
    EXPECT_EQ(budget.next(), full);
    overrun_spin();
    for (int i = 0; i < 32; ++i) EXPECT_EQ(budget.next(), al::Clock::duration::zero()) << "skipped wait " << i;
    EXPECT_EQ(budget.next(), full);
}

// PauseHint: four answers in a row at the first look after the first yield
// (a partner on this CPU) turn the pause phase off for the next 64 spins;
// then one spin pauses again (a probe), and one more such answer is enough
// to turn it off again. An answer a pause caught, or one after several
// yields, starts the count over; a spin that ran out, skipped the pause or
// overran (a stranger took the CPU) says nothing.
TEST(QueueSpin, ThePausePhaseIsSkippedOnlyWhileAnswersComeRightAfterTheFirstYield) {
    al::detail::PauseHint hint;
    auto answered_after_one_yield = [&] { hint.learn(true, true, 1, false); };
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(hint.pause_first());
        answered_after_one_yield();
    }
    hint.learn(false, true, 1, false);  // ran out: no evidence either way
    hint.learn(true, true, 1, true);    // the yield gave a stranger a time slice: no evidence
    hint.learn(true, true, 5, false);   // several yields: a slow partner; the streak starts over
    for (int i = 0; i < 3; ++i) answered_after_one_yield();
    EXPECT_TRUE(hint.pause_first()) << "three in a row are not enough";
    answered_after_one_yield();
    for (std::uint32_t i = 0; i < al::detail::PauseHint::probe_every; ++i) {
        EXPECT_FALSE(hint.pause_first()) << "spin " << i << " should skip the pause phase";
        hint.learn(true, false, 1, false);  // without the pause: no evidence
    }
    EXPECT_TRUE(hint.pause_first()) << "the probe pauses";
    answered_after_one_yield();
    EXPECT_FALSE(hint.pause_first()) << "one confirming probe turns the pause off again";
    for (std::uint32_t i = 1; i < al::detail::PauseHint::probe_every; ++i) EXPECT_FALSE(hint.pause_first());
    EXPECT_TRUE(hint.pause_first()) << "the next probe";
    hint.learn(true, true, 0, false);  // a pause caught the answer: the partner runs elsewhere
    answered_after_one_yield();
    EXPECT_TRUE(hint.pause_first()) << "after a caught answer, one more is not enough";
    for (int i = 0; i < 3; ++i) answered_after_one_yield();
    EXPECT_FALSE(hint.pause_first());
}

// A SpinWait without the pause phase yields from its first look on, and
// counts its yields; with it, it only pauses at first.
TEST(QueueSpin, ASpinWithoutThePausePhaseYieldsAtOnceAndCountsItsYields) {
    const auto long_limit = std::chrono::duration_cast<al::Clock::duration>(60s);
    al::detail::SpinWait yielding(long_limit, false);
    EXPECT_FALSE(yielding.paused_first());
    ASSERT_TRUE(yielding.once());
    EXPECT_EQ(yielding.yields(), 1u);
    ASSERT_TRUE(yielding.once());
    EXPECT_EQ(yielding.yields(), 2u);

    al::detail::SpinWait pausing(long_limit);
    EXPECT_TRUE(pausing.paused_first());
    std::this_thread::sleep_for(al::detail::SpinWait::pause_phase);  // the pause phase is over
    ASSERT_TRUE(pausing.once());
    EXPECT_EQ(pausing.yields(), 1u) << "past the pause phase a look yields";
}

// A SpinBudget learns the pause hint from its spins.
TEST(QueueSpin, TheBudgetLearnsThePauseHintFromItsSpins) {
    const auto full = std::chrono::duration_cast<al::Clock::duration>(60s);
    al::detail::SpinBudget budget(full);
    for (std::uint32_t i = 0; i < al::detail::PauseHint::confirm; ++i) {
        al::detail::SpinWait spin(budget.next(), budget.pause_first());
        ASSERT_TRUE(spin.paused_first());
        std::this_thread::sleep_for(al::detail::SpinWait::pause_phase);
        ASSERT_TRUE(spin.once());  // one yield, then the answer
        budget.spun(spin, true);
    }
    EXPECT_FALSE(budget.pause_first());
}

TEST(QueueSpin, AWakeStampMeasuresAcrossItsWrap) {
    EXPECT_EQ(al::detail::WakeStamp::between(0xffff'fff0u, 0x10u), al::Clock::duration(0x20 << 10));
    EXPECT_EQ(al::detail::WakeStamp::between(5, 5), al::Clock::duration::zero());
}

TEST(QueueSpin, TheLimitCapsTheBudgetAndZeroNeverSpins) {
    const auto full = std::chrono::duration_cast<al::Clock::duration>(50us);
    const auto twenty = std::chrono::duration_cast<al::Clock::duration>(20us);
    al::detail::SpinBudget budget(full);
    budget.set_limit(twenty);
    EXPECT_EQ(budget.limit(), twenty);
    EXPECT_EQ(budget.next(), twenty) << "the budget learnt before is capped by the new limit";
    budget.waited(10us);  // a spin of the limit would have caught it
    EXPECT_EQ(budget.next(), twenty);
    budget.set_limit(al::Clock::duration::zero());
    EXPECT_EQ(budget.next(), al::Clock::duration::zero());
    budget.waited(al::Clock::duration::zero());  // even an answer at once does not bring a spin back
    EXPECT_EQ(budget.next(), al::Clock::duration::zero());
    budget.set_limit(full);
    budget.waited(1us);
    EXPECT_EQ(budget.next(), full);
}

namespace {

template <class Queue>
void spin_limit_is_set_and_checked() {
    Queue q(4);
    EXPECT_EQ(q.spin_before_block(), std::chrono::duration_cast<al::Clock::duration>(50us));
    q.set_spin_before_block(al::Clock::duration::zero());
    EXPECT_EQ(q.spin_before_block(), al::Clock::duration::zero());
    q.set_spin_before_block(std::chrono::duration_cast<al::Clock::duration>(1s));
    EXPECT_EQ(q.spin_before_block(), std::chrono::duration_cast<al::Clock::duration>(1s));
    try {
        q.set_spin_before_block(std::chrono::duration_cast<al::Clock::duration>(-1us));
        ADD_FAILURE() << "a negative limit was taken";
    } catch (const al::UsageError& e) {
        EXPECT_STREQ(
            e.what(),
            "asynclink: ThreadSafeQueue::set_spin_before_block: the limit must be between 0 and 1 s, got -1000 ns");
    }
    EXPECT_THROW(q.set_spin_before_block(std::chrono::duration_cast<al::Clock::duration>(1001ms)), al::UsageError);
    EXPECT_EQ(q.spin_before_block(), std::chrono::duration_cast<al::Clock::duration>(1s))
        << "a refused limit changed it";
}

// Two threads through a queue of one slot with no spin at either end: every
// wait goes through arm, the last look and the futex. Every item arrives once,
// in order, and both ends waited.
template <class Queue>
void without_a_spin_every_item_arrives() {
    const std::uint64_t items = bridge_test::scaled(20'000, 2'000);
    Queue q(1);
    q.set_spin_before_block(al::Clock::duration::zero());
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < items; ++i) q.put_sync(i, true);
    });
    for (std::uint64_t i = 0; i < items; ++i) {
        std::uint64_t got = q.get_sync(true);
        if (got != i) {
            ADD_FAILURE() << "item " << i << " arrived as " << got;
            break;
        }
    }
    producer.join();
    al::QueueStats s = q.stats();
    EXPECT_EQ(s.puts, items);
    EXPECT_EQ(s.gets, items);
    EXPECT_GT(s.consumer_waits + s.producer_waits, 0u);
    std::printf("no spin, %llu items: %zu consumer waits, %zu producer waits\n", static_cast<unsigned long long>(items),
                s.consumer_waits, s.producer_waits);
}

}  // namespace

TEST(QueueSpin, TheLimitIsSetForBothEndsAndABadOneIsRefused) {
    spin_limit_is_set_and_checked<al::ThreadSafeQueue<std::uint64_t>>();
    spin_limit_is_set_and_checked<al::ThreadSafeQueue<std::uint64_t, al::many_producers>>();
}

TEST(QueueSpin, WithoutASpinEveryItemStillArrives) {
    without_a_spin_every_item_arrives<al::ThreadSafeQueue<std::uint64_t>>();
}

TEST(QueueSpin, WithoutASpinEveryItemStillArrivesManyProducers) {
    without_a_spin_every_item_arrives<al::ThreadSafeQueue<std::uint64_t, al::many_producers>>();
}
