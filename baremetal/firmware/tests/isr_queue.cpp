// SPDX-License-Identifier: BSL-1.0
// Interrupts feed a ThreadSafeQueue consumed by a task:
//  1. the CMSDK hardware timer at 1 kHz puts a sequence number per tick;
//  2. volume: NVIC STIR software interrupts put 200 000 items, the consumer
//     re-raising the interrupt whenever it has made room.
// Every item must arrive once, in order. An ISR that finds the queue full keeps
// its item and offers it again on its next run, as a driver would.
#include <span>

#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr std::uint32_t timer_items = 300;
constexpr std::uint32_t stir_items = 200'000;

al::ThreadSafeQueue<std::uint32_t>::slot_type storage[16];
al::ThreadSafeQueue<std::uint32_t> queue{std::span(storage)};

std::uint32_t next_item = 0;  // ISR only
std::uint32_t full_seen = 0;  // ISR only: times the queue was full

void on_timer() noexcept {
    board::timer0_acknowledge();
    if (next_item == timer_items) return;
    if (queue.try_put(next_item)) {
        ++next_item;
    } else {
        ++full_seen;
    }
}

void on_software_irq() noexcept {
    // Fill what room there is; the consumer raises us again when it took some.
    while (next_item < timer_items + stir_items && queue.try_put(next_item)) ++next_item;
}

al::Task<int> run() {
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    for (std::uint32_t expected = 0; expected < timer_items; ++expected) {
        std::uint32_t got = co_await queue.get();
        board::check(got == expected, "timer items arrive once, in order");
    }
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);
    board::check(queue.empty(), "nothing more was put after the last timer item");

    board::attach_irq(board::software_irq, on_software_irq);
    board::trigger_irq(board::software_irq);
    for (std::uint32_t expected = timer_items; expected < timer_items + stir_items; ++expected) {
        std::uint32_t got = co_await queue.get();
        if (got != expected) board::check(false, "software-interrupt items arrive once, in order");
        if (queue.qsize() <= 8) board::trigger_irq(board::software_irq);
    }
    board::check(next_item == timer_items + stir_items && queue.empty(), "every item was delivered");
    board::print("timer items: ");
    board::print_number(timer_items);
    board::print(" (queue full ");
    board::print_number(full_seen);
    board::print(" times), software-interrupt items: ");
    board::print_number(stir_items);
    board::print("\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
