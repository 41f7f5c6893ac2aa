// SPDX-License-Identifier: BSL-1.0
// unblock(): one blocking call off the loop, awaited; the loop keeps running.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

int blocking_square(int x) {
    std::this_thread::sleep_for(200ms);
    return x * x;
}

}  // namespace

TEST(Unblock, AnotherTaskKeepsRunningDuringA200msBlockingCall) {
    int ticks = 0;
    int ticks_before = -1;
    int ticks_after = -1;
    auto main_task = [&]() -> al::Task<int> {
        auto ticker = al::create_task([](int& t) -> al::Task<> {
            for (;;) {
                ++t;
                co_await al::sleep_ms(1);
            }
        }(ticks));
        ticks_before = ticks;
        int r = co_await al::unblock(blocking_square, 12);
        ticks_after = ticks;
        ticker.cancel();
        co_return r;
    };
    EXPECT_EQ(al::run(main_task()), 144);
    // The ticker was ready when main started waiting, so it ran while the call
    // blocked; a blocked loop would have left the count where it was.
    EXPECT_EQ(ticks_before, 0);
    EXPECT_GT(ticks_after, ticks_before);
}

TEST(Unblock, ResultsErrorsVoidAndMoveOnly) {
    auto main_task = [&]() -> al::Task<> {
        EXPECT_NE(co_await al::unblock([] { return std::this_thread::get_id(); }), std::this_thread::get_id());
        try {
            co_await al::unblock([] { throw std::runtime_error("no such file"); });
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "no such file");
        }
        std::atomic<bool> ran{false};
        co_await al::unblock([&ran] { ran = true; });
        EXPECT_TRUE(ran.load());
        auto p = co_await al::unblock([](std::unique_ptr<int> q) { return std::make_unique<int>(*q * 2); },
                                      std::make_unique<int>(21));
        EXPECT_EQ(*p, 42);
    };
    al::run(main_task());
}

TEST(Unblock, SeveralCallsRunAtOnce) {
    // Four calls that can only return once all four are inside: they must run
    // concurrently (the shared Context has at least five workers).
    std::latch all_in(4);
    auto call = [](std::latch& l, int k) -> al::Task<int> {
        co_return co_await al::unblock([&l, k] {
            l.arrive_and_wait();
            return k;
        });
    };
    auto main_task = [&]() -> al::Task<int> {
        auto [a, b, c, d] = co_await al::gather(call(all_in, 1), call(all_in, 2), call(all_in, 3), call(all_in, 4));
        co_return a + b + c + d;
    };
    EXPECT_EQ(al::run(main_task()), 10);
}

TEST(Unblock, CancellingTheCallerResumesItAtOnce) {
    std::atomic<bool> release{false};
    std::atomic<bool> entered{false};
    std::atomic<bool> finished{false};
    auto main_task = [&]() -> al::Task<> {
        auto t = al::create_task([](std::atomic<bool>& e, std::atomic<bool>& r, std::atomic<bool>& f) -> al::Task<> {
            co_await al::unblock([&e, &r, &f] {
                e = true;
                while (!r.load()) std::this_thread::sleep_for(1ms);
                f = true;
            });
        }(entered, release, finished));
        while (!entered.load()) co_await al::sleep_ms(1);
        t.cancel();
        try {
            co_await t;
            ADD_FAILURE() << "not cancelled";
        } catch (const al::CancelledError&) {
        }
        EXPECT_FALSE(finished.load());  // the call is still blocked, the task is already done
        release = true;
    };
    al::run(main_task());
    for (int i = 0; i < 60'000 && !finished.load(); ++i) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(finished.load());
}

TEST(Unblock, FromAThreadWithoutALoopIsAUsageError) {
    try {
        auto a = al::unblock([] { return 1; });
        FAIL() << "no exception";
    } catch (const al::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("call the function directly"), std::string::npos) << e.what();
    }
}
