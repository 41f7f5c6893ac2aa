// SPDX-License-Identifier: BSL-1.0
// Coroutine frames come from the static pool (ASYNCLINK_FRAME_POOL_BLOCKS):
// no heap is touched, and running out is an empty Task / TaskHandle the caller
// can test, not a crash.
#include <cstdlib>

#include "asynclink/event.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "board.hpp"
#include "run_task.hpp"

namespace al = asynclink;

extern "C" void* malloc(std::size_t) {
    board::check(false, "nothing may allocate on the heap");
    return nullptr;
}

namespace {

al::Task<void> wait_for(al::Event& e) { co_await e.wait(); }

al::Task<int> too_big(al::Event& e) {
    volatile char big[2048] = {};  // lives across the suspension: it is in the frame
    co_await e.wait();
    co_return big[0];
}

al::Task<int> run() {
    constexpr std::size_t blocks = al::detail::FramePool::block_count;
    board::check(al::detail::FramePool::in_use() == 1, "the main task holds one block");

    al::Event go;
    al::Task<int> big = too_big(go);
    board::check(!big.valid(), "a frame larger than a block is refused: an empty Task");

    al::TaskHandle<void> handles[blocks];
    std::size_t created = 0;
    for (auto& h : handles) {
        h = al::create_task(wait_for(go));
        if (!h) break;
        ++created;
    }
    board::check(created == blocks - 1, "every block but main's became a task, then create_task gave an empty handle");
    board::check(al::detail::FramePool::in_use() == blocks, "the pool is full");
    go.set();
    for (std::size_t i = 0; i < created; ++i) co_await handles[i];
    for (auto& h : handles) h = {};
    board::check(al::detail::FramePool::in_use() == 1, "finished tasks gave their blocks back");
    al::TaskHandle<void> again = al::create_task(wait_for(go));
    board::check(static_cast<bool>(again), "and the pool serves again");
    co_await again;
    co_return 0;
}

}  // namespace

extern "C" int firmware_main() { board::run_task(run); }
