// SPDX-License-Identifier: BSL-1.0
// Loop affinity: every loop-only method called from a thread that is not
// running the loop throws UsageError naming the thread-safe alternative, and
// leaves the loop and the primitive intact.
//
// The foreign calls are made from a std::thread that is started and joined by
// a task, while the loop is running (and blocked in that task): the join
// orders the foreign thread's accesses before the loop's, so the test itself
// has no data race for ThreadSanitizer to report.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct Call {
    std::string name;
    std::function<void()> call;
    std::string alternative;  ///< the thread-safe alternative the message must name
};

struct Result {
    std::string name;
    std::string outcome;  ///< the UsageError's message, or what happened instead
    std::string alternative;
};

std::string outcome_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const al::UsageError& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("not a UsageError: ") + e.what();
    }
    return "no exception";
}

// Runs each call on a new thread that is not running any loop.
std::vector<Result> call_from_another_thread(const std::vector<Call>& calls) {
    std::vector<Result> results;
    std::thread t([&] {
        for (const Call& c : calls) results.push_back({c.name, outcome_of(c.call), c.alternative});
    });
    t.join();
    return results;
}

void expect_usage_errors_naming_alternatives(const std::vector<Result>& results) {
    for (const Result& r : results) {
        EXPECT_NE(r.outcome.find("asynclink: "), std::string::npos) << r.name << ": " << r.outcome;
        EXPECT_NE(r.outcome.find(r.alternative), std::string::npos)
            << r.name << " should name \"" << r.alternative << "\", said: " << r.outcome;
    }
}

/// For the rows below: the message names the method called (a BoundedSemaphore
/// may speak as the Semaphore it is), not another one it happens to call.
void expect_messages_naming_operations(const std::vector<Result>& results) {
    for (const Result& r : results) {
        std::string method = r.name.substr(r.name.rfind(':') + 1);
        EXPECT_NE(r.outcome.find(method), std::string::npos) << r.name << " said: " << r.outcome;
    }
}

al::Task<int> forty_two() {
    co_await al::sleep(0);
    co_return 42;
}

}  // namespace

TEST(LoopAffinity, EventMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Event e;
        EXPECT_FALSE(e.is_set());  // binds the event to this loop
        auto results = call_from_another_thread({
            {"Event::set", [&] { e.set(); }, "ThreadSafeEvent"},
            {"Event::clear", [&] { e.clear(); }, "ThreadSafeEvent"},
            {"Event::is_set", [&] { (void)e.is_set(); }, "ThreadSafeEvent"},
            {"Event::wait", [&] { (void)e.wait().await_ready(); }, "ThreadSafeEvent"},
        });
        expect_usage_errors_naming_alternatives(results);
        EXPECT_NE(results[0].outcome.find("call_soon_threadsafe"), std::string::npos) << results[0].outcome;
        // Untouched by the rejected calls, and still working.
        EXPECT_FALSE(e.is_set());
        e.set();
        co_await e.wait();
    }());
}

TEST(LoopAffinity, LockMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Lock lock;
        auto guard = co_await lock.acquire();
        auto results = call_from_another_thread({
            {"Lock::acquire", [&] { (void)lock.acquire().await_ready(); }, "ThreadSafeQueue"},
            {"Lock::release", [&] { lock.release(); }, "ThreadSafeQueue"},
            {"Lock::locked", [&] { (void)lock.locked(); }, "ThreadSafeQueue"},
        });
        expect_usage_errors_naming_alternatives(results);
        EXPECT_TRUE(lock.locked());
        guard.release();
        EXPECT_FALSE(lock.locked());
    }());
}

TEST(LoopAffinity, SemaphoreMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Semaphore sem(2);
        EXPECT_EQ(sem.value(), 2u);
        auto results = call_from_another_thread({
            {"Semaphore::acquire", [&] { (void)sem.acquire().await_ready(); }, "Context"},
            {"Semaphore::release", [&] { sem.release(); }, "call_soon_threadsafe"},
            {"Semaphore::value", [&] { (void)sem.value(); }, "call_soon_threadsafe"},
            {"Semaphore::locked", [&] { (void)sem.locked(); }, "call_soon_threadsafe"},
        });
        expect_usage_errors_naming_alternatives(results);
        EXPECT_EQ(sem.value(), 2u);
        co_return;
    }());
}

