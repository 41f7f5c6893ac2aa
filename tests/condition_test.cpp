// SPDX-License-Identifier: BSL-1.0
// Condition: wait releases and re-takes the lock, notify wakes in order,
// wait_for re-checks its predicate, a cancelled waiter holds the lock again
// and passes on a notify it cannot use, misuse is a UsageError.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

TEST(Condition, NotifyWakesWaitersInOrderWithTheLockHeld) {
    al::run([]() -> al::Task<> {
        al::Condition cond;
        std::vector<std::string> log;
        auto waiter = [&](std::string name) -> al::Task<> {
            auto guard = co_await cond.acquire();
            co_await cond.wait(guard);
            EXPECT_TRUE(guard.owns_lock());
            log.push_back(name);
        };
        auto a = al::create_task(waiter("a"));
        auto b = al::create_task(waiter("b"));
        co_await al::sleep(1ms);
        {
            auto guard = co_await cond.acquire();
            cond.notify();
        }
        co_await al::sleep(1ms);
        EXPECT_EQ(log, std::vector<std::string>{"a"});
        {
            auto guard = co_await cond.acquire();
            cond.notify_all();
        }
        co_await a;
        co_await b;
        EXPECT_EQ(log, (std::vector<std::string>{"a", "b"}));
    }());
}

TEST(Condition, WaitForRechecksThePredicateAfterEveryNotify) {
    al::run([]() -> al::Task<> {
        al::Condition cond;
        std::deque<int> jobs;
        int wakeups = 0;
        auto consumer = al::create_task([&]() -> al::Task<int> {
            auto guard = co_await cond.acquire();
            co_await cond.wait_for(guard, [&] {
                ++wakeups;
                return !jobs.empty();
            });
            int j = jobs.front();
            jobs.pop_front();
            co_return j;
        });
        co_await al::sleep(1ms);
        for (int i = 0; i < 2; ++i) {  // a notify with nothing to do
            {
                auto guard = co_await cond.acquire();
                cond.notify();
            }
            co_await al::sleep(1ms);  // the consumer re-checks and waits again
        }
        {
            auto guard = co_await cond.acquire();
            jobs.push_back(42);
            cond.notify();
        }
        EXPECT_EQ(co_await consumer, 42);
        EXPECT_EQ(wakeups, 4);  // the first check, two empty notifies, the job
    }());
}

TEST(Condition, ACancelledWaiterHoldsTheLockAgainWhenItThrows) {
    al::run([]() -> al::Task<> {
        al::Condition cond;
        bool owned_when_cancelled = false;
        auto waiter = al::create_task([&]() -> al::Task<> {
            auto guard = co_await cond.acquire();
            try {
                co_await cond.wait(guard);
            } catch (const al::CancelledError&) {
                owned_when_cancelled = guard.owns_lock();
                throw;
            }
        });
        co_await al::sleep(1ms);
        auto holder = co_await cond.acquire();  // the waiter must wait for it to take the lock again
        waiter.cancel();
        co_await al::sleep(1ms);
        EXPECT_FALSE(waiter.done());
        holder.release();
        try {
            co_await waiter;
        } catch (const al::CancelledError&) {
        }
        EXPECT_TRUE(owned_when_cancelled);
        EXPECT_FALSE(cond.lock().locked());
    }());
}

TEST(Condition, ANotifyReachingACancelledWaiterIsPassedOn) {
    al::run([]() -> al::Task<> {
        al::Condition cond;
        bool second_woke = false;
        auto first = al::create_task([&]() -> al::Task<> {
            auto guard = co_await cond.acquire();
            co_await cond.wait(guard);
        });
        auto second = al::create_task([&]() -> al::Task<> {
            auto guard = co_await cond.acquire();
            co_await cond.wait(guard);
            second_woke = true;
        });
        co_await al::sleep(1ms);
        {
            auto guard = co_await cond.acquire();
            cond.notify(1);  // reaches `first`, which wakes and waits for the lock we hold...
            co_await al::sleep(1ms);
            EXPECT_FALSE(first.done());
            first.cancel();  // ...and is cancelled there, before wait() can return
        }
        try {
            co_await first;
        } catch (const al::CancelledError&) {
        }
        co_await al::sleep(1ms);
        EXPECT_TRUE(second_woke) << "the notify was swallowed by the cancelled waiter";
        co_await second;
    }());
}

TEST(Condition, MisuseIsAUsageError) {
    al::run([]() -> al::Task<> {
        al::Condition cond;
        EXPECT_THROW(cond.notify(), al::UsageError);
        al::Lock::Guard none;
        EXPECT_THROW(co_await cond.wait(none), al::UsageError);
        al::Lock other;
        auto wrong = co_await other.acquire();
        EXPECT_THROW(co_await cond.wait(wrong), al::UsageError);
    }());
}

}  // namespace
