// SPDX-License-Identifier: BSL-1.0
// gather(): variadic and over a vector, with and without return_exceptions,
// fail-fast as documented in gather.hpp, and cancellation of a gather.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

al::Task<int> get_from(al::Queue<int>& q) { co_return co_await q.get(); }

using test_support::settle;

al::Task<int> value_after_yields(Log& log, int v, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    log.push_back("value " + std::to_string(v));
    co_return v;
}

al::Task<int> fail_after_yields(Log& log, std::string what, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    log.push_back("throw " + what);
    throw Boom(what);
}

al::Task<void> void_after_yields(Log& log, std::string name, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    log.push_back(name);
}

// Blocks until cancelled, then cleans up over several loop iterations (the
// clean-up runs after the handler: C++ forbids co_await inside one).
al::Task<int> cancellable_with_cleanup(Log& log, std::string name) {
    std::exception_ptr cancelled;
    try {
        co_await al::sleep(1h);
    } catch (const al::CancelledError&) {
        cancelled = std::current_exception();
    }
    log.push_back(name + " cleaning");
    co_await al::sleep(1ms);
    co_await al::sleep(0);
    log.push_back(name + " cleaned");
    std::rethrow_exception(cancelled);
}

al::Task<int> swallow_cancel(Log& log, int v) {
    try {
        co_await al::sleep(1h);
    } catch (const al::CancelledError&) {
        log.push_back("swallowed");
    }
    co_return v;
}

al::Task<std::unique_ptr<int>> boxed(int v) {
    co_await al::sleep(0);
    co_return std::make_unique<int>(v);
}

std::string message_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    }
}

void collect_errors_into(std::vector<std::exception_ptr>& errors) {
    al::Loop::current().set_exception_handler([&errors](std::exception_ptr e) { errors.push_back(e); });
}

}  // namespace

TEST(Gather, ReturnsResultsInArgumentOrderWhateverTheFinishingOrder) {
    Log log;
    auto [a, b, c] = al::run([&]() -> al::Task<std::tuple<int, int, int>> {
        co_return co_await al::gather(value_after_yields(log, 1, 3), value_after_yields(log, 2, 2),
                                      value_after_yields(log, 3, 1));
    }());
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, 2);
    EXPECT_EQ(c, 3);
    EXPECT_EQ(log, (Log{"value 3", "value 2", "value 1"}));
}

TEST(Gather, ChildrenRunConcurrently) {
    Log log;
    al::run([&]() -> al::Task<void> {
        co_await al::gather(void_after_yields(log, "a1", 1), void_after_yields(log, "b1", 1));
        auto log_two = [](Log& l, std::string name) -> al::Task<void> {
            l.push_back(name + "0");
            co_await al::sleep(0);
            l.push_back(name + "1");
        };
        co_await al::gather(log_two(log, "x"), log_two(log, "y"));
    }());
    EXPECT_EQ(log, (Log{"a1", "b1", "x0", "y0", "x1", "y1"}));
}

TEST(Gather, VoidChildrenGiveMonostate) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto [v, i] = co_await al::gather(void_after_yields(log, "void", 1), value_after_yields(log, 4, 0));
        static_assert(std::is_same_v<decltype(v), std::monostate>);
        EXPECT_EQ(i, 4);
    }());
}

TEST(Gather, MixesTasksAndRunningTaskHandles) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto running = al::create_task(value_after_yields(log, 10, 2));
        auto [a, b] = co_await al::gather(running, value_after_yields(log, 20, 1));
        EXPECT_EQ(a, 10);
        EXPECT_EQ(b, 20);
        EXPECT_EQ(running.result(), 10);  // the caller's handle still sees the result
    }());
}

TEST(Gather, ReturnsMoveOnlyResults) {
    al::run([]() -> al::Task<void> {
        auto [a, b] = co_await al::gather(boxed(1), boxed(2));
        EXPECT_EQ(a ? *a : -1, 1);
        EXPECT_EQ(b ? *b : -1, 2);
        std::vector<al::Task<std::unique_ptr<int>>> tasks;
        tasks.push_back(boxed(3));
        auto v = co_await al::gather(std::move(tasks));
        EXPECT_EQ(v.size() == 1 && v[0] ? *v[0] : -1, 3);
    }());
}

