// SPDX-License-Identifier: BSL-1.0
// A wake-up the kernel refuses: with no timer pending the
// loop would sleep through the post that failed to wake it, and through every
// later one too, since the failed poster had taken the "loop is asleep" duty.
// The duty goes back on failure, so the next post writes again; the failure
// itself is still reported by the loop's next wait (run() throws). The
// reporting on its own is covered by fault_injection_test (FaultWakeFailure).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {
void nothing(void*) {}
}  // namespace

TEST(WakeFailure, AFailedWakeWithNoTimerPendingIsRetriedByTheNextPost) {
    al::ThreadSafeFlag flag;
    al::Loop loop(al::LoopOptions{.spin_before_sleep = al::Clock::duration::zero()});
    std::atomic<pid_t> loop_tid{0};
    std::atomic<bool> resumed{false};
    std::atomic<bool> rescued{false};
    std::thread poster([&] {
        while (loop_tid.load() == 0) std::this_thread::yield();
        // Until the loop sleeps in the kernel, with its task waiting on the flag.
        for (;;) {
            std::string where = bridge_test::kernel_wait_channel(loop_tid.load());
            if (where == "S" || where.find("epoll") != std::string::npos) break;
            std::this_thread::sleep_for(1ms);
        }
        al::detail::LoopAccess::idle(loop).inject_wake_failure(EIO);
        flag.set();                                     // its wake-up fails: the loop sleeps on
        EXPECT_TRUE(loop.schedule(&nothing, nullptr));  // this one must wake it
        // Bounded: the defect is a loop that never wakes. Wake it by hand then,
        // so the test fails instead of hanging.
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (!resumed.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
        if (!resumed.load()) {
            rescued.store(true);
            al::detail::LoopAccess::idle(loop).wake();
        }
    });
    std::string reported = "nothing";
    try {
        loop.run_until_complete([&]() -> al::Task<void> {
            loop_tid.store(bridge_test::thread_id());
            co_await flag.wait();  // no timer pending: only a post can wake the loop
            resumed.store(true);
            // The loop's next wait reports the failure: a sleep far longer
            // than the test, so the loop must wait (a short one could be due
            // before the loop next went idle, on a slow or loaded machine or
            // under valgrind, and the loop would never wait again).
            co_await al::sleep(bridge_test::hang_limit);
        }());
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EIO) << e.what();
        reported = "system_error";
    }
    poster.join();
    EXPECT_FALSE(rescued.load()) << "the post after the failed wake-up did not wake the loop";
    EXPECT_TRUE(resumed.load());
    EXPECT_EQ(reported, "system_error") << "the failed wake-up was not reported";
}
