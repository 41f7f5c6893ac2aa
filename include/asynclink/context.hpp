// SPDX-License-Identifier: BSL-1.0
/// @file
/// Context: worker threads that run blocking functions for tasks (the seed's
/// Context, asyncio's run_in_executor with a bounded queue).
///
/// | method                               | task | other loop | thread            | signal handler / ISR |
/// |--------------------------------------|------|------------|-------------------|----------------------|
/// | Context(qsize, threads, cpus)        | yes  | yes        | yes               | no                   |
/// | co_await assign(fn, args...)         | yes  | yes        | no (UsageError)   | no                   |
/// | shutdown(mode)                       | yes  | yes        | yes               | no                   |
/// | qsize / waiting / closed             | yes  | yes        | yes               | no                   |
/// | maxsize / threads                    | yes  | yes        | yes               | yes                  |
/// | ~Context (joins the workers)         | yes  | yes        | yes, not a worker | no                   |
///
/// Use this when a task must call code that blocks (a slow driver, a file, a
/// computation) without stalling its loop, or to run work on another core. For
/// a single call, unblock() is shorter. To hand data, not calls, to a thread
/// that already exists, use a ThreadSafeQueue.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/outcome.hpp"

namespace asynclink {

/// Thrown at `co_await ctx.assign(...)` when the Context was shut down before
/// the job ran: assigned after shutdown(), or still queued when
/// shutdown(ContextShutdown::fail_pending) was called.
class ContextClosed : public std::runtime_error {
public:
    ContextClosed() : std::runtime_error("asynclink: Context shut down before the job ran") {}
};

/// What shutdown() does with jobs that were assigned but have not started.
enum class ContextShutdown : std::uint8_t {
    run_pending,   ///< the workers run every one of them, then exit (what ~Context does)
    fail_pending,  ///< each one fails with ContextClosed in its awaiting task; running jobs finish
};

namespace detail {

class ContextCore;

/// Where a job is; changed only under the Context's mutex.
enum class JobState : std::uint8_t {
    created,    ///< not yet handed to the Context
    paused,     ///< its task waits for a free slot in the job queue
    queued,     ///< in the job queue
    running,    ///< a worker is calling the function
    abandoned,  ///< running, but its task was cancelled: the result will be dropped
    finished,   ///< result or error stored; the awaiting task has been (or is being) notified
    withdrawn,  ///< removed before it ran (cancelled task, or a never-awaited Assignment)
};

/// One assigned call, shared by the awaiting task and the Context (an
/// intrusive reference count: the task's frame may go before the worker
/// finishes). The RemoteNode base carries the completion to the task's loop.
class Job : public RemoteNode {
public:
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

    void add_ref() noexcept {
        // Relaxed: whoever copies a reference already holds one, so the job
        // cannot die meanwhile; nothing else is published by the increment.
        refs_.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        // acq_rel: release makes this holder's writes visible to the one that
        // destroys the job; acquire makes the destroyer see everyone's writes.
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    /// Calls the function and stores its result or exception. Worker thread.
    virtual void execute() noexcept = 0;

    // --- state shared with the workers: guarded by the Context's mutex.
    ContextCore* core = nullptr;  ///< the job holds a reference on it
    Job* prev = nullptr;          ///< link in the job queue or the paused list
    Job* next_job = nullptr;
    JobState state = JobState::created;
    /// Written by the worker before it posts the completion, read by the task
    /// after the wake-up: ordered by the post (a release) and the loop's
    /// taking of it (an acquire).
    std::exception_ptr error;
    /// The task's loop: its wake core, referenced from assignment until the
    /// job is gone, so the worker posts to live memory even if the loop ends.
    /// Set before the job is queued, under the mutex that hands it to a worker.
    WakeRef wake;

    // --- loop thread only.
    TaskBase* waiter = nullptr;  ///< the task to wake; null once it left the suspension point

protected:
    Job() noexcept;
    virtual ~Job();

private:
    port::atomic<std::uint32_t> refs_{1};
};

/// A job producing a T: the result lives in the shared record, since the
/// worker may finish after the awaiting frame is gone.
template <class T>
class TypedJob : public Job {
public:
    T take() {
        if (error) std::rethrow_exception(error);
        if constexpr (!std::is_void_v<T>) return std::move(*value);
    }

protected:
    std::optional<result_t<T>> value;
};

template <class T, class F, class... Args>
class CallJob final : public TypedJob<T> {
public:
    template <class G, class... A>
    explicit CallJob(G&& fn, A&&... args) : call_(std::in_place, std::forward<G>(fn), std::forward<A>(args)...) {}