TEST(Gather, OverAVectorOfTasks) {
    Log log;
    std::vector<int> results = al::run([&]() -> al::Task<std::vector<int>> {
        std::vector<al::Task<int>> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(value_after_yields(log, i, 5 - i));
        co_return co_await al::gather(std::move(tasks));
    }());
    EXPECT_EQ(results, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(log.front(), "value 4");
}

TEST(Gather, OverAVectorOfHandles) {
    Log log;
    al::run([&]() -> al::Task<void> {
        std::vector<al::TaskHandle<int>> handles;
        for (int i = 0; i < 3; ++i) handles.push_back(al::create_task(value_after_yields(log, i * 10, i)));
        // Kept out of the co_await's full-expression: g++ 12 rejects an
        // initializer_list temporary there ("array used as initializer").
        const std::vector<int> expected{0, 10, 20};
        EXPECT_EQ(co_await al::gather(handles), expected);
        std::vector<al::TaskHandle<void>> voids;
        voids.push_back(al::create_task(void_after_yields(log, "v", 1)));
        EXPECT_EQ((co_await al::gather(voids)).size(), 1u);
    }());
}

TEST(Gather, OverAnEmptyVectorReturnsAtOnce) {
    al::run([]() -> al::Task<void> {
        EXPECT_TRUE((co_await al::gather(std::vector<al::Task<int>>{})).empty());
        EXPECT_TRUE((co_await al::gather(al::return_exceptions, std::vector<al::Task<int>>{})).empty());
    }());
}

TEST(Gather, OfAlreadyFinishedHandlesReturnsAtOnce) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(log, 6, 0));
        co_await settle();
        EXPECT_TRUE(h.done());
        auto [v] = co_await al::gather(h);
        EXPECT_EQ(v, 6);
    }());
}

// --- return_exceptions

TEST(GatherReturnExceptions, EveryChildRunsToItsEndAndEachOutcomeIsKept) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto [a, b, c] = co_await al::gather(al::return_exceptions, value_after_yields(log, 1, 3),
                                             fail_after_yields(log, "b", 1), void_after_yields(log, "c", 2));
        EXPECT_TRUE(a.has_value());
        EXPECT_EQ(a.value(), 1);
        EXPECT_FALSE(b.has_value());
        EXPECT_FALSE(static_cast<bool>(b));
        EXPECT_EQ(message_of(b.error()), "b");
        EXPECT_THROW(b.value(), Boom);
        EXPECT_TRUE(c.has_value());
        EXPECT_EQ(c.error(), nullptr);
    }());
    // The failure did not cut the others short.
    EXPECT_EQ(log, (Log{"throw b", "c", "value 1"}));
}

TEST(GatherReturnExceptions, ACancelledChildGivesCancelledError) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto victim = al::create_task(cancellable_with_cleanup(log, "victim"));
        auto canceller = [](al::TaskHandle<int> v) -> al::Task<int> {
            co_await al::sleep(0);
            v.cancel();
            co_return 1;
        };
        auto [v, c] = co_await al::gather(al::return_exceptions, victim, canceller(victim));
        EXPECT_FALSE(v.has_value());
        EXPECT_THROW(v.value(), al::CancelledError);
        EXPECT_EQ(c.value(), 1);
    }());
}

TEST(GatherReturnExceptions, OverAVector) {
    Log log;
    al::run([&]() -> al::Task<void> {
        std::vector<al::Task<int>> tasks;
        tasks.push_back(fail_after_yields(log, "first", 2));
        tasks.push_back(value_after_yields(log, 2, 1));
        tasks.push_back(fail_after_yields(log, "third", 0));
        auto outcomes = co_await al::gather(al::return_exceptions, std::move(tasks));
        EXPECT_EQ(outcomes.size(), 3u);
        if (outcomes.size() != 3) co_return;
        EXPECT_EQ(message_of(outcomes[0].error()), "first");
        EXPECT_EQ(outcomes[1].value(), 2);
        EXPECT_EQ(message_of(outcomes[2].error()), "third");
    }());
}

