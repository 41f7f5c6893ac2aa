// SPDX-License-Identifier: BSL-1.0
// SPEC section 8 for the thread-safe bridge: each misuse gets a clear error
// that names what to use instead, and nothing is lost. The misuse tests that
// only a debug build detects (one queue end used by two contexts at once) are
// in queue_misuse_test.cpp, which compiles with NDEBUG undefined.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// Runs `call` and returns the UsageError's message ("" if none was thrown).
template <class F>
std::string usage_error_of(F&& call) {
    try {
        call();
    } catch (const al::UsageError& e) {
        return e.what();
    }
    return "";
}

bool mentions(const std::string& text, const std::string& word) { return text.find(word) != std::string::npos; }

using test_support::settle;

// Awaits `aw` and records how it ended.
template <class Aw>
al::Task<void> record(std::vector<std::string>& log, std::string name, Aw aw) {
    try {
        co_await std::move(aw);
        log.push_back(name + ": returned");
    } catch (const al::CancelledError&) {
        log.push_back(name + ": cancelled");
        throw;
    }
}

}  // namespace

TEST(Misuse, ZeroCapacityQueueNamesTheProblem) {
    auto message = usage_error_of([] { al::ThreadSafeQueue<int> q(0); });
    EXPECT_TRUE(mentions(message, "capacity must be at least 1")) << message;
}

TEST(Misuse, ScheduleCapacityNotAPowerOfTwoNamesTheProblem) {
    auto message = usage_error_of([] { al::Loop loop(al::LoopOptions{.schedule_capacity = 48}); });
    EXPECT_TRUE(mentions(message, "schedule_capacity")) << message;
    EXPECT_TRUE(mentions(message, "power of two")) << message;
}

// The loop's spin keeps its limit in 32 bits of nanoseconds, as a queue
// end's does: a longer one would be cut silently, a negative one is nonsense.
TEST(Misuse, ASpinBeforeSleepOutsideZeroToOneSecondNamesTheProblem) {
    for (al::Clock::duration spin : {al::Clock::duration(-1), al::Clock::duration(std::chrono::milliseconds(1001)),
                                     al::Clock::duration(std::chrono::seconds(5))}) {
        auto message = usage_error_of([spin] { al::Loop loop(al::LoopOptions{.spin_before_sleep = spin}); });
        EXPECT_TRUE(mentions(message, "spin_before_sleep must be between 0 and 1 s")) << message;
    }
    for (al::Clock::duration spin : {al::Clock::duration::zero(), al::Clock::duration(std::chrono::seconds(1))}) {
        al::Loop loop(al::LoopOptions{.spin_before_sleep = spin});
        EXPECT_EQ(loop.run_until_complete([]() -> al::Task<int> { co_return 7; }()), 7);
    }
}

TEST(Misuse, ASecondWaiterOnAThreadSafeFlagNamesThreadSafeEvent) {
    al::ThreadSafeFlag flag;
    std::string message;
    al::run([&]() -> al::Task<void> {
        auto first = al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(flag));
        co_await settle();
        try {
            co_await flag.wait();
        } catch (const al::UsageError& e) {
            message = e.what();
        }
        flag.set();
        co_await first;
    }());
    EXPECT_TRUE(mentions(message, "ThreadSafeEvent")) << message;
}