TEST(LoopAffinity, QueueMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q(4);
        q.put_nowait(1);
        auto results = call_from_another_thread({
            {"Queue::put", [&] { (void)q.put(2).await_ready(); }, "ThreadSafeQueue"},
            {"Queue::get", [&] { (void)q.get().await_ready(); }, "ThreadSafeQueue"},
            {"Queue::put_nowait", [&] { q.put_nowait(3); }, "ThreadSafeQueue"},
            {"Queue::get_nowait", [&] { (void)q.get_nowait(); }, "ThreadSafeQueue"},
            {"Queue::qsize", [&] { (void)q.qsize(); }, "ThreadSafeQueue"},
            {"Queue::empty", [&] { (void)q.empty(); }, "ThreadSafeQueue"},
            {"Queue::full", [&] { (void)q.full(); }, "ThreadSafeQueue"},
        });
        expect_usage_errors_naming_alternatives(results);
        EXPECT_EQ(q.qsize(), 1u);  // nothing was added or taken
        EXPECT_EQ(co_await q.get(), 1);
    }());
}

TEST(LoopAffinity, TaskMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(forty_two());
        auto results = call_from_another_thread({
            {"create_task", [] { (void)al::create_task(forty_two()); }, "call_soon_threadsafe"},
            {"TaskHandle::cancel", [&] { h.cancel(); }, "call_soon_threadsafe"},
            {"TaskHandle::done", [&] { (void)h.done(); }, "call_soon_threadsafe"},
            {"TaskHandle::cancelled", [&] { (void)h.cancelled(); }, "call_soon_threadsafe"},
            {"TaskHandle::result", [&] { (void)h.result(); }, "call_soon_threadsafe"},
        });
        expect_usage_errors_naming_alternatives(results);
        EXPECT_EQ(co_await h, 42);  // not cancelled by the rejected call
    }());
}

TEST(LoopAffinity, LoopMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Loop& loop = al::Loop::current();
        bool soon_ran = false;
        auto results = call_from_another_thread({
            {"Loop::current", [] { (void)al::Loop::current(); }, "call_soon_threadsafe"},
            {"Loop::call_soon", [&] { loop.call_soon([&soon_ran] { soon_ran = true; }); }, "call_soon_threadsafe"},
            {"Loop::set_exception_handler", [&] { loop.set_exception_handler([](std::exception_ptr) {}); },
             "call_soon_threadsafe"},
        });
        expect_usage_errors_naming_alternatives(results);
        co_await al::sleep(0);
        EXPECT_FALSE(soon_ran);
    }());
}

// The second wave's loop-only API (SPEC 3b), row by row as above.

TEST(LoopAffinity, ConditionMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Condition c;
        auto guard = co_await c.acquire();
        auto results = call_from_another_thread({
            {"Condition::notify", [&] { c.notify(); }, "ThreadSafeQueue"},
            {"Condition::notify_all", [&] { c.notify_all(); }, "ThreadSafeQueue"},
            {"Condition::wait", [&] { (void)c.wait(guard); }, "ThreadSafeQueue"},
        });
        expect_usage_errors_naming_alternatives(results);
        expect_messages_naming_operations(results);
        // acquire() is the condition's lock's: refused as Lock::acquire.
        auto acquire =
            call_from_another_thread({{"Lock::acquire", [&] { (void)c.acquire().await_ready(); }, "ThreadSafeQueue"}});
        expect_usage_errors_naming_alternatives(acquire);
        expect_messages_naming_operations(acquire);
        EXPECT_TRUE(c.lock().locked());  // still ours
        c.notify_all();                  // and still usable
        guard.release();
    }());
}

TEST(LoopAffinity, BoundedSemaphoreMethodsFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::BoundedSemaphore sem(1);
        EXPECT_EQ(sem.value(), 1u);
        auto results = call_from_another_thread({
            {"BoundedSemaphore::acquire", [&] { (void)sem.acquire().await_ready(); }, "Context"},
            {"BoundedSemaphore::release", [&] { sem.release(); }, "call_soon_threadsafe"},
            {"BoundedSemaphore::value", [&] { (void)sem.value(); }, "call_soon_threadsafe"},
        });
        expect_usage_errors_naming_alternatives(results);
        expect_messages_naming_operations(results);
        EXPECT_EQ(sem.value(), 1u);                   // neither taken nor raised by the rejected calls
        EXPECT_THROW(sem.release(), al::UsageError);  // and still bounded
        co_return;
    }());
}

template <class Q>
void expect_ordered_queue_refused_from_another_thread(const char* name) {
    al::run([name]() -> al::Task<void> {
        Q q(4);
        q.put_nowait(1);
        std::string n = name;
        auto results = call_from_another_thread({
            {n + "::put", [&] { (void)q.put(2).await_ready(); }, "ThreadSafeQueue"},
            {n + "::get", [&] { (void)q.get().await_ready(); }, "ThreadSafeQueue"},
            {n + "::put_nowait", [&] { q.put_nowait(3); }, "ThreadSafeQueue"},
            {n + "::get_nowait", [&] { (void)q.get_nowait(); }, "ThreadSafeQueue"},
            {n + "::qsize", [&] { (void)q.qsize(); }, "ThreadSafeQueue"},
        });
        expect_usage_errors_naming_alternatives(results);
        expect_messages_naming_operations(results);
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_EQ(co_await q.get(), 1);
    }());
}