TEST(GatherReturnExceptions, TheReturnedExceptionsAreNotReportedAsUnretrieved) {
    Log log;
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        (void)co_await al::gather(al::return_exceptions, fail_after_yields(log, "x", 0));
        co_await settle();
    }());
    EXPECT_TRUE(errors.empty());
}

// --- fail-fast (without return_exceptions)

TEST(GatherFailFast, TheFirstFailureCancelsTheOthersWaitsForThemAndIsRethrown) {
    Log log;
    al::run([&]() -> al::Task<void> {
        try {
            co_await al::gather(cancellable_with_cleanup(log, "a"), fail_after_yields(log, "b", 1),
                                cancellable_with_cleanup(log, "c"));
            ADD_FAILURE() << "gather returned normally";
        } catch (const Boom& e) {
            log.push_back(std::string("caught ") + e.what());
        }
    }());
    // gather does not return before the cancelled children have finished their clean-up.
    EXPECT_EQ(log, (Log{"throw b", "a cleaning", "c cleaning", "a cleaned", "c cleaned", "caught b"}));
}

TEST(GatherFailFast, RethrowsTheFirstFailureInTimeNotInArgumentOrder) {
    // The first child turns its cancellation into another error; gather must
    // still rethrow the failure that triggered the cancellation.
    Log log;
    al::run([&]() -> al::Task<void> {
        auto fails_when_cancelled = [](Log& l) -> al::Task<int> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("throw cleanup");
                throw Boom("cleanup failed");
            }
            co_return 0;
        };
        try {
            co_await al::gather(fails_when_cancelled(log), fail_after_yields(log, "first", 1));
            ADD_FAILURE() << "gather returned normally";
        } catch (const Boom& e) {
            log.push_back(std::string("caught ") + e.what());
        }
    }());
    EXPECT_EQ(log, (Log{"throw first", "throw cleanup", "caught first"}));
}

TEST(GatherFailFast, OverAVectorCancelsTheRest) {
    Log log;
    al::run([&]() -> al::Task<void> {
        std::vector<al::Task<int>> tasks;
        tasks.push_back(cancellable_with_cleanup(log, "a"));
        tasks.push_back(fail_after_yields(log, "b", 1));
        EXPECT_THROW(co_await al::gather(std::move(tasks)), Boom);
    }());
    EXPECT_EQ(log, (Log{"throw b", "a cleaning", "a cleaned"}));
}

TEST(GatherFailFast, AnAlreadyFailedHandleFailsAtOnceAndCancelsTheRest) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto running = al::create_task(cancellable_with_cleanup(log, "running"));
        auto failed = al::create_task(fail_after_yields(log, "early", 0));
        co_await settle();
        EXPECT_TRUE(failed.done());
        // An unstarted Task child is cancelled before its body ever runs.
        EXPECT_THROW(co_await al::gather(running, failed, value_after_yields(log, 1, 0)), Boom);
        EXPECT_TRUE(running.cancelled());
    }());
    EXPECT_EQ(log, (Log{"throw early", "running cleaning", "running cleaned"}));
}

TEST(GatherFailFast, TheSiblingsCancellationsAreNotReportedAsUnretrieved) {
    Log log;
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        EXPECT_THROW(co_await al::gather(cancellable_with_cleanup(log, "a"), fail_after_yields(log, "b", 1)), Boom);
        co_await settle();
    }());
    EXPECT_TRUE(errors.empty()) << message_of(errors.front());
}

TEST(GatherFailFast, AChildCancelledFromOutsideFailsTheGatherWithCancelledError) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto victim = al::create_task(cancellable_with_cleanup(log, "victim"));
        auto canceller = [](al::TaskHandle<int> v) -> al::Task<int> {
            co_await al::sleep(0);
            v.cancel();
            co_return 1;
        };
        EXPECT_THROW(co_await al::gather(victim, canceller(victim)), al::CancelledError);
        EXPECT_TRUE(victim.cancelled());
    }());
}

