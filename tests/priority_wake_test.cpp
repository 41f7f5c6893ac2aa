// SPDX-License-Identifier: BSL-1.0
// Priority::high against a signal handler: a task woken from a handler that
// interrupts a busy task runs before any busy task takes a second step, however
// many busy tasks are ready; a normal task waits for a round of them. Counted
// in busy-task steps between the handler and the wake, not timed. (The timed
// counterpart is bench/priority_bench.cpp.)
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <pthread.h>
#include <thread>
#include <vector>

namespace al = asynclink;

namespace {

// What the handler reads and sets. Lock-free atomics: the handler interrupts
// the loop's thread in the middle of anything, a busy task's step included.
std::atomic<long> busy_steps{0};
std::atomic<long> steps_at_signal{-1};
std::atomic<al::ThreadSafeFlag*> handler_flag{nullptr};
static_assert(std::atomic<long>::is_always_lock_free, "read and written in a signal handler");

void on_signal(int) {
    // Relaxed: the handler runs on the loop's own thread, between two of its
    // instructions; it needs no ordering with it.
    steps_at_signal.store(busy_steps.load(std::memory_order_relaxed), std::memory_order_relaxed);
    // Acquire: pairs with the release store that installed the flag.
    if (al::ThreadSafeFlag* flag = handler_flag.load(std::memory_order_acquire)) flag->set();
}

/// Runs `busy_tasks` tasks that yield in a loop and one task of `priority`
/// waiting on a flag; a thread signals the loop's thread once the busy tasks
/// are well under way, and the handler sets the flag. Returns the busy steps
/// taken between the handler and the waiting task's resumption.
long busy_steps_between_signal_and_wake(int busy_tasks, al::Priority priority) {
    busy_steps = 0;
    steps_at_signal = -1;
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    EXPECT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    long steps_at_wake = -1;
    al::run([&]() -> al::Task<> {
        al::ThreadSafeFlag flag;
        handler_flag.store(&flag, std::memory_order_release);
        bool stop = false;
        auto waiter = al::create_task(
            [&]() -> al::Task<> {
                co_await flag.wait();
                steps_at_wake = busy_steps.load(std::memory_order_relaxed);
            },
            priority);
        std::vector<al::TaskHandle<>> busy;
        for (int i = 0; i < busy_tasks; ++i) {
            busy.push_back(al::create_task([&]() -> al::Task<> {
                while (!stop) {
                    busy_steps.fetch_add(1, std::memory_order_relaxed);
                    co_await al::sleep(0);
                }
            }));
        }
        std::thread signaller([&, loop_thread = pthread_self()] {
            // Relaxed: only a progress hint; the handler reads the count itself.
            while (busy_steps.load(std::memory_order_relaxed) < 5L * busy_tasks) std::this_thread::yield();
            pthread_kill(loop_thread, SIGUSR1);
        });
        co_await waiter;
        stop = true;
        for (auto& b : busy) co_await b;
        signaller.join();
        handler_flag.store(nullptr, std::memory_order_release);
    }());
    sigaction(SIGUSR1, &previous, nullptr);
    EXPECT_GE(steps_at_signal.load(), 0) << "the handler never ran";
    return steps_at_wake - steps_at_signal.load();
}

TEST(PriorityWake, AHighTaskWokenByAHandlerRunsBeforeAnyBusyTaskStepsTwice) {
    // The step the handler interrupted ends (and may count after the
    // handler's read), and the loop may be past its check for posted work
    // when the handler runs: two steps at most, for 10 busy tasks as for 100.
    for (int busy_tasks : {10, 100}) {
        long steps = busy_steps_between_signal_and_wake(busy_tasks, al::Priority::high);
        std::printf("high, %d busy tasks: %ld busy steps between the handler and the wake\n", busy_tasks, steps);
        EXPECT_GE(steps, 0) << busy_tasks << " busy tasks";
        EXPECT_LE(steps, 2) << busy_tasks << " busy tasks";
    }
}

TEST(PriorityWake, ANormalTaskWokenByAHandlerWaitsForARoundOfBusyTasks) {
    // What the priority buys: the same wake-up for a normal task is queued
    // behind every busy task that yielded meanwhile (about one round).
    constexpr int busy_tasks = 100;
    long steps = busy_steps_between_signal_and_wake(busy_tasks, al::Priority::normal);
    std::printf("normal, %d busy tasks: %ld busy steps between the handler and the wake\n", busy_tasks, steps);
    EXPECT_GE(steps, busy_tasks / 2);
}

}  // namespace
