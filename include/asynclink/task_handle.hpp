// SPDX-License-Identifier: BSL-1.0
/// @file
/// create_task() and TaskHandle<T>: a task running concurrently on the loop
/// (asyncio.create_task and asyncio.Task).
///
/// | operation                          | task | other loop | thread | signal handler / ISR |
/// |------------------------------------|------|------------|--------|----------------------|
/// | create_task                        | yes  | no         | no     | no                   |
/// | cancel / done / cancelled / result | yes  | no         | no     | no                   |
/// | get_name / set_name / priority     | yes  | no         | no     | no                   |
/// | co_await handle                    | yes  | no         | no     | no                   |
/// | copy / destroy a handle            | yes  | no (*)     | no (*) | no                   |
/// | current_task                       | yes  | no         | no     | no                   |
///
/// A task has a name (asyncio's: the one given to create_task or set_name,
/// else "Task-<n>", n counting the tasks made on its loop) and a Priority
/// (Priority::high runs before every ready normal task; see loop.hpp).
/// current_task() is the running task, as a TaskRef (name, cancel, done).
/// From another thread, use Loop::call_soon_threadsafe to create or cancel.
/// (*) Detected while the loop lives: port::fatal with a message (the
/// reference count is not atomic). A handle that outlived its loop may be
/// used on any one thread.
#pragma once

#include <utility>
#if ASYNCLINK_PORT_HAS_THREADS
#include <string>
#include <string_view>
#endif

#include "asynclink/loop.hpp"
#include "asynclink/task.hpp"

namespace asynclink {

/// Shared ownership of a running task. Copyable; the task keeps running when
/// every handle is gone (the loop holds it until it finishes). An exception
/// the task raises and no handle ever retrieves is passed to the loop's
/// exception handler when the last handle goes away.
template <class T = void>
class TaskHandle {
public:
    TaskHandle() noexcept = default;
    /// Copying and dropping a handle change the task's reference count, which
    /// is not atomic: on the loop's thread only, while the loop lives (after
    /// that, on any one thread). Anywhere else the program stops with
    /// port::fatal and a message, rather than race. Moving is free.
    TaskHandle(const TaskHandle& other) noexcept : promise_(other.promise_) {
        if (promise_) {
            check_home("copied");
            promise_->root_state.add_ref();
        }
    }
    TaskHandle(TaskHandle&& other) noexcept : promise_(std::exchange(other.promise_, nullptr)) {}
    TaskHandle& operator=(TaskHandle other) noexcept {
        std::swap(promise_, other.promise_);
        return *this;
    }
    ~TaskHandle() {
        if (promise_) {
            check_home("destroyed");
            promise_->root_state.release();
        }
    }

    /// Requests cancellation (asyncio.Task.cancel): the task's current or next
    /// suspension point throws CancelledError. Returns false if already done.
    bool cancel() {
        check("TaskHandle::cancel");
        return state().cancel();
    }
    bool done() const {
        check_thread("TaskHandle::done");
        return promise_ && promise_->root_state.done();
    }
    bool cancelled() const {
        check_thread("TaskHandle::cancelled");
        return promise_ && promise_->root_state.cancelled();
    }

#if ASYNCLINK_PORT_HAS_THREADS
    /// The task's name: the one given, else "Task-<n>" (asyncio's default).
    std::string get_name() const {
        check("TaskHandle::get_name");
        return detail::task_name(state());
    }
    void set_name(std::string_view name) {
        check("TaskHandle::set_name");
        state().name = name;
    }
#else
    /// The task's name: the one given, else "Task".
    const char* get_name() const {
        check("TaskHandle::get_name");
        return detail::task_name(state());
    }
    /// `name` must outlive the task (a string literal).
    void set_name(const char* name) {
        check("TaskHandle::set_name");
        state().name = name;
    }
#endif
    Priority priority() const {
        check("TaskHandle::priority");
        return state().priority;
    }

