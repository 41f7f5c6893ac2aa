// The loop runs on bare metal: tasks sleep on the SysTick clock, the loop
// idles in WFI between ticks, and the timers fire in deadline order.
#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "board.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

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
    al::Loop loop(al::LoopOptions{.schedule_capacity = 16, .spin_before_sleep = al::Clock::duration::zero()});
    board::check(loop.run_until_complete(run()) == 42, "run_until_complete returned main's result");
    board::pass();
}
