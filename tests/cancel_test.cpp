// SPDX-License-Identifier: BSL-1.0
// Cancellation with asyncio semantics: CancelledError at the suspension point,
// catchable, clean-up may await, propagation through awaited tasks and
// sub-coroutines, nested cancellation. Cancellation while blocked in each
// loop-only primitive is tested here too; what each primitive guarantees to the
// other waiters is tested in the primitive's own file.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

using test_support::settle;

// Awaits `blocked`, logging whether it returned or threw CancelledError.
template <class Aw>
al::Task<void> log_outcome(Log& log, Aw blocked) {
    try {
        (void)co_await std::move(blocked);
        log.push_back("returned");
    } catch (const al::CancelledError&) {
        log.push_back("cancelled");
        throw;
    }
}

al::Task<void> sleep_forever(Log& log) {
    log.push_back("started");
    co_await log_outcome(log, al::sleep(1h));
}

al::Task<int> swallow_cancel_then_return(Log& log, int v) {
    try {
        co_await al::sleep(1h);
    } catch (const al::CancelledError&) {
        log.push_back("swallowed");
    }
    co_return v;
}

// C++ forbids co_await inside a handler: the clean-up runs after it.
al::Task<void> cleanup_that_awaits(Log& log) {
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

// Cancels the task `h`, then checks it ended cancelled and awaiting it throws.
template <class T>
al::Task<void> cancel_and_expect_cancelled(al::TaskHandle<T> h) {
    EXPECT_TRUE(h.cancel());
    EXPECT_THROW(co_await h, al::CancelledError);
    EXPECT_TRUE(h.done());
    EXPECT_TRUE(h.cancelled());
}

}  // namespace

TEST(Cancel, RaisesCancelledErrorAtTheSuspensionPoint) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(sleep_forever(log));
        co_await settle();
        EXPECT_FALSE(h.done());
        co_await cancel_and_expect_cancelled(h);
    }());
    EXPECT_EQ(log, (Log{"started", "cancelled"}));
}

TEST(Cancel, ReturnsFalseOnceTheTaskIsDone) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(settle(1));
        co_await h;
        EXPECT_FALSE(h.cancel());
        EXPECT_FALSE(h.cancelled());
    }());
}

TEST(Cancel, CancelledErrorCanBeCaughtAndTheTaskGoesOn) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(swallow_cancel_then_return(log, 17));
        co_await settle();
        EXPECT_TRUE(h.cancel());
        EXPECT_EQ(co_await h, 17);
        EXPECT_FALSE(h.cancelled());
    }());
    EXPECT_EQ(log, Log{"swallowed"});
}

TEST(Cancel, CleanUpMayAwaitBeforeTheTaskEnds) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(cleanup_that_awaits(log));
        co_await settle();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_EQ(log, (Log{"cleaning", "cleaned"}));
        EXPECT_TRUE(h.cancelled());
    }());
}

TEST(Cancel, BeforeTheFirstRunTheBodyNeverRuns) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(sleep_forever(log));
        EXPECT_TRUE(h.cancel());
        EXPECT_TRUE(h.cancel());  // a second request changes nothing
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(h.cancelled());
    }());
    EXPECT_TRUE(log.empty());
}

TEST(Cancel, RepeatedCancelsBeforeTheTaskRunsDeliverOneCancelledError) {
    // As asyncio: cancels that arrive while the task is already on its way to
    // receive CancelledError coalesce, so its clean-up may await undisturbed.
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(cleanup_that_awaits(log));
        co_await settle();
        h.cancel();
        h.cancel();
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"cleaning", "cleaned"}));
}

TEST(Cancel, RepeatedCancelsOfAYieldingTaskDeliverOneCancelledError) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task([](Log& l) -> al::Task<void> {
            try {
                co_await al::sleep(0);
            } catch (const al::CancelledError&) {
                l.push_back("cancelled");
            }
            co_await al::sleep(0);
            l.push_back("went on");
        }(log));
        co_await al::sleep(0);  // h is parked at its yield
        h.cancel();
        h.cancel();
        co_await h;
    }());
    EXPECT_EQ(log, (Log{"cancelled", "went on"}));
}

