// SPDX-License-Identifier: BSL-1.0
// Loop::call_later / call_at (asyncio's): run once at their time, in deadline
// order, cancellable, dropped with the loop, exceptions to the handler.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

TEST(CallLater, RunsOnceNotBeforeItsTimeAndInDeadlineOrder) {
    al::run([]() -> al::Task<> {
        al::Loop& loop = al::Loop::current();
        std::vector<int> order;
        auto start = al::Clock::now();
        al::Clock::time_point ran_at{};
        loop.call_later(3ms, [&] {
            order.push_back(3);
            ran_at = al::Clock::now();
        });
        // From one time point, so the order does not depend on how fast these lines run.
        auto t0 = al::Clock::now();
        loop.call_at(t0 + 2ms, [&] { order.push_back(2); });
        loop.call_at(t0 + 1ms, [&] { order.push_back(1); });
        loop.call_at(t0 + 1ms, [&] { order.push_back(11); });  // equal deadlines: in the order made
        co_await al::sleep(10ms);
        EXPECT_EQ(order.size(), 4u);
        order.erase(std::remove(order.begin(), order.end(), 3), order.end());  // its place depends on timing
        EXPECT_EQ(order, (std::vector<int>{1, 11, 2}));
        EXPECT_GE(ran_at - start, 3ms);
    }());
}

TEST(CallLater, ACancelledCallbackNeverRuns) {
    al::run([]() -> al::Task<> {
        bool ran = false;
        auto h = al::Loop::current().call_later(1ms, [&] { ran = true; });
        EXPECT_FALSE(h.cancelled());
        h.cancel();
        EXPECT_TRUE(h.cancelled());
        h.cancel();  // twice is harmless
        co_await al::sleep(5ms);
        EXPECT_FALSE(ran);
    }());
}

TEST(CallLater, AHandleMayOutliveTheCallbackAndTheLoop) {
    al::TimerHandle fired, pending;
    int runs = 0;
    al::run([&]() -> al::Task<> {
        fired = al::Loop::current().call_later(0ms, [&] { ++runs; });
        pending = al::Loop::current().call_later(1h, [&] { ++runs; });
        co_await al::sleep(2ms);
        EXPECT_EQ(runs, 1);
        fired.cancel();  // after it ran: nothing to stop
    }());
    EXPECT_EQ(runs, 1);
    EXPECT_TRUE(pending.cancelled()) << "dropped with the loop";
    pending.cancel();
}

TEST(CallLater, AnExceptionGoesToTheExceptionHandler) {
    al::run([]() -> al::Task<> {
        std::string seen;
        al::Loop::current().set_exception_handler([&](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                seen = x.what();
            }
        });
        al::Loop::current().call_later(0ms, [] { throw std::runtime_error("late"); });
        co_await al::sleep(2ms);
        EXPECT_EQ(seen, "late");
    }());
}

TEST(CallLater, FromAnotherThreadOrEmptyIsAUsageError) {
    al::run([]() -> al::Task<> {
        al::Loop& loop = al::Loop::current();
        EXPECT_THROW(loop.call_later(1ms, std::function<void()>()), al::UsageError);
        bool threw = false;
        std::thread([&] {
            try {
                loop.call_later(1ms, [] {});
            } catch (const al::UsageError&) {
                threw = true;
            }
        }).join();
        EXPECT_TRUE(threw);
        co_return;
    }());
}

}  // namespace
