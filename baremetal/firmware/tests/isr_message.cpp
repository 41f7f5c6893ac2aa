// SPDX-License-Identifier: BSL-1.0
// A Message set from the CMSDK hardware timer's interrupt at 1 kHz, carrying
// the tick number: the task iterating with next() sees increasing values
// (sets between two reads coalesce, the latest wins) and, at the end, the
// final value: the last set() was not slept through. Then a burst of NVIC STIR
// interrupts each sets a larger payload; every value read is whole (never a
// mix of two sets).
#include "asynclink/loop.hpp"
#include "asynclink/message.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr std::uint32_t timer_sets = 300;
constexpr std::uint32_t stir_sets = 50'000;

struct Reading {
    std::uint32_t words[8];
};

al::Message<std::uint32_t> tick_message;
al::Message<Reading> reading_message;
std::uint32_t tick = 0;    // ISR only
std::uint32_t sample = 0;  // ISR only

void on_timer() noexcept {
    board::timer0_acknowledge();
    if (tick == timer_sets) return;
    tick_message.set(++tick);
}

void on_software_irq() noexcept {
    ++sample;
    Reading r;
    for (auto& w : r.words) w = sample;
    reading_message.set(r);
}

al::Task<int> run() {
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    std::uint32_t last = 0;
    std::uint32_t reads = 0;
    while (last != timer_sets) {
        std::uint32_t v = co_await tick_message.next();
        board::check(v > last, "values only increase: the latest wins, none is read twice");
        last = v;
        ++reads;
    }
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);

    board::attach_irq(board::software_irq, on_software_irq);
    std::uint32_t raised = 0;
    std::uint32_t seen = 0;
    while (seen != stir_sets) {
        for (int i = 0; i < 5 && raised < stir_sets; ++i, ++raised) board::trigger_irq(board::software_irq);
        Reading r = co_await reading_message.next();
        for (auto w : r.words) board::check(w == r.words[0], "a payload is never torn");
        board::check(r.words[0] > seen, "readings only increase");
        seen = r.words[0];
    }
    board::print("timer sets: ");
    board::print_number(timer_sets);
    board::print(" read as ");
    board::print_number(reads);
    board::print(" values\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
