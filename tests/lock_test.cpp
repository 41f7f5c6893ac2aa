// SPDX-License-Identifier: BSL-1.0
// Lock: mutual exclusion across suspension points, the RAII guard, FIFO
// hand-off, and cancellation safety (a lock handed to a cancelled waiter is
// never leaked).
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

al::Task<void> take_and_log(Log& log, al::Lock& lock, std::string name) {
    try {
        auto guard = co_await lock.acquire();
        log.push_back(name + " got");
        co_await al::sleep(0);
        log.push_back(name + " releases");
    } catch (const al::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

}  // namespace

TEST(Lock, GuardHoldsAndReleases) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        EXPECT_FALSE(lock.locked());
        {
            auto guard = co_await lock.acquire();
            EXPECT_TRUE(guard.owns_lock());
            EXPECT_TRUE(lock.locked());
        }
        EXPECT_FALSE(lock.locked());
        auto guard = co_await lock.acquire();
        guard.release();
        EXPECT_FALSE(guard.owns_lock());
        EXPECT_FALSE(lock.locked());
        guard.release();  // a released guard does nothing
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(Lock, GuardMovesOwnership) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        al::Lock::Guard outer;
        EXPECT_FALSE(outer.owns_lock());
        {
            auto inner = co_await lock.acquire();
            al::Lock::Guard moved(std::move(inner));
            EXPECT_FALSE(inner.owns_lock());  // NOLINT(bugprone-use-after-move): checking the moved-from state
            outer = std::move(moved);
        }
        EXPECT_TRUE(lock.locked());
        outer = al::Lock::Guard();
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(Lock, ReleasingALockThatIsNotHeldIsAUsageError) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        EXPECT_THROW(lock.release(), al::UsageError);
        co_return;
    }());
}

TEST(Lock, ExcludesAcrossSuspensionPoints) {
    int inside = 0;
    int most_inside = 0;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto worker = [](al::Lock& l, int& in, int& most) -> al::Task<void> {
            for (int i = 0; i < 20; ++i) {
                auto guard = co_await l.acquire();
                most = std::max(most, ++in);
                co_await al::sleep(0);
                --in;
            }
        };
        std::vector<al::Task<void>> workers;
        for (int i = 0; i < 5; ++i) workers.push_back(worker(lock, inside, most_inside));
        co_await al::gather(std::move(workers));
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_EQ(most_inside, 1);
}

TEST(Lock, WaitersGetTheLockInFifoOrderAndAReleaserCannotCutIn) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto held = co_await lock.acquire();
        auto a = al::create_task(take_and_log(log, lock, "a"));
        auto b = al::create_task(take_and_log(log, lock, "b"));
        co_await settle();
        held.release();
        // Straight back in the queue: behind a and b although the lock was
        // ours a moment ago.
        auto again = co_await lock.acquire();
        log.push_back("main got");
        co_await a;
        co_await b;
    }());
    EXPECT_EQ(log, (Log{"a got", "a releases", "b got", "b releases", "main got"}));
}

TEST(Lock, ACancelledWaiterLeavesTheQueueAndTheNextOneGetsTheLock) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto held = co_await lock.acquire();
        auto a = al::create_task(take_and_log(log, lock, "a"));
        auto b = al::create_task(take_and_log(log, lock, "b"));
        co_await settle();
        a.cancel();
        co_await settle();
        held.release();
        co_await b;
        EXPECT_THROW(co_await a, al::CancelledError);
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b got", "b releases"}));
}

TEST(Lock, ALockHandedToAWaiterThatIsThenCancelledIsNotLeaked) {
    // release() hands the lock to a, then a is cancelled before it runs: a
    // still owns it, and its guard gives it back as the CancelledError unwinds
    // at a's next suspension point. b gets it then.
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto held = co_await lock.acquire();
        auto a = al::create_task(take_and_log(log, lock, "a"));
        auto b = al::create_task(take_and_log(log, lock, "b"));
        co_await settle();
        held.release();
        a.cancel();
        EXPECT_THROW(co_await a, al::CancelledError);
        co_await b;
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_EQ(log, (Log{"a got", "a cancelled", "b got", "b releases"}));
}

TEST(Lock, ALockHandedToAWaiterCancelledWithoutAnotherSuspensionIsReleasedByItsGuard) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        auto held = co_await lock.acquire();
        auto a = al::create_task([](al::Lock& l) -> al::Task<void> { auto g = co_await l.acquire(); }(lock));
        co_await settle();
        held.release();
        a.cancel();
        co_await a;  // it returned before reaching another suspension point
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(Lock, CancellingTheOnlyWaiterThenReleasingLeavesTheLockFree) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        Log log;
        auto held = co_await lock.acquire();
        auto a = al::create_task(take_and_log(log, lock, "a"));
        co_await settle();
        a.cancel();
        EXPECT_THROW(co_await a, al::CancelledError);
        held.release();
        EXPECT_FALSE(lock.locked());
        auto g = co_await lock.acquire();  // does not suspend forever
        EXPECT_TRUE(lock.locked());
    }());
}

// A Guard's destructor never throws (it is noexcept: a throw
// there is std::terminate).

TEST(LockGuard, ALockReleasedBehindTheGuardsBackIsNotReleasedAgainByTheGuard) {
    // asyncio's lock.release() works while the guard is alive; the guard then
    // owns nothing, and destroying it must not release the lock a waiter got
    // meanwhile (nor throw "not held" from its destructor).
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto guard = co_await lock.acquire();
        auto waiter = al::create_task(take_and_log(log, lock, "w"));
        co_await settle();
        lock.release();  // handed to w
        EXPECT_FALSE(guard.owns_lock());
        { al::Lock::Guard dying = std::move(guard); }
        EXPECT_TRUE(lock.locked()) << "the stale guard released the lock its waiter was handed";
        co_await waiter;
        EXPECT_FALSE(lock.locked());
        auto again = co_await lock.acquire();  // and the lock still works
        EXPECT_TRUE(again.owns_lock());
    }());
    EXPECT_EQ(log, (Log{"w got", "w releases"}));
}

TEST(LockGuardDeathTest, AGuardDestroyedOnAnotherThreadStopsWithAMessageNotATerminate) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(al::run([]() -> al::Task<void> {
                     al::Lock lock;
                     auto guard = co_await lock.acquire();
                     std::thread([g = std::move(guard)]() mutable { al::Lock::Guard dying = std::move(g); }).join();
                 }()),
                 "Lock::Guard released on a thread that is not running the lock's loop");
}
