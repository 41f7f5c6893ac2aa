// SPDX-License-Identifier: BSL-1.0
/// @file
/// task_group() and TaskGroup: structured concurrency (asyncio.TaskGroup).
///
/// | operation                   | task | other loop | thread | signal handler / ISR |
/// |-----------------------------|------|------------|--------|----------------------|
/// | co_await task_group(body)   | yes  | no         | no     | no                   |
/// | TaskGroup::create_task      | yes  | no         | no     | no                   |
///
/// ```cpp
/// co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
///     auto a = tg.create_task(fetch(1));
///     tg.create_task(fetch(2));
///     co_return;
/// });   // both fetches have ended here
/// ```
///
/// The body runs as a task with the group it may start children in (and pass
/// on to them); task_group() returns once the body and every child have
/// ended, never before. The first failure (an exception other than
/// CancelledError) of the body or of a child cancels the body and every other
/// child; once all have ended, task_group() throws an ExceptionGroup holding
/// every failure, in the order they happened. Cancelling the task awaiting the
/// group cancels the body and the children; it then throws CancelledError
/// (or the ExceptionGroup, if something failed). A child's own cancellation
/// is not a failure. Returns the body's result.
///
/// This is asyncio's `async with TaskGroup() as tg:`, with the body as a
/// coroutine: C++ has no asynchronous destructor that could wait for the
/// children, so the group's scope is the body. Use gather() for a fixed set of
/// children, select() for the first of several.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asynclink/detail/parked.hpp"
#include "asynclink/task_handle.hpp"

namespace asynclink {

/// Several failures of a task group (asyncio's ExceptionGroup): each one is in
/// exceptions(), in the order they happened; what() names how many and the
/// first.
class ExceptionGroup : public std::exception {
public:
    explicit ExceptionGroup(std::vector<std::exception_ptr> errors)
        // NOLINTNEXTLINE(bugprone-throw-keyword-missing): a vector of exception_ptr, not an exception object
        : errors_(std::move(errors)),
          what_("asynclink: " + std::to_string(errors_.size()) + " failure(s) in a task group") {
        if (errors_.empty()) return;
        try {
            std::rethrow_exception(errors_.front());
        } catch (const std::exception& e) {
            what_ += "; the first: ";
            what_ += e.what();
        } catch (...) {
            what_ += "; the first is not a std::exception";
        }
    }
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return errors_; }
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::vector<std::exception_ptr> errors_;
    std::string what_;
};

class TaskGroup;

namespace detail {
template <class T, class F>
Task<T> run_group(F body);
}

/// The group a task_group() body starts its children in; see the file
/// comment. Only task_group() makes one.
class TaskGroup {
public:
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;

    /// Starts `task` as a child of the group (asyncio's tg.create_task).
    /// UsageError once the group is shutting down (a failure or a cancel is
    /// ending it) or has finished.
    template <class T>
    TaskHandle<T> create_task(Task<T> task) {
        check_open();
        TaskHandle<T> handle = asynclink::create_task(std::move(task));
        watch(handle.state());
        return handle;
    }
    /// create_task(lambda): the child owns the lambda (see owning_task).
    // clang-format off
    template <class F>
        requires detail::TaskFactory<F>
    TaskHandle<detail::factory_value_t<F>> create_task(F&& make) {
        // clang-format on
        return create_task(owning_task(std::decay_t<F>(std::forward<F>(make))));
    }

    /// Children (and the body) that have not ended yet.
    std::size_t running() const noexcept { return running_; }
    /// True once a failure or a cancel is ending the group.
    bool shutting_down() const noexcept { return aborting_; }

    ~TaskGroup() {
        for (auto& c : children_) c->state->release();
    }

private:
    template <class T, class F>
    friend Task<T> detail::run_group(F body);

    TaskGroup() = default;

    struct Child : detail::DoneWaiter {
        TaskGroup* group = nullptr;
        detail::TaskBase* state = nullptr;
    };

