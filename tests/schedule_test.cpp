// SPDX-License-Identifier: BSL-1.0
// Loop::schedule(fn, arg): the soft-ISR mechanism. fn(arg) runs on the loop
// between tasks; callable from a task, a thread or a signal handler; bounded
// (false when full, and then nothing is queued); capacity from LoopOptions.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

namespace {

void count_call(void* arg) { ++*static_cast<int*>(arg); }

void log_callback(void* arg) { static_cast<std::vector<std::string>*>(arg)->push_back("callback"); }

// What a scheduled callback saw of its context.
struct Landing {
    al::Event ran;  // loop-only: legal to set only because callbacks run on the loop
    std::thread::id thread;
    bool inside_handler = false;
};
std::atomic<bool> handler_running{false};

void land(void* arg) {
    auto& l = *static_cast<Landing*>(arg);
    l.thread = std::this_thread::get_id();
    l.inside_handler = handler_running.load(std::memory_order_relaxed);  // relaxed: same thread
    l.ran.set();
}

// The signal handler's view of the world: set before the signal can arrive.
al::Loop* signal_loop = nullptr;
Landing* signal_landing = nullptr;
std::atomic<int> refused_in_handler{0};

// The handler's work is done once per ScopedHandler: a copy of the signal
// resent by signal_until_handled() (bridge.hpp) whose first copy did arrive
// does nothing.
std::atomic<bool> handler_done{false};

void schedule_from_handler(int) {
    // Relaxed: the handler does not interrupt itself, and the sender's
    // acquire below pairs with the release at the end.
    if (handler_done.load(std::memory_order_relaxed)) return;
    handler_running.store(true, std::memory_order_relaxed);  // relaxed: read on this thread only
    if (!signal_loop->schedule(&land, signal_landing)) refused_in_handler.fetch_add(1, std::memory_order_relaxed);
    handler_running.store(false, std::memory_order_relaxed);
    handler_done.store(true, std::memory_order_release);
}

class ScopedHandler {
public:
    ScopedHandler(int signo, void (*handler)(int)) : signo_(signo) {
        handler_done.store(false, std::memory_order_relaxed);  // relaxed: before the signal is sent
        struct sigaction action {};
        action.sa_handler = handler;
        sigemptyset(&action.sa_mask);
        sigaction(signo_, &action, &previous_);
    }
    ~ScopedHandler() { sigaction(signo_, &previous_, nullptr); }
    ScopedHandler(const ScopedHandler&) = delete;
    ScopedHandler& operator=(const ScopedHandler&) = delete;

private:
    int signo_;
    struct sigaction previous_ {};
};

}  // namespace

TEST(Schedule, RunsTheCallbackOnTheLoopBetweenTasks) {
    std::vector<std::string> log;
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(al::Loop::current().schedule(&log_callback, &log));
        log.push_back("task before yield");  // the callback does not run inside the task
        co_await al::sleep(0);
        log.push_back("task after yield");
    }());
    EXPECT_EQ(log, (std::vector<std::string>{"task before yield", "callback", "task after yield"}));
}

TEST(Schedule, ACallbackScheduledBeforeTheLoopRunsRunsInIt) {
    al::Loop loop;
    Landing landing;
    EXPECT_TRUE(loop.schedule(&land, &landing));
    loop.run_until_complete([&]() -> al::Task<void> { co_await al::wait_for(landing.ran.wait(), hang_limit); }());
    EXPECT_EQ(landing.thread, std::this_thread::get_id());
}

