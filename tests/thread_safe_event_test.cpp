// SPDX-License-Identifier: BSL-1.0
// ThreadSafeEvent: any number of waiters, set() from anywhere, a set() followed
// at once by clear() still waking everyone who waited, cancelling one waiter
// never costing the others, waiters bound to one loop.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
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

using test_support::settle;

al::Task<int> wait_once(al::ThreadSafeEvent& event, int id) {
    co_await event.wait();
    co_return id;
}

std::vector<al::TaskHandle<int>> start_waiters(al::ThreadSafeEvent& event, int count) {
    std::vector<al::TaskHandle<int>> waiters;
    for (int i = 0; i < count; ++i) waiters.push_back(al::create_task(wait_once(event, i)));
    return waiters;
}

// Awaits every waiter except `skip`; each must return its own id.
al::Task<void> expect_all_woken(std::vector<al::TaskHandle<int>>& waiters, int skip = -1) {
    for (int i = 0; i < static_cast<int>(waiters.size()); ++i) {
        if (i == skip) continue;
        EXPECT_EQ(co_await al::wait_for(waiters[i], hang_limit), i);
    }
}

}  // namespace

TEST(ThreadSafeEvent, SetClearAndIsSetFromAnyThread) {
    al::ThreadSafeEvent event;
    EXPECT_FALSE(event.is_set());
    std::thread([&] { event.set(); }).join();
    EXPECT_TRUE(event.is_set());
    event.set();  // idempotent
    EXPECT_TRUE(event.is_set());
    std::thread([&] { event.clear(); }).join();
    EXPECT_FALSE(event.is_set());
}

TEST(ThreadSafeEvent, WaitOnASetEventReturnsAtOnceAndLeavesItSet) {
    al::ThreadSafeEvent event;
    event.set();
    al::run([&]() -> al::Task<void> {
        co_await event.wait();
        co_await event.wait();
        EXPECT_TRUE(event.is_set()) << "unlike ThreadSafeFlag, wait() does not clear";
    }());
}

TEST(ThreadSafeEvent, SetWakesEveryWaiter) {
    al::ThreadSafeEvent event;
    al::run([&]() -> al::Task<void> {
        auto waiters = start_waiters(event, 5);
        co_await settle();
        for (auto& w : waiters) EXPECT_FALSE(w.done());
        event.set();
        co_await expect_all_woken(waiters);
    }());
}