// --- cancelling the task that awaits gather

TEST(GatherCancel, CancellingTheAwaiterCancelsEveryChildOnceAndWaitsForTheirCleanUp) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::gather(cancellable_with_cleanup(log, "a"), cancellable_with_cleanup(log, "b")));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(h.cancelled());
    }());
    EXPECT_EQ(log, (Log{"a cleaning", "b cleaning", "a cleaned", "b cleaned"}));
}

TEST(GatherCancel, CancellingBeforeTheGatherStartsNeverRunsTheChildren) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::gather(value_after_yields(log, 1, 0), value_after_yields(log, 2, 0)));
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_TRUE(log.empty());
}

TEST(GatherCancel, ThrowsCancelledErrorEvenIfEveryChildSwallowsTheCancellation) {
    // gather.hpp: "Cancelling the task awaiting gather cancels every child;
    // gather then throws CancelledError once they have all finished."
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::gather(swallow_cancel(log, 1), swallow_cancel(log, 2)));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"swallowed", "swallowed"}));
}

TEST(GatherCancel, WithReturnExceptionsThrowsCancelledErrorToo) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(
            al::gather(al::return_exceptions, cancellable_with_cleanup(log, "a"), swallow_cancel(log, 2)));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"a cleaning", "swallowed", "a cleaned"}));
}

TEST(GatherCancel, OverAVectorCancelsEveryChild) {
    Log log;
    al::run([&]() -> al::Task<void> {
        std::vector<al::Task<int>> tasks;
        tasks.push_back(cancellable_with_cleanup(log, "a"));
        tasks.push_back(cancellable_with_cleanup(log, "b"));
        auto h = al::create_task(al::gather(std::move(tasks)));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"a cleaning", "b cleaning", "a cleaned", "b cleaned"}));
}

TEST(GatherCancel, ChildFailuresDuringCancellationAreNotLost) {
    // A cancelled gather throws CancelledError; a child that failed meanwhile
    // with a real error was seen by gather, so it is not reported either.
    Log log;
    std::vector<std::exception_ptr> errors;
    al::run([&]() -> al::Task<void> {
        collect_errors_into(errors);
        auto fails_when_cancelled = [](Log& l) -> al::Task<int> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("throw cleanup");
                throw Boom("cleanup failed");
            }
            co_return 0;
        };
        auto h = al::create_task(al::gather(fails_when_cancelled(log), cancellable_with_cleanup(log, "b")));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        co_await settle();
    }());
    EXPECT_EQ(log, (Log{"throw cleanup", "b cleaning", "b cleaned"}));
    EXPECT_TRUE(errors.empty());
}

TEST(GatherCancel, ValuesHandedOverBeforeTheCancelAreReturnedAndTheCancelComesNext) {
    // Both gets were handed their items before the cancel, which is too late for
    // them: gather returns the items, and the cancel is thrown at the waiter's
    // next suspension point; nothing is dropped.
    al::Queue<int> q;
    std::pair<int, int> got{0, 0};
    bool cancelled_at_next_await = false;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(
            [](al::Queue<int>& queue, std::pair<int, int>& out, bool& next_cancelled) -> al::Task<void> {
                auto [a, b] = co_await al::gather(get_from(queue), get_from(queue));
                out = {a, b};
                try {
                    co_await al::sleep(0);
                } catch (const al::CancelledError&) {
                    next_cancelled = true;
                    throw;
                }
            }(q, got, cancelled_at_next_await));
        co_await settle();
        q.put_nowait(1);
        q.put_nowait(2);
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(q.empty());
    }());
    EXPECT_EQ(got, (std::pair<int, int>{1, 2}));
    EXPECT_TRUE(cancelled_at_next_await);
}

TEST(GatherCancel, OneValueHandedOverAndOneChildCancelledStillThrowsCancelledError) {
    // Only one get had its item: gather cannot return a result, so it throws
    // CancelledError (asyncio's rule) once both children ended.
    al::Queue<int> q;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::gather(get_from(q), get_from(q)));
        co_await settle();
        q.put_nowait(1);
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
}
