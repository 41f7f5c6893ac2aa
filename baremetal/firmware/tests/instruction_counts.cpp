// SPDX-License-Identifier: BSL-1.0
// The hot paths whose instruction counts baremetal/count-instructions reads
// from QEMU's execution log (one instruction per translation block, every
// block logged): the firmware only runs each path a few times, between
// symbols the script looks up. Each path runs `rounds` times with nothing else
// going on, and under -icount the interrupts arrive at the same instruction in
// every run, so the counts are exact and repeatable.
//  - try_put and try_get on a ThreadSafeQueue: from the call of the function
//    holding the operation (cyc_try_put, cyc_try_get) to its return;
//  - an interrupt's ThreadSafeFlag::set() to the waiting task's code running:
//    the loop idles in WFI, the CMSDK timer interrupts once, and its handler
//    calls cyc_flag_set(); counted from the board's interrupt dispatcher (the
//    first instruction of the interrupt) to the label cyc_flag_resumed after
//    the task's co_await;
//  - an interrupt's Loop::schedule() to the callback running (cyc_callback),
//    the same way.
// Run alone, it is an ordinary test firmware: it passes when every path ran.
#include <optional>
#include <span>

#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr int rounds = 10;  // the queue's 8 slots wrap once

al::ThreadSafeFlag flag;
al::ThreadSafeFlag callback_ran;
al::ThreadSafeQueue<std::uint32_t>::slot_type storage[8];
al::ThreadSafeQueue<std::uint32_t> queue{std::span(storage)};

enum class Path : std::uint32_t { flag_set, schedule };
volatile Path path = Path::flag_set;
volatile std::uint32_t callbacks = 0;

}  // namespace

// The measured operations, out of line so that each count has clear ends.
extern "C" {

[[gnu::noinline]] bool cyc_try_put(std::uint32_t value) noexcept { return queue.try_put(value); }

[[gnu::noinline]] bool cyc_try_get(std::uint32_t* value) noexcept {
    std::optional<std::uint32_t> item = queue.try_get();
    if (item) *value = *item;
    return item.has_value();
}

[[gnu::noinline]] void cyc_flag_set() noexcept { flag.set(); }

[[gnu::noinline]] void cyc_callback(void*) noexcept {
    callbacks = callbacks + 1;
    callback_ran.set();
}

[[gnu::noinline]] bool cyc_schedule() noexcept { return al::Loop::current().schedule(&cyc_callback, nullptr); }

}  // extern "C"

namespace {

void on_timer() noexcept {
    board::timer0_stop();  // once: the next round starts it again
    if (path == Path::flag_set) {
        cyc_flag_set();
    } else {
        board::check(cyc_schedule(), "schedule() accepted the call");
    }
    __asm__ __volatile__("" : : : "memory");  // no tail call: the script finds each return
}

al::Task<int> run() {
    for (int round = 0; round < rounds; ++round) {
        board::check(cyc_try_put(static_cast<std::uint32_t>(round)), "try_put into an empty queue");
        std::uint32_t value = 0;
        board::check(cyc_try_get(&value) && value == static_cast<std::uint32_t>(round), "try_get returns the item");
    }

    // The timer's line may have been pending since reset: clear it (NVIC
    // ICPR), or the first round would not wait.
    board::timer0_stop();
    *reinterpret_cast<volatile std::uint32_t*>(0xE000E280 + 4 * (board::timer0_irq / 32)) = 1u
                                                                                            << (board::timer0_irq % 32);
    board::attach_irq(board::timer0_irq, on_timer);
    path = Path::flag_set;
    for (int round = 0; round < rounds; ++round) {
        board::timer0_start(3000);  // due in 333 us: the loop is idle in WFI by then
        co_await flag.wait();
        __asm__ __volatile__(".global cyc_flag_resumed\ncyc_flag_resumed:" : : : "memory");
    }

    path = Path::schedule;
    for (int round = 0; round < rounds; ++round) {
        board::timer0_start(3000);
        co_await callback_ran.wait();
    }
    board::detach_irq(board::timer0_irq);
    board::check(callbacks == rounds, "every scheduled call ran once");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