TEST(Cancel, ACancelAfterTheTaskCaughtTheFirstOneIsDeliveredAgain) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task([](Log& l) -> al::Task<void> {
            for (int i = 0; i < 2; ++i) {
                try {
                    co_await al::sleep(1h);
                } catch (const al::CancelledError&) {
                    l.push_back("cancelled");
                }
            }
        }(log));
        co_await settle();
        h.cancel();
        co_await settle();
        h.cancel();
        co_await h;
    }());
    EXPECT_EQ(log, (Log{"cancelled", "cancelled"}));
}

TEST(Cancel, ATaskCancellingItselfGetsCancelledErrorAtItsNextSuspension) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<void> self;
        auto body = [](Log& l, al::TaskHandle<void>& me) -> al::Task<void> {
            me.cancel();
            l.push_back("still running after cancel()");
            try {
                co_await al::sleep(0);
                l.push_back("not cancelled");
            } catch (const al::CancelledError&) {
                l.push_back("cancelled at the next suspension");
                throw;
            }
        };
        self = al::create_task(body(log, self));
        EXPECT_THROW(co_await self, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"still running after cancel()", "cancelled at the next suspension"}));
}

TEST(Cancel, ACancelRequestedWhileRunningHitsAnAwaitThatWouldNotSuspend) {
    // asyncio throws at the next await that yields to the loop; asynclink throws
    // at the next await that would park, and an already-set Event does not park.
    Log log;
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<void> self;
        al::Event set_event;
        set_event.set();
        auto body = [](Log& l, al::TaskHandle<void>& me, al::Event& e) -> al::Task<void> {
            me.cancel();
            co_await e.wait();
            l.push_back("ready wait did not throw");
            co_await log_outcome(l, al::sleep(0));
        };
        self = al::create_task(body(log, self, set_event));
        EXPECT_THROW(co_await self, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"ready wait did not throw", "cancelled"}));
}

TEST(Cancel, PropagatesThroughSubCoroutinesRunningTheirDestructors) {
    Log log;
    struct Scope {
        Log& log;
        std::string name;
        ~Scope() { log.push_back("left " + name); }
    };
    auto inner = [](Log& l) -> al::Task<int> {
        Scope s{l, "inner"};
        co_await al::sleep(1h);
        l.push_back("inner resumed");
        co_return 1;
    };
    auto middle = [&inner](Log& l) -> al::Task<int> {
        Scope s{l, "middle"};
        int v = co_await inner(l);
        l.push_back("middle resumed");
        co_return v;
    };
    al::run([&]() -> al::Task<void> {
        auto outer = [&middle](Log& l) -> al::Task<void> {
            try {
                co_await middle(l);
            } catch (const al::CancelledError&) {
                l.push_back("outer caught");
                throw;
            }
        };
        auto h = al::create_task(outer(log));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
    }());
    EXPECT_EQ(log, (Log{"left inner", "left middle", "outer caught"}));
}

TEST(Cancel, CancellingATaskThatAwaitsAnotherCancelsBoth) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto inner = al::create_task(sleep_forever(log));
        auto outer = al::create_task(log_outcome(log, inner));
        co_await settle();
        co_await cancel_and_expect_cancelled(outer);
        EXPECT_TRUE(inner.cancelled());
    }());
    EXPECT_EQ(log, (Log{"started", "cancelled", "cancelled"}));
}

TEST(Cancel, CancellingTheAwaitedTaskRaisesInTheAwaiterWhichIsNotCancelled) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto inner = al::create_task(sleep_forever(log));
        auto outer = al::create_task([](Log& l, al::TaskHandle<void> in) -> al::Task<int> {
            try {
                co_await in;
            } catch (const al::CancelledError&) {
                l.push_back("awaiter saw the inner cancellation");
            }
            co_return 5;
        }(log, inner));
        co_await settle();
        inner.cancel();
        EXPECT_EQ(co_await outer, 5);
        EXPECT_FALSE(outer.cancelled());
        EXPECT_TRUE(inner.cancelled());
    }());
    EXPECT_EQ(log, (Log{"started", "cancelled", "awaiter saw the inner cancellation"}));
}

