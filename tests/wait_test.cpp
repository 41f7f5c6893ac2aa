// SPDX-License-Identifier: BSL-1.0
// wait() and as_completed(): asyncio's return_when, timeouts, completion
// order; neither cancels a task, and a cancelled waiter leaves them running.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
};

al::Task<int> value_after(al::Clock::duration d, int v) {
    co_await al::sleep(d);
    co_return v;
}

al::Task<int> value_after(al::Event& gate, int v) {
    co_await gate.wait();
    co_return v;
}

al::Task<int> value_now(int v) { co_return v; }

al::Task<int> fail_after(al::Clock::duration d) {
    co_await al::sleep(d);
    throw Boom();
}

TEST(Wait, AllCompletedWaitsForEveryTask) {
    al::run([]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_after(2ms, 1)),
                                               al::create_task(value_after(1ms, 2))};
        auto [done, pending] = co_await al::wait(tasks);
        EXPECT_EQ(done.size(), 2u);
        EXPECT_TRUE(pending.empty());
        EXPECT_EQ(done[0].result(), 1);  // in the order given
        EXPECT_EQ(done[1].result(), 2);
    }());
}

TEST(Wait, FirstCompletedReturnsWithTheOthersStillRunning) {
    al::run([]() -> al::Task<> {
        al::Event gate;
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_after(gate, 1)),
                                               al::create_task(value_after(1ms, 2))};
        auto [done, pending] = co_await al::wait(tasks, al::first_completed);
        EXPECT_EQ(done.size(), 1u);
        EXPECT_EQ(pending.size(), 1u);
        if (done.size() != 1 || pending.size() != 1) co_return;
        EXPECT_EQ(done[0].result(), 2);
        EXPECT_FALSE(pending[0].done());
        gate.set();
        EXPECT_EQ(co_await pending[0], 1);  // not cancelled
    }());
}

TEST(Wait, FirstExceptionReturnsAtTheFirstFailureAndIgnoresCancellations) {
    al::run([]() -> al::Task<> {
        auto cancelled = al::create_task(value_after(1h, 0));
        cancelled.cancel();
        std::vector<al::TaskHandle<int>> tasks{cancelled, al::create_task(fail_after(2ms)),
                                               al::create_task(value_after(1h, 3))};
        auto [done, pending] = co_await al::wait(tasks, al::first_exception);
        EXPECT_EQ(done.size(), 2u);  // the cancelled one and the failure
        EXPECT_EQ(pending.size(), 1u);
        if (done.size() != 2 || pending.size() != 1) co_return;
        EXPECT_THROW(done[1].result(), Boom);
        pending[0].cancel();
    }());
}

TEST(Wait, FirstExceptionWithoutAFailureWaitsForAll) {
    al::run([]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_after(1ms, 1)),
                                               al::create_task(value_after(3ms, 2))};
        auto [done, pending] = co_await al::wait(tasks, al::first_exception);
        EXPECT_EQ(done.size(), 2u);
        EXPECT_TRUE(pending.empty());
    }());
}

TEST(Wait, ATimeoutReturnsWhatIsDoneWithoutRaising) {
    al::run([]() -> al::Task<> {
        al::Event never;
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_now(1)), al::create_task(value_after(never, 2))};
        auto [done, pending] = co_await al::wait(tasks, al::all_completed, 20ms);
        EXPECT_EQ(done.size(), 1u);
        EXPECT_EQ(pending.size(), 1u);
        if (pending.size() != 1) co_return;
        EXPECT_FALSE(pending[0].done());
        pending[0].cancel();
    }());
}

TEST(Wait, NoTasksReturnsAtOnce) {
    al::run([]() -> al::Task<> {
        auto [done, pending] = co_await al::wait(std::vector<al::TaskHandle<int>>{});
        EXPECT_TRUE(done.empty());
        EXPECT_TRUE(pending.empty());
    }());
}

TEST(Wait, CancellingTheWaiterLeavesTheTasksRunning) {
    al::run([]() -> al::Task<> {
        al::Event gate;
        auto child = al::create_task(value_after(gate, 8));
        auto waiter = al::create_task([&]() -> al::Task<> {
            std::vector<al::TaskHandle<int>> children{child};
            co_await al::wait(children);
        });
        co_await al::sleep(1ms);
        waiter.cancel();
        co_await al::sleep(1ms);
        EXPECT_TRUE(waiter.cancelled());
        EXPECT_FALSE(child.done());
        gate.set();
        EXPECT_EQ(co_await child, 8);
    }());
}

TEST(Wait, AnEmptyHandleIsAUsageError) {
    al::run([]() -> al::Task<> {
        EXPECT_THROW(co_await al::wait(std::vector<al::TaskHandle<int>>(1)), al::UsageError);
        co_return;
    }());
}

TEST(AsCompleted, GivesTheTasksInTheOrderTheyFinish) {
    al::run([]() -> al::Task<> {
        al::Event gates[3];
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_after(gates[2], 3)),
                                               al::create_task(value_after(gates[0], 1)),
                                               al::create_task(value_after(gates[1], 2))};
        auto ac = al::as_completed(tasks);
        auto opener = al::create_task([&]() -> al::Task<> {
            for (auto& g : gates) {
                g.set();
                co_await al::sleep(1ms);
            }
        });
        std::vector<int> order;
        while (auto t = co_await ac.next()) order.push_back(co_await *t);
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
        EXPECT_EQ(ac.remaining(), 0u);
        co_await opener;
    }());
}

TEST(AsCompleted, ATimeoutRaisesTimeoutErrorAndCancelsNothing) {
    al::run([]() -> al::Task<> {
        al::Event never;
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_now(1)), al::create_task(value_after(never, 2))};
        auto ac = al::as_completed(tasks, 10ms);
        auto first = co_await ac.next();
        EXPECT_TRUE(first.has_value());
        if (!first) co_return;
        EXPECT_EQ(first->result(), 1);
        EXPECT_THROW(co_await ac.next(), al::TimeoutError);
        EXPECT_FALSE(tasks[1].done());
        tasks[1].cancel();
    }());
}

TEST(AsCompleted, ACancelledNextLosesNoTask) {
    al::run([]() -> al::Task<> {
        al::Event gate;
        std::vector<al::TaskHandle<int>> tasks{al::create_task(value_after(gate, 1))};
        auto ac = al::as_completed(tasks);
        auto waiter = al::create_task([&]() -> al::Task<> { co_await ac.next(); });
        co_await al::sleep(1ms);
        waiter.cancel();
        gate.set();  // finishes while nobody waits in next()
        co_await al::sleep(1ms);
        EXPECT_TRUE(waiter.cancelled());
        EXPECT_TRUE(tasks[0].done());
        auto t = co_await ac.next();  // still given
        EXPECT_TRUE(t.has_value());
        if (!t) co_return;
        EXPECT_EQ(t->result(), 1);
        EXPECT_FALSE((co_await ac.next()).has_value());
    }());
}

}  // namespace
