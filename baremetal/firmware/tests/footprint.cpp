// SPDX-License-Identifier: BSL-1.0
// The smallest use of each primitive, for the flash and RAM footprint table in
// docs/bare-metal.md: built once per FP_* set (CMakeLists.txt), each build
// also runs and must pass. With no FP_* macro it is the board alone, the
// baseline the table subtracts.
#include <span>

#include "board.hpp"

#if defined(FP_CORE_HEADER)
// The freestanding umbrella must build with the firmware's flags.
#include "asynclink/core.hpp"
#endif

#if defined(FP_LOOP)
#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#endif
#if defined(FP_SLEEP) || defined(FP_SCHEDULE)
#include "asynclink/sleep.hpp"
#endif
#if defined(FP_FLAG)
#include "asynclink/thread_safe_flag.hpp"
#endif
#if defined(FP_TSQ)
#include "asynclink/thread_safe_queue.hpp"
#endif
#if defined(FP_TSE)
#include "asynclink/thread_safe_event.hpp"
#endif
#if defined(FP_MESSAGE)
#include "asynclink/message.hpp"
#endif
#if defined(FP_SHARED)
#include "asynclink/shared.hpp"
#endif
#if defined(FP_EVENT)
#include "asynclink/event.hpp"
#endif
#if defined(FP_LOCK)
#include "asynclink/lock.hpp"
#endif
#if defined(FP_QUEUE)
#include "asynclink/queue.hpp"
#endif
#if defined(FP_TRACE)
#include "asynclink/trace.hpp"
#endif

#if defined(FP_LOOP)
namespace al = asynclink;

namespace {

#if defined(FP_FLAG)
al::ThreadSafeFlag flag;
#endif
#if defined(FP_TSQ)
al::ThreadSafeQueue<std::uint32_t>::slot_type storage[8];
al::ThreadSafeQueue<std::uint32_t> tsq{std::span(storage)};
#endif
#if defined(FP_TSE)
al::ThreadSafeEvent tse;
#endif
#if defined(FP_MESSAGE)
al::Message<std::uint32_t> message;
#endif
#if defined(FP_SHARED)
al::Shared<std::uint32_t> shared;
#endif
#if defined(FP_SCHEDULE)
int scheduled = 0;
void on_scheduled(void* arg) { *static_cast<int*>(arg) += 1; }
#endif
#if defined(FP_CREATE_TASK)
al::Task<int> child() { co_return 1; }
#endif

// One coroutine per primitive, each awaited in turn by run(): a frame each,
// so the pool's blocks stay small.
#if defined(FP_SLEEP)
al::Task<int> use_sleep() {
    co_await al::sleep_ms(1);
    co_return 0;
}
#endif
#if defined(FP_CREATE_TASK)
al::Task<int> use_create_task() {
    al::TaskHandle<int> h = al::create_task(child());
    co_return co_await h - 1;
}
#endif
#if defined(FP_FLAG)
al::Task<int> use_flag() {
    flag.set();
    co_await flag.wait();
    co_return 0;
}
#endif
#if defined(FP_TSQ)
al::Task<int> use_thread_safe_queue() {
    tsq.try_put(5u);
    co_return static_cast<int>(co_await tsq.get()) - 5;
}
#endif
#if defined(FP_TSE)
al::Task<int> use_thread_safe_event() {
    tse.set();
    co_await tse.wait();
    co_return 0;
}
#endif
#if defined(FP_MESSAGE)
al::Task<int> use_message() {
    message.set(3);
    co_return static_cast<int>(co_await message) - 3;
}
#endif
#if defined(FP_SHARED)
al::Task<int> use_shared() {
    shared.write(4);
    co_return static_cast<int>(shared.read()) - 4;
}
#endif
#if defined(FP_SCHEDULE)
al::Task<int> use_schedule() {
    al::Loop::current().schedule(&on_scheduled, &scheduled);
    while (scheduled == 0) co_await al::sleep_ms(0);
    co_return 0;
}
#endif
#if defined(FP_EVENT)
al::Task<int> use_event() {
    al::Event event;
    event.set();
    co_await event.wait();
    co_return 0;
}
#endif
#if defined(FP_LOCK)
al::Task<int> use_lock() {
    al::Lock lock;
    auto guard = co_await lock.acquire();
    co_return 0;
}
#endif
#if defined(FP_QUEUE)
al::Task<int> use_queue() {
    al::Queue<int> queue(4);
    co_await queue.put(6);
    co_return co_await queue.get() - 6;
}
#endif

al::Task<int> run() {
    int result = 0;
#if defined(FP_SLEEP)
    result += co_await use_sleep();
#endif
#if defined(FP_CREATE_TASK)
    result += co_await use_create_task();
#endif
#if defined(FP_FLAG)
    result += co_await use_flag();
#endif
#if defined(FP_TSQ)
    result += co_await use_thread_safe_queue();
#endif
#if defined(FP_TSE)
    result += co_await use_thread_safe_event();
#endif
#if defined(FP_MESSAGE)
    result += co_await use_message();
#endif
#if defined(FP_SHARED)
    result += co_await use_shared();
#endif
#if defined(FP_SCHEDULE)
    result += co_await use_schedule();
#endif
#if defined(FP_EVENT)
    result += co_await use_event();
#endif
#if defined(FP_LOCK)
    result += co_await use_lock();
#endif
#if defined(FP_QUEUE)
    result += co_await use_queue();
#endif
    co_return result;
}

}  // namespace
#endif

#if defined(FP_TRACE)
namespace {
std::uint32_t dumped = 0;  // the dump's bytes: the recorder's whole way out, into a sink that only counts
void count_bytes(const void*, std::size_t size, void*) noexcept { dumped += static_cast<std::uint32_t>(size); }
}  // namespace
#endif

extern "C" int firmware_main() {
#if defined(FP_LOOP)
    board::init();
    al::Loop loop(al::LoopOptions{.schedule_capacity = 8, .spin_before_sleep = al::Clock::duration::zero()});
#if defined(FP_TRACE)
    al::trace::start();
    int result = loop.run_until_complete(run());
    al::trace::stop();
    al::trace::dump(count_bytes, nullptr);
    return dumped != 0 ? result : 1;
#else
    return loop.run_until_complete(run());
#endif
#else
    return 0;
#endif
}
