// SPDX-License-Identifier: BSL-1.0
// wait_for(): success, timeout, timeouts racing completion, children that
// swallow the cancellation, cancellation of the waiter, any awaitable.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

using test_support::settle;

al::Task<int> value_after_yields(int v, int yields) {
    for (int i = 0; i < yields; ++i) co_await al::sleep(0);
    co_return v;
}

al::Task<int> sleep_then(al::Clock::duration d, int v) {
    co_await al::sleep(d);
    co_return v;
}

// Blocks until cancelled, then cleans up over several loop iterations.
al::Task<int> cancellable_with_cleanup(Log& log) {
    std::exception_ptr cancelled;
    try {
        co_await al::sleep(1h);
    } catch (const al::CancelledError&) {
        cancelled = std::current_exception();
    }
    log.push_back("cleaning");
    co_await al::sleep(1ms);
    co_await al::sleep(0);
    log.push_back("cleaned");
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

// Holds the loop's thread without yielding, so that every timer due in the
// meantime fires in one pass of the next iteration.
al::Task<void> hold_the_thread(std::chrono::milliseconds d) {
    std::this_thread::sleep_for(d);
    co_return;
}

}  // namespace

TEST(WaitFor, ReturnsTheValueWhenTheChildFinishesInTime) {
    EXPECT_EQ(al::run(al::wait_for(value_after_yields(3, 2), 1h)), 3);
}

TEST(WaitFor, AcceptsAnyDurationType) {
    al::run([]() -> al::Task<void> {
        EXPECT_EQ(co_await al::wait_for(value_after_yields(1, 1), std::chrono::seconds(10)), 1);
        EXPECT_EQ(co_await al::wait_for(value_after_yields(2, 1), std::chrono::duration<double>(10.0)), 2);
    }());
}

TEST(WaitFor, ASuccessfulWaitLeavesNoTimerBehind) {
    // A timer left in the loop would point into the finished wait_for's frame;
    // the later sleeps reorder the timer heap and would touch it (ASan).
    al::run([]() -> al::Task<void> {
        for (int i = 0; i < 20; ++i) EXPECT_EQ(co_await al::wait_for(value_after_yields(i, 1), 1h + i * 1ms), i);
        co_await al::sleep(1ms);
        co_await al::sleep(2ms);
    }());
}

TEST(WaitFor, ReturnsMoveOnlyValues) {
    auto p = al::run(al::wait_for(
        []() -> al::Task<std::unique_ptr<int>> {
            co_await al::sleep(0);
            co_return std::make_unique<int>(5);
        }(),
        1h));
    EXPECT_EQ(p ? *p : -1, 5);
}

TEST(WaitFor, TimesOutWithTimeoutErrorAfterTheChildsCleanUp) {
    Log log;
    al::run([&]() -> al::Task<void> {
        try {
            co_await al::wait_for(cancellable_with_cleanup(log), 5ms);
            ADD_FAILURE() << "wait_for returned";
        } catch (const al::TimeoutError&) {
            log.push_back("timeout");
        }
    }());
    EXPECT_EQ(log, (Log{"cleaning", "cleaned", "timeout"}));
}

TEST(WaitFor, DoesNotTimeOutEarly) {
    al::run([]() -> al::Task<void> {
        auto start = al::Clock::now();
        EXPECT_THROW(co_await al::wait_for(sleep_then(1h, 0), 20ms), al::TimeoutError);
        EXPECT_GE(al::Clock::now() - start, 20ms);
    }());
}

TEST(WaitFor, TheChildsExceptionPropagates) {
    al::run([]() -> al::Task<void> {
        auto failing = []() -> al::Task<int> {
            co_await al::sleep(0);
            throw Boom("child failed");
        };
        EXPECT_THROW(co_await al::wait_for(failing(), 1h), Boom);
    }());
}

TEST(WaitFor, AChildThatSwallowsTheTimeoutCancellationReturnsItsValue) {
    // wait_for.hpp: a result that was produced is never thrown away.
    Log log;
    al::run([&]() -> al::Task<void> { EXPECT_EQ(co_await al::wait_for(swallow_cancel(log, 12), 2ms), 12); }());
    EXPECT_EQ(log, Log{"swallowed"});
}

TEST(WaitFor, AChildThatTurnsTheCancellationIntoAnErrorRaisesThatError) {
    al::run([]() -> al::Task<void> {
        auto child = []() -> al::Task<int> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                throw Boom("converted");
            }
            co_return 0;
        };
        EXPECT_THROW(co_await al::wait_for(child(), 2ms), Boom);
    }());
}

TEST(WaitFor, AChildCompletingInTheIterationTheTimerFiresReturnsItsValue) {
    // The child's sleep and the timeout are both due when the loop next looks
    // at its timers: the child's fires first (earlier deadline), so the child
    // is already woken when the timeout cancels it. It must finish with its
    // value and wait_for must return that value, not TimeoutError.
    al::run([]() -> al::Task<void> {
        for (int round = 0; round < 5; ++round) {
            auto child = al::create_task(sleep_then(5ms, 40 + round));
            co_await al::sleep(0);  // the child runs and arms its timer first
            EXPECT_FALSE(child.done());
            auto holder = al::create_task(hold_the_thread(20ms));
            auto start = al::Clock::now();
            // The timeout's deadline is later than the child's timer, and both
            // have passed when the holder gives the thread back.
            EXPECT_EQ(co_await al::wait_for(child, 5ms), 40 + round);
            EXPECT_GE(al::Clock::now() - start, 5ms);
            EXPECT_FALSE(child.cancelled());
            co_await holder;
        }
    }());
}

