// SPDX-License-Identifier: BSL-1.0
// Semaphore: permits, bounded concurrency, FIFO hand-off, the guard, and
// cancellation safety (a permit handed to a cancelled waiter is not leaked).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

using test_support::settle;

al::Task<void> take_and_log(Log& log, al::Semaphore& sem, std::string name) {
    try {
        auto permit = co_await sem.acquire();
        log.push_back(name + " got");
        co_await al::sleep(0);
        log.push_back(name + " releases");
    } catch (const al::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

}  // namespace

TEST(Semaphore, CountsPermits) {
    al::run([]() -> al::Task<void> {
        al::Semaphore sem(2);
        EXPECT_EQ(sem.value(), 2u);
        auto p1 = co_await sem.acquire();
        auto p2 = co_await sem.acquire();
        EXPECT_EQ(sem.value(), 0u);
        EXPECT_TRUE(sem.locked());
        p1.release();
        EXPECT_EQ(sem.value(), 1u);
        sem.release();  // a release without an acquire adds a permit, as asyncio.Semaphore
        EXPECT_EQ(sem.value(), 2u);
    }());
}

TEST(Semaphore, DefaultsToOnePermit) {
    al::run([]() -> al::Task<void> {
        al::Semaphore sem;
        EXPECT_EQ(sem.value(), 1u);
        co_return;
    }());
}

TEST(Semaphore, BoundsConcurrency) {
    int inside = 0;
    int most_inside = 0;
    al::run([&]() -> al::Task<void> {
        al::Semaphore sem(3);
        auto worker = [](al::Semaphore& s, int& in, int& most) -> al::Task<void> {
            for (int i = 0; i < 10; ++i) {
                auto permit = co_await s.acquire();
                most = std::max(most, ++in);
                co_await al::sleep(0);
                co_await al::sleep(0);
                --in;
            }
        };
        std::vector<al::Task<void>> workers;
        for (int i = 0; i < 8; ++i) workers.push_back(worker(sem, inside, most_inside));
        co_await al::gather(std::move(workers));
        EXPECT_EQ(sem.value(), 3u);
    }());
    EXPECT_EQ(most_inside, 3);
}

TEST(Semaphore, WaitersGetPermitsInFifoOrder) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Semaphore sem(0);
        auto a = al::create_task(take_and_log(log, sem, "a"));
        auto b = al::create_task(take_and_log(log, sem, "b"));
        co_await settle();
        sem.release();
        // A newcomer queues behind b even though a permit was just released.
        auto c = al::create_task(take_and_log(log, sem, "c"));
        co_await a;
        co_await b;
        co_await c;
        EXPECT_EQ(sem.value(), 1u);
    }());
    EXPECT_EQ(log, (Log{"a got", "a releases", "b got", "b releases", "c got", "c releases"}));
}

TEST(Semaphore, DetachKeepsThePermit) {
    al::run([]() -> al::Task<void> {
        al::Semaphore sem(1);
        {
            auto permit = co_await sem.acquire();
            permit.detach();
        }
        EXPECT_EQ(sem.value(), 0u);
        sem.release();
        EXPECT_EQ(sem.value(), 1u);
    }());
}

TEST(Semaphore, ACancelledWaiterLeavesTheQueue) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Semaphore sem(0);
        auto a = al::create_task(take_and_log(log, sem, "a"));
        auto b = al::create_task(take_and_log(log, sem, "b"));
        co_await settle();
        a.cancel();
        co_await settle();
        sem.release();
        co_await b;
        EXPECT_THROW(co_await a, al::CancelledError);
        EXPECT_EQ(sem.value(), 1u);
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b got", "b releases"}));
}

TEST(Semaphore, APermitHandedToAWaiterThatIsThenCancelledIsNotLeaked) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Semaphore sem(0);
        auto a = al::create_task(take_and_log(log, sem, "a"));
        auto b = al::create_task(take_and_log(log, sem, "b"));
        co_await settle();
        sem.release();  // handed to a
        a.cancel();     // before a runs: a keeps the permit and its guard returns it
        EXPECT_THROW(co_await a, al::CancelledError);
        co_await b;
        EXPECT_EQ(sem.value(), 1u);
    }());
    EXPECT_EQ(log, (Log{"a got", "a cancelled", "b got", "b releases"}));
}

// A Guard's destructor never throws (it is noexcept: a throw
// there is std::terminate).
TEST(SemaphoreGuardDeathTest, AGuardDestroyedOnAnotherThreadStopsWithAMessageNotATerminate) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        al::run([]() -> al::Task<void> {
            al::Semaphore sem(1);
            auto permit = co_await sem.acquire();
            std::thread([p = std::move(permit)]() mutable { al::Semaphore::Guard dying = std::move(p); }).join();
        }()),
        "Semaphore::Guard released on a thread that is not running the semaphore's loop");
}

TEST(BoundedSemaphore, AReleaseAboveTheInitialValueIsAUsageError) {
    al::run([]() -> al::Task<void> {
        al::BoundedSemaphore sem(2);
        {
            auto permit = co_await sem.acquire();
            EXPECT_EQ(sem.value(), 1u);
        }
        EXPECT_EQ(sem.value(), 2u);
        EXPECT_THROW(sem.release(), al::UsageError);
        EXPECT_EQ(sem.value(), 2u);
        al::BoundedSemaphore none(0);
        EXPECT_THROW(none.release(), al::UsageError);
        al::Semaphore plain(0);
        plain.release();  // an unbounded semaphore counts on
        EXPECT_EQ(plain.value(), 1u);
        co_return;
    }());
}

TEST(BoundedSemaphore, AGuardGivesBackToAWaiterWithoutTrippingTheBound) {
    al::run([]() -> al::Task<void> {
        al::BoundedSemaphore sem(1);
        auto first = co_await sem.acquire();
        bool second_got = false;
        auto h = al::create_task([&]() -> al::Task<void> {
            auto permit = co_await sem.acquire();
            second_got = true;
        });
        co_await al::sleep(0);
        first.release();
        co_await h;
        EXPECT_TRUE(second_got);
        EXPECT_EQ(sem.value(), 1u);
    }());
}
