// SPDX-License-Identifier: BSL-1.0
// The firmware_main of a test whose whole body is one task: start the board,
// run the task on a loop, and pass if it returns `expected` (a failed check
// inside it has already ended the firmware).
#pragma once

#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "board.hpp"

namespace board {

[[noreturn]] inline void run_task(asynclink::Task<int> (*body)(), int expected = 0) noexcept {
    init();
    // spin_before_sleep: zero, though this port never spins (port::idle_spins).
    asynclink::Loop loop(
        asynclink::LoopOptions{.schedule_capacity = 16, .spin_before_sleep = asynclink::Clock::duration::zero()});
    check(loop.run_until_complete(body()) == expected, "run() returned");
    pass();
}

}  // namespace board