TEST(Cancel, AnAwaitedTaskThatSwallowsTheCancellationGivesItsValueToTheAwaiter) {
    // asyncio: cancelling A, which awaits B, cancels B; if B returns a value
    // anyway, A's await returns it.
    Log log;
    al::run([&]() -> al::Task<void> {
        auto inner = al::create_task(swallow_cancel_then_return(log, 9));
        auto outer = al::create_task([](al::TaskHandle<int> in) -> al::Task<int> { co_return co_await in; }(inner));
        co_await settle();
        outer.cancel();
        EXPECT_EQ(co_await outer, 9);
        EXPECT_FALSE(outer.cancelled());
    }());
    EXPECT_EQ(log, Log{"swallowed"});
}

TEST(Cancel, NestedChainOfAwaitedTasksIsCancelledFromTheTop) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto c = al::create_task(cleanup_that_awaits(log));
        auto b = al::create_task(log_outcome(log, c));
        auto a = al::create_task(log_outcome(log, b));
        co_await settle();
        co_await cancel_and_expect_cancelled(a);
        EXPECT_TRUE(b.cancelled());
        EXPECT_TRUE(c.cancelled());
    }());
    // Innermost first: each awaiter only sees the end of the task it awaits.
    EXPECT_EQ(log, (Log{"cleaning", "cleaned", "cancelled", "cancelled"}));
}

TEST(Cancel, CancellingAgainDuringCleanUpInterruptsTheCleanUp) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task([](Log& l) -> al::Task<void> {
            std::exception_ptr first;
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("first cancel");
                first = std::current_exception();
            }
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("second cancel");
            }
            std::rethrow_exception(first);
        }(log));
        co_await settle();
        h.cancel();
        co_await settle();
        EXPECT_FALSE(h.done());
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
    }());
    EXPECT_EQ(log, (Log{"first cancel", "second cancel"}));
}

TEST(Cancel, ATaskThatCaughtACancelCanBeCancelledAgainLater) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task([](Log& l) -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                l.push_back("caught once");
            }
            co_await log_outcome(l, al::sleep(1h));
        }(log));
        co_await settle();
        h.cancel();
        co_await settle();
        EXPECT_FALSE(h.done());
        co_await cancel_and_expect_cancelled(h);
    }());
    EXPECT_EQ(log, (Log{"caught once", "cancelled"}));
}

TEST(Cancel, ATaskCreatedByACancelledTaskIsNotCancelled) {
    // Only awaited tasks are cancelled with their awaiter, as in asyncio.
    Log log;
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<int> detached;
        auto parent = al::create_task([](al::TaskHandle<int>& child) -> al::Task<void> {
            child = al::create_task([]() -> al::Task<int> {
                co_await al::sleep(1ms);
                co_return 1;
            }());
            co_await al::sleep(1h);
        }(detached));
        co_await settle();
        co_await cancel_and_expect_cancelled(parent);
        EXPECT_EQ(co_await detached, 1);
    }());
}

// --- cancelling a task blocked in each awaitable

TEST(CancelBlocked, InSleep) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(log_outcome(log, al::sleep(1h)));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        // The timer left the loop with the task: a later sleep is not disturbed.
        co_await al::sleep(1ms);
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InAYield) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(log_outcome(log, al::sleep(0)));
        co_await al::sleep(0);  // h is now parked at its yield, already in the ready queue
        EXPECT_FALSE(h.done());
        co_await cancel_and_expect_cancelled(h);
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InEventWait) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto h = al::create_task(log_outcome(log, e.wait()));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        e.set();
        co_await settle();
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InLockAcquire) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Lock lock;
        auto held = co_await lock.acquire();
        auto h = al::create_task(log_outcome(log, lock.acquire()));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        held.release();
        EXPECT_FALSE(lock.locked());
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InSemaphoreAcquire) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Semaphore sem(0);
        auto h = al::create_task(log_outcome(log, sem.acquire()));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        sem.release();
        EXPECT_EQ(sem.value(), 1u);
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InQueueGet) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto h = al::create_task(log_outcome(log, q.get()));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        q.put_nowait(1);
        EXPECT_EQ(q.qsize(), 1u);
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InQueuePut) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q(1);
        q.put_nowait(1);
        auto h = al::create_task(log_outcome(log, q.put(2)));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        EXPECT_EQ(q.get_nowait(), 1);
        EXPECT_TRUE(q.empty());
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

