// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue destruction with its ends on two loops: a wake-up one end
// posted to the other end's loop may still be queued there when the queue is
// destroyed (legitimately: nobody waits any more, every call has returned).
// The loop runs it later; it must touch nothing of the dead queue.
//
// Each test makes the stale wake-up deterministic: the waiting end's task is
// parked, the other end takes its waiting bit (which posts the wake-up to the
// waiting end's loop) while that loop is held inside a task, then the waiting
// task is cancelled, so nobody waits, the queue is destroyed on the other
// loop, and only then may the held loop go on and take the posted wake-up.
// Before the fix this was a heap-use-after-free under ASan, every run.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "support/gate.hpp"
#include "support/settle.hpp"

namespace al = asynclink;

namespace {

using Queue = al::ThreadSafeQueue<int>;

using test_support::settle;

// Wait at the queue until cancelled; true if cancelled there.
al::Task<bool> put_until_cancelled(Queue& queue, int item) {
    try {
        co_await queue.put(item);
    } catch (const al::CancelledError&) {
        co_return true;
    }
    co_return false;
}
al::Task<bool> get_until_cancelled(Queue& queue) {
    try {
        (void)co_await queue.get();
    } catch (const al::CancelledError&) {
        co_return true;
    }
    co_return false;
}

// Runs on the waiting end's loop: parks `waiter`, holds the loop at `parked`
// while the other end posts the wake-up, cancels the waiter, holds the loop at
// `destroyed` while the queue is destroyed, then lets the loop take the stale
// wake-up.
al::Task<void> waiting_end(al::Task<bool> waiter, test_support::Gate& parked, test_support::Gate& destroyed) {
    al::TaskHandle<bool> handle = al::create_task(std::move(waiter));
    co_await settle();  // the waiter is parked at the queue
    parked.pass();      // the other end takes the waiting bit and posts the wake-up here
    EXPECT_TRUE(handle.cancel());
    destroyed.pass();  // the queue is destroyed on the other loop
    EXPECT_TRUE(co_await handle);
    co_await settle();  // the loop takes the posted wake-up, after the queue is gone
}

}  // namespace

TEST(QueueLifetime, AProducerWakeUpPostedToItsLoopOutlivesTheQueue) {
    auto queue = std::make_unique<Queue>(1);
    queue->try_put(0);  // full: the producer's put(1) waits
    test_support::Gate parked;
    test_support::Gate destroyed;
    std::thread producer_loop([&] { al::run(waiting_end(put_until_cancelled(*queue, 1), parked, destroyed)); });
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(parked.wait_arrived(1));
        EXPECT_EQ(co_await queue->get(), 0);  // makes room: posts the producer's wake-up to its loop
        parked.open();
        EXPECT_TRUE(destroyed.wait_arrived(1));
        queue.reset();  // as the contract says: on an async end's loop, nobody waiting, no call running
        destroyed.open();
    }());
    producer_loop.join();
}

TEST(QueueLifetime, AConsumerWakeUpPostedToItsLoopOutlivesTheQueue) {
    auto queue = std::make_unique<Queue>(1);
    test_support::Gate parked;
    test_support::Gate destroyed;
    std::thread consumer_loop([&] { al::run(waiting_end(get_until_cancelled(*queue), parked, destroyed)); });
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(parked.wait_arrived(1));
        co_await queue->put(1);  // posts the consumer's wake-up to its loop
        parked.open();
        EXPECT_TRUE(destroyed.wait_arrived(1));
        queue.reset();
        destroyed.open();
    }());
    consumer_loop.join();
}

TEST(QueueLifetime, ACloseWakeUpPostedToTheProducerLoopOutlivesTheQueue) {
    auto queue = std::make_unique<Queue>(1);
    queue->try_put(0);
    test_support::Gate parked;
    test_support::Gate destroyed;
    std::thread producer_loop([&] { al::run(waiting_end(put_until_cancelled(*queue, 1), parked, destroyed)); });
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(parked.wait_arrived(1));
        queue->close();  // takes the producer's waiting bit: posts its wake-up to its loop
        EXPECT_EQ(co_await queue->get(), 0);
        parked.open();
        EXPECT_TRUE(destroyed.wait_arrived(1));
        queue.reset();
        destroyed.open();
    }());
    producer_loop.join();
}