TEST(WaitFor, ATaskHandleThatTimesOutIsCancelled) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(cancellable_with_cleanup(log));
        EXPECT_THROW(co_await al::wait_for(h, 2ms), al::TimeoutError);
        EXPECT_TRUE(h.done());
        EXPECT_TRUE(h.cancelled());
    }());
    EXPECT_EQ(log, (Log{"cleaning", "cleaned"}));
}

TEST(WaitFor, ZeroTimeoutOnAFinishedHandleReturnsItsValue) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(value_after_yields(8, 0));
        co_await settle();
        EXPECT_EQ(co_await al::wait_for(h, 0ms), 8);
    }());
}

TEST(WaitFor, ZeroOrNegativeTimeoutRunsTheChildOnceAndReturnsWhatItFinishedWith) {
    // As asyncio 3.12: the awaitable gets its first step
    // before a timeout that has already expired cancels it.
    Log log;
    al::run([&]() -> al::Task<void> {
        auto body = [](Log& l) -> al::Task<int> {
            l.push_back("ran");
            co_return 1;
        };
        EXPECT_EQ(co_await al::wait_for(body(log), 0ms), 1);
        EXPECT_EQ(co_await al::wait_for(body(log), -5ms), 1);
        EXPECT_EQ(co_await al::wait_for(body(log), std::chrono::seconds::min()), 1);
    }());
    EXPECT_EQ(log, (Log{"ran", "ran", "ran"}));
}

TEST(WaitFor, ZeroTimeoutOnAQueueGetWithAnItemQueuedReturnsTheItem) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q;
        q.put_nowait(7);
        EXPECT_EQ(co_await al::wait_for(q.get(), 0ms), 7);
        EXPECT_THROW(co_await al::wait_for(q.get(), 0ms), al::TimeoutError);  // empty: it would suspend
        q.put_nowait(8);
        EXPECT_EQ(q.qsize(), 1u) << "the timed-out get took the item";
        al::Event e;
        e.set();
        co_await al::wait_for(e.wait(), 0ms);
    }());
}

TEST(WaitFor, ZeroTimeoutOnAChildThatSuspendsTimesOutAfterItsFirstStep) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto body = [](Log& l) -> al::Task<int> {
            l.push_back("first step");
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("cancelled");
                throw;
            }
            co_return 1;
        };
        EXPECT_THROW(co_await al::wait_for(body(log), 0ms), al::TimeoutError);
    }());
    EXPECT_EQ(log, (Log{"first step", "cancelled"}));
}

TEST(WaitFor, WrapsAnEventWait) {
    al::run([]() -> al::Task<void> {
        al::Event e;
        EXPECT_THROW(co_await al::wait_for(e.wait(), 2ms), al::TimeoutError);
        e.set();
        co_await al::wait_for(e.wait(), 1h);
    }());
}

TEST(WaitFor, AQueueGetThatTimedOutTakesNoItem) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q;
        EXPECT_THROW(co_await al::wait_for(q.get(), 2ms), al::TimeoutError);
        q.put_nowait(7);
        EXPECT_EQ(q.qsize(), 1u);  // the timed-out getter is no longer waiting
        EXPECT_EQ(co_await al::wait_for(q.get(), 1h), 7);
    }());
}

TEST(WaitFor, NestedTimeoutsEachRaiseAtTheirOwnLevel) {
    al::run([]() -> al::Task<void> {
        auto inner_times_out = []() -> al::Task<int> {
            try {
                co_return co_await al::wait_for(sleep_then(1h, 0), 2ms);
            } catch (const al::TimeoutError&) {
                co_return -1;
            }
        };
        EXPECT_EQ(co_await al::wait_for(inner_times_out(), 1h), -1);
        EXPECT_THROW(co_await al::wait_for(al::wait_for(sleep_then(1h, 0), 1h), 2ms), al::TimeoutError);
    }());
}

TEST(WaitForCancel, CancellingTheWaiterCancelsTheChildAndRaisesCancelledError) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::wait_for(cancellable_with_cleanup(log), 1h));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(h.cancelled());
    }());
    EXPECT_EQ(log, (Log{"cleaning", "cleaned"}));
}

TEST(WaitForCancel, CancellingBeforeTheWaitStartsNeverRunsTheChild) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto body = [](Log& l) -> al::Task<int> {
            l.push_back("ran");
            co_return 1;
        };
        auto h = al::create_task(al::wait_for(body(log), 1h));
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        co_await settle();
    }());
    EXPECT_TRUE(log.empty());
}