TEST(ThreadSafeEvent, SetFromAnotherThreadWakesEveryWaiterOfASleepingLoop) {
    al::ThreadSafeEvent event;
    std::atomic<pid_t> loop_tid{0};
    bool asleep = false;
    std::thread setter([&] {
        pid_t tid;
        // acquire: pairs with the release store below.
        while ((tid = loop_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
        asleep = bridge_test::wait_until_asleep_in_epoll(tid);
        event.set();
    });
    al::run([&]() -> al::Task<void> {
        auto waiters = start_waiters(event, 4);
        co_await settle();
        // release: the setter starts probing only once every waiter is parked.
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await expect_all_woken(waiters);
    }());
    setter.join();
    EXPECT_TRUE(asleep) << "the loop never slept in the kernel while its tasks waited";
}

TEST(ThreadSafeEvent, SetThenImmediateClearFromAnotherThreadStillWakesEveryWaiter) {
    al::ThreadSafeEvent event;
    std::atomic<bool> parked{false};
    std::thread setter([&] {
        // acquire: pairs with the release store below.
        while (!parked.load(std::memory_order_acquire)) std::this_thread::yield();
        event.set();
        event.clear();
    });
    al::run([&]() -> al::Task<void> {
        auto waiters = start_waiters(event, 4);
        co_await settle();
        parked.store(true, std::memory_order_release);  // release: every waiter is parked by now
        co_await expect_all_woken(waiters);
    }());
    // Only once the setter has returned: the waiters may well run between
    // its set() and its clear().
    setter.join();
    EXPECT_FALSE(event.is_set());
}

TEST(ThreadSafeEvent, SetThenClearOnTheLoopStillWakesEveryWaiter) {
    al::ThreadSafeEvent event;
    al::run([&]() -> al::Task<void> {
        auto waiters = start_waiters(event, 3);
        co_await settle();
        event.set();
        event.clear();
        co_await expect_all_woken(waiters);
    }());
}

TEST(ThreadSafeEvent, AWaiterArrivingAfterSetAndClearWaitsForTheNextSet) {
    al::ThreadSafeEvent event;
    al::run([&]() -> al::Task<void> {
        auto early = start_waiters(event, 2);
        co_await settle();
        event.set();
        event.clear();
        // Arrives before the loop delivered the wake-up above, but after the set.
        auto late = al::create_task(wait_once(event, 7));
        co_await expect_all_woken(early);
        co_await settle();
        EXPECT_FALSE(late.done()) << "a waiter that came after the set+clear must not be woken by it";
        event.set();
        EXPECT_EQ(co_await al::wait_for(late, hang_limit), 7);
    }());
}

TEST(ThreadSafeEvent, CancellingOneWaiterNeverCostsTheOthers) {
    al::ThreadSafeEvent event;
    al::run([&]() -> al::Task<void> {
        // Cancelled before the set.
        auto waiters = start_waiters(event, 4);
        co_await settle();
        waiters[0].cancel();
        event.set();
        EXPECT_THROW(co_await waiters[0], al::CancelledError);
        co_await expect_all_woken(waiters, 0);

        // Cancelled after the set posted its wake-up, before the loop ran it.
        event.clear();
        waiters = start_waiters(event, 4);
        co_await settle();
        event.set();
        waiters[2].cancel();
        EXPECT_THROW(co_await waiters[2], al::CancelledError);
        co_await expect_all_woken(waiters, 2);

        // Cancelled after a set+clear, which must still wake the others.
        event.clear();
        waiters = start_waiters(event, 4);
        co_await settle();
        event.set();
        event.clear();
        waiters[3].cancel();
        EXPECT_THROW(co_await waiters[3], al::CancelledError);
        co_await expect_all_woken(waiters, 3);
    }());
}

TEST(ThreadSafeEvent, RandomSetClearCancelRoundsWakeEveryWaiterThatWaited) {
    // Each round: waiters park, a thread sets and at once clears the event,
    // and the loop cancels one waiter at a random moment around that. Every
    // waiter not cancelled must be woken; the cancelled one either throws
    // CancelledError or had already been woken.
    al::ThreadSafeEvent event;
    std::atomic<std::uint64_t> requested{0};
    std::atomic<bool> stop{false};
    std::thread setter([&] {
        std::uint64_t served = 0;
        for (;;) {
            // acquire: pairs with the loop's release of the round number.
            std::uint64_t r = requested.load(std::memory_order_acquire);
            if (r == served) {
                if (stop.load(std::memory_order_acquire)) return;  // acquire: as above
                std::this_thread::yield();
                continue;
            }
            served = r;
            event.set();
            event.clear();
        }
    });
    std::uint64_t rounds = 0;
    std::uint64_t cancelled = 0;
    al::run([&]() -> al::Task<void> {
        std::mt19937 rng(3);
        bridge_test::Budget budget(bridge_test::scaled(20'000));
        for (; budget.more(rounds); ++rounds) {
            int count = 1 + static_cast<int>(rng() % 5);
            auto waiters = start_waiters(event, count);
            co_await settle(2);
            int victim = static_cast<int>(rng() % static_cast<unsigned>(count));
            bool cancel_first = rng() % 2 == 0;
            if (cancel_first) waiters[victim].cancel();
            requested.store(rounds + 1, std::memory_order_release);  // release: the waiters are parked
            if (!cancel_first) {
                for (auto i = rng() % 3; i > 0; --i) co_await al::sleep(0);
                waiters[victim].cancel();
            }
            try {
                co_await waiters[victim];
            } catch (const al::CancelledError&) {
                ++cancelled;
            }
            co_await expect_all_woken(waiters, victim);
            if (testing::Test::HasFailure()) break;
        }
    }());
    stop.store(true, std::memory_order_release);  // release: the setter's exit check
    setter.join();
    EXPECT_GT(rounds, 0u);
    EXPECT_GT(cancelled, 0u);
}

TEST(ThreadSafeEvent, WaitingFromASecondLoopIsAUsageError) {
    al::ThreadSafeEvent event;
    std::string message = test_support::second_loop_wait_error(event);
    EXPECT_NE(message.find("ThreadSafeEvent::wait"), std::string::npos) << message;
    EXPECT_NE(message.find("loop that first waited"), std::string::npos) << message;
}

TEST(ThreadSafeEvent, DestroyingItWithAWakeUpStillPostedIsSafe) {
    test_support::destroy_with_a_wake_up_still_posted<al::ThreadSafeEvent>();
}

TEST(ThreadSafeEvent, AWaiterWakesWhenTheEpochHasComeRoundToItsOwn) {
    // The epoch has 30 bits: 2^30 sets (each but the last cleared again)
    // while the loop looks away bring it back to the value a waiter recorded.
    // The event is set then, so the waiter must wake all the same. The seam
    // stands in for the first 2^30 - 1 set()/clear() pairs.
    al::detail::EventCore core;
    al::run([&]() -> al::Task<void> {
        auto waiter = al::create_task(
            [](al::detail::EventCore& c) -> al::Task<void> { co_await c.wait("ThreadSafeEvent::wait"); }(core));
        co_await settle();
        core.skip_epochs_for_test((1u << 30) - 1);
        core.set();
        co_await al::wait_for(waiter, hang_limit);
        EXPECT_TRUE(core.is_set());
    }());
}