TEST(LoopAffinity, PriorityQueueMethodsFromAnotherThread) {
    expect_ordered_queue_refused_from_another_thread<al::PriorityQueue<int>>("PriorityQueue");
}

TEST(LoopAffinity, LifoQueueMethodsFromAnotherThread) {
    expect_ordered_queue_refused_from_another_thread<al::LifoQueue<int>>("LifoQueue");
}

TEST(LoopAffinity, TaskApiFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Loop& loop = al::Loop::current();
        bool timer_ran = false;
        al::TaskRef me = al::current_task();
        co_await al::task_group([&](al::TaskGroup& group) -> al::Task<void> {
            auto results = call_from_another_thread({
                {"current_task", [] { (void)al::current_task(); }, "call_soon_threadsafe"},
                {"TaskRef::cancel", [&] { me.cancel(); }, "call_soon_threadsafe"},
                {"TaskRef::done", [&] { (void)me.done(); }, "call_soon_threadsafe"},
                {"TaskRef::get_name", [&] { (void)me.get_name(); }, "call_soon_threadsafe"},
                {"Loop::call_later", [&] { (void)loop.call_later(0ms, [&timer_ran] { timer_ran = true; }); },
                 "call_soon_threadsafe"},
                {"Loop::call_at", [&] { (void)loop.call_at(loop.time(), [&timer_ran] { timer_ran = true; }); },
                 "call_soon_threadsafe"},
                {"TaskGroup::create_task", [&] { (void)group.create_task(forty_two()); }, "call_soon_threadsafe"},
            });
            expect_usage_errors_naming_alternatives(results);
            expect_messages_naming_operations(results);
            co_return;
        });
        co_await al::sleep(0);
        EXPECT_FALSE(timer_ran);
    }());
}

// select() over a task of another loop: refused where it is called, before
// anything touches the task; the handle stays with its owner.
TEST(LoopAffinity, SelectOverATaskOfAnotherLoopIsAUsageError) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(forty_two());
        std::string seen;
        std::thread other([&] {
            al::run([&]() -> al::Task<void> {
                seen = outcome_of([&] { (void)al::select(std::move(h), al::sleep(1ms)); });
                co_return;
            }());
        });
        other.join();
        EXPECT_NE(seen.find("select()"), std::string::npos) << seen;
        EXPECT_NE(seen.find("call_soon_threadsafe"), std::string::npos) << seen;
        EXPECT_EQ(co_await h, 42);  // untouched
    }());
}

// wait(), as_completed() and shield() take their handles by value, so on a
// thread that is not the tasks' loop the handles die there, which stops the
// program with the handle's message (task_handle.hpp); the check where they
// are called makes that happen before anything touches the tasks.
template <class F>
void take_a_task_of_another_loop(F take) {
    al::run([&]() -> al::Task<void> {
        auto h = al::create_task(forty_two());
        std::thread other([&] {
            al::run([&]() -> al::Task<void> {
                take(std::move(h));
                co_return;
            }());
        });
        other.join();
        co_await h;
    }());
}

TEST(LoopAffinityDeathTest, WaitAsCompletedAndShieldOfATaskOfAnotherLoopStopWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const char* message = "TaskHandle destroyed on a thread that is not its loop's";
    EXPECT_DEATH(take_a_task_of_another_loop([](al::TaskHandle<int> h) {
                     std::vector<al::TaskHandle<int>> one;
                     one.push_back(std::move(h));
                     (void)al::wait(std::move(one), al::first_completed);
                 }),
                 message);
    EXPECT_DEATH(take_a_task_of_another_loop([](al::TaskHandle<int> h) {
                     std::vector<al::TaskHandle<int>> one;
                     one.push_back(std::move(h));
                     al::AsCompleted<int> each(std::move(one));
                 }),
                 message);
    EXPECT_DEATH(take_a_task_of_another_loop([](al::TaskHandle<int> h) { (void)al::shield(std::move(h)); }), message);
}

TEST(LoopAffinity, TheThreadSafeAlternativeWorksFromAnotherThread) {
    al::run([]() -> al::Task<void> {
        al::Event e;
        al::Loop& loop = al::Loop::current();
        std::thread t([&loop, &e] { loop.call_soon_threadsafe([&e] { e.set(); }); });
        co_await e.wait();
        t.join();
    }());
}

