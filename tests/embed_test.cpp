// SPDX-License-Identifier: BSL-1.0
// Loop::step() and Loop::descriptor(): the loop driven by a host event loop,
// here a bare poll() on the descriptor. What step() returns, which wake-ups
// make the descriptor readable (a thread's set(), a signal handler's try_put,
// host code between steps), and the thread binding.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include <poll.h>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

/// True if the loop's descriptor is readable within `timeout` (0: now). The
/// timeouts here only bound a failing test; a passing one never waits for them.
bool readable(const al::Loop& loop, std::chrono::milliseconds timeout) {
    pollfd p{loop.descriptor(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && (p.revents & POLLIN) != 0;
}

/// Steps until step() asks to wait (a duration or nullopt), at most `limit` times.
std::optional<al::Clock::duration> step_until_wait(al::Loop& loop, int limit = 100) {
    std::optional<al::Clock::duration> due = loop.step();
    for (int i = 0; i < limit && due && due->count() == 0; ++i) due = loop.step();
    return due;
}

al::Task<void> wait_flag(al::ThreadSafeFlag& flag, int& woken) {
    co_await flag.wait();
    ++woken;
}

}  // namespace

TEST(Embed, StepReturnsZeroWhileTasksAreReady) {
    al::Loop loop;
    auto h = loop.create_task([]() -> al::Task<void> {
        for (int i = 0; i < 3; ++i) co_await al::sleep(0);
    });
    int zeros = 0;
    std::optional<al::Clock::duration> due = loop.step();
    while (due && due->count() == 0 && !h.done() && zeros < 10) {
        ++zeros;
        due = loop.step();
    }
    EXPECT_TRUE(h.done());
    EXPECT_GE(zeros, 3);                              // one round per yield: the host gets control in between
    EXPECT_FALSE(step_until_wait(loop).has_value());  // nothing left: wait for the descriptor only
}

TEST(Embed, StepReturnsTheNextTimer) {
    al::Loop loop;
    auto h = loop.create_task([]() -> al::Task<void> { co_await al::sleep(10s); });
    std::optional<al::Clock::duration> due = step_until_wait(loop);
    ASSERT_TRUE(due.has_value());
    EXPECT_GT(*due, 9s);
    EXPECT_LE(*due, 10s);
    EXPECT_FALSE(h.done());
    EXPECT_FALSE(readable(loop, 0ms));  // a timer is the host's to wait for
}

TEST(Embed, StepReturnsNulloptWhenOnlyAWakeUpCanHelp) {
    al::ThreadSafeFlag flag;  // outlives the loop, whose end cancels the waiter
    al::Loop loop;
    int woken = 0;
    auto h = loop.create_task(wait_flag(flag, woken));
    EXPECT_FALSE(step_until_wait(loop).has_value());
    EXPECT_FALSE(readable(loop, 0ms));
    EXPECT_EQ(woken, 0);
}

TEST(Embed, ThreadSetMakesTheDescriptorReadable) {
    al::ThreadSafeFlag flag;  // outlives the loop, whose end cancels the waiter
    al::Loop loop;
    int woken = 0;
    auto h = loop.create_task(wait_flag(flag, woken));
    ASSERT_FALSE(step_until_wait(loop).has_value());
    std::thread setter([&] { flag.set(); });
    EXPECT_TRUE(readable(loop, 10s));
    setter.join();
    step_until_wait(loop);
    EXPECT_EQ(woken, 1);
    EXPECT_TRUE(h.done());
    EXPECT_FALSE(readable(loop, 0ms));  // drained: the host does not spin
}

namespace {
al::ThreadSafeQueue<int>* signal_queue = nullptr;
void put_from_signal(int) { signal_queue->try_put(42); }
}  // namespace

TEST(Embed, SignalHandlerPutMakesTheDescriptorReadable) {
    al::ThreadSafeQueue<int> q(4);
    al::Loop loop;
    signal_queue = &q;
    int got = 0;
    auto h = loop.create_task([&]() -> al::Task<void> { got = co_await q.get(); });
    ASSERT_FALSE(step_until_wait(loop).has_value());
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = put_from_signal;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    std::raise(SIGUSR1);  // the handler runs here, on the loop's thread, between two steps
    sigaction(SIGUSR1, &previous, nullptr);
    EXPECT_TRUE(readable(loop, 10s));
    step_until_wait(loop);
    EXPECT_EQ(got, 42);
    EXPECT_TRUE(h.done());
}

TEST(Embed, HostCodeBetweenStepsMakesTheDescriptorReadable) {
    al::Loop loop;
    ASSERT_FALSE(step_until_wait(loop).has_value());
    bool ran = false;
    // Host code (an Asio handler, say) starts a task while the host waits.
    auto h = loop.create_task([&]() -> al::Task<void> {
        ran = true;
        co_return;
    });
    EXPECT_TRUE(readable(loop, 10s));
    step_until_wait(loop);
    EXPECT_TRUE(ran);

    ASSERT_FALSE(step_until_wait(loop).has_value());
    bool called = false;
    loop.call_later(0s, [&] { called = true; });  // a timer the last step did not know of
    EXPECT_TRUE(readable(loop, 10s));
    std::optional<al::Clock::duration> due = loop.step();
    for (int i = 0; i < 100 && !called; ++i) due = loop.step();
    EXPECT_TRUE(called);
}

TEST(Embed, AWakeUpRacingTheReturnIsSeen) {
    // A post between the loop's last check and its return: either step()
    // returns zero or the descriptor is readable.
    al::Loop loop;
    al::Loop::Handle handle = loop.handle();
    std::atomic<int> ran{0};
    step_until_wait(loop);
    for (int i = 0; i < 200; ++i) {
        std::thread poster([&] { handle.call_soon_threadsafe([&] { ran.fetch_add(1, std::memory_order_relaxed); }); });
        std::optional<al::Clock::duration> due = loop.step();
        while (ran.load(std::memory_order_relaxed) == i) {
            if (due && due->count() == 0) {
                due = loop.step();
                continue;
            }
            ASSERT_TRUE(readable(loop, 10s)) << "lost wake-up at round " << i;
            due = loop.step();
        }
        poster.join();
    }
    EXPECT_EQ(ran.load(), 200);
}

TEST(Embed, StepFromAnotherThreadIsRefused) {
    al::Loop loop;
    loop.step();
    std::thread other([&] {
        EXPECT_THROW(
            {
                try {
                    loop.step();
                } catch (const al::UsageError& e) {
                    EXPECT_NE(std::string(e.what()).find("other than the one that steps the loop"), std::string::npos);
                    throw;
                }
            },
            al::UsageError);
    });
    other.join();
}

TEST(Embed, StepInsideTheLoopIsRefused) {
    al::Loop loop;
    bool refused = false;
    auto h = loop.create_task([&]() -> al::Task<void> {
        try {
            loop.step();
        } catch (const al::UsageError&) {
            refused = true;
        }
        co_return;
    });
    step_until_wait(loop);
    EXPECT_TRUE(refused);
}

TEST(Embed, StepOnAThreadRunningAnotherLoopIsRefused) {
    al::Loop embedded;
    bool refused = al::run([&]() -> al::Task<bool> {
        try {
            embedded.step();
        } catch (const al::UsageError&) {
            co_return true;
        }
        co_return false;
    }());
    EXPECT_TRUE(refused);
}

TEST(Embed, StepOnALoopThatRunRunsIsRefused) {
    al::Loop loop;
    bool refused = false;
    auto body = [&]() -> al::Task<void> {
        // From a callback, where no task runs: still inside run().
        loop.call_soon([&] {
            try {
                loop.step();
            } catch (const al::UsageError&) {
                refused = true;
            }
        });
        co_await al::sleep(0);
        co_await al::sleep(0);
    };
    loop.run_until_complete(body());
    EXPECT_TRUE(refused);
}

TEST(Embed, TasksCreatedInsideStepsAndTheFreeFunctionsWorkOnTheHostThread) {
    al::Loop loop;
    loop.step();
    EXPECT_EQ(&al::Loop::current(), &loop);  // bound: the host thread runs this loop
    int done = 0;
    auto outer = al::create_task([&]() -> al::Task<void> {
        auto inner = al::create_task([&]() -> al::Task<void> {
            co_await al::sleep(1ms);
            ++done;
        });
        co_await inner;
        ++done;
    });
    for (int i = 0; i < 10000 && !outer.done(); ++i) {
        std::optional<al::Clock::duration> due = loop.step();
        if (due && due->count() > 0) std::this_thread::sleep_for(*due);
    }
    EXPECT_EQ(done, 2);
}

TEST(Embed, DestroyingTheLoopEndsPendingTasksAndUnbindsTheThread) {
    bool cleaned_up = false;
    {
        al::Loop loop;
        auto h = loop.create_task([&]() -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                cleaned_up = true;
                throw;
            }
        });
        loop.step();
    }
    EXPECT_TRUE(cleaned_up);
    EXPECT_EQ(al::Loop::current_or_null(), nullptr);
    EXPECT_EQ(al::run([]() -> al::Task<int> { co_return 7; }()), 7);  // the thread can run a loop again
}
