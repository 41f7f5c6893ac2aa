// SPDX-License-Identifier: BSL-1.0
// create_task() and TaskHandle<T>: concurrency, copies, done/cancelled/result,
// awaiting, move-only results, and reporting of exceptions nobody retrieved.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

al::Task<int> value_after_yields(int v, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    co_return v;
}

al::Task<void> fail_after_yields(std::string what, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    throw Boom(what);
}

al::Task<int> fail_int(std::string what) {
    co_await al::sleep(0);
    throw Boom(what);
}

al::Task<std::unique_ptr<std::string>> boxed(std::string s) {
    co_await al::sleep(0);
    co_return std::make_unique<std::string>(std::move(s));
}

al::Task<void> log_steps(std::vector<std::string>& log, std::string name, int steps) {
    for (int i = 0; i < steps; ++i) {
        log.push_back(name + std::to_string(i));
        co_await al::sleep(0);
    }
}

al::Task<void> wait_on(al::Event& e) { co_await e.wait(); }

std::vector<std::string> messages_of(const std::vector<std::exception_ptr>& errors) {
    std::vector<std::string> out;
    for (const auto& e : errors) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            out.emplace_back(ex.what());
        }
    }
    return out;
}

void collect_errors_into(std::vector<std::exception_ptr>& errors) {
    al::Loop::current().set_exception_handler([&errors](std::exception_ptr e) { errors.push_back(e); });
}

}  // namespace

TEST(TaskHandle, ACreatedTaskStartsOnlyWhenItsCreatorSuspends) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(log_steps(log, "child", 1));
        log.push_back("creator before suspending");
        co_await al::sleep(0);
        log.push_back("creator resumed");
        co_await h;
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"creator before suspending", "child0", "creator resumed"}));
}

TEST(TaskHandle, TasksRunConcurrentlyInterleavingAtEachYield) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        auto a = al::create_task(log_steps(log, "a", 3));
        auto b = al::create_task(log_steps(log, "b", 3));
        co_await a;
        co_await b;
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

TEST(TaskHandle, DoneCancelledAndResultFollowTheTask) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(5, 2));
        EXPECT_FALSE(h.done());
        EXPECT_FALSE(h.cancelled());
        EXPECT_THROW(h.result(), al::UsageError);
        EXPECT_EQ(co_await h, 5);
        EXPECT_TRUE(h.done());
        EXPECT_FALSE(h.cancelled());
        EXPECT_EQ(h.result(), 5);
    }());
}

TEST(TaskHandle, ResultRethrowsTheTasksException) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(fail_int("bad"));
        EXPECT_THROW(co_await h, Boom);
        EXPECT_TRUE(h.done());
        EXPECT_FALSE(h.cancelled());
        EXPECT_THROW(h.result(), Boom);
        EXPECT_NE(h.exception(), nullptr);
    }());
}

TEST(TaskHandle, CopiesShareOneTask) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(9, 1));
        al::TaskHandle<int> copy = h;
        al::TaskHandle<int> assigned;
        EXPECT_FALSE(assigned);
        assigned = copy;
        EXPECT_TRUE(assigned);
        EXPECT_EQ(co_await copy, 9);
        EXPECT_TRUE(h.done());
        EXPECT_TRUE(assigned.done());
        EXPECT_EQ(h.result(), 9);
        EXPECT_EQ(co_await assigned, 9);
        al::TaskHandle<int> moved = std::move(h);
        EXPECT_EQ(moved.result(), 9);
    }());
}

TEST(TaskHandle, AwaitingTwiceGivesTheValueTwice) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(3, 2));
        EXPECT_EQ(co_await h, 3);
        EXPECT_EQ(co_await h, 3);
    }());
}

