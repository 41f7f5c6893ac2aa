// SPDX-License-Identifier: BSL-1.0
// Two cores (mps2-an521): code on core 1, which runs no loop, feeds the loop
// on core 0 — the seed's "code running on a different core".
//  1. Core 1 puts 50 000 items into a ThreadSafeQueue with put_sync(block =
//     true), which parks it in WFE while the queue is full (the loop's get
//     wakes it with SEV), then closes the queue; the task on core 0 takes every
//     item in order with next() and then sees the end.
//  2. Core 1 counts and sets a ThreadSafeFlag 50 000 times; the task waits
//     until it has seen the final count, so the last set() was not slept
//     through (the loop idles in WFE, ended by core 1's SEV).
//  3. Core 1 sets a ThreadSafeEvent that three tasks wait on, and a Message.
#include <span>

#include "asynclink/loop.hpp"
#include "asynclink/message.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_event.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr std::uint32_t queue_items = 50'000;
constexpr std::uint32_t flag_sets = 50'000;

al::ThreadSafeQueue<std::uint32_t>::slot_type storage[64];
al::ThreadSafeQueue<std::uint32_t> queue{std::span(storage)};
al::ThreadSafeFlag flag;
al::ThreadSafeEvent event;
al::Message<std::uint32_t> message;
std::atomic<std::uint32_t> sets{0};
std::atomic<std::uint32_t> phase{0};  // core 0 tells core 1 to go on
std::atomic<std::uint32_t> core1_id{99};

void wait_for_phase(std::uint32_t p) noexcept {
    // acquire: core 0's state before it advanced the phase is visible.
    while (phase.load(std::memory_order_acquire) < p) __asm__ __volatile__("wfe");
}

void core1_main() noexcept {
    core1_id.store(board::core_id(), std::memory_order_relaxed);  // relaxed: read after the queue's end, ordered by it
    for (std::uint32_t i = 0; i < queue_items; ++i) queue.put_sync(i, true);
    queue.close();

    wait_for_phase(1);
    for (std::uint32_t i = 0; i < flag_sets; ++i) {
        // Relaxed: the flag's set() (acq_rel) publishes the count to the waiter.
        sets.store(i + 1, std::memory_order_relaxed);
        flag.set();
    }

    wait_for_phase(2);
    message.set(1234);
    event.set();
}

void advance_phase(std::uint32_t p) noexcept {
    phase.store(p, std::memory_order_release);  // release: pairs with wait_for_phase's acquire
    __asm__ __volatile__("dsb\n sev" : : : "memory");
}

al::Task<void> event_waiter(int& woken) {
    co_await event.wait();
    ++woken;
}

al::Task<int> run() {
    board::start_core1(&core1_main);
    std::uint32_t expected = 0;
    while (std::optional<std::uint32_t> item = co_await queue.next()) {
        if (*item != expected) board::check(false, "core 1's items arrive once, in order");
        ++expected;
    }
    board::check(expected == queue_items, "every item arrived before the end of the stream");
    board::check(core1_id.load(std::memory_order_relaxed) == 1, "the producer ran on core 1");

    advance_phase(1);
    std::uint32_t wakeups = 0;
    while (sets.load(std::memory_order_relaxed) < flag_sets) {
        co_await flag.wait();
        ++wakeups;
    }
    board::check(wakeups <= flag_sets, "sets coalesce, none wakes twice");

    int woken = 0;
    al::TaskHandle<void> waiters[3] = {al::create_task(event_waiter(woken)), al::create_task(event_waiter(woken)),
                                       al::create_task(event_waiter(woken))};
    co_await al::sleep(std::chrono::milliseconds(1));  // the waiters are waiting
    advance_phase(2);
    std::uint32_t value = co_await message.next();
    board::check(value == 1234, "the message from core 1 carries its value");
    for (auto& w : waiters) co_await w;
    board::check(woken == 3, "core 1's event set woke all three waiters");

    board::print("core 1 -> core 0: ");
    board::print_number(queue_items);
    board::print(" queue items, ");
    board::print_number(flag_sets);
    board::print(" flag sets in ");
    board::print_number(wakeups);
    board::print(" wake-ups\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