    /// The outcome of a finished task: the value, or its exception rethrown.
    /// Throws UsageError if the task has not finished.
    T result() const {
        check_thread("TaskHandle::result");
        if (!done()) {
            ASYNCLINK_THROW(UsageError, "TaskHandle::result() on a task that has not finished; co_await it instead");
        }
        promise_->root_state.outcome_observed = true;
#if ASYNCLINK_NO_EXCEPTIONS
        if (promise_->root_state.cancelled()) ASYNCLINK_THROW(CancelledError);  // check cancelled() first
#endif
        detail::rethrow_if_error(promise_->error);
        if constexpr (!std::is_void_v<T>) {
            if constexpr (std::is_copy_constructible_v<T>) {
                return promise_->value_ref();
            } else {
                if (!promise_->has_value())
                    ASYNCLINK_THROW(UsageError, "the result of a task with a move-only result was already taken");
                T value = std::move(promise_->value_ref());
                promise_->destroy_value();
                return value;
            }
        }
    }

#if !ASYNCLINK_NO_EXCEPTIONS
    /// The outcome as an exception_ptr (nullptr on success); marks it observed.
    std::exception_ptr exception() const noexcept {
        if (!done()) return nullptr;
        promise_->root_state.outcome_observed = true;
        return promise_->error;
    }
#endif

    class Awaiter : public detail::Suspension, public detail::DoneWaiter {
    public:
        const TaskHandle* handle;
        detail::TaskBase* waiting_task = nullptr;
        bool cancelled_before_waiting = false;

        explicit Awaiter(const TaskHandle* h) noexcept : detail::Suspension{&on_cancel}, handle(h) {
            on_done = &on_target_done;
        }
        bool await_ready() const { return handle->done(); }  // throws UsageError from another loop
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            waiting_task = &detail::task_of(h);
            if (!waiting_task->park(h, this)) {
                cancelled_before_waiting = true;  // the waiter was cancelled before it began to wait
                return false;
            }
            handle->state().add_done_waiter(*this);
            return true;
        }
        T await_resume() const {
            if (cancelled_before_waiting) ASYNCLINK_THROW(CancelledError);
            return handle->result();
        }
        static void on_target_done(detail::DoneWaiter& self) noexcept {
            auto& a = static_cast<Awaiter&>(self);
#if ASYNCLINK_NO_EXCEPTIONS
            // The CancelledError the waiter would receive ends it too, as it
            // would unless caught: it is cancelled at this suspension point.
            if (a.handle->state().cancelled()) {
                a.waiting_task->suspension = nullptr;
                a.waiting_task->cancel_state = detail::CancelState::delivering;
                detail::LoopAccess::enqueue(*a.waiting_task->loop, *a.waiting_task);
                return;
            }
#endif
            a.waiting_task->wake();
        }
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            // asyncio: cancelling a task that awaits another task cancels that
            // one too; the waiter then sees whatever it ends with.
            static_cast<Awaiter&>(self).handle->state().cancel();
            return detail::CancelResult::forwarded;
        }
    };

    /// Suspends until the task is done; returns its result or rethrows its
    /// exception. Cancelling the awaiting task cancels the awaited one too.
    Awaiter operator co_await() const noexcept { return Awaiter{this}; }

    detail::TaskBase& state() const noexcept { return promise_->root_state; }
    explicit operator bool() const noexcept { return promise_ != nullptr; }

    /// Adopts a root coroutine (create_task); takes one reference.
    explicit TaskHandle(detail::Promise<T>* promise) noexcept : promise_(promise) { promise_->root_state.add_ref(); }

