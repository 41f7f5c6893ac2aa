// SPDX-License-Identifier: BSL-1.0
// The counters (asynclink/stats.hpp): after a deterministic exchange, each
// primitive's and the loop's stats() hold the known counts, and a snapshot
// prints as one line.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "support/settle.hpp"

namespace al = asynclink;
using test_support::settle;

#if ASYNCLINK_COUNTERS

namespace {

template <class Stats>
std::string printed(const Stats& s) {
    std::ostringstream out;
    out << s;
    return out.str();
}

}  // namespace

TEST(Stats, ThreeSetsIntoAFlagNobodyWaitsOnAreThreeSetsTwoCoalescedNoWakeUp) {
    al::ThreadSafeFlag flag;
    flag.set();
    flag.set();
    flag.set();
    al::SignalStats s = flag.stats();
    EXPECT_EQ(s.sets, 3u);
    EXPECT_EQ(s.coalesced, 2u);
    EXPECT_EQ(s.wakeups, 0u);
    EXPECT_EQ(printed(s), "sets 3 coalesced 2 wakeups 0");
}

TEST(Stats, AFlagCountsTheWakeUpOfItsWaitingTask) {
    al::ThreadSafeFlag flag;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(flag));
        co_await settle();
        flag.set();  // the task waits: one wake-up
        flag.set();  // before it ran: coalesced
        co_await waiter;
        flag.set();  // nobody waits: remembered, no wake-up
    }());
    al::SignalStats s = flag.stats();
    EXPECT_EQ(s.sets, 3u);
    EXPECT_EQ(s.coalesced, 1u);
    EXPECT_EQ(s.wakeups, 1u);
}

TEST(Stats, AnEventCountsEveryTaskItWakes) {
    al::ThreadSafeEvent event;
    al::run([&]() -> al::Task<void> {
        auto waits = [](al::ThreadSafeEvent& e) -> al::Task<void> { co_await e.wait(); };
        auto a = al::create_task(waits(event));
        auto b = al::create_task(waits(event));
        co_await settle();
        event.set();
        event.set();  // already set: coalesced
        co_await a;
        co_await b;
    }());
    al::SignalStats s = event.stats();
    EXPECT_EQ(s.sets, 2u);
    EXPECT_EQ(s.coalesced, 1u);
    EXPECT_EQ(s.wakeups, 2u);
}

TEST(Stats, AMessageSetThreeTimesBeforeAnyReaderCoalescesTwo) {
    al::Message<int> message;
    message.set(1);
    message.set(2);
    message.set(3);
    al::SignalStats s = message.stats();
    EXPECT_EQ(s.sets, 3u);
    EXPECT_EQ(s.coalesced, 2u);
    EXPECT_EQ(s.wakeups, 0u);
}

// A set() that raises the flag pays for no count: sets are derived from what
// later lowered the flag (a wait() took it, a clear()) plus a flag still up.
// Every way of lowering it counts once.
TEST(Stats, EveryWayOfTakingOrClearingAFlagKeepsTheSetsExact) {
    al::ThreadSafeFlag flag;
    al::run([&]() -> al::Task<void> {
        flag.set();
        co_await flag.wait();  // taken at once (await_ready)
        flag.set();
        flag.clear();  // lowered by a clear
        flag.clear();  // nothing to lower: no count
        auto waiter = al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(flag));
        co_await settle();
        flag.set();  // taken by the waiting task's wake-up
        co_await waiter;
        flag.set();  // still up at the snapshot
    }());
    al::SignalStats s = flag.stats();
    EXPECT_EQ(s.sets, 4u);
    EXPECT_EQ(s.coalesced, 0u);
    EXPECT_EQ(s.wakeups, 1u);
}

TEST(Stats, ClearingAnEventAndReadingAMessageKeepTheSetsExact) {
    al::ThreadSafeEvent event;
    event.set();
    event.clear();
    event.clear();  // nothing to lower: no count
    event.set();
    event.set();  // coalesced
    event.clear();
    EXPECT_EQ(event.stats().sets, 3u);
    EXPECT_EQ(event.stats().coalesced, 1u);

    al::Message<int> message;
    al::run([&]() -> al::Task<void> {
        message.set(1);
        EXPECT_EQ(co_await message.next(), 1);  // the reader lowers the doorbell
        message.set(2);
        message.set(3);  // coalesced
        EXPECT_EQ(co_await message.next(), 3);
        message.set(4);  // still up at the snapshot
    }());
    EXPECT_EQ(message.stats().sets, 4u);
    EXPECT_EQ(message.stats().coalesced, 1u);
}

template <class Queue>
void three_puts_into_room_for_two() {
    Queue q(2);
    EXPECT_TRUE(q.try_put(1));
    EXPECT_TRUE(q.try_put(2));
    EXPECT_FALSE(q.try_put(3));
    al::QueueStats s = q.stats();
    EXPECT_EQ(s.puts, 2u);
    EXPECT_EQ(s.gets, 0u);
    EXPECT_EQ(s.refused_full, 1u);
    EXPECT_EQ(s.high_water, 2u);
    EXPECT_EQ(s.capacity, 2u);
    EXPECT_THROW(q.put_sync(4), al::QueueFull);
    EXPECT_EQ(q.try_get(), 1);
    EXPECT_EQ(q.try_get(), 2);
    EXPECT_FALSE(q.try_get());
    q.close();
    EXPECT_FALSE(q.try_put(5)) << "closed: not a refusal for want of room";
    s = q.stats();
    EXPECT_EQ(s.puts, 2u);
    EXPECT_EQ(s.gets, 2u);
    EXPECT_EQ(s.refused_full, 2u);
    EXPECT_EQ(s.high_water, 2u);
    EXPECT_EQ(s.producer_waits + s.consumer_waits, 0u);
    EXPECT_EQ(printed(s), "puts 2 gets 2 refused-full 2 waits 0/0 high-water 2/2");
}

