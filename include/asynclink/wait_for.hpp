// SPDX-License-Identifier: BSL-1.0
/// @file
/// wait_for(awaitable, timeout): asyncio.wait_for.
///
/// | operation          | task | other loop | thread | signal handler / ISR |
/// |--------------------|------|------------|--------|----------------------|
/// | co_await wait_for  | yes  | no         | no     | no                   |
///
/// The awaitable runs as a task of its own, started when the wait_for starts
/// (a wait_for cancelled before its first step never runs it). It always gets
/// its first step, as in asyncio 3.12: with a zero or negative timeout, one
/// that finishes without suspending (a queue get with an item queued, a set
/// Event) returns its value. If it has not finished when the timeout expires,
/// it is cancelled, wait_for waits for it to end, and then throws TimeoutError.
/// A timeout longer than the clock can count (seconds::max(), a double of
/// 1e30 seconds) never expires. If it finishes with a value at the same
/// moment the timeout fires (or swallows the cancellation and returns a value),
/// the value is returned: a result that was produced is never thrown away.
/// Cancelling the awaiting task cancels the child and throws CancelledError
/// once it has ended; if the child ended with a value all the same (the cancel
/// came too late for what it waited on), that value is returned and the
/// CancelledError is thrown at the waiter's next suspension point instead, so
/// neither the value nor the cancel is lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/timer_node.hpp"
#include "asynclink/gather.hpp"

namespace asynclink {

namespace detail {

/// How a WaitWithTimeout ended.
enum class WaitEnd : std::uint8_t {
    child_done,  ///< the child finished before the timeout
    timed_out,   ///< the timeout fired and cancelled the child, which has now ended
    cancelled,   ///< the waiter was cancelled; the cancel was forwarded to the child, which has now ended
};

class WaitWithTimeout : public Parked, public DoneWaiter, public TimerNode {
public:
    WaitWithTimeout(TaskBase& child, Clock::duration timeout) noexcept
        : Parked(&on_cancel), child_(child), timeout_(timeout) {
        on_done = &on_child_done;
        fire = &on_timeout;
    }
    bool await_ready() const noexcept { return child_.done(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        task = &task_of(h);
        bool cancel_pending = task->take_cancel_request();
        task->park(h, this);
        child_.add_done_waiter(*this);
        if (cancel_pending) {
            cancelled = true;
            child_.cancel();
        } else if (timeout_ <= Clock::duration::zero() && child_.started()) {
            on_timeout(*this);
        } else {
            // An expired timeout too goes through the timer: the child must
            // have its first step before the timeout can cancel it (see on_timeout).
            deadline = timeout_ <= Clock::duration::zero()
                           ? Clock::now()
                           : deadline_after(Clock::now(), timeout_);  // "never" for a timeout too long for the clock
            detail::LoopAccess::add_timer(*task->loop, *this);
        }
        return true;
    }
    WaitEnd await_resume() const noexcept {
        if (cancelled) {
            // The child produced a value in spite of the cancel (its wait was
            // already satisfied: an item handed over, say). Return it rather than
            // drop it, and keep the cancel for the waiter's next suspension point,
            // as a cancel that comes too late for a primitive's wait does.
            // A child that caught the cancel and returned a value anyway did see
            // it: then asyncio's rule holds, and the waiter raises CancelledError.
            if (child_.outran_cancel()) {
                task->request_cancel();
                return WaitEnd::child_done;
            }
            return WaitEnd::cancelled;
        }
        return timed_out_ ? WaitEnd::timed_out : WaitEnd::child_done;
    }

private:
    static void on_child_done(DoneWaiter& self) noexcept {
        auto& w = static_cast<WaitWithTimeout&>(self);
        detail::LoopAccess::remove_timer(*w.task->loop, w);
        w.task->wake();
    }
    static void on_timeout(TimerNode& self) noexcept {
        auto& w = static_cast<WaitWithTimeout&>(self);
        if (!w.child_.started()) {
            // As asyncio 3.12: the awaitable gets its first step before a
            // timeout cancels it, so wait_for(q.get(), 0ms) with an item queued
            // returns the item. The child is in the ready queue, which runs
            // after the timers: look again one tick later, once it has run.
            w.deadline = w.task->loop->time() + Clock::duration(1);
            detail::LoopAccess::add_timer(*w.task->loop, w);
            return;
        }
        w.timed_out_ = true;
        w.child_.cancel();
    }
    static CancelResult on_cancel(Suspension& self) noexcept {
        // The waiter's cancellation wins over the timeout, which must no longer
        // fire: a second cancel would cut the child's clean-up short.
        auto& w = static_cast<WaitWithTimeout&>(self);
        w.cancelled = true;
        detail::LoopAccess::remove_timer(*w.task->loop, w);
        w.child_.cancel();
        return CancelResult::forwarded;
    }

    TaskBase& child_;
    Clock::duration timeout_;
    bool timed_out_ = false;
};

/// Takes the child unstarted (a Task) or running (a TaskHandle), and starts a
/// Task child in its first step: a wait_for that never runs starts nothing.
template <class A>
Task<handle_value_t<A>> wait_for_child(A child_to_start, Clock::duration timeout) {
    TaskHandle<handle_value_t<A>> child = as_handle(std::move(child_to_start));
    WaitEnd end = co_await WaitWithTimeout(child.state(), timeout);
    if (end != WaitEnd::child_done && child.cancelled()) {
        child.exception();  // seen: it is the cancellation we caused
    }
    if (end == WaitEnd::cancelled) {
        // Whatever the child ended with; a real error it raised stays unseen,
        // so it is reported when the last handle goes.
        throw CancelledError();
    }
    if (end == WaitEnd::timed_out && child.cancelled()) throw TimeoutError();
    co_return child.result();
}

/// Wraps any awaitable (an Event wait, a queue get, ...) in a Task.
template <class Aw>
auto as_task(Aw aw) -> Task<decltype(std::declval<Aw&>().await_resume())> {
    co_return co_await std::move(aw);
}

}  // namespace detail

/// Awaits `child` (a Task, a TaskHandle, or any asynclink awaitable) for at
/// most `timeout`; throws TimeoutError if it did not finish in time.
template <class T, class Rep, class Period>
Task<T> wait_for(Task<T> child, std::chrono::duration<Rep, Period> timeout) {
    return detail::wait_for_child(std::move(child), detail::saturating_duration(timeout));
}

template <class T, class Rep, class Period>
Task<T> wait_for(TaskHandle<T> child, std::chrono::duration<Rep, Period> timeout) {
    return detail::wait_for_child(std::move(child), detail::saturating_duration(timeout));
}

// clang-format off
template <class Aw, class Rep, class Period>
    requires requires(Aw& a) { a.await_resume(); }
// clang-format on
auto wait_for(Aw awaitable, std::chrono::duration<Rep, Period> timeout) {
    return wait_for(detail::as_task(std::move(awaitable)), timeout);
}

}  // namespace asynclink
