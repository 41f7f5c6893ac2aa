// SPDX-License-Identifier: BSL-1.0
/// @file
/// shield(): await a task without passing a cancellation on to it
/// (asyncio.shield).
///
/// | operation         | task | other loop | thread | signal handler / ISR |
/// |-------------------|------|------------|--------|----------------------|
/// | co_await shield() | yes  | no         | no     | no                   |
///
/// Awaiting a TaskHandle directly forwards a cancel of the waiter to the task
/// awaited (asyncio's rule). Use shield() when that task must finish whatever
/// happens to the waiter (a write that must complete, a commit): a cancelled
/// waiter throws CancelledError at once and the task runs on, owned by its
/// loop. It must then not refer to the waiter's frame. An exception it ends
/// with later, nobody having retrieved it, is reported by the loop.
#pragma once

#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/task_handle.hpp"

namespace asynclink {

namespace detail {

/// Parks the waiter until `target` is done; a cancel of the waiter detaches
/// it (resume_now, CancelledError) and leaves the target alone.
class DetachedWait : public Parked, public DoneWaiter {
public:
    explicit DetachedWait(TaskBase& target) noexcept : Parked(&on_cancel), target_(target) {
        on_done = &on_target_done;
    }
    bool await_ready() const noexcept { return target_.done(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        if (!park(h)) return false;
        target_.add_done_waiter(*this);
        return true;
    }
    void await_resume() const { throw_if_cancelled(); }

private:
    static void on_target_done(DoneWaiter& self) noexcept { static_cast<DetachedWait&>(self).task->wake(); }
    static CancelResult on_cancel(Suspension& self) noexcept {
        auto& w = static_cast<DetachedWait&>(self);
        w.target_.remove_done_waiter(w);
        w.cancelled = true;
        return CancelResult::resume_now;
    }
    TaskBase& target_;
};

template <class T>
Task<T> shielded(TaskHandle<T> target) {
    co_await DetachedWait(target.state());
    co_return target.result();
}

}  // namespace detail

/// Waits for `target` and returns its result (or rethrows its exception);
/// cancelling the waiter does not cancel `target`. UsageError for an empty
/// handle.
template <class T>
Task<T> shield(TaskHandle<T> target) {
    if (!target) ASYNCLINK_THROW(UsageError, "shield() given an empty TaskHandle");
    detail::check_task_loop(target, "shield()");
    return detail::shielded(std::move(target));
}

/// Starts `task` (create_task) and shields it.
template <class T>
Task<T> shield(Task<T> task) {
    return shield(create_task(std::move(task)));
}

}  // namespace asynclink
