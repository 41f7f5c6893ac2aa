// SPDX-License-Identifier: BSL-1.0
// Interrupts set a ThreadSafeFlag a task waits on:
//  1. the CMSDK hardware timer at 1 kHz sets it on every tick; the task counts
//     its wake-ups (sets between two wake-ups coalesce into one) and checks
//     that the flag never wakes it more often than the timer set it: after
//     the k-th wake-up at least k ticks have been counted. (Not "each wake-up
//     sees a tick the previous one did not": a tick landing after the flag
//     was consumed and before the task reads the count is seen early, and its
//     set() then wakes the task with no newer tick; that is correct.)
//  2. volume: 100 000 NVIC STIR software interrupts each count and set; the
//     task waits until it has seen the final count, which it can only do if
//     the last set() woke it: no wake-up is slept through.
#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr std::uint32_t timer_wakeups = 200;
constexpr std::uint32_t stir_sets = 100'000;

al::ThreadSafeFlag flag;
std::atomic<std::uint32_t> ticks{0};
std::atomic<std::uint32_t> sets{0};

void on_timer() noexcept {
    board::timer0_acknowledge();
    // Relaxed: the flag's set() orders the count for the waiting task.
    ticks.store(ticks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    flag.set();
}

void on_software_irq() noexcept {
    sets.store(sets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // relaxed: as above
    flag.set();
}

al::Task<int> run() {
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    std::uint32_t wakeups = 0;
    while (wakeups < timer_wakeups) {
        co_await flag.wait();
        ++wakeups;
        // Every wake-up consumed a set() made after its tick was counted, so
        // the count read now covers at least one tick per wake-up so far.
        board::check(ticks.load(std::memory_order_relaxed) >= wakeups, "no wake-up without a set() behind it");
    }
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);
    board::check(ticks.load(std::memory_order_relaxed) >= timer_wakeups, "no more wake-ups than ticks");

    flag.clear();
    board::attach_irq(board::software_irq, on_software_irq);
    std::uint32_t raised = 0;
    std::uint32_t stir_wakeups = 0;
    while (sets.load(std::memory_order_relaxed) < stir_sets) {
        // Raise a burst, then sleep on the flag until the burst's sets show.
        for (int i = 0; i < 10 && raised < stir_sets; ++i, ++raised) board::trigger_irq(board::software_irq);
        co_await flag.wait();
        ++stir_wakeups;
    }
    board::check(sets.load(std::memory_order_relaxed) == stir_sets, "every software interrupt ran once");
    board::print("timer wake-ups: ");
    board::print_number(wakeups);
    board::print(" for ");
    board::print_number(ticks.load(std::memory_order_relaxed));
    board::print(" ticks; software-interrupt sets: ");
    board::print_number(stir_sets);
    board::print(" in ");
    board::print_number(stir_wakeups);
    board::print(" wake-ups\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