    void execute() noexcept override {
        try {
            if constexpr (std::is_void_v<T>) {
                std::apply([](auto&&... a) { std::invoke(std::move(a)...); }, std::move(*call_));
                this->value.emplace();
            } else {
                this->value.emplace(
                    std::apply([](auto&&... a) { return std::invoke(std::move(a)...); }, std::move(*call_)));
            }
        } catch (...) {
            this->error = std::current_exception();
        }
        // The function and its arguments go now, on the worker: what they hold
        // (a file, a buffer) is released when the call ends, not when the task
        // next runs.
        call_.reset();
    }

private:
    std::optional<std::tuple<F, Args...>> call_;
};

/// The non-template half of an assignment (src/context.cpp).
class AssignmentBase : public Parked {
protected:
    explicit AssignmentBase(Job* job) noexcept : Parked(&on_cancel), job_(job) {}
    AssignmentBase(AssignmentBase&& other) noexcept;
    AssignmentBase& operator=(AssignmentBase&&) = delete;
    ~AssignmentBase();

    /// Queues the job (or pauses it while the queue is full) for `task`.
    /// Returns false, with ContextClosed stored in the job, if the Context is
    /// shut down: the caller must not suspend.
    bool submit(TaskBase& task);

    Job* job_;

private:
    static CancelResult on_cancel(Suspension& self) noexcept;
};

}  // namespace detail

/// The awaitable `ctx.assign(fn, args...)` returns. Await it once, in a task.
template <class T>
class [[nodiscard]] Assignment : private detail::AssignmentBase {
public:
    explicit Assignment(detail::TypedJob<T>* job) noexcept : AssignmentBase(job) {}
    /// Only before it is awaited (wait_for() and as_task() move it into a task).
    Assignment(Assignment&&) noexcept = default;

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!park(h)) return false;  // cancelled before it was queued: the job never runs
        if (submit(*task)) return true;
        task->suspension = nullptr;  // shut down: not suspending after all, await_resume throws
        return false;
    }
    T await_resume() {
        throw_if_cancelled();
        return static_cast<detail::TypedJob<T>*>(job_)->take();
    }
};

/// Worker threads fed by a bounded FIFO job queue.
///
/// `co_await ctx.assign(fn, args...)` calls fn(args...) on a worker and
/// returns its result, or rethrows its exception, in the awaiting task. The
/// function and the arguments are copied or moved into the job (as
/// std::thread does; pass std::ref for a reference) and destroyed on the
/// worker after the call. A reference result is returned as a copy. void and
/// move-only results are fine.
///
/// - Full queue: at most `qsize` jobs wait to start. Further assigns pause
///   their task (the loop keeps running other tasks); each paused job enters
///   the queue, in assign order, as soon as a slot frees, with no trip
///   through the loop. Jobs start in assign order (FIFO).
/// - Idle workers sleep on a condition variable; they never spin.
/// - Completion reaches the task's loop as a post to its wake core: no
///   polling, and no lock on the loop thread.
/// - Cancelling the awaiting task (as asyncio.to_thread does) throws
///   CancelledError at once. A job that has not started is withdrawn and never
///   runs. A running job finishes on its worker and its result is dropped
///   there; the task's frame may be gone by then. A job that had already
///   finished when the cancel came hands its result to the task, and the
///   cancel fires at the task's next suspension point (as for Queue::get).
/// - Several loops may assign to one Context; each job wakes its own loop.
/// - shutdown() and ~Context never drop a job: each one assigned before them
///   runs (run_pending) or fails with ContextClosed in its task
///   (fail_pending); an assign after shutdown fails with ContextClosed.
///   ~Context runs every pending job, then joins the workers. It must not be
///   called by one of its own jobs (it would join itself; it aborts with a
///   message), and a pending job must not need the destroying thread's loop.
class Context {
public:
    /// `qsize` (>= 1): how many jobs may wait to start. `threads` (>= 1)
    /// workers; with `cpus`, worker i is pinned to cpus[i % cpus.size()].
    /// Throws UsageError for a zero qsize or threads, or a CPU it cannot pin to.
    explicit Context(std::size_t qsize, std::size_t threads = 1, std::vector<int> cpus = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    /// Awaitable: runs fn(args...) on a worker; see the class comment. Throws
    /// UsageError when called on a thread that runs no loop.
    template <class F, class... Args>
    auto assign(F&& fn, Args&&... args) {
        static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                      "Context::assign: fn cannot be called with these arguments; they are moved into the job "
                      "(as std::thread does): use std::ref to pass a reference");
        using T = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;
        check_loop_thread();
        auto* job = new detail::CallJob<T, std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(fn),
                                                                                   std::forward<Args>(args)...);
        attach(*job);
        return Assignment<T>(job);
    }

    /// Stops accepting jobs and wakes the workers; they exit once the queue
    /// is empty. Does not wait for them (the destructor does). Calling it again
    /// with fail_pending fails what is still pending.
    void shutdown(ContextShutdown mode = ContextShutdown::run_pending);

    /// Jobs waiting in the queue to start.
    std::size_t qsize() const;
    /// Assigns paused because the queue was full.
    std::size_t waiting() const;
    bool closed() const;
    std::size_t maxsize() const noexcept { return maxsize_; }
    std::size_t threads() const noexcept { return threads_; }

private:
    void check_loop_thread() const;
    void attach(detail::Job& job) noexcept;

    detail::ContextCore* core_;
    std::size_t maxsize_;
    std::size_t threads_;
};

}  // namespace asynclink
