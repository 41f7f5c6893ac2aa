// SPDX-License-Identifier: BSL-1.0
// ThreadSafeFlag: one waiting task, set() from anywhere, a set before wait()
// remembered, sets coalescing, wait() auto-clearing, a second waiter refused,
// a set racing a cancellation kept for the next wait, a sleeping loop woken.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/settle.hpp"
#include "support/signal_cases.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

namespace {

// Lets every ready task run up to its next suspension point.
using test_support::settle;

al::Task<int> wait_and_count(al::ThreadSafeFlag& flag, int& wakes) {
    co_await flag.wait();
    co_return ++wakes;
}

}  // namespace

TEST(ThreadSafeFlag, StartsClear) {
    al::ThreadSafeFlag flag;
    EXPECT_FALSE(flag.is_set());
}

TEST(ThreadSafeFlag, SetBeforeWaitIsRememberedAndWaitClearsIt) {
    al::ThreadSafeFlag flag;
    flag.set();
    EXPECT_TRUE(flag.is_set());
    al::run([&]() -> al::Task<void> {
        co_await flag.wait();  // returns at once: the set was remembered
        EXPECT_FALSE(flag.is_set());
    }());
}

TEST(ThreadSafeFlag, ManySetsBeforeOneWakeCoalesce) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        flag.set();
        flag.set();
        flag.set();
        co_await flag.wait();
        EXPECT_FALSE(flag.is_set());
        auto second = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        EXPECT_FALSE(second.done()) << "three sets must make one wake-up, not three";
        flag.set();
        EXPECT_EQ(co_await al::wait_for(second, hang_limit), 1);
    }());
}

TEST(ThreadSafeFlag, SetWakesTheWaitingTaskAndClears) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        EXPECT_FALSE(waiter.done());
        flag.set();
        EXPECT_EQ(co_await al::wait_for(waiter, hang_limit), 1);
        EXPECT_FALSE(flag.is_set()) << "wait() clears the flag as it returns";
    }());
}

TEST(ThreadSafeFlag, ClearForgetsAnUnconsumedSet) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        flag.set();
        flag.clear();
        EXPECT_FALSE(flag.is_set());
        auto waiter = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        EXPECT_FALSE(waiter.done()) << "a cleared set must not wake";
        flag.set();
        EXPECT_EQ(co_await al::wait_for(waiter, hang_limit), 1);
    }());
}

TEST(ThreadSafeFlag, ClearAfterASetPostedToAWaitingTaskKeepsItWaiting) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        flag.set();    // posts a wake-up ...
        flag.clear();  // ... that finds nothing to consume when it runs
        co_await settle();
        EXPECT_FALSE(waiter.done());
        flag.set();  // the waiter is still registered: this one must reach it
        EXPECT_EQ(co_await al::wait_for(waiter, hang_limit), 1);
    }());
}

TEST(ThreadSafeFlag, SecondConcurrentWaiterIsAUsageErrorNamingThreadSafeEvent) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    std::string message;
    al::run([&]() -> al::Task<void> {
        auto first = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        try {
            co_await flag.wait();
            ADD_FAILURE() << "a second waiter was accepted";
        } catch (const al::UsageError& e) {
            message = e.what();
        }
        // The refused waiter disturbed nothing: the first still gets its wake-up.
        flag.set();
        EXPECT_EQ(co_await al::wait_for(first, hang_limit), 1);
        // Waiting in turn is fine.
        flag.set();
        co_await flag.wait();
    }());
    EXPECT_NE(message.find("ThreadSafeFlag::wait"), std::string::npos) << message;
    EXPECT_NE(message.find("one waiter"), std::string::npos) << message;
    EXPECT_NE(message.find("ThreadSafeEvent"), std::string::npos) << message;
}

TEST(ThreadSafeFlag, CancelledWaiterThrowsAndLeavesTheFlagClear) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        waiter.cancel();
        EXPECT_THROW(co_await waiter, al::CancelledError);
        EXPECT_FALSE(flag.is_set());
        // A new waiter may come, and is woken normally.
        auto next = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        EXPECT_FALSE(next.done());
        flag.set();
        EXPECT_EQ(co_await al::wait_for(next, hang_limit), 1);
    }());
}

TEST(ThreadSafeFlag, SetRacingACancellationIsKeptForTheNextWait) {
    al::ThreadSafeFlag flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task(wait_and_count(flag, wakes));
        co_await settle();
        // The set posts a wake-up; the cancellation lands before the loop runs it.
        flag.set();
        waiter.cancel();
        EXPECT_THROW(co_await waiter, al::CancelledError);
        EXPECT_EQ(wakes, 0);
        EXPECT_TRUE(flag.is_set()) << "the set that raced the cancellation was lost";
        co_await al::wait_for(flag.wait(), hang_limit);  // the next wait consumes it
        EXPECT_FALSE(flag.is_set());
    }());
}