TEST(Schedule, FromAThreadWakesASleepingLoopAndRunsOnTheLoopThread) {
    Landing landing;
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<pid_t> loop_tid{0};
    bool asleep = false;
    std::thread other([&] {
        // acquire: pairs with the loop's release below.
        while (loop_tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
        asleep = bridge_test::wait_until_asleep_in_epoll(loop_tid.load());
        EXPECT_TRUE(loop.load()->schedule(&land, &landing));
    });
    al::run([&]() -> al::Task<void> {
        loop.store(&al::Loop::current(), std::memory_order_relaxed);  // relaxed: published by the release below
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await al::wait_for(landing.ran.wait(), hang_limit);
        EXPECT_EQ(landing.thread, std::this_thread::get_id());
    }());
    other.join();
    EXPECT_TRUE(asleep);
}

TEST(Schedule, FromASignalHandlerWakesASleepingLoopAndRunsOutsideTheHandler) {
    ScopedHandler handler(SIGUSR2, &schedule_from_handler);
    Landing landing;
    std::atomic<pthread_t> loop_thread{};
    std::atomic<pid_t> loop_tid{0};
    std::thread killer([&] {
        // acquire: pairs with the loop's release below.
        while (loop_tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
        EXPECT_TRUE(bridge_test::wait_until_asleep_in_epoll(loop_tid.load()));
        // acquire: pairs with the handler's release.
        EXPECT_TRUE(bridge_test::signal_until_handled(loop_thread.load(), SIGUSR2,
                                                      [] { return handler_done.load(std::memory_order_acquire); }));
    });
    al::run([&]() -> al::Task<void> {
        signal_loop = &al::Loop::current();
        signal_landing = &landing;
        loop_thread.store(pthread_self(), std::memory_order_relaxed);  // relaxed: published by the release below
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await al::wait_for(landing.ran.wait(), hang_limit);
    }());
    killer.join();
    EXPECT_EQ(landing.thread, std::this_thread::get_id());
    EXPECT_FALSE(landing.inside_handler) << "the callback ran inside the signal handler, not on the loop";
    EXPECT_EQ(refused_in_handler.load(), 0);
}

TEST(Schedule, FromASignalHandlerOnAnotherThreadWakesTheSleepingLoop) {
    // The handler runs on a thread of its own, so the loop's epoll is not
    // interrupted: only schedule()'s own wake-up can get it going.
    ScopedHandler handler(SIGUSR2, &schedule_from_handler);
    Landing landing;
    std::atomic<pid_t> loop_tid{0};
    std::thread other([&] {
        // acquire: pairs with the loop's release below.
        while (loop_tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
        EXPECT_TRUE(bridge_test::wait_until_asleep_in_epoll(loop_tid.load()));
        // acquire: pairs with the handler's release.
        EXPECT_TRUE(bridge_test::signal_until_handled(pthread_self(), SIGUSR2,
                                                      [] { return handler_done.load(std::memory_order_acquire); }));
    });
    al::run([&]() -> al::Task<void> {
        signal_loop = &al::Loop::current();
        signal_landing = &landing;
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);
        co_await al::wait_for(landing.ran.wait(), hang_limit);
    }());
    other.join();
    EXPECT_EQ(landing.thread, std::this_thread::get_id());
    EXPECT_EQ(refused_in_handler.load(), 0);
}

TEST(Schedule, FromASignalHandlerWhileATaskIsBusy) {
    // The signal lands while a task spins: the callback runs once the task yields.
    ScopedHandler handler(SIGUSR2, &schedule_from_handler);
    Landing landing;
    al::run([&]() -> al::Task<void> {
        signal_loop = &al::Loop::current();
        signal_landing = &landing;
        pthread_kill(pthread_self(), SIGUSR2);  // delivered before pthread_kill returns: the task is busy
        EXPECT_FALSE(landing.ran.is_set()) << "the callback ran inside the running task";
        co_await al::wait_for(landing.ran.wait(), hang_limit);
    }());
    EXPECT_FALSE(landing.inside_handler);
    EXPECT_EQ(landing.thread, std::this_thread::get_id());
}

TEST(Schedule, ReturnsFalseWhenFullAndThenQueuesNothing) {
    int calls = 0;
    al::run(
        [&]() -> al::Task<void> {
            al::Loop& loop = al::Loop::current();
            for (int i = 0; i < 4; ++i) EXPECT_TRUE(loop.schedule(&count_call, &calls)) << i;
            EXPECT_FALSE(loop.schedule(&count_call, &calls)) << "a queue of capacity 4 took a fifth call";
            EXPECT_FALSE(loop.schedule(&count_call, &calls));
            co_await al::sleep(0);
            co_await al::sleep(0);
            EXPECT_EQ(calls, 4) << "a refused call ran anyway";
            // Drained: there is room again.
            EXPECT_TRUE(loop.schedule(&count_call, &calls));
            co_await al::sleep(0);
            co_await al::sleep(0);
            EXPECT_EQ(calls, 5);
        }(),
        al::LoopOptions{.schedule_capacity = 4});
}

TEST(Schedule, CapacityComesFromLoopOptions) {
    for (std::size_t capacity : {2u, 64u, 1024u}) {
        int calls = 0;
        std::size_t accepted = 0;
        al::run(
            [&]() -> al::Task<void> {
                while (al::Loop::current().schedule(&count_call, &calls)) ++accepted;
                co_await al::sleep(0);
            }(),
            al::LoopOptions{.schedule_capacity = capacity});
        EXPECT_EQ(accepted, capacity);
        EXPECT_EQ(calls, static_cast<int>(capacity));
    }
    EXPECT_EQ(al::LoopOptions{}.schedule_capacity, 64u);
}

TEST(Schedule, ACapacityThatIsNotAPowerOfTwoOfAtLeastTwoIsAUsageError) {
    for (std::size_t capacity : {0u, 1u, 3u, 100u, 1000u}) {
        try {
            al::Loop loop(al::LoopOptions{.schedule_capacity = capacity});
            ADD_FAILURE() << "a loop was built with schedule_capacity " << capacity;
        } catch (const al::UsageError& e) {
            EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(std::to_string(capacity)), std::string::npos) << e.what();
        }
    }
}

namespace {
// A callback that schedules itself again each time it runs, until told to stop.
struct Spinner {
    al::Loop* loop = nullptr;
    int runs = 0;
    bool stop = false;
    static void run(void* arg) {
        auto& s = *static_cast<Spinner*>(arg);
        ++s.runs;
        if (!s.stop) s.loop->schedule(&run, arg);
    }
};
}  // namespace

TEST(Schedule, ACallbackThatReschedulesItselfDoesNotStarveTasks) {
    Spinner spinner;
    int task_steps = 0;
    al::run(
        [&]() -> al::Task<void> {
            spinner.loop = &al::Loop::current();
            spinner.loop->schedule(&Spinner::run, &spinner);
            for (; task_steps < 10; ++task_steps) co_await al::sleep(0);
            spinner.stop = true;
            co_await al::sleep(0);
        }(),
        al::LoopOptions{.schedule_capacity = 16});
    EXPECT_EQ(task_steps, 10);
    // At most one queue's worth per iteration, whatever the callback does.
    EXPECT_LE(spinner.runs, 16 * 12);
}

TEST(Schedule, ACallbackScheduledByACallbackRunsAtTheNextIteration) {
    // Loop::run_scheduled_callbacks promises "only the callbacks present now:
    // one that re-schedules itself runs at the next iteration".
    Spinner spinner;
    int task_steps = 0;
    al::run([&]() -> al::Task<void> {
        spinner.loop = &al::Loop::current();
        spinner.loop->schedule(&Spinner::run, &spinner);
        for (; task_steps < 10; ++task_steps) co_await al::sleep(0);
        spinner.stop = true;
        co_await al::sleep(0);
    }());
    EXPECT_GE(spinner.runs, 10);
    EXPECT_LE(spinner.runs, 13) << "the callback ran " << spinner.runs << " times in about 12 loop iterations";
}

TEST(Schedule, AnExceptionFromACallbackGoesToTheExceptionHandler) {
    std::vector<std::string> reported;
    int after = 0;
    al::run([&]() -> al::Task<void> {
        al::Loop& loop = al::Loop::current();
        loop.set_exception_handler([&](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                reported.push_back(ex.what());
            }
        });
        loop.schedule([](void*) { throw std::runtime_error("from a scheduled callback"); }, nullptr);
        loop.schedule(&count_call, &after);  // the loop goes on after the throw
        co_await al::sleep(0);
        co_await al::sleep(0);
    }());
    EXPECT_EQ(reported, std::vector<std::string>{"from a scheduled callback"});
    EXPECT_EQ(after, 1);
}

