// SPDX-License-Identifier: BSL-1.0
// Task names (asyncio's name= and Task-<n>), current_task(), and
// Priority::high running before every ready normal task.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

TEST(TaskNames, ATaskIsNamedTaskNUnlessGivenAName) {
    al::run([]() -> al::Task<> {
        auto a = al::create_task([]() -> al::Task<> { co_return; });
        auto b = al::create_task([]() -> al::Task<> { co_return; }, "reader");
        EXPECT_EQ(a.get_name().rfind("Task-", 0), 0u) << a.get_name();
        EXPECT_NE(a.get_name(), "Task-");
        EXPECT_EQ(b.get_name(), "reader");
        a.set_name("renamed");
        EXPECT_EQ(a.get_name(), "renamed");
        co_await a;
        co_await b;
    }());
}

TEST(TaskNames, NumbersCountTheTasksOfTheLoop) {
    al::run([]() -> al::Task<> {
        auto a = al::create_task([]() -> al::Task<> { co_return; });
        auto b = al::create_task([]() -> al::Task<> { co_return; });
        std::string na = a.get_name(), nb = b.get_name();
        EXPECT_EQ(std::stoi(nb.substr(5)), std::stoi(na.substr(5)) + 1) << na << " " << nb;
        co_await a;
        co_await b;
    }());
}

TEST(CurrentTask, IsTheRunningTaskAndItsName) {
    al::run([]() -> al::Task<> {
        std::string seen;
        auto h = al::create_task(
            []() -> al::Task<std::string> {
                co_await al::sleep(0);  // still itself after a suspension
                co_return al::current_task().get_name();
            },
            "worker");
        seen = co_await h;
        EXPECT_EQ(seen, "worker");
        EXPECT_TRUE(al::current_task());
        EXPECT_NE(al::current_task().get_name(), "worker");
    }());
}

TEST(CurrentTask, IsEmptyInACallbackAndAUsageErrorWithoutALoop) {
    EXPECT_THROW(al::current_task(), al::UsageError);
    al::run([]() -> al::Task<> {
        bool empty_in_callback = false;
        al::Loop::current().call_soon([&] { empty_in_callback = !al::current_task(); });
        co_await al::sleep(1ms);
        EXPECT_TRUE(empty_in_callback);
    }());
}

TEST(CurrentTask, CancelsItselfAtTheNextSuspensionPoint) {
    al::run([]() -> al::Task<> {
        auto h = al::create_task([]() -> al::Task<> {
            al::current_task().cancel();
            co_await al::sleep(0);
        });
        try {
            co_await h;
        } catch (const al::CancelledError&) {
        }
        EXPECT_TRUE(h.cancelled());
    }());
}

TEST(Priority, AHighTaskRunsBeforeEveryReadyNormalTask) {
    al::run([]() -> al::Task<> {
        std::vector<std::string> order;
        al::Event go;
        std::vector<al::TaskHandle<>> normal;
        for (int i = 0; i < 3; ++i) {
            normal.push_back(al::create_task([&, i]() -> al::Task<> {
                co_await go.wait();
                order.push_back("normal " + std::to_string(i));
            }));
        }
        auto high = al::create_task(
            [&]() -> al::Task<> {
                co_await go.wait();
                order.push_back("high");
            },
            al::Priority::high);
        EXPECT_EQ(high.priority(), al::Priority::high);
        co_await al::sleep(0);
        go.set();  // wakes all four in the order they waited; the high one runs first
        for (auto& n : normal) co_await n;
        co_await high;
        EXPECT_EQ(order, (std::vector<std::string>{"high", "normal 0", "normal 1", "normal 2"}));
    }());
}

TEST(Priority, AHighTaskWokenMidBatchRunsAfterTheCurrentBusyTask) {
    // 100 busy normal tasks yield in a loop; halfway through a batch one of
    // them sets the flag the high task waits on (a post to the loop's wake
    // core, as from a handler). The high task must run right after that busy
    // task's step, not after the rest of the batch: the busy steps between
    // the set and the high task's run do not grow with the number of busy
    // tasks. (Deterministic: the set comes from the loop's own thread.)
    al::run([]() -> al::Task<> {
        constexpr int busy_tasks = 100;
        al::ThreadSafeFlag flag;
        long steps = 0;
        long steps_at_set = -1;
        long steps_at_wake = -1;
        bool stop = false;
        auto high = al::create_task(
            [&]() -> al::Task<> {
                co_await flag.wait();
                steps_at_wake = steps;
            },
            al::Priority::high);
        std::vector<al::TaskHandle<>> busy;
        for (int i = 0; i < busy_tasks; ++i) {
            busy.push_back(al::create_task([&, i]() -> al::Task<> {
                while (!stop) {
                    ++steps;
                    if (i == busy_tasks / 2 && steps_at_set < 0 && steps > 5 * busy_tasks) {
                        steps_at_set = steps;
                        flag.set();  // as a handler would: a post to the loop's wake core
                    }
                    co_await al::sleep(0);
                    if (steps_at_wake >= 0) stop = true;
                }
            }));
        }
        co_await high;
        stop = true;
        for (auto& b : busy) co_await b;
        EXPECT_GE(steps_at_set, 0);
        // Without the priority the high task would wait for the rest of the
        // batch (about busy_tasks / 2 steps) and the next one.
        EXPECT_LE(steps_at_wake - steps_at_set, 1) << "busy steps between the set and the high task";
    }());
}

}  // namespace