private:
    void check_home([[maybe_unused]] const char* what) const noexcept {
#if ASYNCLINK_PORT_HAS_THREADS
        const detail::TaskBase& s = promise_->root_state;
        if (s.loop != nullptr && s.home != &port::current_loop()) [[unlikely]] {
            port::fatal(what[0] == 'c'
                            ? "asynclink: TaskHandle copied on a thread that is not its loop's; its reference count "
                              "is not atomic. Copy handles in the loop's tasks (move one to hand it on), and use "
                              "Loop::call_soon_threadsafe to reach the task from another thread"
                            : "asynclink: TaskHandle destroyed on a thread that is not its loop's; its reference "
                              "count is not atomic. Drop handles in the loop's tasks, and use "
                              "Loop::call_soon_threadsafe to reach the task from another thread");
        }
#endif
    }
    void check(const char* operation) const {
        if (!promise_) ASYNCLINK_THROW(UsageError, std::string(operation) + " on an empty TaskHandle");
        check_thread(operation);
    }
    /// Loop-only while the task's loop exists; a handle that outlived its loop
    /// may be read from any thread.
    void check_thread(const char* operation) const {
        if (promise_ && promise_->root_state.loop) {
            detail::LoopAccess::check_thread(*promise_->root_state.loop, operation,
                                             "Loop::call_soon_threadsafe to reach the task from elsewhere");
        }
    }

    detail::Promise<T>* promise_ = nullptr;
};

namespace detail {
/// For an operation that waits on a task (select, wait, as_completed, shield):
/// UsageError unless the calling thread runs the task's loop, raised where the
/// operation is called, before it touches the task. A handle whose loop has
/// ended passes (its task is done).
template <class T>
void check_task_loop(const TaskHandle<T>& h, const char* operation) {
    if (h && h.state().loop != nullptr) {
        LoopAccess::check_thread(*h.state().loop, operation,
                                 "Loop::call_soon_threadsafe to reach the task from elsewhere");
    }
}
}  // namespace detail

/// Schedules `task` to run concurrently on the current loop and returns a
/// handle to it (asyncio.create_task); a high `priority` makes it run before
/// every ready normal task. Loop thread only: from another thread use
/// Loop::call_soon_threadsafe.
template <class T>
TaskHandle<T> create_task(Task<T> task, Priority priority = Priority::normal) {
    Loop* loop = Loop::current_or_null();
    if (loop == nullptr) {
        ASYNCLINK_THROW(UsageError,
                        "create_task() called from a thread that is not running a loop; "
                        "use Loop::call_soon_threadsafe to start a task from another thread");
    }
#if ASYNCLINK_NO_EXCEPTIONS
    if (!task.valid()) return TaskHandle<T>();  // its frame could not be allocated (detail/frame_pool.hpp)
#else
    if (!task.valid()) throw UsageError("create_task() given an empty Task");
#endif
    auto h = task.release();
    detail::TaskBase& state = detail::make_root(h, *loop);
    state.priority = priority;
    TaskHandle<T> handle(&h.promise());  // the handle's reference
    state.add_ref();                     // the loop's reference, dropped when the task finishes
    detail::LoopAccess::adopt(*loop, state);
    detail::LoopAccess::enqueue(*loop, state);
    return handle;
}

#if ASYNCLINK_PORT_HAS_THREADS
/// create_task(task, name[, priority]): asyncio's create_task(coro, name=...).
template <class T>
TaskHandle<T> create_task(Task<T> task, std::string_view name, Priority priority = Priority::normal) {
    TaskHandle<T> handle = create_task(std::move(task), priority);
    handle.state().name = name;
    return handle;
}
#endif

