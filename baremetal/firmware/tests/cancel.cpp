// SPDX-License-Identifier: BSL-1.0
// Cancellation without exceptions (-fno-exceptions): a cancelled task ends at
// its suspension point without being resumed, in the cancelled state; the
// waiter lists it was on forget it; a wake-up racing the cancel is not lost;
// its frames are destroyed (locals' destructors run) when its last handle goes;
// awaiting a cancelled task cancels the awaiter, as an uncaught CancelledError
// would.
#include "asynclink/event.hpp"
#include "asynclink/lock.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/queue.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "board.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

int destroyed = 0;  // locals of cancelled coroutines that were destroyed
int reached_after_wait = 0;

struct CountsDestruction {
    ~CountsDestruction() { ++destroyed; }
};

al::Task<void> inner_wait(al::ThreadSafeFlag& flag) {
    CountsDestruction local;
    co_await flag.wait();
    ++reached_after_wait;
}

al::Task<void> outer_wait(al::ThreadSafeFlag& flag) {
    CountsDestruction local;
    co_await inner_wait(flag);
    ++reached_after_wait;
}

al::Task<int> take_one(al::Queue<int>& q, int& got) {
    got = co_await q.get();
    co_await al::sleep(0ms);  // the pending cancel ends the task here
    ++reached_after_wait;
    co_return got;
}

al::Task<void> hold_lock(al::Lock& lock, al::Event& release) {
    auto guard = co_await lock.acquire();
    co_await release.wait();
}

al::Task<void> wait_lock(al::Lock& lock, int& acquired) {
    auto guard = co_await lock.acquire();
    ++acquired;
}

al::Task<void> await_other(al::TaskHandle<void> other) {
    co_await other;
    ++reached_after_wait;
}

al::Task<void> sleep_forever() {
    CountsDestruction local;
    co_await al::sleep(1000s);
}

int ran_after_self_cancel = 0;

al::Task<void> cancel_self(al::TaskHandle<void>* me) {
    co_await al::sleep(0ms);
    board::check(me->cancel(), "a task may cancel itself");
    ++ran_after_self_cancel;  // still running: the cancel takes effect at the next suspension
    CountsDestruction local;
    co_await al::sleep(0ms);
    ++reached_after_wait;
}

al::Task<int> run() {
    // 1. Cancelled while parked two coroutines deep on a ThreadSafeFlag.
    al::ThreadSafeFlag flag;
    {
        al::TaskHandle<void> h = al::create_task(outer_wait(flag));
        co_await al::sleep(0ms);
        board::check(h.cancel(), "cancel() of a waiting task returns true");
        flag.set();  // races the cancel: must stay in the flag
        co_await al::sleep(0ms);
        board::check(h.done() && h.cancelled(), "the cancelled task is done and cancelled");
        board::check(reached_after_wait == 0, "a cancelled task is not resumed past its suspension point");
        board::check(destroyed == 0, "its frames live while a handle does");
    }
    board::check(destroyed == 2, "dropping the last handle destroyed both frames' locals");
    board::check(flag.is_set(), "the set() that raced the cancel is still in the flag");

    // 2. The wait was already satisfied (the item handed over) when the cancel
    // came: the task keeps its item and ends at its next suspension point.
    al::Queue<int> q;
    int got = 0;
    al::TaskHandle<int> taker = al::create_task(take_one(q, got));
    co_await al::sleep(0ms);
    q.put_nowait(7);
    taker.cancel();
    co_await al::sleep(0ms);
    co_await al::sleep(0ms);
    board::check(got == 7, "an item handed to a task before its cancel is not lost");
    board::check(taker.cancelled() && reached_after_wait == 0, "the cancel ended it at the next suspension point");

    // 3. A cancelled Lock waiter leaves the queue; the lock passes on.
    al::Lock lock;
    al::Event release;
    int acquired = 0;
    al::TaskHandle<void> holder = al::create_task(hold_lock(lock, release));
    al::TaskHandle<void> first = al::create_task(wait_lock(lock, acquired));
    al::TaskHandle<void> second = al::create_task(wait_lock(lock, acquired));
    co_await al::sleep(0ms);
    first.cancel();
    release.set();
    co_await holder;
    co_await second;
    board::check(first.cancelled() && acquired == 1 && !lock.locked(), "the lock went to the waiter that stayed");

    // 4. Awaiting a task that gets cancelled cancels the awaiter.
    al::TaskHandle<void> target = al::create_task(sleep_forever());
    al::TaskHandle<void> awaiter = al::create_task(await_other(target));
    co_await al::sleep(0ms);
    target.cancel();
    co_await al::sleep(0ms);
    co_await al::sleep(0ms);
    board::check(target.cancelled() && awaiter.cancelled() && reached_after_wait == 0,
                 "awaiting a cancelled task ends the awaiter cancelled");

    // 5. A task that cancels itself ends at its next suspension point.
    al::TaskHandle<void> self;
    self = al::create_task(cancel_self(&self));
    for (int i = 0; i < 3; ++i) co_await al::sleep(0ms);
    board::check(self.cancelled() && ran_after_self_cancel == 1 && reached_after_wait == 0,
                 "a task that cancelled itself ran on to its next suspension point and ended there");

    // 6. Left sleeping when main ends: the loop's shutdown cancels it.
    al::create_task(sleep_forever());  // no handle: destroyed as soon as it ends
    co_await al::sleep(0ms);           // let it start
    co_return 1;
}

}  // namespace

extern "C" int firmware_main() {
    board::init();
    int before = destroyed;
    {
        al::Loop loop(al::LoopOptions{.schedule_capacity = 16, .spin_before_sleep = al::Clock::duration::zero()});
        board::check(loop.run_until_complete(run()) == 1, "run() returned");
        board::check(loop.pending_tasks() == 0, "shutdown cancelled the task left sleeping");
    }
    // 1's two frames, 4's target, 5's self-cancelled task and 6's sleeper.
    board::check(destroyed - before == 5, "every cancelled frame was destroyed");
    board::check(al::detail::FramePool::in_use() == 0, "every frame went back to the pool");
    board::pass();
}
