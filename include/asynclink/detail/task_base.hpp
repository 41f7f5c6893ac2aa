// SPDX-License-Identifier: BSL-1.0
// The state every task shares with the loop: its place in the ready queue, the
// suspension point it is parked at, the tasks waiting for it, and its
// cancellation request. Loop thread only.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>

#include "asynclink/detail/config.hpp"
#include "asynclink/port/port.hpp"

namespace asynclink {
class Loop;
}

namespace asynclink::detail {

/// What a suspension point did when its task was cancelled.
enum class CancelResult : std::uint8_t {
    resume_now,         ///< detached from what it waited on; schedule the task, it throws CancelledError
    already_scheduled,  ///< marked cancelled; the task is already in the ready queue and throws when it runs
    forwarded,          ///< passed on to a child task, whose outcome decides what the waiter sees
    too_late,           ///< what it waited for already arrived; the cancel fires at the next suspension
};

/// An awaiter a task is parked at, able to detach itself on cancellation.
struct Suspension {
    explicit Suspension(CancelResult (*on_cancel)(Suspension& self) noexcept) noexcept : cancel(on_cancel) {}
    CancelResult (*cancel)(Suspension& self) noexcept;
};

/// Hears about a task's completion (an awaiting task, a gather, a wait_for).
struct DoneWaiter {
    DoneWaiter* next = nullptr;
    void (*on_done)(DoneWaiter& self) noexcept = nullptr;
};

class PromiseBase;

/// The loop's view of one task (asyncio.Task without the result, which lives
/// in the root coroutine's promise).
class TaskBase {
public:
    Loop* loop = nullptr;
    TaskBase* next_ready = nullptr;
    TaskBase* prev_in_loop = nullptr;
    TaskBase* next_in_loop = nullptr;
    std::coroutine_handle<> frame;         ///< the root coroutine
    std::coroutine_handle<> resume_point;  ///< the innermost coroutine, where the task is suspended
    Suspension* suspension = nullptr;      ///< set while parked at a cancellable awaiter
    DoneWaiter* done_waiters = nullptr;
    PromiseBase* root = nullptr;
#if ASYNCLINK_PORT_HAS_THREADS
    /// The creating thread's port::current_loop() slot, one per thread: the
    /// thread a handle may be copied and dropped on while the loop lives.
    const void* home = nullptr;
#endif
    std::coroutine_handle<> next_step;  ///< where a running transfer() goes next
    std::uint32_t refs = 0;             ///< one per TaskHandle, plus one held by the loop until the task is done
    bool started = false;
    bool in_ready_queue = false;
    bool done = false;
    bool cancelled = false;          ///< finished by an uncaught CancelledError
    bool cancel_requested = false;   ///< deliver CancelledError at the next suspension point
    bool cancel_delivering = false;  ///< woken by a cancel, CancelledError not yet thrown
    bool outcome_observed = false;   ///< someone took the result or exception
    bool stepping = false;           ///< transfer() is running this task's coroutines (see there)
    bool finish_deferred = false;    ///< the root ended while stepping: finish() once transfer() is done

    /// asyncio.Task.cancel(): false if the task is already done.
    bool cancel() noexcept;

    /// Called by an awaiter about to park the task at `h`. Returns false when a
    /// cancellation is pending: the awaiter must not suspend and must throw
    /// CancelledError from await_resume. Without exceptions it always parks:
    /// the loop applies a pending cancellation once the task has suspended.
    bool park(std::coroutine_handle<> h, Suspension* s) noexcept {
#if !ASYNCLINK_NO_EXCEPTIONS
        if (cancel_requested) {
            cancel_requested = false;
            return false;
        }
#endif
        resume_point = h;
        suspension = s;
        return true;
    }

    /// The awaited thing happened: leave the suspension point and run again.
    void wake() noexcept;

    void add_ref() noexcept { ++refs; }
    void release() noexcept;

    void add_done_waiter(DoneWaiter& w) noexcept {
        w.next = done_waiters;
        done_waiters = &w;
    }
    void remove_done_waiter(DoneWaiter& w) noexcept {
        for (DoneWaiter** p = &done_waiters; *p != nullptr; p = &(*p)->next) {
            if (*p == &w) {
                *p = w.next;
                return;
            }
        }
    }

    /// Runs `to`, a coroutine of this task, and each coroutine it hands
    /// control to in turn (a child started by co_await, the parent a child
    /// returns to), one after the other from this frame: a chain of co_awaits
    /// that complete without suspending costs no stack, at any optimisation
    /// level. (Returning the handle from await_suspend, symmetric transfer,
    /// is a tail call only if the compiler makes it one; GCC at -O0 does not,
    /// and 10^5 synchronous co_awaits overflowed the stack.) Called while a
    /// transfer() of this task is running, it only says where that one goes
    /// next, and the caller suspends. Returns once the chain suspends at a
    /// real wait or the root finishes; the caller must not touch its own
    /// frame or awaiter afterwards (it may have been resumed and destroyed).
    void transfer(std::coroutine_handle<> to) noexcept {
        if (stepping) {
            next_step = to;
            return;
        }
        stepping = true;
        do {
            next_step = nullptr;
            to.resume();
            to = next_step;
        } while (to);
        stepping = false;
        if (!done && !finish_deferred && suspension == nullptr && !in_ready_queue) [[unlikely]] {
            // Every asynclink awaiter that suspends a task parks it (suspension
            // set) or puts it in the ready queue.
            suspended_at_foreign_awaitable();
        }
        // The root ended in the loop above; its frame, which holds this state,
        // could only be freed now.
        if (finish_deferred) {
            finish_deferred = false;
            finish();
        }
    }

    /// A coroutine of this task suspended at an awaitable that is not
    /// asynclink's (std::suspend_always, another library's coroutine type):
    /// nothing will resume it through the loop, and run() would hang without
    /// a word. Stops the program with a message instead.
    [[noreturn]] static void suspended_at_foreign_awaitable() noexcept {
        port::fatal(
            "asynclink: a task suspended at a co_await of an awaitable that is not asynclink's "
            "(std::suspend_always, another library's coroutine type, ...); nothing would resume it through "
            "its loop and run() would hang. co_await asynclink primitives, Tasks and TaskHandles; to wait "
            "for something else, have it set a ThreadSafeFlag, put on a ThreadSafeQueue or call "
            "Loop::call_soon_threadsafe, and co_await that");
    }

    /// The root coroutine reached its final suspension point.
    void root_ended() noexcept {
        if (stepping) {
            finish_deferred = true;  // transfer() is still reading this state: it finishes
        } else {
            finish();
        }
    }

    /// The root coroutine finished (its exception, if any, is in the promise).
    void finish() noexcept;
    /// Ends the task as cancelled, at a suspension point or before it started.
    void finish_cancelled() noexcept;
#if !ASYNCLINK_NO_EXCEPTIONS
    /// The outcome: nullptr for success.
    std::exception_ptr exception() const noexcept;
    /// Finished with a value while a cancel sent to it is still pending: the
    /// cancel came too late for what it waited on, and it never saw it. Whoever
    /// forwarded that cancel keeps the value (wait_for, gather).
    bool outran_cancel() const noexcept { return ended_with_value() && cancel_requested; }
    bool ended_with_value() const noexcept { return done && !cancelled && !exception(); }
#endif
};

}  // namespace asynclink::detail
