// SPDX-License-Identifier: BSL-1.0
// Misuse without exceptions: a second task waiting on a ThreadSafeFlag is a
// UsageError, which calls port::fatal(); the board's fatal handler prints
// "FATAL: asynclink: UsageError" and exits with status 2. ctest expects that
// line (baremetal/CMakeLists.txt).
#include "asynclink/loop.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "board.hpp"

namespace al = asynclink;

namespace {

al::ThreadSafeFlag flag;

al::Task<void> first_waiter() { co_await flag.wait(); }

al::Task<int> run() {
    al::TaskHandle<void> first = al::create_task(first_waiter());
    co_await al::sleep_ms(0);
    board::print("second waiter\n");
    co_await flag.wait();
    board::check(false, "a second waiter was accepted");
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() {
    board::init();
    al::Loop loop(al::LoopOptions{.schedule_capacity = 16, .spin_before_sleep = al::Clock::duration::zero()});
    loop.run_until_complete(run());
    board::check(false, "run() returned after the misuse");
    return 1;
}
