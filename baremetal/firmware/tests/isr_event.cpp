// SPDX-License-Identifier: BSL-1.0
// A ThreadSafeEvent with several waiting tasks, set from interrupts:
//  1. 300 rounds in which an NVIC STIR software interrupt sets the event while
//     four tasks wait: every round, all four wake (a clear() right after the
//     set() in the same interrupt must not cost anyone the wake-up);
//  2. the CMSDK hardware timer at 1 kHz sets the event on every tick while the
//     four tasks wait and clear in turn, 100 rounds.
#include "asynclink/event.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_event.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr int waiter_count = 4;
constexpr int stir_rounds = 300;
constexpr int timer_rounds = 100;

al::ThreadSafeEvent event;
bool clear_in_isr = false;  // written before the interrupt is raised

void on_software_irq() noexcept {
    event.set();
    if (clear_in_isr) event.clear();
}

void on_timer() noexcept {
    board::timer0_acknowledge();
    event.set();
}

int woken[waiter_count];
int round = -1;  // the round the waiters may start
int waiting = 0;
int woken_this_round = 0;

al::Task<void> waiter(int id, int rounds, al::Event& round_done) {
    for (int r = 0; r < rounds; ++r) {
        while (round < r) co_await al::sleep(0ms);
        ++waiting;
        co_await event.wait();
        ++woken[id];
        if (++woken_this_round == waiter_count) round_done.set();
    }
}

al::Task<void> rounds(int count, bool use_timer) {
    al::Event round_done;
    for (int& w : woken) w = 0;
    round = -1;
    waiting = 0;
    al::TaskHandle<void> handles[waiter_count];
    for (int i = 0; i < waiter_count; ++i) handles[i] = al::create_task(waiter(i, count, round_done));
    if (use_timer) board::timer0_start(1000);
    for (int r = 0; r < count; ++r) {
        event.clear();
        round_done.clear();
        woken_this_round = 0;
        round = r;
        while (waiting < (r + 1) * waiter_count) co_await al::sleep(0ms);  // every waiter has reached its wait
        if (!use_timer) board::trigger_irq(board::software_irq);
        co_await round_done.wait();
        for (int i = 0; i < waiter_count; ++i) board::check(woken[i] == r + 1, "every waiter woke once per round");
    }
    if (use_timer) board::timer0_stop();
    for (auto& h : handles) co_await h;
}

al::Task<int> run() {
    board::attach_irq(board::software_irq, on_software_irq);
    clear_in_isr = true;
    co_await rounds(stir_rounds, false);
    board::detach_irq(board::software_irq);
    board::attach_irq(board::timer0_irq, on_timer);
    co_await rounds(timer_rounds, true);
    board::detach_irq(board::timer0_irq);
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
