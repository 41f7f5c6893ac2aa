// SPDX-License-Identifier: BSL-1.0
// shield(): a cancelled waiter throws at once and the shielded task runs on.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

TEST(Shield, ReturnsTheResultWhenNotCancelled) {
    int r = al::run([]() -> al::Task<int> {
        co_return co_await al::shield([]() -> al::Task<int> {
            co_await al::sleep(1ms);
            co_return 5;
        }());
    }());
    EXPECT_EQ(r, 5);
}

TEST(Shield, CancellingTheWaiterLeavesTheTaskRunning) {
    al::run([]() -> al::Task<> {
        bool finished = false;
        al::Event gate;
        auto inner = al::create_task([&]() -> al::Task<int> {
            co_await gate.wait();
            finished = true;
            co_return 1;
        });
        bool waiter_cancelled = false;
        auto waiter = al::create_task([&]() -> al::Task<> {
            try {
                co_await al::shield(inner);
            } catch (const al::CancelledError&) {
                waiter_cancelled = true;
                throw;
            }
        });
        co_await al::sleep(1ms);
        waiter.cancel();
        co_await al::sleep(1ms);
        EXPECT_TRUE(waiter_cancelled);
        EXPECT_FALSE(inner.done());
        gate.set();
        EXPECT_EQ(co_await inner, 1);
        EXPECT_TRUE(finished);
    }());
}

TEST(Shield, AnExceptionOfTheTaskReachesTheWaiter) {
    EXPECT_THROW(al::run([]() -> al::Task<> {
                     co_await al::shield([]() -> al::Task<> {
                         co_await al::sleep(0);
                         throw std::runtime_error("x");
                     }());
                 }()),
                 std::runtime_error);
}

TEST(Shield, AnEmptyHandleIsAUsageError) {
    al::run([]() -> al::Task<> {
        EXPECT_THROW(co_await al::shield(al::TaskHandle<int>()), al::UsageError);
        co_return;
    }());
}

}  // namespace