TEST(Misuse, LoopOnlyCallsFromAnotherThreadNameTheThreadSafeAlternative) {
    // The seed's "calling create_task from a thread is unsafe", detected.
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<bool> done{false};
    al::Event event;
    std::vector<std::string> messages;
    std::thread other([&] {
        al::Loop* l;
        while ((l = loop.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();  // acquire: see below
        messages.push_back(usage_error_of([] { al::create_task([]() -> al::Task<void> { co_return; }()); }));
        messages.push_back(usage_error_of([&] { l->call_soon([] {}); }));
        messages.push_back(usage_error_of([&] { l->set_exception_handler([](std::exception_ptr) {}); }));
        messages.push_back(usage_error_of([&] { event.set(); }));
        messages.push_back(usage_error_of([] { (void)al::Loop::current(); }));
        done.store(true, std::memory_order_release);  // release: publishes `messages`
        l->call_soon_threadsafe([] {});               // wake the loop to look
    });
    al::run([&]() -> al::Task<void> {
        (void)event.is_set();                                                   // binds the Event to this loop
        loop.store(&al::Loop::current(), std::memory_order_release);            // release: the loop is running
        while (!done.load(std::memory_order_acquire)) co_await al::sleep(1ms);  // acquire: see above
    }());
    other.join();
    ASSERT_EQ(messages.size(), 5u);
    EXPECT_TRUE(mentions(messages[0], "call_soon_threadsafe")) << messages[0];
    EXPECT_TRUE(mentions(messages[1], "call_soon_threadsafe")) << messages[1];
    EXPECT_TRUE(mentions(messages[2], "call_soon_threadsafe")) << messages[2];
    EXPECT_TRUE(mentions(messages[3], "ThreadSafeEvent")) << messages[3];
    EXPECT_TRUE(mentions(messages[4], "call_soon_threadsafe")) << messages[4];
}

TEST(Misuse, LoopOnlyPartsOfTheBridgeFromAThreadNameTheAlternative) {
    al::Message<int> m;
    m.set(1);
    auto message = usage_error_of([&] { (void)m.value(); });
    EXPECT_TRUE(mentions(message, "ThreadSafeQueue")) << message;
}

TEST(Misuse, WaitingFromASecondLoopIsRefusedWithoutDisturbingTheFirst) {
    al::ThreadSafeEvent event;
    al::ThreadSafeFlag flag;
    std::vector<std::string> messages;
    // Both are bound to the first loop by its waits; the second loop is
    // refused while the first lives (an ended loop's primitives pass on).
    event.set();
    flag.set();
    al::Loop first;
    first.run_until_complete([&]() -> al::Task<void> {
        co_await event.wait();
        co_await flag.wait();
    }());
    std::thread([&] {
        al::run([&]() -> al::Task<void> {
            try {
                co_await event.wait();
            } catch (const al::UsageError& e) {
                messages.push_back(e.what());
            }
            try {
                co_await flag.wait();
            } catch (const al::UsageError& e) {
                messages.push_back(e.what());
            }
        }());
    }).join();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_TRUE(mentions(messages[0], "loop that first waited")) << messages[0];
    EXPECT_TRUE(mentions(messages[1], "only the owning loop may wait")) << messages[1];
    // The refused waits consumed nothing.
    EXPECT_TRUE(event.is_set());
}

TEST(Misuse, NonBlockingSyncEndsSayFullEmptyOrClosed) {
    al::ThreadSafeQueue<int> q(1);
    EXPECT_THROW(q.get_sync(), al::QueueEmpty);
    q.put_sync(1);
    EXPECT_THROW(q.put_sync(2), al::QueueFull);
    q.close();
    EXPECT_THROW(q.put_sync(3), al::QueueClosed);
    EXPECT_FALSE(q.try_put(4));
    EXPECT_EQ(q.get_sync(), 1) << "the item put before close() was lost";
    EXPECT_THROW(q.get_sync(), al::QueueClosed);
    EXPECT_STREQ(al::QueueFull().what(), "asynclink: queue full");
    EXPECT_STREQ(al::QueueEmpty().what(), "asynclink: queue empty");
    EXPECT_STREQ(al::QueueClosed().what(), "asynclink: queue closed");
}

TEST(Misuse, TheLoopEndingWithTasksWaitingOnTheBridgeCancelsThemAndLosesNothing) {
    al::ThreadSafeFlag flag;
    al::ThreadSafeEvent event;
    al::Message<int> message;
    al::ThreadSafeQueue<int> empty(2);
    al::ThreadSafeQueue<int> full(1);
    full.put_sync(10);
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        al::create_task(record(log, "flag", flag.wait()));
        al::create_task(record(log, "event", event.wait()));
        al::create_task(record(log, "message", message.wait()));
        al::create_task(record(log, "get", empty.get()));
        al::create_task(record(log, "put", full.put(11)));
        co_await settle();
        // main ends with five tasks parked on the bridge
    }());
    std::sort(log.begin(), log.end());
    EXPECT_EQ(log, (std::vector<std::string>{"event: cancelled", "flag: cancelled", "get: cancelled",
                                             "message: cancelled", "put: cancelled"}));
    // Nothing was taken or added by the cancelled operations, and the
    // thread-safe ends still work.
    EXPECT_EQ(full.get_sync(), 10);
    EXPECT_THROW(full.get_sync(), al::QueueEmpty) << "a cancelled put enqueued its item";
    EXPECT_TRUE(empty.try_put(1));
    EXPECT_EQ(empty.get_sync(), 1);
    flag.set();
    EXPECT_TRUE(flag.is_set());
}

TEST(Misuse, ASetBeforeAnyoneWaitsIsNotLost) {
    // A signal that arrives before the task waits (the loop busy elsewhere).
    al::ThreadSafeFlag flag;
    al::ThreadSafeEvent event;
    al::Message<int> message;
    std::thread([&] {
        flag.set();
        event.set();
        message.set(5);
    }).join();
    al::run([&]() -> al::Task<void> {
        co_await flag.wait();
        co_await event.wait();
        EXPECT_EQ(co_await message, 5);
    }());
}

TEST(MisuseDeathTest, DestroyingAThreadSafeFlagWhileATaskWaitsAbortsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(al::run([]() -> al::Task<void> {
                     auto flag = std::make_unique<al::ThreadSafeFlag>();
                     auto waiter =
                         al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(*flag));
                     co_await settle();
                     flag.reset();
                 }()),
                 "ThreadSafeFlag destroyed while a task waits on it");
}

TEST(MisuseDeathTest, DestroyingAThreadSafeEventWhileTasksWaitAbortsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(al::run([]() -> al::Task<void> {
                     auto event = std::make_unique<al::ThreadSafeEvent>();
                     auto waiter =
                         al::create_task([](al::ThreadSafeEvent& e) -> al::Task<void> { co_await e.wait(); }(*event));
                     co_await settle();
                     event.reset();
                 }()),
                 "destroyed while tasks wait on it");
}
