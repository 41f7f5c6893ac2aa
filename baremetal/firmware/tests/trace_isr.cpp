// SPDX-License-Identifier: BSL-1.0
// The trace recorder on Cortex-M (built with ASYNCLINK_TRACE=1 and the
// counters): interrupts hand over to tasks while it records, then the
// firmware dumps the RAM ring to trace_isr.bin through semihosting.
//  1. the CMSDK timer at 1 kHz sets a ThreadSafeFlag (its handler names its
//     lane "timer" with a HandlerScope) until the task named "waiter" has
//     woken 20 times;
//  2. the timer then raises a software interrupt on each tick, whose handler
//     (its lane left unnamed: "IRQ<n>") puts one item into a ThreadSafeQueue
//     the main task takes 20 items from.
// It prints what the trace must show: the flag's sets and wake-ups (its
// counters), the items, and the software interrupt's number.
// baremetal/run-traced-firmware converts the dump on the host and checks the
// JSON against those figures: a set instant per set() in the "timer" lane, an
// arrow from it per wake-up, ending on a "waiter" slice in the loop's lane, a
// put per item in the "IRQ<n>" lane, nothing dropped.
#include <chrono>
#include <span>

#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "asynclink/trace.hpp"
#include "board.hpp"
#include "run_task.hpp"

static_assert(ASYNCLINK_TRACE && ASYNCLINK_COUNTERS, "built with the recorder and the counters");

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t wakeups_wanted = 20;
constexpr std::uint32_t items = 20;

al::ThreadSafeFlag flag;
al::ThreadSafeQueue<std::uint32_t>::slot_type storage[4];
al::ThreadSafeQueue<std::uint32_t> queue{std::span(storage)};

std::atomic<bool> raising{false};  // phase 2: the timer raises the software interrupt
std::uint32_t next_item = 0;       // the software interrupt's only

void on_timer() noexcept {
    al::trace::HandlerScope scope("timer");
    board::timer0_acknowledge();
    // Relaxed: a flag between the task and this handler on one core.
    if (raising.load(std::memory_order_relaxed)) {
        board::trigger_irq(board::software_irq);
    } else {
        flag.set();
    }
}

void on_software_irq() noexcept {
    if (next_item < items && queue.try_put(next_item)) ++next_item;
}

al::Task<void> waiter() {
    for (std::uint32_t i = 0; i < wakeups_wanted; ++i) co_await flag.wait();
}

al::Task<int> run() {
    al::trace::start();
    board::attach_irq(board::software_irq, on_software_irq);
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    auto w = al::create_task(waiter());
    w.set_name("waiter");
    co_await w;
    raising.store(true, std::memory_order_relaxed);  // relaxed: as in on_timer
    for (std::uint32_t expected = 0; expected < items; ++expected) {
        std::uint32_t got = co_await queue.get();
        board::check(got == expected, "items arrive once, in order");
    }
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);
    board::detach_irq(board::software_irq);
    // A timer in the trace, with its arrow: the slice it wakes ends at the
    // second sleep (the slice that stops the recorder is not recorded).
    co_await al::sleep(1ms);
    co_await al::sleep(1ms);
    al::trace::stop();
    board::check(al::trace::dump_semihosting("trace_isr.bin"), "the dump was written over semihosting");

    al::SignalStats flag_stats = flag.stats();
    board::print("flag sets: ");
    board::print_number(static_cast<std::uint32_t>(flag_stats.sets));
    board::print(", coalesced: ");
    board::print_number(static_cast<std::uint32_t>(flag_stats.coalesced));
    board::print(", wake-ups: ");
    board::print_number(static_cast<std::uint32_t>(flag_stats.wakeups));
    board::print("\nqueue items: ");
    board::print_number(items);
    board::print("\nsoftware interrupt: IRQ");
    board::print_number(board::software_irq);
    board::print("\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