TEST(Schedule, ManyThreadsAtOnceEveryAcceptedCallRunsExactlyOnce) {
    constexpr int producers = 3;
    std::uint64_t runs[producers] = {};  // runs[p]: calls of producer p run so far (loop thread only)
    std::uint64_t accepted[producers] = {};
    auto run_call = [](void* arg) { ++*static_cast<std::uint64_t*>(arg); };
    std::atomic<al::Loop*> loop{nullptr};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            al::Loop* l;
            // acquire: pairs with the loop's release once it runs.
            while ((l = loop.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
            bridge_test::Budget budget(bridge_test::scaled(300'000));
            while (budget.more(accepted[p])) {
                if (l->schedule(run_call, &runs[p])) {
                    ++accepted[p];
                } else {
                    std::this_thread::yield();  // full: the loop drains it at its next iteration
                }
            }
            finished.fetch_add(1, std::memory_order_release);  // release: publishes accepted[p]
        });
    }
    al::run(
        [&]() -> al::Task<void> {
            loop.store(&al::Loop::current(), std::memory_order_release);  // release: see above
            // acquire: pairs with each producer's release.
            while (finished.load(std::memory_order_acquire) != producers) co_await al::sleep(100us);
            co_await al::sleep(0);  // the last accepted calls run at this iteration
        }(),
        al::LoopOptions{.schedule_capacity = 256});
    for (auto& t : threads) t.join();
    std::uint64_t total = 0;
    for (int p = 0; p < producers; ++p) {
        EXPECT_EQ(runs[p], accepted[p]) << "producer " << p;
        total += accepted[p];
    }
    EXPECT_GT(total, 0u);
}

TEST(Schedule, ACallbackAcceptedJustBeforeTheMainTaskEndsStillRuns) {
    // schedule() returning true means "queued"; the loop must not end with the
    // call still queued, as it does not for call_soon_threadsafe.
    int calls = 0;
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(al::Loop::current().schedule(&count_call, &calls));
        co_return;
    }());
    EXPECT_EQ(calls, 1) << "a call schedule() accepted was dropped when the loop ended";
}
