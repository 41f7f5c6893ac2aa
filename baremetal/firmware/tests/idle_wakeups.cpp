// SPDX-License-Identifier: BSL-1.0
// Tickless idle: the loop sleeps until its next deadline, not until the next
// millisecond. The link wraps (ld --wrap, firmware/CMakeLists.txt) the port's
// Idle::wait, which the loop calls each time it goes to sleep, and the SysTick
// handler, so the firmware counts the loop's wake-ups and the timer interrupts
// over one second of virtual time each:
//  1. nothing due: a task waits for a ThreadSafeFlag that the CMSDK timer sets
//     one second later. One wake-up (the flag's); the SysTick interrupts only
//     at the end of its longest period (2^24 cycles, 0.67 s at 25 MHz: once
//     or twice), and Idle::wait goes back to sleep without waking the loop.
//  2. ten timers due at distinct times (ten tasks sleeping 100 ms, 200 ms, ...
//     1 s): ten wake-ups and ten SysTick interrupts, one per timer, each at
//     or after its deadline.
//  3. an interrupt posts (Loop::schedule) while the loop runs a task, then a
//     task waits a second for a flag as in 1: still one wake-up. On a port
//     where every post wakes (ASYNCLINK_PORT_WAKE_IS_A_STORE), the wake of a
//     post the loop took awake must not end its next sleep at once.
#include <optional>

#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

// The wrapped functions (their real definitions are the port's). The wrapper
// of Idle::wait(timeout) carries its mangled name, so it has C linkage and
// takes `this` first, as the member does.
extern "C" {
void __real_SysTick_Handler();
void __real__ZN9asynclink4port4Idle4waitESt8optionalINSt6chrono8durationIxSt5ratioILx1ELx1000000000EEEEE(
    al::port::Idle* idle, std::optional<al::Clock::duration> timeout) noexcept;
}

namespace {

std::atomic<std::uint32_t> sleeps{0};
std::atomic<std::uint32_t> systick_interrupts{0};

}  // namespace

extern "C" {

void __wrap_SysTick_Handler() {
    // Relaxed: read by the task after the loop woke it.
    systick_interrupts.store(systick_interrupts.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    __real_SysTick_Handler();
}

void __wrap__ZN9asynclink4port4Idle4waitESt8optionalINSt6chrono8durationIxSt5ratioILx1ELx1000000000EEEEE(
    al::port::Idle* idle, std::optional<al::Clock::duration> timeout) noexcept {
    // A zero timeout only polls; anything else sleeps until a wake-up.
    // Relaxed: only the loop's own thread writes and reads the count.
    if (!timeout || timeout->count() > 0)
        sleeps.store(sleeps.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    __real__ZN9asynclink4port4Idle4waitESt8optionalINSt6chrono8durationIxSt5ratioILx1ELx1000000000EEEEE(idle, timeout);
}

}  // extern "C"

namespace {

constexpr int timer_count = 10;

al::ThreadSafeFlag one_second;
al::Clock::time_point woke_at[timer_count];

void on_timer() noexcept {
    board::timer0_stop();
    one_second.set();
}

volatile bool posted_while_running = false;
volatile std::uint32_t scheduled_calls = 0;

void on_scheduled(void*) noexcept { scheduled_calls = scheduled_calls + 1; }

void on_timer_post() noexcept {
    board::timer0_stop();
    board::check(al::Loop::current().schedule(&on_scheduled, nullptr), "schedule() from the interrupt accepted");
    posted_while_running = true;
}

al::Task<void> sleeper(int index, al::Clock::time_point deadline) {
    co_await al::sleep(deadline - al::Clock::now());
    woke_at[index] = al::Clock::now();
}

void report(const char* phase, std::uint32_t wakeups, std::uint32_t interrupts) {
    board::print(phase);
    board::print(": ");
    board::print_number(wakeups);
    board::print(" wake-ups, ");
    board::print_number(interrupts);
    board::print(" SysTick interrupts\n");
}

al::Task<int> run() {
    // 1. Nothing due for a second.
    board::timer0_stop();
    board::attach_irq(board::timer0_irq, on_timer);
    std::uint32_t sleeps_before = sleeps.load(std::memory_order_relaxed);
    std::uint32_t ticks_before = systick_interrupts.load(std::memory_order_relaxed);
    al::Clock::time_point start = al::Clock::now();
    board::timer0_start(1);
    co_await one_second.wait();
    al::Clock::duration waited = al::Clock::now() - start;
    std::uint32_t wakeups = sleeps.load(std::memory_order_relaxed) - sleeps_before;
    std::uint32_t ticks = systick_interrupts.load(std::memory_order_relaxed) - ticks_before;
    board::detach_irq(board::timer0_irq);
    report("nothing due for 1 s", wakeups, ticks);
    board::print("the clock counted ");
    board::print_number(static_cast<std::uint32_t>(waited.count() / 1000));
    board::print(" us\n");
    board::check(waited >= 990ms && waited < 5s, "the hardware timer's second passed on the clock");
    board::check(wakeups == 1, "one wake-up: the flag's, none for the clock");
    board::check(ticks <= 2, "SysTick only at the end of its longest period");

    // 2. Ten timers due at distinct times within a second.
    al::TaskHandle<void> handles[timer_count];
    al::Clock::time_point deadlines[timer_count];
    start = al::Clock::now();
    for (int i = 0; i < timer_count; ++i) {
        // Created in reverse order: the heap, not creation, orders them.
        int index = timer_count - 1 - i;
        deadlines[index] = start + (index + 1) * 100ms;
        handles[index] = al::create_task(sleeper(index, deadlines[index]));
    }
    sleeps_before = sleeps.load(std::memory_order_relaxed);
    ticks_before = systick_interrupts.load(std::memory_order_relaxed);
    for (auto& handle : handles) co_await handle;
    wakeups = sleeps.load(std::memory_order_relaxed) - sleeps_before;
    ticks = systick_interrupts.load(std::memory_order_relaxed) - ticks_before;
    report("10 timers in 1 s", wakeups, ticks);
    for (int i = 0; i < timer_count; ++i) {
        board::check(woke_at[i] >= deadlines[i], "no timer fires before its deadline");
        if (i > 0) board::check(woke_at[i] >= woke_at[i - 1], "timers fire in deadline order");
    }
    board::check(wakeups == timer_count, "one wake-up per timer");
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
    // WFE does not sleep under QEMU: the wait polls, and may see a deadline
    // within its last few microseconds before the SysTick ends it.
    board::check(ticks <= timer_count, "at most one SysTick interrupt per timer");
#else
    board::check(ticks == timer_count, "one SysTick interrupt per timer");
#endif

    // 3. A post while the loop runs, then nothing due for a second.
    board::attach_irq(board::timer0_irq, on_timer_post);
    board::timer0_start(1000);
    while (!posted_while_running) {
    }  // the task runs: the loop is awake when the interrupt posts
    board::attach_irq(board::timer0_irq, on_timer);
    sleeps_before = sleeps.load(std::memory_order_relaxed);
    ticks_before = systick_interrupts.load(std::memory_order_relaxed);
    board::timer0_start(1);
    co_await one_second.wait();
    wakeups = sleeps.load(std::memory_order_relaxed) - sleeps_before;
    ticks = systick_interrupts.load(std::memory_order_relaxed) - ticks_before;
    board::detach_irq(board::timer0_irq);
    report("a post while running, then nothing due for 1 s", wakeups, ticks);
    board::check(scheduled_calls == 1, "the call scheduled while the loop ran ran");
    board::check(wakeups == 1, "one wake-up: the flag's, none left by the post taken while running");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
