// SPDX-License-Identifier: BSL-1.0
// Two interrupts of different priorities feed one task through a
// ThreadSafeQueue<T, many_producers>:
//  1. the CMSDK hardware timer (the less urgent priority) puts a sample per
//     tick at 1 kHz; on every third tick the sample's move into the queue
//     raises a more urgent software interrupt, which preempts the timer's
//     handler between its claim and its publish and puts two samples of its
//     own there (it claims the tickets after the timer's and never waits);
//  2. volume: two software interrupts, the less urgent one filling the queue
//     and raising the more urgent one from inside every seventh put, until
//     100 000 and 20 000 samples are through; the task re-raises both when it
//     has made room.
// Every sample must arrive once, in its source's order; the nested puts must
// have happened (counted by the urgent handler).
#include <atomic>
#include <cstdint>
#include <span>

#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

namespace {

constexpr std::uint8_t less_urgent = 0x80;
constexpr std::uint8_t more_urgent = 0x40;

/// The interrupt a sample raises from inside its own put; 0: none.
std::atomic<unsigned> raise_from_put{0};
/// True while a less urgent handler is inside a put that raised the urgent one.
std::atomic<bool> mid_put{false};

struct Sample {
    std::uint32_t source;
    std::uint32_t seq;
    bool nests;  // its move into the queue raises the urgent interrupt
    Sample(std::uint32_t s, std::uint32_t q, bool n = false) noexcept : source(s), seq(q), nests(n) {}
    Sample(Sample&& other) noexcept : source(other.source), seq(other.seq), nests(other.nests) {
        if (!nests) return;
        nests = false;  // only the move into the cell, not the one out of it
        // relaxed (both): the urgent handler runs on this core, inside this move.
        mid_put.store(true, std::memory_order_relaxed);
        board::trigger_irq(raise_from_put.load(std::memory_order_relaxed));
        __asm__ __volatile__("dsb\n isb" : : : "memory");  // the urgent interrupt is taken here
        mid_put.store(false, std::memory_order_relaxed);
    }
    Sample& operator=(Sample&&) noexcept = default;
};

al::ThreadSafeQueue<Sample, al::many_producers>::slot_type storage[8];
al::ThreadSafeQueue<Sample, al::many_producers> queue{std::span(storage)};

enum Source : std::uint32_t { timer = 0, urgent = 1, filler = 2 };

// Phase 1.
constexpr std::uint32_t timer_samples = 300;
std::uint32_t timer_next = 0;   // timer handler only
std::uint32_t urgent_next = 0;  // urgent handler only
std::uint32_t urgent_limit = 0;
std::uint32_t nested = 0;  // urgent handler only: runs inside another handler's put

void on_timer() noexcept {
    board::timer0_acknowledge();
    if (timer_next == timer_samples) return;
    if (queue.try_put(Sample(timer, timer_next, timer_next % 3 == 0))) ++timer_next;  // else: again next tick
}

void on_urgent() noexcept {
    if (mid_put.load(std::memory_order_relaxed)) ++nested;  // relaxed: this core only
    for (int i = 0; i < 2 && urgent_next < urgent_limit; ++i) {
        if (!queue.try_put(Sample(urgent, urgent_next))) return;  // full: the consumer raises us again
        ++urgent_next;
    }
}

// Phase 2.
constexpr std::uint32_t filler_samples = 100'000;
constexpr std::uint32_t urgent_samples = 20'000;
std::uint32_t filler_next = 0;  // filler handler only

void on_filler() noexcept {
    while (filler_next < filler_samples && queue.try_put(Sample(filler, filler_next, filler_next % 7 == 0))) {
        ++filler_next;
    }
}

al::Task<int> run() {
    board::set_irq_priority(board::timer0_irq, less_urgent);
    board::set_irq_priority(board::software_irq, more_urgent);
    board::set_irq_priority(board::software_irq_2, less_urgent);
    raise_from_put.store(board::software_irq, std::memory_order_relaxed);  // relaxed: before the interrupts start

    std::uint32_t expected[3] = {0, 0, 0};
    auto take = [&](const Sample& s) {
        board::check(s.source <= filler, "a sample from a known source");
        board::check(s.seq == expected[s.source], "each source's samples arrive once, in order");
        ++expected[s.source];
    };

    // Phase 1: the timer, and the urgent interrupt nested in its puts.
    urgent_limit = 2 * timer_samples / 3;
    board::attach_irq(board::software_irq, on_urgent);
    board::attach_irq(board::timer0_irq, on_timer);
    board::timer0_start(1000);
    while (expected[timer] < timer_samples || expected[urgent] < urgent_limit) {
        take(co_await queue.get());
        if (urgent_next < urgent_limit && queue.qsize() <= 4) board::trigger_irq(board::software_irq);
    }
    board::timer0_stop();
    board::detach_irq(board::timer0_irq);
    board::check(queue.empty(), "nothing more was put after the last timer sample");
    board::check(nested > 0, "the urgent interrupt ran inside the timer's puts");
    std::uint32_t nested_in_timer = nested;

    // Phase 2: volume from two software interrupts.
    urgent_next = 0;
    expected[urgent] = 0;
    urgent_limit = urgent_samples;
    board::attach_irq(board::software_irq_2, on_filler);
    board::trigger_irq(board::software_irq_2);
    while (expected[filler] < filler_samples || expected[urgent] < urgent_samples) {
        Sample s = co_await queue.get();
        if (s.source == timer) board::check(false, "no timer sample in phase 2");
        take(s);
        if (queue.qsize() <= 4) {
            board::trigger_irq(board::software_irq_2);
            board::trigger_irq(board::software_irq);
        }
    }
    board::detach_irq(board::software_irq_2);
    board::detach_irq(board::software_irq);
    board::check(queue.empty(), "every sample was delivered");
    board::print("timer samples: ");
    board::print_number(timer_samples);
    board::print(", urgent samples nested in the timer's puts: ");
    board::print_number(nested_in_timer);
    board::print(" times; volume: ");
    board::print_number(filler_samples + urgent_samples);
    board::print(" samples, urgent nested ");
    board::print_number(nested - nested_in_timer);
    board::print(" times\n");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