TEST(ThreadSafeFlag, SetFromAnotherThreadWakesASleepingLoop) {
    al::ThreadSafeFlag flag;
    std::atomic<pid_t> loop_tid{0};
    bool asleep = false;
    std::thread setter([&] {
        pid_t tid;
        // acquire: pairs with the release store of the loop's thread id.
        while ((tid = loop_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
        asleep = bridge_test::wait_until_asleep_in_epoll(tid);
        flag.set();
    });
    al::run([&]() -> al::Task<void> {
        // release: the setter reads the id only after this store.
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await al::wait_for(flag.wait(), hang_limit);
    }());
    setter.join();
    EXPECT_TRUE(asleep) << "the loop never slept in the kernel while its only task waited";
}

TEST(ThreadSafeFlag, ManyRoundTripsWithAThreadLoseNoWakeUp) {
    // Ping-pong: the thread sets and waits for the task's answer, so every set
    // meets a task that waits (and, mostly, a loop asleep in the kernel).
    al::ThreadSafeFlag ping;
    std::atomic<std::uint64_t> answered{0};
    std::atomic<bool> stop{false};
    std::uint64_t rounds = 0;
    std::thread setter([&] {
        bridge_test::Budget budget(bridge_test::scaled(20'000));
        for (; budget.more(rounds); ++rounds) {
            ping.set();
            // acquire: pairs with the task's release of its count.
            while (answered.load(std::memory_order_acquire) != rounds + 1) std::this_thread::yield();
        }
        stop.store(true, std::memory_order_relaxed);  // relaxed: published by the set() below
        ping.set();
    });
    std::uint64_t answers = 0;
    al::run([&]() -> al::Task<void> {
        for (;;) {
            co_await al::wait_for(ping.wait(), hang_limit);
            // relaxed: the wait's acquire made the setter's store visible.
            if (stop.load(std::memory_order_relaxed)) break;
            // release: the setter may go on to the next round.
            answered.store(++answers, std::memory_order_release);
        }
    }());
    setter.join();
    EXPECT_GT(rounds, 0u);
    EXPECT_EQ(answers, rounds);
}

TEST(ThreadSafeFlag, RandomSetWaitCancelInterleavingsLoseNoWakeUp) {
    // A thread publishes a growing sequence number and sets the flag after each;
    // the task waits, cancelling some of its waits at random points. A set that
    // races a cancellation stays in the flag, so the task always catches up with
    // the final number: a lost wake-up leaves it waiting, and wait_for fails.
    al::ThreadSafeFlag flag;
    std::atomic<std::uint64_t> sequence{0};
    std::atomic<bool> finished{false};
    std::thread setter([&] {
        bridge_test::Budget budget(bridge_test::scaled(50'000));
        std::mt19937 rng(1);
        for (std::uint64_t i = 0; budget.more(i); ++i) {
            // release: the task that wakes for this set sees the number.
            sequence.store(i + 1, std::memory_order_release);
            flag.set();
            if (rng() % 16 == 0) std::this_thread::yield();
        }
        finished.store(true, std::memory_order_release);  // release: the task then sees the final number
        flag.set();
    });
    std::uint64_t seen = 0;
    std::uint64_t wakes = 0;
    std::uint64_t cancelled = 0;
    al::run([&]() -> al::Task<void> {
        std::mt19937 rng(2);
        // acquire (both): pair with the setter's release stores.
        while (!finished.load(std::memory_order_acquire) || seen != sequence.load(std::memory_order_acquire)) {
            auto waiter = al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(flag));
            if (rng() % 4 == 0) {
                if (rng() % 2 == 0) co_await al::sleep(0);  // cancel it parked, or before it ran
                waiter.cancel();
            }
            try {
                co_await al::wait_for(waiter, hang_limit);
                ++wakes;
                seen = sequence.load(std::memory_order_acquire);  // acquire: as above
            } catch (const al::CancelledError&) {
                ++cancelled;
            }
        }
    }());
    setter.join();
    EXPECT_EQ(seen, sequence.load());
    EXPECT_GT(wakes, 0u);
    EXPECT_GT(cancelled, 0u);
}

TEST(ThreadSafeFlag, WaitingFromASecondLoopIsAUsageError) {
    al::ThreadSafeFlag flag;
    std::string message = test_support::second_loop_wait_error(flag);
    EXPECT_NE(message.find("ThreadSafeFlag::wait"), std::string::npos) << message;
    EXPECT_NE(message.find("set()"), std::string::npos) << message;
}

TEST(ThreadSafeFlag, DestroyingItWithAWakeUpStillPostedIsSafe) {
    test_support::destroy_with_a_wake_up_still_posted<al::ThreadSafeFlag>();
}