TEST(CancelBlocked, InAwaitingAnotherTask) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto target = al::create_task(sleep_forever(log));
        auto h = al::create_task(log_outcome(log, target));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        EXPECT_TRUE(target.cancelled());
    }());
    EXPECT_EQ(log, (Log{"started", "cancelled", "cancelled"}));
}

TEST(CancelBlocked, InGather) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(log_outcome(log, al::gather(sleep_forever(log), cleanup_that_awaits(log))));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
    }());
    EXPECT_EQ(log, (Log{"started", "cancelled", "cleaning", "cleaned", "cancelled"}));
}

TEST(CancelBlocked, InWaitFor) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(log_outcome(log, al::wait_for(cleanup_that_awaits(log), 1h)));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
    }());
    // The outer task sees CancelledError, not TimeoutError, after the child's clean-up.
    EXPECT_EQ(log, (Log{"cleaning", "cleaned", "cancelled"}));
}

TEST(CancelBlocked, InASubCoroutineBlockedInAPrimitive) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto read_one = [](al::Queue<int>& queue) -> al::Task<int> { co_return co_await queue.get(); };
        auto h = al::create_task(log_outcome(log, read_one(q)));
        co_await settle();
        co_await cancel_and_expect_cancelled(h);
        q.put_nowait(4);
        EXPECT_EQ(q.qsize(), 1u);
    }());
    EXPECT_EQ(log, Log{"cancelled"});
}

// CancelledError is not a std::exception (asyncio moved
// CancelledError out of Exception for the same reason), so the common
// "log any std::exception and carry on" loop no longer swallows a cancel.
namespace {

// A worker that logs and survives every std::exception. Bounded (about a
// second), so a swallowed cancel ends the test with a failure, not a hang.
al::Task<int> worker_that_survives_std_exceptions(int& survived) {
    int steps = 0;
    for (; steps < 1000; ++steps) {
        try {
            if (steps == 0) throw std::runtime_error("a real error, survived");
            co_await al::sleep(1ms);
        } catch (const std::exception&) {
            ++survived;
        }
    }
    co_return steps;
}

}  // namespace

TEST(CancelledErrorIsNotAStdException, ACatchOfStdExceptionInATaskDoesNotSwallowTheCancel) {
    int survived = 0;
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(worker_that_survives_std_exceptions(survived));
        co_await settle(10);
        h.cancel();
        EXPECT_THROW(co_await h, al::CancelledError);
        EXPECT_TRUE(h.cancelled());
    }());
    EXPECT_EQ(survived, 1) << "only the runtime_error is caught by catch (const std::exception&)";
}

TEST(CancelledErrorIsNotAStdException, WaitForTimesOutAWorkerThatCatchesStdException) {
    int survived = 0;
    al::run([&]() -> al::Task<void> {
        EXPECT_THROW(co_await al::wait_for(worker_that_survives_std_exceptions(survived), 1ms), al::TimeoutError);
    }());
}

TEST(CancelledErrorIsNotAStdException, ItIsCaughtByNameOrByCatchAllAndSaysWhatHappened) {
    EXPECT_FALSE((std::is_base_of_v<std::exception, al::CancelledError>));
    EXPECT_STREQ(al::CancelledError().what(), "asynclink: task cancelled");
    bool by_name = false;
    bool by_catch_all = false;
    al::run([&]() -> al::Task<void> {
        auto sleeper = [](bool& caught) -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (const al::CancelledError&) {
                caught = true;
                throw;
            }
        };
        auto first = al::create_task(sleeper(by_name));
        auto second = al::create_task([](bool& caught) -> al::Task<void> {
            try {
                co_await al::sleep(1h);
            } catch (...) {
                caught = true;
                throw;
            }
        }(by_catch_all));
        co_await settle();
        first.cancel();
        second.cancel();
        EXPECT_THROW(co_await first, al::CancelledError);
        EXPECT_THROW(co_await second, al::CancelledError);
    }());
    EXPECT_TRUE(by_name);
    EXPECT_TRUE(by_catch_all);
}