TEST(TaskHandle, SeveralTasksMayAwaitOneTask) {
    al::run([]() -> al::Task<void> {
        al::Event go;
        auto target = al::create_task([](al::Event& e) -> al::Task<int> {
            co_await e.wait();
            co_return 11;
        }(go));
        auto waiter = [](al::TaskHandle<int> t) -> al::Task<int> { co_return co_await t + 1; };
        auto w1 = al::create_task(waiter(target));
        auto w2 = al::create_task(waiter(target));
        co_await al::sleep(0);
        EXPECT_FALSE(w1.done());
        go.set();
        EXPECT_EQ(co_await w1, 12);
        EXPECT_EQ(co_await w2, 12);
    }());
}

TEST(TaskHandle, AwaitingAFinishedTaskReturnsAtOnce) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(4, 0));
        co_await al::sleep(0);
        EXPECT_TRUE(h.done());
        EXPECT_EQ(co_await h, 4);
    }());
}

TEST(TaskHandle, AMoveOnlyResultIsMovedOutOnceThenIsAUsageError) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(boxed("only once"));
        std::unique_ptr<std::string> first = co_await h;
        EXPECT_EQ(first ? *first : "null", "only once");
        EXPECT_THROW(co_await h, al::UsageError);
        EXPECT_THROW(h.result(), al::UsageError);
    }());
}

TEST(TaskHandle, AVoidTaskCanBeAwaited) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<void> h = al::create_task(log_steps(log, "v", 2));
        co_await h;
        EXPECT_TRUE(h.done());
        h.result();
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"v0", "v1"}));
}

TEST(TaskHandle, ATaskKeepsRunningWhenEveryHandleIsGone) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        (void)al::create_task(log_steps(log, "orphan", 3));
        for (int i = 0; i < 5; ++i) co_await al::sleep(0);
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"orphan0", "orphan1", "orphan2"}));
}

TEST(TaskHandle, AHandleOutlivesItsLoop) {
    al::TaskHandle<int> kept;
    al::run([&]() -> al::Task<void> {
        kept = al::create_task(value_after_yields(8, 1));
        co_await kept;
    }());
    EXPECT_TRUE(kept.done());
    EXPECT_EQ(kept.result(), 8);
}

TEST(TaskHandle, AnEmptyHandleIsNotDoneAndCannotBeCancelled) {
    al::TaskHandle<int> empty;
    EXPECT_FALSE(empty);
    EXPECT_FALSE(empty.done());
    EXPECT_FALSE(empty.cancelled());
    EXPECT_THROW(empty.cancel(), al::UsageError);
    EXPECT_THROW(empty.result(), al::UsageError);
}

TEST(TaskHandle, CreateTaskOfAnEmptyTaskIsAUsageError) {
    al::run([]() -> al::Task<void> {
        EXPECT_THROW((void)al::create_task(al::Task<int>()), al::UsageError);
        co_return;
    }());
}

// --- exceptions nobody retrieved

TEST(UnretrievedException, AFailedTaskWithoutHandlesIsReportedToTheHandler) {
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        (void)al::create_task(fail_after_yields("orphan failed", 1));
        for (int i = 0; i < 3; ++i) co_await al::sleep(0);
        // Reported as soon as the task ended with no handle left, not at shutdown.
        EXPECT_EQ(messages_of(errors), std::vector<std::string>{"orphan failed"});
    }());
    EXPECT_EQ(messages_of(errors), std::vector<std::string>{"orphan failed"});
}

TEST(UnretrievedException, IsReportedWhenTheLastHandleGoesAway) {
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        auto h = al::create_task(fail_after_yields("kept but ignored", 0));
        auto copy = h;
        for (int i = 0; i < 3; ++i) co_await al::sleep(0);
        EXPECT_TRUE(h.done());
        EXPECT_TRUE(errors.empty()) << "reported while a handle could still retrieve it";
        h = {};
        EXPECT_TRUE(errors.empty());
        copy = {};
        EXPECT_EQ(messages_of(errors), std::vector<std::string>{"kept but ignored"});
    }());
    EXPECT_EQ(errors.size(), 1u);
}

