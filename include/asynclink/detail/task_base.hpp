// SPDX-License-Identifier: BSL-1.0
// The state every task shares with the loop: its place in the ready queue, the
// suspension point it is parked at, the tasks waiting for it, and its
// cancellation request. Loop thread only.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#if ASYNCLINK_PORT_HAS_THREADS
#include <string>
#endif
#include <utility>

#include "asynclink/detail/config.hpp"
#include "asynclink/port/port.hpp"

namespace asynclink {
class Loop;

/// How a ready task is ordered against the others (create_task). A high
/// task runs before every normal task that is ready, including between two
/// normal tasks of one loop iteration: an interrupt's task does not wait
/// behind a round of busy tasks. Among tasks of one priority, first ready,
/// first run.
enum class Priority : std::uint8_t {
    normal,
    high,
};
}  // namespace asynclink

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

/// Where a task is in its life (asyncio's pending / cancelled / finished).
/// Loop thread only. The transitions, and who makes them:
///
///     created --first step (Loop::resume)----------------> pending
///     created --cancelled before its first step-----------> cancelled
///     pending --the root returns or throws (finish)-------> finished
///     pending --the root throws CancelledError (finish)---> cancelled
///
/// finished and cancelled are final: done() is true in both, and the outcome
/// (value or exception) is in the root coroutine's promise.
enum class TaskState : std::uint8_t {
    created,    ///< in the ready queue; its body has not begun
    pending,    ///< started: running, parked at an awaiter, or ready again
    finished,   ///< the root returned a value or threw
    cancelled,  ///< ended by an uncaught CancelledError, or never started
};

/// A cancel() on its way to the task's code. Loop thread only.
///
///     none       --cancel() with nothing to detach (running, not started,
///                  or its wait already satisfied)---------------------> requested
///     requested  --a suspension point or the first step takes it------> none
///                  (it throws CancelledError; wait_for and gather forward it)
///     none       --cancel() detached the parked task (CancelResult::
///                  resume_now, already_scheduled)--------------------> delivering
///     delivering --the loop resumes the task, which throws-----------> none
///
/// While delivering, further cancels add nothing (as in asyncio). Without
/// exceptions a suspension point cannot throw: the loop takes a request once
/// the task has parked and cancels it again (none -> delivering), and the
/// task ends cancelled where it was resumed.
enum class CancelState : std::uint8_t {
    none,
    requested,   ///< deliver CancelledError at the next suspension point
    delivering,  ///< woken by a cancel; CancelledError not yet thrown
};

/// Whether transfer() is running the task's coroutines (see there).
///
///     idle     --transfer() begins---------------------------> stepping
///     stepping --the root ends inside it (root_ended)--------> root_ended
///     stepping, root_ended --transfer() returns--------------> idle
///                            (from root_ended it then finishes the task)
enum class StepState : std::uint8_t {
    idle,
    stepping,    ///< transfer() is running this task's coroutines
    root_ended,  ///< the root ended while stepping: finish() once transfer() is done
};

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
    TaskState state = TaskState::created;
    CancelState cancel_state = CancelState::none;
    StepState step_state = StepState::idle;
    bool in_ready_queue = false;    ///< linked in the loop's ready queue (any state but the two ends)
    bool outcome_observed = false;  ///< someone took the result or exception
    /// A cancel delivered at a suspension point ends the task there, unresumed,
    /// instead of throwing CancelledError through its frame: for a body with
    /// nothing to clean up but the awaiter it is parked at (select's branch
    /// around one awaitable), which the frame's destruction ends. A build
    /// without exceptions ends every task this way.
    bool ends_where_cancelled = false;
    Priority priority = Priority::normal;
    std::uint32_t number = 0;  ///< the loop's count of tasks when this one was made: "Task-<number>"