    /// Parks the task_group() task until the body and every child have ended.
    /// A cancel of it shuts the group down and keeps it parked (forwarded).
    class Join : public detail::Suspension {
    public:
        explicit Join(TaskGroup& g) noexcept : Suspension{&on_cancel}, group_(g) {}
        bool await_ready() const noexcept { return group_.running_ == 0; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            detail::TaskBase& task = detail::task_of(h);
            // A pending cancel is applied, not thrown: the children must end first.
            bool cancel_pending = task.take_cancel_request();
            task.park(h, this);
            group_.joiner_ = &task;
            if (cancel_pending) on_cancel(*this);
            if (group_.running_ == 0) {
                task.suspension = nullptr;
                group_.joiner_ = nullptr;
                return false;
            }
            return true;
        }
        void await_resume() const noexcept {}

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            TaskGroup& g = static_cast<Join&>(self).group_;
            g.cancelled_ = true;
            g.abort();
            return detail::CancelResult::forwarded;
        }
        TaskGroup& group_;
    };

    void check_open() const {
        if (finished_) ASYNCLINK_THROW(UsageError, "TaskGroup::create_task() on a task group that has finished");
        if (aborting_) {
            ASYNCLINK_THROW(UsageError,
                            "TaskGroup::create_task() on a task group that is shutting down (a child failed or the "
                            "group was cancelled)");
        }
    }
    void watch(detail::TaskBase& state) {
        auto child = std::make_unique<Child>();
        child->group = this;
        child->state = &state;
        child->on_done = &on_child_done;
        children_.push_back(std::move(child));  // may throw: nothing is watched yet
        state.add_ref();
        ++running_;
        if (state.done()) {
            on_child_done(*children_.back());
        } else {
            state.add_done_waiter(*children_.back());
        }
    }
    void abort() noexcept {
        aborting_ = true;
        for (auto& c : children_) {
            if (!c->state->done()) c->state->cancel();
        }
    }
    static void on_child_done(detail::DoneWaiter& self) noexcept {
        auto& child = static_cast<Child&>(self);
        TaskGroup& g = *child.group;
        detail::TaskBase& s = *child.state;
        if (s.state == detail::TaskState::finished && s.exception()) {
            s.outcome_observed = true;  // it travels in the ExceptionGroup
            try {
                g.errors_.push_back(s.exception());
            } catch (...) {
                // Out of memory for the list: the failure still ends the group
                // (below), and the loop reports it as never retrieved.
                s.outcome_observed = false;
            }
            if (!g.aborting_) g.abort();
        }
        if (--g.running_ == 0 && g.joiner_ != nullptr) std::exchange(g.joiner_, nullptr)->wake();
    }

    std::vector<std::unique_ptr<Child>> children_;  ///< the body first; each holds a reference to its task
    std::vector<std::exception_ptr> errors_;
    detail::TaskBase* joiner_ = nullptr;  ///< the task_group() task, while parked in Join
    std::size_t running_ = 0;
    bool aborting_ = false;
    bool cancelled_ = false;  ///< the task_group() task was cancelled
    bool finished_ = false;
};

namespace detail {

template <class T, class F>
Task<T> run_group(F body) {
    TaskGroup group;
    // The body is a child like the others, started first; `body` lives in
    // this frame as long as the coroutine it makes runs.
    TaskHandle<T> main = group.create_task(body(group));
    co_await TaskGroup::Join(group);
    group.finished_ = true;
    if (!group.errors_.empty()) throw ExceptionGroup(std::move(group.errors_));
    if (group.cancelled_) throw CancelledError();
    co_return main.result();  // the body ended with a value, or cancelled by itself: CancelledError
}

}  // namespace detail

/// Runs `body(group)` and every task it starts in the group until all have
/// ended; see the file comment. `body` is a callable taking TaskGroup& and
/// returning a Task<T> (a coroutine lambda); task_group() returns its value.
template <class F>
requires std::invocable<F&, TaskGroup&> && detail::is_task<std::invoke_result_t<F&, TaskGroup&>>::value
    Task<typename std::invoke_result_t<F&, TaskGroup&>::value_type>
    task_group(F body) {
    return detail::run_group<typename std::invoke_result_t<F&, TaskGroup&>::value_type>(std::move(body));
}

}  // namespace asynclink