TEST(LoopAffinity, APrimitiveOfOneLoopUsedFromAnotherLoopIsAUsageError) {
    al::run([]() -> al::Task<void> {
        al::Event e;
        al::Queue<int> q;
        e.clear();
        q.put_nowait(1);  // both bound to this loop
        std::vector<std::string> seen;
        std::thread other([&] {
            al::run([&]() -> al::Task<void> {
                seen.push_back(outcome_of([&] { e.set(); }));
                seen.push_back(outcome_of([&] { q.put_nowait(2); }));
                co_return;
            }());
        });
        other.join();
        EXPECT_EQ(seen.size(), 2u);
        for (const auto& s : seen) EXPECT_NE(s.find("not running the primitive's loop"), std::string::npos) << s;
        EXPECT_FALSE(e.is_set());
        EXPECT_EQ(q.qsize(), 1u);
        co_return;
    }());
}

TEST(LoopAffinity, LoopOnlyCallsWithNoLoopAtAllAreUsageErrors) {
    // On the main thread, before any loop runs.
    al::Event e;
    EXPECT_THROW(e.set(), al::UsageError);
    al::Queue<int> q;
    EXPECT_THROW(q.put_nowait(1), al::UsageError);
    EXPECT_THROW((void)al::create_task(forty_two()), al::UsageError);
    EXPECT_THROW((void)al::Loop::current(), al::UsageError);
    // Still usable by a loop afterwards: the failed calls did not bind them.
    al::run([&]() -> al::Task<void> {
        e.set();
        q.put_nowait(1);
        EXPECT_EQ(co_await q.get(), 1);
        co_await e.wait();
    }());
}

TEST(LoopAffinity, AwaitingATaskOfAnotherLoopIsAUsageError) {
    al::run([]() -> al::Task<void> {
        auto h = al::create_task(forty_two());
        std::string seen;
        std::thread other([&] {
            al::run([&]() -> al::Task<void> {
                try {
                    co_await h;
                    seen = "no exception";
                } catch (const al::UsageError& e) {
                    seen = e.what();
                }
            }());
        });
        other.join();
        EXPECT_NE(seen.find("call_soon_threadsafe"), std::string::npos) << seen;
        EXPECT_EQ(co_await h, 42);
    }());
}

namespace {

// Primitives that outlive every loop using them.
al::Event global_event;
al::Lock global_lock;
al::Queue<int> global_queue;
al::Message<int> global_message;
al::ThreadSafeFlag global_flag;
al::ThreadSafeEvent global_ts_event;

al::Task<int> use_the_global_primitives(int round) {
    global_event.set();
    co_await global_event.wait();
    global_event.clear();
    {
        auto guard = co_await global_lock.acquire();
        global_queue.put_nowait(round);
    }
    int got = co_await global_queue.get();
    global_message.set(round);
    got += co_await global_message;
    global_message.clear();
    global_flag.set();
    co_await global_flag.wait();
    global_ts_event.set();
    co_await global_ts_event.wait();
    global_ts_event.clear();
    co_return got;
}

// Runs one loop `depth` frames further down the stack, so successive loops
// live at different addresses (or at the same one, for equal depths).
int run_at_depth(int depth, int round) {
    if (depth == 0) return al::run(use_the_global_primitives(round));
    volatile char pad[512];
    pad[0] = static_cast<char>(depth);
    int r = run_at_depth(depth - 1, round);
    return r + pad[0] - static_cast<char>(depth);
}

}  // namespace

// A global primitive serves successive run() calls, whether the next loop
// lives at the ended one's address or elsewhere: the binding is to the loop's
// identity, and an ended loop's primitive passes to the next loop that uses it
// (before the fix: UsageError at another stack depth, and always under ASan).
TEST(LoopAffinity, AGlobalPrimitiveServesSuccessiveLoopsAtAnyAddress) {
    int round = 0;
    for (int depth : {0, 3, 1, 1, 0, 5, 2}) {
        ++round;
        std::string outcome = outcome_of([&] { EXPECT_EQ(run_at_depth(depth, round), 2 * round); });
        EXPECT_EQ(outcome, "no exception") << "round " << round << " at depth " << depth;
    }
    // And on another thread, once the loops here have ended.
    std::string other;
    std::thread t([&] { other = outcome_of([&] { EXPECT_EQ(run_at_depth(2, 100), 200); }); });
    t.join();
    EXPECT_EQ(other, "no exception");
}

// A primitive bound to a live loop still refuses another loop's thread, even
// when it is idle: while its loop lives, a task there may use it again.
TEST(LoopAffinity, APrimitiveOfALiveLoopStillRefusesAnotherLoop) {
    al::Loop first;
    al::Event e;
    first.run_until_complete([&]() -> al::Task<void> {
        e.set();
        co_return;
    }());
    std::string seen;
    std::thread other([&] {
        al::run([&]() -> al::Task<void> {
            seen = outcome_of([&] { e.clear(); });
            co_return;
        }());
    });
    other.join();
    EXPECT_NE(seen.find("not running the primitive's loop"), std::string::npos) << seen;
}