#if ASYNCLINK_TRACE
    std::uint32_t trace_id = 0;       ///< the trace recorder's id for it; 0: not recorded yet
    std::uint32_t trace_flow = 0;     ///< the hand-over that woke it, whose arrow its next slice ends
    std::uint32_t trace_session = 0;  ///< the recording its name was written to
#endif
#if ASYNCLINK_PORT_HAS_THREADS
    std::string name;  ///< empty: "Task-<number>" (asyncio's default)
#else
    const char* name = nullptr;  ///< a string that outlives the task; nullptr: "Task"
#endif

    bool started() const noexcept { return state != TaskState::created; }
    bool done() const noexcept { return state == TaskState::finished || state == TaskState::cancelled; }
    /// Finished by an uncaught CancelledError, or cancelled before it started.
    bool cancelled() const noexcept { return state == TaskState::cancelled; }

    /// cancel() found nothing to detach: the next suspension point (or the
    /// first step) throws.
    void request_cancel() noexcept { cancel_state = CancelState::requested; }
    /// Takes a pending request, for an awaiter that forwards it instead of
    /// throwing (wait_for, gather) or the loop's first step. True if there was one.
    bool take_cancel_request() noexcept {
        if (cancel_state != CancelState::requested) return false;
        cancel_state = CancelState::none;
        return true;
    }

    /// asyncio.Task.cancel(): false if the task is already done.
    bool cancel() noexcept;

    /// Called by an awaiter about to park the task at `h`. Returns false when a
    /// cancellation is pending: the awaiter must not suspend and must throw
    /// CancelledError from await_resume. Without exceptions it always parks:
    /// the loop applies a pending cancellation once the task has suspended.
    bool park(std::coroutine_handle<> h, Suspension* s) noexcept {
#if !ASYNCLINK_NO_EXCEPTIONS
        if (take_cancel_request()) return false;
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
        if (step_state != StepState::idle) {
            next_step = to;
            return;
        }
        step_state = StepState::stepping;
        do {
            next_step = nullptr;
            to.resume();
            to = next_step;
        } while (to);
        if (std::exchange(step_state, StepState::idle) == StepState::root_ended) {
            // The root ended in the loop above; its frame, which holds this
            // state, could only be freed now.
            finish();
        } else if (!done() && suspension == nullptr && !in_ready_queue) [[unlikely]] {
            // Every asynclink awaiter that suspends a task parks it (suspension
            // set) or puts it in the ready queue.
            suspended_at_foreign_awaitable();
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
        if (step_state == StepState::stepping) {
            step_state = StepState::root_ended;  // transfer() is still reading this state: it finishes
        } else {
            finish();
        }
    }

    /// The root coroutine finished (its exception, if any, is in the promise):
    /// finished, or cancelled if that exception is a CancelledError.
    void finish() noexcept;
    /// Ends the task as cancelled, at a suspension point or before it started.
    void finish_cancelled() noexcept;
#if !ASYNCLINK_NO_EXCEPTIONS
    /// The outcome: nullptr for success.
    std::exception_ptr exception() const noexcept;
    /// Finished with a value while a cancel sent to it is still pending: the
    /// cancel came too late for what it waited on, and it never saw it. Whoever
    /// forwarded that cancel keeps the value (wait_for, gather).
    bool outran_cancel() const noexcept { return ended_with_value() && cancel_state == CancelState::requested; }
    bool ended_with_value() const noexcept { return state == TaskState::finished && !exception(); }
#endif

private:
    /// Enters a final state and tells everyone waiting for the task.
    void end_as(TaskState final_state) noexcept;
};

#if ASYNCLINK_PORT_HAS_THREADS
/// asyncio's Task.get_name(): the name given, else "Task-<number>".
inline std::string task_name(const TaskBase& t) { return t.name.empty() ? "Task-" + std::to_string(t.number) : t.name; }
#else
inline const char* task_name(const TaskBase& t) noexcept { return t.name != nullptr ? t.name : "Task"; }
#endif

}  // namespace asynclink::detail
