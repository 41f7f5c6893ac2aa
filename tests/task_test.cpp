// SPDX-License-Identifier: BSL-1.0
// Task<T> and run(): results, exceptions, laziness, sub-coroutines.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <coroutine>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

al::Task<int> answer() { co_return 42; }

al::Task<int> answer_after_sleep() {
    co_await al::sleep(1ms);
    co_return 42;
}

al::Task<void> throw_after_yield(std::string what) {
    co_await al::sleep(0);
    throw Boom(what);
}

al::Task<int> add_one_to(al::Task<int> inner) { co_return co_await std::move(inner) + 1; }

al::Task<std::unique_ptr<int>> boxed(int v) {
    co_await al::sleep(0);
    co_return std::make_unique<int>(v);
}

al::Task<void> record(std::vector<std::string>& log, std::string what) {
    log.push_back(what);
    co_return;
}

// Counts live coroutine frames: each coroutine holds a copy as a parameter.
struct FrameCounter {
    int* live;
    explicit FrameCounter(int& counter) : live(&counter) { ++*live; }
    FrameCounter(const FrameCounter& other) : live(other.live) { ++*live; }
    FrameCounter& operator=(const FrameCounter&) = delete;
    ~FrameCounter() { --*live; }
};

al::Task<void> counted(FrameCounter, bool& ran) {
    ran = true;
    co_return;
}

al::Task<int> sum_of_levels(int depth) {
    if (depth == 0) co_return 0;
    co_return depth + co_await sum_of_levels(depth - 1);
}

}  // namespace

TEST(Task, RunReturnsTheValue) { EXPECT_EQ(al::run(answer()), 42); }

TEST(Task, RunReturnsTheValueAfterSuspending) { EXPECT_EQ(al::run(answer_after_sleep()), 42); }

TEST(Task, RunOfAVoidTaskRunsItsBody) {
    std::vector<std::string> log;
    al::run(record(log, "ran"));
    EXPECT_EQ(log, std::vector<std::string>{"ran"});
}

TEST(Task, RunRethrowsTheExceptionWithItsType) {
    try {
        al::run(throw_after_yield("from the task"));
        FAIL() << "run() returned normally";
    } catch (const Boom& e) {
        EXPECT_STREQ(e.what(), "from the task");
    }
}

TEST(Task, RunReturnsAMoveOnlyResult) {
    std::unique_ptr<int> p = al::run(boxed(7));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 7);
}

TEST(Task, RunCanBeCalledAgainOnTheSameThread) {
    EXPECT_EQ(al::run(answer()), 42);
    EXPECT_EQ(al::run(answer_after_sleep()), 42);
}

TEST(Task, LoopRunUntilCompleteCanRunTwice) {
    al::Loop loop;
    EXPECT_EQ(loop.run_until_complete(answer_after_sleep()), 42);
    EXPECT_EQ(loop.run_until_complete(answer()), 42);
}

TEST(Task, ATaskIsLazyUntilAwaited) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        al::Task<void> t = record(log, "body");
        log.push_back("created");
        co_await std::move(t);
        log.push_back("awaited");
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"created", "body", "awaited"}));
}

TEST(Task, ATaskNeverAwaitedNeverRunsAndItsFrameIsFreed) {
    int live = 0;
    bool ran = false;
    {
        al::Task<void> t = counted(FrameCounter(live), ran);
        EXPECT_EQ(live, 1);
    }
    EXPECT_EQ(live, 0);
    EXPECT_FALSE(ran);
}

TEST(Task, AwaitingASubCoroutineReturnsItsValue) { EXPECT_EQ(al::run(add_one_to(add_one_to(answer()))), 44); }

TEST(Task, AwaitedSubCoroutineFramesAreFreed) {
    int live = 0;
    bool ran = false;
    al::run([&]() -> al::Task<void> {
        co_await counted(FrameCounter(live), ran);
        EXPECT_EQ(live, 0);
    }());
    EXPECT_TRUE(ran);
    EXPECT_EQ(live, 0);
}

TEST(Task, ExceptionsPropagateThroughSubCoroutinesAndCanBeCaughtOnTheWay) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        auto middle = [&]() -> al::Task<void> {
            try {
                co_await throw_after_yield("deep");
            } catch (const Boom& e) {
                log.push_back(std::string("middle caught ") + e.what());
                throw;
            }
        };
        try {
            co_await middle();
        } catch (const Boom& e) {
            log.push_back(std::string("outer caught ") + e.what());
        }
        // The task goes on after catching.
        co_await al::sleep(0);
        log.push_back("continued");
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"middle caught deep", "outer caught deep", "continued"}));
}

TEST(Task, DeeplyNestedSubCoroutinesComplete) { EXPECT_EQ(al::run(sum_of_levels(1000)), 1000 * 1001 / 2); }