TEST(WaitForCancel, RaisesCancelledErrorEvenIfTheChildSwallowsTheCancellation) {
    // wait_for.hpp: "Cancelling the awaiting task cancels the child and
    // throws CancelledError once it has ended."
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::wait_for(swallow_cancel(log, 3), 1h));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, Log{"swallowed"});
}

TEST(WaitForCancel, CancellingAfterTheTimeoutFiredStillRaisesCancelledError) {
    // The child is still cleaning up after the timeout when the waiter itself
    // is cancelled: the waiter's cancellation wins over the timeout.
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(al::wait_for(cancellable_with_cleanup(log), 1ms));
        while (log.empty()) co_await al::sleep(1ms);  // the timeout fired; the child is cleaning up
        EXPECT_FALSE(h.done());
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log.front(), "cleaning");
}

TEST(WaitForCancel, TheTimeoutNoLongerFiresOnceTheWaiterIsCancelled) {
    // The child's clean-up outlasts the timeout; the timeout must not cancel it
    // a second time.
    Log log;
    bool cancelled_before_the_timeout = false;
    al::run([&]() -> al::Task<void> {
        auto slow_cleanup = [](Log& l) -> al::Task<int> {
            std::exception_ptr cancelled;
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                cancelled = std::current_exception();
            }
            co_await al::sleep(60ms);
            l.push_back("cleaned");
            std::rethrow_exception(cancelled);
        };
        auto start = al::Clock::now();
        auto h = al::create_task(al::wait_for(slow_cleanup(log), 30ms));
        co_await settle();
        h.cancel();
        cancelled_before_the_timeout = al::Clock::now() - start < 30ms;
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    if (!cancelled_before_the_timeout) GTEST_SKIP() << "the machine stalled past the timeout before the cancel";
    EXPECT_EQ(log, Log{"cleaned"});
}

TEST(WaitForCancel, AChildsRealErrorDuringTheCancellationIsReportedNotLost) {
    std::vector<std::string> reported;
    al::run([&]() -> al::Task<void> {
        al::Loop::current().set_exception_handler([&reported](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                reported.emplace_back(ex.what());
            }
        });
        auto fails_when_cancelled = []() -> al::Task<int> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                throw Boom("clean-up failed");
            }
            co_return 0;
        };
        auto h = al::create_task(al::wait_for(fails_when_cancelled(), 1h));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(reported, std::vector<std::string>{"clean-up failed"});
}

TEST(WaitForCancel, AValueHandedOverBeforeTheCancelIsReturnedAndTheCancelComesNext) {
    // The queue hands the item to the waiting get; the cancel that follows is
    // too late for it. The item must not be dropped with the wait_for: it is
    // returned, and the cancel is thrown at the waiter's next suspension point.
    // (Found by fuzz/queue_fuzz: the item vanished when wait_for threw.)
    al::Queue<int> q;
    int value = 0;
    bool cancelled_at_next_await = false;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task([](al::Queue<int>& queue, int& out, bool& next_cancelled) -> al::Task<void> {
            out = co_await al::wait_for(queue.get(), 1h);
            try {
                co_await al::sleep(0);
            } catch (const al::CancelledError&) {
                next_cancelled = true;
                throw;
            }
        }(q, value, cancelled_at_next_await));
        co_await settle();  // h waits in get()
        q.put_nowait(7);    // handed to the waiting get
        h.cancel();         // too late for the get
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(q.empty());
    }());
    EXPECT_EQ(value, 7);
    EXPECT_TRUE(cancelled_at_next_await);
}

TEST(WaitFor, CanBeGivenToRunDirectly) {
    // wait_for starts its child in its own first step, on the loop run() made,
    // so it can be the root task.
    EXPECT_EQ(al::run(al::wait_for(value_after_yields(5, 2), 1h)), 5);
    EXPECT_THROW(al::run(al::wait_for(sleep_then(1h, 1), 1ms)), al::TimeoutError);
    auto [a, b] = al::run(al::gather(value_after_yields(1, 1), value_after_yields(2, 2)));
    EXPECT_EQ(a + b, 3);
}

// A timeout too long for the clock saturates ("never")
// instead of overflowing into an instant TimeoutError.
TEST(WaitForSaturates, TimeoutsBeyondTheClocksRangeNeverExpire) {
    al::run([]() -> al::Task<void> {
        EXPECT_EQ(co_await al::wait_for(value_after_yields(1, 3), std::chrono::seconds::max()), 1);
        EXPECT_EQ(co_await al::wait_for(value_after_yields(2, 3), std::chrono::nanoseconds::max()), 2);
        EXPECT_EQ(co_await al::wait_for(value_after_yields(3, 3), std::chrono::hours::max()), 3);
        EXPECT_EQ(co_await al::wait_for(value_after_yields(4, 3), std::chrono::duration<double>(1e30)), 4);
        EXPECT_EQ(co_await al::wait_for(sleep_then(2ms, 5), std::chrono::milliseconds::max()), 5);
        al::Event e;
        auto setter = al::create_task([](al::Event& ev) -> al::Task<void> {
            co_await al::sleep(1ms);
            ev.set();
        }(e));
        co_await al::wait_for(e.wait(), std::chrono::seconds::max());
        co_await setter;
    }());
}
