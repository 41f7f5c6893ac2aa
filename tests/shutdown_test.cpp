// SPDX-License-Identifier: BSL-1.0
// Loop shutdown with tasks still pending: when run()'s main task ends, the
// others are cancelled, their clean-up runs (and may await), and nothing they
// raise is lost.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

// The log and the primitives live outside run(): the pending tasks outlive
// the main task's frame and run during the shutdown.
template <class Aw>
al::Task<void> block_then_clean_up(Log& log, std::string name, Aw blocked) {
    std::exception_ptr cancelled;
    try {
        log.push_back(name + " started");
        (void)co_await std::move(blocked);
        log.push_back(name + " returned");
    } catch (const al::CancelledError&) {
        cancelled = std::current_exception();
    }
    log.push_back(name + " cleaning");
    co_await al::sleep(1ms);  // clean-up may await
    co_await al::sleep(0);
    log.push_back(name + " cleaned");
    if (cancelled) std::rethrow_exception(cancelled);
}

}  // namespace

TEST(Shutdown, PendingTasksAreCancelledAndTheirCleanUpRuns) {
    Log log;
    al::Event never;
    al::Queue<int> empty_queue;
    al::TaskHandle<void> sleeper;
    al::TaskHandle<void> waiter;
    al::TaskHandle<void> getter;
    int result = al::run([&]() -> al::Task<int> {
        sleeper = al::create_task(block_then_clean_up(log, "sleeper", al::sleep(1h)));
        waiter = al::create_task(block_then_clean_up(log, "waiter", never.wait()));
        getter = al::create_task(block_then_clean_up(log, "getter", empty_queue.get()));
        co_await al::sleep(0);
        co_return 7;
    }());
    EXPECT_EQ(result, 7);
    for (const char* name : {"sleeper", "waiter", "getter"}) {
        for (const char* step : {" started", " cleaning", " cleaned"}) {
            EXPECT_NE(std::find(log.begin(), log.end(), std::string(name) + step), log.end()) << name << step;
        }
        EXPECT_EQ(std::find(log.begin(), log.end(), std::string(name) + " returned"), log.end());
    }
    EXPECT_TRUE(sleeper.done() && sleeper.cancelled());
    EXPECT_TRUE(waiter.done() && waiter.cancelled());
    EXPECT_TRUE(getter.done() && getter.cancelled());
}

TEST(Shutdown, ATaskThatNeverStartedNeverRunsItsBody) {
    Log log;
    al::TaskHandle<void> late;
    al::run([&]() -> al::Task<void> {
        late = al::create_task(block_then_clean_up(log, "late", al::sleep(1h)));
        co_return;  // ends before the new task ever ran
    }());
    EXPECT_TRUE(log.empty());
    EXPECT_TRUE(late.cancelled());
}

TEST(Shutdown, PendingTasksAreCancelledBeforeRunRethrowsMainsException) {
    Log log;
    try {
        al::run([&]() -> al::Task<void> {
            (void)al::create_task(block_then_clean_up(log, "pending", al::sleep(1h)));
            co_await al::sleep(0);
            throw Boom("main failed");
        }());
        FAIL() << "run() returned";
    } catch (const Boom& e) {
        EXPECT_STREQ(e.what(), "main failed");
    }
    EXPECT_EQ(log, (Log{"pending started", "pending cleaning", "pending cleaned"}));
}

TEST(Shutdown, AnErrorRaisedByACleanUpIsReportedNotLost) {
    std::vector<std::string> reported;
    al::run([&]() -> al::Task<void> {
        al::Loop::current().set_exception_handler([&reported](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                reported.emplace_back(ex.what());
            }
        });
        (void)al::create_task([]() -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                throw Boom("clean-up failed");
            }
        }());
        co_await al::sleep(0);
    }());
    EXPECT_EQ(reported, std::vector<std::string>{"clean-up failed"});
}

TEST(Shutdown, ATaskThatSwallowsTheShutdownCancelRunsToItsEnd) {
    Log log;
    al::run([&]() -> al::Task<void> {
        (void)al::create_task([](Log& l) -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("swallowed");
            }
            co_await al::sleep(2ms);
            l.push_back("finished");
        }(log));
        co_await al::sleep(0);
    }());
    EXPECT_EQ(log, (Log{"swallowed", "finished"}));
}

TEST(Shutdown, TasksAwaitingEachOtherAllEnd) {
    Log log;
    al::TaskHandle<void> inner;
    al::TaskHandle<void> outer;
    al::run([&]() -> al::Task<void> {
        inner = al::create_task(block_then_clean_up(log, "inner", al::sleep(1h)));
        outer = al::create_task(block_then_clean_up(log, "outer", inner));
        co_await al::sleep(0);
    }());
    EXPECT_TRUE(inner.cancelled());
    EXPECT_TRUE(outer.cancelled());
    EXPECT_NE(std::find(log.begin(), log.end(), "inner cleaned"), log.end());
    EXPECT_NE(std::find(log.begin(), log.end(), "outer cleaned"), log.end());
}

TEST(Shutdown, RunUntilCompleteOnAKeptLoopFinishesThePendingTasks) {
    Log log;
    {
        al::Loop loop;
        loop.run_until_complete([&]() -> al::Task<void> {
            (void)al::create_task(block_then_clean_up(log, "pending", al::sleep(1h)));
            co_await al::sleep(0);
        }());
        // run_until_complete already finished them; the loop has nothing left.
        EXPECT_EQ(loop.pending_tasks(), 0u);
    }
    EXPECT_EQ(log, (Log{"pending started", "pending cleaning", "pending cleaned"}));
}

TEST(Shutdown, AHandleKeptAfterTheLoopStillReportsItsOutcome) {
    al::TaskHandle<int> kept;
    al::run([&]() -> al::Task<void> {
        kept = al::create_task([]() -> al::Task<int> {
            co_await al::sleep(1h);
            co_return 1;
        }());
        co_await al::sleep(0);
    }());
    EXPECT_TRUE(kept.done());
    EXPECT_TRUE(kept.cancelled());
    EXPECT_THROW(kept.result(), al::CancelledError);
}
