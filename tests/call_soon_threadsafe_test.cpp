// SPDX-License-Identifier: BSL-1.0
// Loop::call_soon_threadsafe(fn): the general way to run loop-only code from
// another thread. fn runs on the loop thread, in order per calling thread;
// its exceptions go to the exception handler; nothing posted is ever dropped.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

TEST(CallSoonThreadsafe, FromAThreadWakesASleepingLoopAndRunsOnTheLoopThread) {
    al::Event ran;  // loop-only: set from fn, which runs on the loop
    std::thread::id ran_on;
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<pid_t> loop_tid{0};
    bool asleep = false;
    std::thread other([&] {
        // acquire: pairs with the loop's release below.
        while (loop_tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
        asleep = bridge_test::wait_until_asleep_in_epoll(loop_tid.load());
        loop.load()->call_soon_threadsafe([&] {
            ran_on = std::this_thread::get_id();
            ran.set();
        });
    });
    al::run([&]() -> al::Task<void> {
        loop.store(&al::Loop::current(), std::memory_order_relaxed);  // relaxed: published by the release below
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await al::wait_for(ran.wait(), hang_limit);
    }());
    other.join();
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    EXPECT_TRUE(asleep);
}

TEST(CallSoonThreadsafe, FromTheLoopItselfRunsAtTheNextIterationNotInside) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        al::Loop::current().call_soon_threadsafe([&] { log.push_back("fn"); });
        log.push_back("caller");
        co_await al::sleep(0);
        log.push_back("caller again");
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"caller", "fn", "caller again"}));
}

TEST(CallSoonThreadsafe, FromManyThreadsEveryCallRunsOnceInEachThreadsOrder) {
    constexpr int threads_count = 4;
    const std::uint64_t per_thread = bridge_test::scaled(20'000);
    std::vector<std::uint64_t> next_expected(threads_count, 0);  // loop thread only
    std::uint64_t out_of_order = 0;
    std::uint64_t total = 0;
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_count; ++t) {
        threads.emplace_back([&, t] {
            al::Loop* l;
            // acquire: pairs with the loop's release below.
            while ((l = loop.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
            for (std::uint64_t i = 0; i < per_thread; ++i) {
                l->call_soon_threadsafe([&, t, i] {
                    if (next_expected[t] != i) ++out_of_order;
                    next_expected[t] = i + 1;
                    ++total;
                });
            }
            // The last call of each thread counts it finished, on the loop.
            l->call_soon_threadsafe([&] { finished.fetch_add(1, std::memory_order_relaxed); });  // relaxed: loop only
        });
    }
    al::run([&]() -> al::Task<void> {
        loop.store(&al::Loop::current(), std::memory_order_release);  // release: see above
        while (finished.load(std::memory_order_relaxed) != threads_count) co_await al::sleep(100us);
    }());
    for (auto& th : threads) th.join();
    EXPECT_EQ(total, per_thread * threads_count);
    EXPECT_EQ(out_of_order, 0u);
    for (int t = 0; t < threads_count; ++t) EXPECT_EQ(next_expected[t], per_thread) << "thread " << t;
}

TEST(CallSoonThreadsafe, AnExceptionFromFnGoesToTheExceptionHandlerAndTheLoopGoesOn) {
    std::vector<std::string> reported;
    bool later_ran = false;
    std::atomic<al::Loop*> loop{nullptr};
    std::thread other([&] {
        al::Loop* l;
        while ((l = loop.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();  // acquire: see below
        l->call_soon_threadsafe([] { throw std::runtime_error("thrown by fn"); });
        l->call_soon_threadsafe([&] { later_ran = true; });
    });
    al::run([&]() -> al::Task<void> {
        al::Loop::current().set_exception_handler([&](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                reported.push_back(ex.what());
            }
        });
        loop.store(&al::Loop::current(), std::memory_order_release);  // release: the handler is installed
        while (!later_ran) co_await al::sleep(100us);
    }());
    other.join();
    EXPECT_EQ(reported, std::vector<std::string>{"thrown by fn"});
}

TEST(CallSoonThreadsafe, WithoutAHandlerTheExceptionIsPrintedNotLost) {
    testing::internal::CaptureStderr();
    bool later_ran = false;
    al::run([&]() -> al::Task<void> {
        al::Loop& loop = al::Loop::current();
        loop.call_soon_threadsafe([] { throw std::runtime_error("nobody handles this"); });
        loop.call_soon_threadsafe([&] { later_ran = true; });
        co_await al::sleep(0);
        co_await al::sleep(0);
    }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("nobody handles this"), std::string::npos) << err;
    EXPECT_TRUE(later_ran);
}

// CancelledError is not a std::exception: the report names it rather than
// printing "not a std::exception" (which it did before).
TEST(CallSoonThreadsafe, ACancelledErrorFromFnIsPrintedByName) {
    testing::internal::CaptureStderr();
    al::run([&]() -> al::Task<void> {
        al::Loop::current().call_soon_threadsafe([] { throw al::CancelledError(); });
        co_await al::sleep(0);
        co_await al::sleep(0);
    }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("asynclink: unhandled exception: asynclink: task cancelled"), std::string::npos) << err;
}

TEST(CallSoonThreadsafe, AnEmptyFunctionIsAUsageError) {
    al::Loop loop;
    EXPECT_THROW(loop.call_soon_threadsafe(std::function<void()>{}), al::UsageError);
    std::thread([&] { EXPECT_THROW(loop.call_soon_threadsafe(nullptr), al::UsageError); }).join();
}

TEST(CallSoonThreadsafe, RunsLoopOnlyCodeForAnotherThreadCreatingAndCancellingTasks) {
    // The documented way for a thread to start and stop tasks.
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<bool> started{false};
    al::TaskHandle<void> sleeper;  // touched on the loop thread only
    al::Event stopped;
    std::thread other([&] {
        al::Loop* l;
        while ((l = loop.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();  // acquire: see below
        l->call_soon_threadsafe([&] {
            sleeper = al::create_task([](std::atomic<bool>& s) -> al::Task<void> {
                s.store(true, std::memory_order_relaxed);  // relaxed: a progress flag, nothing else published
                co_await al::sleep(1h);
            }(started));
        });
        while (!started.load(std::memory_order_relaxed)) std::this_thread::yield();
        l->call_soon_threadsafe([&] {
            EXPECT_TRUE(sleeper.cancel());
            stopped.set();
        });
    });
    al::run([&]() -> al::Task<void> {
        loop.store(&al::Loop::current(), std::memory_order_release);  // release: the loop is running
        co_await al::wait_for(stopped.wait(), hang_limit);
        EXPECT_THROW(co_await al::wait_for(sleeper, hang_limit), al::CancelledError);
    }());
    other.join();
}

TEST(CallSoonThreadsafe, ACallPostedAfterTheLoopStoppedRunsWhenTheLoopIsDestroyed) {
    int runs = 0;
    {
        al::Loop loop;
        loop.run_until_complete([]() -> al::Task<void> { co_return; }());
        std::thread([&] { loop.call_soon_threadsafe([&] { ++runs; }); }).join();
        EXPECT_EQ(runs, 0);
    }
    EXPECT_EQ(runs, 1) << "a posted call was dropped with the loop";
}
