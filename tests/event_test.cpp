// SPDX-License-Identifier: BSL-1.0
// Event: set/clear/is_set/wait, wake-up of every waiter, cancellation safety.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

using test_support::settle;

al::Task<void> wait_and_log(Log& log, al::Event& e, std::string name) {
    try {
        co_await e.wait();
        log.push_back(name + " woke");
    } catch (const al::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

}  // namespace

TEST(Event, StartsClearAndSetClearAreVisible) {
    al::run([]() -> al::Task<void> {
        al::Event e;
        EXPECT_FALSE(e.is_set());
        e.set();
        EXPECT_TRUE(e.is_set());
        e.set();  // idempotent
        EXPECT_TRUE(e.is_set());
        e.clear();
        EXPECT_FALSE(e.is_set());
        co_return;
    }());
}

TEST(Event, WaitingOnASetEventDoesNotSuspend) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        e.set();
        auto other = al::create_task([](Log& l) -> al::Task<void> {
            l.push_back("other ran");
            co_return;
        }(log));
        co_await e.wait();
        log.push_back("wait returned");
        co_await other;
    }());
    EXPECT_EQ(log, (Log{"wait returned", "other ran"}));
}

TEST(Event, SetWakesEveryWaiterInTheOrderTheyWaited) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        std::vector<al::TaskHandle<void>> waiters;
        for (const char* name : {"a", "b", "c"}) waiters.push_back(al::create_task(wait_and_log(log, e, name)));
        co_await settle();
        EXPECT_TRUE(log.empty());
        e.set();
        for (auto& w : waiters) co_await w;
        EXPECT_TRUE(e.is_set());  // stays set until cleared
    }());
    EXPECT_EQ(log, (Log{"a woke", "b woke", "c woke"}));
}

TEST(Event, AClearRightAfterSetStillWakesTheWaiters) {
    // As asyncio: the waiters present at set() wake even if clear() follows.
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto w = al::create_task(wait_and_log(log, e, "w"));
        co_await settle();
        e.set();
        e.clear();
        co_await w;
    }());
    EXPECT_EQ(log, Log{"w woke"});
}

TEST(Event, WaitAfterClearBlocksAgain) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        e.set();
        e.clear();
        auto w = al::create_task(wait_and_log(log, e, "w"));
        co_await settle();
        EXPECT_TRUE(log.empty());
        e.set();
        co_await w;
    }());
    EXPECT_EQ(log, Log{"w woke"});
}

TEST(Event, ACancelledWaiterDoesNotCostTheOthersTheirWakeUp) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto a = al::create_task(wait_and_log(log, e, "a"));
        auto b = al::create_task(wait_and_log(log, e, "b"));
        auto c = al::create_task(wait_and_log(log, e, "c"));
        co_await settle();
        b.cancel();
        co_await settle();
        e.set();
        co_await a;
        EXPECT_THROW(co_await b, al::CancelledError);
        co_await c;
    }());
    EXPECT_EQ(log, (Log{"b cancelled", "a woke", "c woke"}));
}

TEST(Event, CancellingTheFirstAndLastWaitersKeepsTheListIntact) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        std::vector<al::TaskHandle<void>> w;
        for (const char* name : {"1", "2", "3", "4"}) w.push_back(al::create_task(wait_and_log(log, e, name)));
        co_await settle();
        w[0].cancel();
        w[3].cancel();
        co_await settle();
        auto late = al::create_task(wait_and_log(log, e, "5"));
        co_await settle();
        e.set();
        co_await w[1];
        co_await w[2];
        co_await late;
    }());
    EXPECT_EQ(log, (Log{"1 cancelled", "4 cancelled", "2 woke", "3 woke", "5 woke"}));
}

TEST(Event, AWaiterWokenThenCancelledReturnsFromWaitAndIsCancelledAtItsNextSuspension) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto w = al::create_task([](Log& l, al::Event& ev) -> al::Task<void> {
            co_await ev.wait();
            l.push_back("woke");
            try {
                co_await al::sleep(0);
                l.push_back("not cancelled");
            } catch (const al::CancelledError&) {
                l.push_back("cancelled later");
                throw;
            }
        }(log, e));
        co_await settle();
        e.set();
        w.cancel();  // the wake-up is already delivered
        EXPECT_THROW(co_await w, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"woke", "cancelled later"}));
}

TEST(Event, AWaiterCancelledWhileTheEventIsSetIsNotAffectedByLaterSets) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto w = al::create_task(wait_and_log(log, e, "w"));
        co_await settle();
        w.cancel();
        EXPECT_THROW(co_await w, al::CancelledError);
        e.set();  // must not touch the finished waiter (ASan would see it)
        e.clear();
        e.set();
        co_await settle();
    }());
    EXPECT_EQ(log, Log{"w cancelled"});
}
