// SPDX-License-Identifier: BSL-1.0
// The loop runs on bare metal: tasks sleep on the SysTick clock, the loop
// idles in WFI until the next deadline, and the timers fire in deadline order.
// First, the clock itself: it never goes backwards, also when a SysTick wrap
// is read with the tick interrupt masked (the wrap is still pending, not yet
// counted). With no loop waiting, a SysTick period is 2^24 cycles (the port is
// tickless), so each round waits for the end of one.
#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "board.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

volatile std::uint32_t& systick_value() { return *reinterpret_cast<volatile std::uint32_t*>(0xE000E018); }
volatile std::uint32_t& systick_reload() { return *reinterpret_cast<volatile std::uint32_t*>(0xE000E014); }
bool systick_pending() { return (*reinterpret_cast<volatile std::uint32_t*>(0xE000ED04) & (1u << 26)) != 0; }

void check_clock() {
    al::Clock::time_point previous = al::Clock::now();
    for (int i = 0; i < 100'000; ++i) {
        al::Clock::time_point t = al::Clock::now();
        board::check(t >= previous, "the clock never goes backwards");
        previous = t;
    }
    board::check(systick_reload() == (1u << 24) - 1, "no loop waits: the longest SysTick period");
    constexpr std::uint32_t quarter_ms = board::core_hz / 4000;
    for (int round = 0; round < 8; ++round) {
        // Mask the tick a quarter of a millisecond before it wraps, read across
        // the wrap while it is pending, and a little after.
        while (systick_value() > quarter_ms || systick_value() < quarter_ms / 2) {
        }
        asynclink::port::CriticalSection masked;
        al::Clock::time_point before = al::Clock::now();
        while (!systick_pending()) {
            al::Clock::time_point t = al::Clock::now();
            board::check(t >= before, "monotonic before the wrap");
            before = t;
        }
        for (int i = 0; i < 50; ++i) {
            al::Clock::time_point t = al::Clock::now();
            board::check(t >= before, "a wrap read while its tick is pending still counts");
            before = t;
        }
    }
    al::Clock::time_point after = al::Clock::now();
    board::check(after >= previous, "monotonic after the masked wraps");
}

int order[4];
int finished = 0;

al::Task<void> sleeper(int id, int ms) {
    co_await al::sleep_ms(ms);
    order[finished++] = id;
}

al::Task<int> run() {
    al::Loop& loop = al::Loop::current();
    al::Clock::time_point start = al::Clock::now();
    for (int i = 0; i < 5; ++i) co_await al::sleep(10ms);
    al::Clock::duration slept = al::Clock::now() - start;
    board::check(slept >= 50ms, "five sleeps of 10 ms took at least 50 ms");
    board::check(slept < 5s, "and not forever");

    // Created in one order, due in another: they end in deadline order.
    al::TaskHandle<void> handles[4] = {al::create_task(sleeper(3, 30)), al::create_task(sleeper(1, 10)),
                                       al::create_task(sleeper(4, 40)), al::create_task(sleeper(2, 20))};
    for (auto& h : handles) co_await h;
    board::check(finished == 4, "every sleeper finished");
    for (int i = 0; i < 4; ++i) board::check(order[i] == i + 1, "sleepers woke in deadline order");
    board::check(loop.pending_tasks() == 1, "only the main task is left");
    co_return 42;
}

}  // namespace

extern "C" int firmware_main() {
    board::init();
    check_clock();
    al::Loop loop(al::LoopOptions{.schedule_capacity = 16, .spin_before_sleep = al::Clock::duration::zero()});
    board::check(loop.run_until_complete(run()) == 42, "run_until_complete returned main's result");
    board::pass();
}