/// A task of the running loop seen without owning it (asyncio.current_task()
/// gives one): valid while the task lives, loop thread only. Empty when no
/// task runs (a callback).
class TaskRef {
public:
    TaskRef() noexcept = default;
    explicit TaskRef(detail::TaskBase* state) noexcept : state_(state) {}
    explicit operator bool() const noexcept { return state_ != nullptr; }
#if ASYNCLINK_PORT_HAS_THREADS
    std::string get_name() const { return detail::task_name(checked("TaskRef::get_name")); }
    void set_name(std::string_view name) { checked("TaskRef::set_name").name = name; }
#else
    const char* get_name() const { return detail::task_name(checked("TaskRef::get_name")); }
    void set_name(const char* name) { checked("TaskRef::set_name").name = name; }
#endif
    Priority priority() const { return checked("TaskRef::priority").priority; }
    bool done() const { return checked("TaskRef::done").done(); }
    /// As TaskHandle::cancel(): the task's current or next suspension point
    /// throws CancelledError (for the running task itself: its next one).
    bool cancel() { return checked("TaskRef::cancel").cancel(); }
    bool operator==(const TaskRef&) const noexcept = default;

private:
    detail::TaskBase& checked(const char* operation) const {
        if (state_ == nullptr) ASYNCLINK_THROW(UsageError, std::string(operation) + " on an empty TaskRef");
        if (state_->loop != nullptr) {
            detail::LoopAccess::check_thread(*state_->loop, operation,
                                             "Loop::call_soon_threadsafe to reach the task from elsewhere");
        }
        return *state_;
    }
    detail::TaskBase* state_ = nullptr;
};

/// The task running now on this thread's loop (asyncio.current_task()); an
/// empty TaskRef in a callback. UsageError if no loop runs here.
inline TaskRef current_task() {
    Loop* loop = Loop::current_or_null();
    if (loop == nullptr) {
        ASYNCLINK_THROW(UsageError,
                        "current_task() called from a thread that is not running a loop; use "
                        "Loop::call_soon_threadsafe to run code in the loop, where current_task() is the task");
    }
    return TaskRef(detail::LoopAccess::running_task(*loop));
}

/// create_task(lambda): starts `make()` as a task that owns `make`, so a
/// coroutine lambda's captures live as long as the task runs (see
/// owning_task). Prefer it to create_task(lambda()), which leaves the
/// coroutine reading the captures of a closure that is already destroyed.
// clang-format off
template <class F>
    requires detail::TaskFactory<F>
TaskHandle<detail::factory_value_t<F>> create_task(F&& make, Priority priority = Priority::normal) {
    // clang-format on
    return create_task(owning_task(std::decay_t<F>(std::forward<F>(make))), priority);
}
#if ASYNCLINK_PORT_HAS_THREADS
// clang-format off
template <class F>
    requires detail::TaskFactory<F>
TaskHandle<detail::factory_value_t<F>> create_task(F&& make, std::string_view name,
                                                   Priority priority = Priority::normal) {
    // clang-format on
    return create_task(owning_task(std::decay_t<F>(std::forward<F>(make))), name, priority);
}
#endif

template <class T>
TaskHandle<T> Loop::create_task(Task<T> task, Priority priority) {
    bind_host_thread("Loop::create_task");
    return asynclink::create_task(std::move(task), priority);
}

// clang-format off
template <class F>
    requires std::invocable<std::decay_t<F>&>
auto Loop::create_task(F&& make, Priority priority) {
    // clang-format on
    bind_host_thread("Loop::create_task");
    return asynclink::create_task(std::forward<F>(make), priority);
}

template <class T>
T Loop::run_until_complete(Task<T> main) {
    if (port::current_loop() != nullptr) {
        ASYNCLINK_THROW(UsageError, "run() called inside a running loop; use create_task() or co_await instead");
    }
    if (!main.valid()) ASYNCLINK_THROW(UsageError, "run() given an empty Task");
    struct Running {
        Loop& loop;
        explicit Running(Loop& l) noexcept : loop(l) { port::current_loop() = &l; }
        ~Running() { port::current_loop() = nullptr; }
    } running(*this);
    TaskHandle<T> handle = create_task(std::move(main));
    run_until_done(handle.state());
    shutdown();
    return handle.result();
}

/// Runs `main` on a new loop on this thread until it finishes, and returns its
/// result or rethrows its exception (asyncio.run). Tasks still pending when
/// main ends are cancelled and run until they finish.
template <class T>
T run(Task<T> main, LoopOptions options = {}) {
    Loop loop(options);
    return loop.run_until_complete(std::move(main));
}

}  // namespace asynclink