TEST(Task, ManySequentialSynchronousAwaitsDoNotGrowTheStack) {
    // Each co_await starts and ends the child by symmetric transfer: a chain of
    // resume() calls would overflow the stack long before 200000.
    int total = al::run([]() -> al::Task<int> {
        int sum = 0;
        for (int i = 0; i < 200000; ++i) sum += co_await answer() - 41;
        co_return sum;
    }());
    EXPECT_EQ(total, 200000);
}

TEST(Task, AwaitingAMovedFromTaskIsAUsageError) {
    al::run([]() -> al::Task<void> {
        al::Task<int> t = answer();
        al::Task<int> taken = std::move(t);
        EXPECT_THROW(co_await std::move(t), al::UsageError);  // NOLINT(bugprone-use-after-move): the point
        EXPECT_EQ(co_await std::move(taken), 42);
    }());
}

TEST(Task, RunOfAnEmptyTaskIsAUsageError) { EXPECT_THROW(al::run(al::Task<int>()), al::UsageError); }

TEST(Task, RunInsideARunningLoopIsAUsageError) {
    al::run([]() -> al::Task<void> {
        try {
            al::run(answer());
            ADD_FAILURE() << "nested run() did not throw";
        } catch (const al::UsageError& e) {
            EXPECT_NE(std::string(e.what()).find("create_task() or co_await"), std::string::npos) << e.what();
        }
        co_return;
    }());
}

TEST(Task, LoopCurrentIsTheRunningLoop) {
    al::Loop loop;
    al::Loop* seen = nullptr;
    loop.run_until_complete([&]() -> al::Task<void> {
        seen = &al::Loop::current();
        co_return;
    }());
    EXPECT_EQ(seen, &loop);
    EXPECT_EQ(al::Loop::current_or_null(), nullptr);
}

// Task<T&> returns a reference, through every way of
// awaiting it.
namespace {

struct Registry {
    std::string name = "registry";
    al::Task<std::string&> name_ref() { co_return name; }
    al::Task<const std::string&> name_after_yield() {
        co_await al::sleep(0);
        co_return name;
    }
};

}  // namespace

TEST(TaskOfReference, ReturnsTheSameObjectThroughCoAwaitCreateTaskWaitForAndRun) {
    Registry r;
    al::run([&]() -> al::Task<void> {
        std::string& direct = co_await r.name_ref();
        EXPECT_EQ(&direct, &r.name);
        const std::string& later = co_await r.name_after_yield();
        EXPECT_EQ(&later, &r.name);
        auto h = al::create_task(r.name_after_yield());
        const std::string& from_handle = co_await h;
        EXPECT_EQ(&from_handle, &r.name);
        EXPECT_EQ(&h.result(), &r.name);
        std::string& timed = co_await al::wait_for(r.name_ref(), 1h);
        EXPECT_EQ(&timed, &r.name);
        auto [a, b] = co_await al::gather(r.name_ref(), r.name_after_yield());
        EXPECT_EQ(&a, &r.name);
        EXPECT_EQ(&b, &r.name);
    }());
    std::string& from_run = al::run(r.name_ref());
    EXPECT_EQ(&from_run, &r.name);
}

// A coroutine lambda with captures, passed to create_task
// as a callable, keeps its captures alive as long as the task runs.
TEST(CreateTaskOfACallable, KeepsTheLambdasCapturesAliveWhileTheTaskRuns) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<int> h;
        {
            std::string name = "worker";
            auto v = std::make_shared<int>(7);
            // By value: the lambda object is the only owner of these copies.
            h = al::create_task([name, v, &log]() -> al::Task<int> {
                co_await al::sleep(1ms);
                log.push_back(name);
                co_return *v;
            });
        }  // the closure passed in is gone; the task's copy is not
        EXPECT_EQ(co_await h, 7);
        auto t = al::owning_task([&log, suffix = std::string("!")]() -> al::Task<void> {
            co_await al::sleep(0);
            log.push_back("owned" + suffix);
        });
        co_await std::move(t);
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"worker", "owned!"}));
}

// A co_await of an awaitable asynclink cannot resume used to
// leave run() hanging without a word. Where a coroutine's suspension passes
// through asynclink (any co_await of a Task), it is detected and the program
// stops with a message. (A bare co_await of it in a task's root coroutine, before any
// co_await of a Task, is not: docs/guide.md.)
TEST(TaskDeathTest, SuspendingAtAForeignAwaitableStopsWithAMessageInsteadOfHanging) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            alarm(10);  // a hang is killed by SIGALRM, which does not print the message: the test fails
            al::run(
                []() -> al::Task<void> { co_await []() -> al::Task<void> { co_await std::suspend_always{}; }(); }());
        },
        "a task suspended at a co_await of an awaitable that is not asynclink's");
}
