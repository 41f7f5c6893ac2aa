// SPDX-License-Identifier: BSL-1.0
// Loop::schedule() from interrupts (the soft-ISR mechanism): the CMSDK
// hardware timer at 1 kHz schedules one callback per tick, then NVIC STIR
// software interrupts schedule 100 000. Each callback runs once, on the loop,
// in the order scheduled; an interrupt that finds the queue full keeps its call
// and offers it again on its next run.
#include <cstdint>

#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t timer_calls = 300;
constexpr std::uint32_t stir_calls = 100'000;

al::Loop* loop = nullptr;
std::uint32_t next_call = 0;    // ISR only
std::uint32_t full_seen = 0;    // ISR only
std::uint32_t ran = 0;          // loop only
bool out_of_order = false;      // loop only
bool ran_in_interrupt = false;  // loop only
al::ThreadSafeFlag progress;

void callback(void* arg) {
    std::uint32_t ipsr;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    if (ipsr != 0) ran_in_interrupt = true;
    if (reinterpret_cast<std::uintptr_t>(arg) != ran) out_of_order = true;
    ++ran;
    progress.set();
}

bool offer() noexcept {
    if (!loop->schedule(&callback, reinterpret_cast<void*>(static_cast<std::uintptr_t>(next_call)))) {
        ++full_seen;
        return false;
    }
    ++next_call;
    return true;
}

void on_timer() noexcept {
    board::timer0_acknowledge();
    if (next_call < timer_calls) offer();
}

void on_software_irq() noexcept {
    while (next_call < timer_calls + stir_calls && offer()) {
    }
}

al::Task<int> run() {
    loop = &al::Loop::current();
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    while (ran < timer_calls) co_await progress.wait();
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);
    board::check(ran == timer_calls, "every timer call ran once");

    board::attach_irq(board::software_irq, on_software_irq);
    while (ran < timer_calls + stir_calls) {
        board::trigger_irq(board::software_irq);
        co_await progress.wait();
    }
    board::check(ran == timer_calls + stir_calls, "every software-interrupt call ran once");
    board::check(!out_of_order, "calls ran in the order they were scheduled");
    board::check(!ran_in_interrupt, "calls ran on the loop, not in the interrupt");
    board::print("scheduled calls: ");
    board::print_number(ran);
    board::print(" (queue full ");
    board::print_number(full_seen);
    board::print(" times)\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