TEST(Stats, AQueueOfTwoGivenThreePutsRefusesOneAndReachesTwo) {
    three_puts_into_room_for_two<al::ThreadSafeQueue<int>>();
}

TEST(Stats, AManyProducerQueueOfTwoGivenThreePutsRefusesOneAndReachesTwo) {
    three_puts_into_room_for_two<al::ThreadSafeQueue<int, al::many_producers>>();
}

TEST(Stats, TheConsumerSamplesTheHighWaterMarkBelowCapacity) {
    al::ThreadSafeQueue<int> q(8);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(q.try_put(i));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(q.try_get(), i);  // the first get reads the tail: 5 queued
    EXPECT_EQ(q.stats().high_water, 5u);
}

template <class Queue>
void waits_at_both_ends() {
    Queue q(1);
    al::run([&]() -> al::Task<void> {
        auto consumer = al::create_task([](Queue& queue) -> al::Task<int> {
            int a = co_await queue.get();  // empty: waits
            int b = co_await queue.get();
            co_return a + b;
        }(q));
        co_await settle();
        co_await q.put(1);
        co_await q.put(2);  // may wait for the consumer to make room
        EXPECT_EQ(co_await consumer, 3);
    }());
    al::QueueStats s = q.stats();
    EXPECT_EQ(s.puts, 2u);
    EXPECT_EQ(s.gets, 2u);
    EXPECT_GE(s.consumer_waits, 1u);
    EXPECT_LE(s.consumer_waits, 2u);
    EXPECT_LE(s.producer_waits, 1u);
    EXPECT_EQ(s.refused_full, 0u) << "a waiting put is not a refusal";
}

TEST(Stats, TasksWaitingAtAQueueCountAsWaits) { waits_at_both_ends<al::ThreadSafeQueue<int>>(); }
TEST(Stats, TasksWaitingAtAManyProducerQueueCountAsWaits) {
    waits_at_both_ends<al::ThreadSafeQueue<int, al::many_producers>>();
}

TEST(Stats, TheLoopCountsScheduleVerdictsTimersAndPostedWork) {
    al::LoopOptions options;
    options.schedule_capacity = 2;
    al::Loop loop(options);
    int ran = 0;
    auto count = [](void* n) { ++*static_cast<int*>(n); };
    loop.run_until_complete([&]() -> al::Task<void> {
        EXPECT_TRUE(loop.schedule(count, &ran));
        EXPECT_TRUE(loop.schedule(count, &ran));
        EXPECT_FALSE(loop.schedule(count, &ran)) << "a ring of two is full";
        co_await settle();
        co_await al::sleep(std::chrono::milliseconds(1));
    }());
    EXPECT_EQ(ran, 2);
    al::LoopStats s = loop.stats();
    EXPECT_EQ(s.scheduled, 2u);
    EXPECT_EQ(s.schedule_refused, 1u);
    EXPECT_EQ(s.woken_by_posts, 2u) << "the two scheduled calls ran";
    EXPECT_EQ(s.woken_by_timers, 1u);
    EXPECT_GE(s.iterations, 4u);
    EXPECT_EQ(s.woken_by_io, 0u);
    EXPECT_EQ(s.timer_lateness.total(), 0u) << "the clock is read for lateness only while slices are timed";
    std::string line = printed(s);
    EXPECT_NE(line.find("scheduled 2 refused 1"), std::string::npos) << line;
}

TEST(Stats, WithSlicesTimedTheLoopKeepsTheTimersLateness) {
    al::LoopOptions options;
    options.stall_threshold = std::chrono::seconds(10);  // times the slices; never reached here
    al::Loop loop(options);
    loop.run_until_complete([]() -> al::Task<void> {
        for (int i = 0; i < 3; ++i) co_await al::sleep(std::chrono::microseconds(100));
    }());
    al::LoopStats s = loop.stats();
    EXPECT_EQ(s.woken_by_timers, 3u);
    EXPECT_EQ(s.timer_lateness.total(), 3u);
    EXPECT_NE(printed(s).find("timer lateness"), std::string::npos);
}

TEST(Stats, HistogramBucketsAreLog2Microseconds) {
    EXPECT_EQ(al::Log2Histogram::bucket_of(999), 0u);
    EXPECT_EQ(al::Log2Histogram::bucket_of(1000), 1u);
    EXPECT_EQ(al::Log2Histogram::bucket_of(3999), 2u);
    EXPECT_EQ(al::Log2Histogram::bucket_of(4000), 3u);
    EXPECT_EQ(al::Log2Histogram::bucket_of(~std::uint64_t{0}), al::Log2Histogram::buckets - 1);
    al::Log2Histogram h;
    h.counts[0] = 3;
    h.counts[3] = 1;
    std::ostringstream out;
    out << h;
    EXPECT_EQ(out.str(), "<1us:3 <8us:1");
}

#else

TEST(Stats, CompiledOutCountersReadZero) {
    al::ThreadSafeFlag flag;
    flag.set();
    EXPECT_EQ(flag.stats().sets, 0u);
}

#endif