TEST(UnretrievedException, RetrievedExceptionsAreNotReported) {
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        {
            auto awaited = al::create_task(fail_after_yields("awaited", 0));
            EXPECT_THROW(co_await awaited, Boom);
            auto by_result = al::create_task(fail_after_yields("by result", 0));
            co_await al::sleep(0);
            co_await al::sleep(0);
            EXPECT_THROW(by_result.result(), Boom);
            auto by_exception = al::create_task(fail_after_yields("by exception", 0));
            co_await al::sleep(0);
            co_await al::sleep(0);
            EXPECT_NE(by_exception.exception(), nullptr);
        }
        co_await al::sleep(0);
    }());
    EXPECT_TRUE(errors.empty()) << messages_of(errors).front();
}

TEST(UnretrievedException, ACancelledTaskIsNotReported) {
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        al::Event never;
        {
            auto h = al::create_task(wait_on(never));
            co_await al::sleep(0);
            h.cancel();
        }
        for (int i = 0; i < 3; ++i) co_await al::sleep(0);
    }());
    EXPECT_TRUE(errors.empty());
}

TEST(UnretrievedException, AnExceptionFromACallbackIsReported) {
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        al::Loop::current().call_soon([] { throw Boom("from call_soon"); });
        co_await al::sleep(0);
        co_await al::sleep(0);
    }());
    EXPECT_EQ(messages_of(errors), std::vector<std::string>{"from call_soon"});
}

TEST(UnretrievedException, WithoutAHandlerItIsPrintedNotLost) {
    testing::internal::CaptureStderr();
    al::run([]() -> al::Task<void> {
        (void)al::create_task(fail_after_yields("printed to stderr", 0));
        co_await al::sleep(0);
        co_await al::sleep(0);
    }());
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("printed to stderr"), std::string::npos) << err;
}

TEST(UnretrievedException, AHandleThatOutlivesItsLoopStillReports) {
    testing::internal::CaptureStderr();
    {
        al::TaskHandle<void> kept;
        al::run([&]() -> al::Task<void> {
            kept = al::create_task(fail_after_yields("after the loop", 0));
            co_await al::sleep(0);
            co_await al::sleep(0);
        }());
        EXPECT_TRUE(kept.done());
    }
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("after the loop"), std::string::npos) << err;
}

// A TaskHandle's reference count is not atomic; copying or
// destroying a handle on another thread while its loop lives stops the
// program with a message instead of racing.
TEST(TaskHandleDeathTest, CopiedOnAnotherThreadStopsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(al::run([]() -> al::Task<void> {
                     auto h = al::create_task([]() -> al::Task<void> { co_await al::sleep(1h); }());
                     std::thread([&h] { al::TaskHandle<void> copy = h; }).join();
                     h.cancel();
                     co_await al::sleep(0);
                 }()),
                 "TaskHandle copied on a thread that is not its loop's");
}

TEST(TaskHandleDeathTest, DestroyedOnAnotherThreadStopsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        al::run([]() -> al::Task<void> {
            auto h = al::create_task([]() -> al::Task<void> { co_await al::sleep(1h); }());
            std::thread([moved = std::move(h)]() mutable { al::TaskHandle<void> dying = std::move(moved); }).join();
            co_await al::sleep(0);
        }()),
        "TaskHandle destroyed on a thread that is not its loop's");
}

TEST(TaskHandle, AHandleThatOutlivedItsLoopMayBeCopiedAndDroppedOnAnotherThread) {
    al::TaskHandle<int> kept;
    al::run([&]() -> al::Task<void> {
        kept = al::create_task([]() -> al::Task<int> { co_return 5; }());
        co_await kept;
    }());
    std::thread([&kept] {
        al::TaskHandle<int> copy = kept;
        EXPECT_EQ(copy.result(), 5);
    }).join();
    EXPECT_EQ(kept.result(), 5);
}
