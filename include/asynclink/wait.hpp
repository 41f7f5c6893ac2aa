// SPDX-License-Identifier: BSL-1.0
/// @file
/// wait() and as_completed(): wait for some of several running tasks without
/// cancelling any (asyncio.wait, asyncio.as_completed).
///
/// | operation                   | task | other loop | thread | signal handler / ISR |
/// |-----------------------------|------|------------|--------|----------------------|
/// | co_await wait(tasks, when)  | yes  | no         | no     | no                   |
/// | as_completed(tasks), next() | yes  | no         | no     | no                   |
///
/// Use wait() to learn which tasks are done once the first one is (or the
/// first fails, or all are, or a timeout passes) while the others run on; use
/// as_completed() to take results in the order the tasks finish. Neither
/// cancels a task, and cancelling the waiter leaves the tasks running (as in
/// asyncio): to cancel the rest when one finishes, use select(); to run tasks
/// that all end together, gather() or task_group().
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "asynclink/detail/child_tasks.hpp"
#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/timer_node.hpp"
#include "asynclink/task_handle.hpp"

namespace asynclink {

/// When wait() returns (asyncio's return_when).
enum class ReturnWhen : std::uint8_t {
    first_completed,  ///< as soon as one task is done
    first_exception,  ///< as soon as one task fails (not by cancellation), else when all are done
    all_completed,    ///< when every task is done
};
inline constexpr ReturnWhen first_completed = ReturnWhen::first_completed;
inline constexpr ReturnWhen first_exception = ReturnWhen::first_exception;
inline constexpr ReturnWhen all_completed = ReturnWhen::all_completed;

/// What wait() returns: the tasks done and those still running, each in the
/// order they were given.
template <class T>
struct WaitResult {
    std::vector<TaskHandle<T>> done;
    std::vector<TaskHandle<T>> pending;
};

namespace detail {

/// Parks a task until enough of `children` are done for `until`, or the
/// timeout passes. Cancels no child; a cancel of the waiter detaches it from
/// them. await_resume(): false if the waiter was cancelled, else true.
class WaitSome : public Parked, public TimerNode {
public:
    /// A child's place on its done list.
    struct Node : DoneWaiter {
        WaitSome* owner = nullptr;
    };

    WaitSome(std::vector<TaskBase*> children, ReturnWhen until, std::optional<Clock::duration> timeout)
        : Parked(&on_cancel), children_(std::move(children)), until_(until), timeout_(timeout) {
        fire = &on_timeout;
    }
    /// Borrows `children` and `nodes` (one per child), which outlive the wait.
    WaitSome(std::span<TaskBase* const> children, std::span<Node> nodes, ReturnWhen until,
             std::optional<Clock::duration> timeout) noexcept
        : Parked(&on_cancel), children_(children, nodes), until_(until), timeout_(timeout) {
        fire = &on_timeout;
    }
    WaitSome(const WaitSome&) = delete;
    WaitSome& operator=(const WaitSome&) = delete;

    bool await_ready() const noexcept { return satisfied() || (timeout_ && *timeout_ <= Clock::duration::zero()); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!park(h)) return false;
        for (std::size_t i = 0; i < children_.size(); ++i) {
            if (children_[i]->done()) continue;
            children_.node(i).owner = this;
            children_.node(i).on_done = &on_child_done;
            children_[i]->add_done_waiter(children_.node(i));
        }
        if (timeout_) {
            deadline = deadline_after(Clock::now(), *timeout_);
            LoopAccess::add_timer(*task->loop, *this);
        }
        return true;
    }
    bool await_resume() const noexcept { return !cancelled; }

private:
    bool satisfied() const noexcept {
        std::size_t done = 0;
        for (TaskBase* c : children_) {
            if (!c->done()) continue;
            ++done;
            if (until_ == ReturnWhen::first_completed) return true;
#if !ASYNCLINK_NO_EXCEPTIONS
            if (until_ == ReturnWhen::first_exception && !c->cancelled() && c->exception()) return true;
#endif
        }
        return done == children_.size();
    }
    /// Leaves the done list of every child still running (a finished child
    /// took the node off its list as it finished) and the timer heap; the
    /// caller wakes or resumes the task.
    void detach() noexcept {
        for (std::size_t i = 0; i < children_.size(); ++i) {
            if (!children_[i]->done()) children_[i]->remove_done_waiter(children_.node(i));
        }
        if (timeout_) LoopAccess::remove_timer(*task->loop, *this);
    }
    static void on_child_done(DoneWaiter& self) noexcept {
        WaitSome& w = *static_cast<Node&>(self).owner;
        // The finishing child has already taken this node off its list, and
        // its done() is true, so detach() leaves it alone.
        if (!w.satisfied()) return;
        w.detach();
        w.task->wake();
    }
    static void on_timeout(TimerNode& self) noexcept {
        auto& w = static_cast<WaitSome&>(self);
        w.timeout_.reset();  // the timer has left the heap
        w.detach();
        w.task->wake();
    }
    static CancelResult on_cancel(Suspension& self) noexcept {
        auto& w = static_cast<WaitSome&>(self);
        w.detach();
        w.cancelled = true;
        return CancelResult::resume_now;
    }

    ChildTasks<Node> children_;
    ReturnWhen until_;
    std::optional<Clock::duration> timeout_;
};

template <class T>
Task<WaitResult<T>> wait_tasks(std::vector<TaskHandle<T>> tasks, ReturnWhen when,
                               std::optional<Clock::duration> timeout) {
    std::vector<TaskBase*> states;
    states.reserve(tasks.size());
    for (auto& t : tasks) states.push_back(&t.state());
    if (!co_await WaitSome(std::move(states), when, timeout)) throw CancelledError();
    WaitResult<T> result;
    for (auto& t : tasks) (t.state().done() ? result.done : result.pending).push_back(std::move(t));
    co_return result;
}

template <class T>
void check_tasks(const std::vector<TaskHandle<T>>& tasks, const char* operation) {
    for (const auto& t : tasks) {
        if (!t) ASYNCLINK_THROW(UsageError, std::string(operation) + " given an empty TaskHandle");
        check_task_loop(t, operation);
    }
}

}  // namespace detail

/// Waits until `when` is met (default: every task done) and returns the
/// tasks done and those still pending. Cancels nothing; throws CancelledError
/// if the waiting task is cancelled (the tasks run on). With no tasks it
/// returns at once. UsageError for an empty handle.
template <class T>
Task<WaitResult<T>> wait(std::vector<TaskHandle<T>> tasks, ReturnWhen when = all_completed) {
    detail::check_tasks(tasks, "wait()");
    return detail::wait_tasks(std::move(tasks), when, std::nullopt);
}

/// As wait(), but returns when `timeout` passes even if `when` is not met
/// (asyncio.wait(timeout=...): no TimeoutError; look at `pending`).
template <class T, class Rep, class Period>
Task<WaitResult<T>> wait(std::vector<TaskHandle<T>> tasks, ReturnWhen when,
                         std::chrono::duration<Rep, Period> timeout) {
    detail::check_tasks(tasks, "wait()");
    return detail::wait_tasks(std::move(tasks), when, detail::saturating_duration(timeout));
}

/// The tasks in the order they finish (asyncio.as_completed): each
/// `co_await next()` gives the next task to finish, already done (co_await it
/// or call result() for its value), and std::nullopt once every task has been
/// given. With a timeout, next() throws TimeoutError once it passes (counted
/// from as_completed()). Cancels nothing; a cancelled next() loses no task
/// (the next call gives it). Make and use it in one task of the tasks' loop;
/// it must outlive no task of a loop that has ended.
template <class T>
class AsCompleted {
public:
    explicit AsCompleted(std::vector<TaskHandle<T>> tasks, std::optional<Clock::duration> timeout = std::nullopt)
        : tasks_(std::move(tasks)), nodes_(tasks_.size()) {
        detail::check_tasks(tasks_, "as_completed()");
        if (timeout) deadline_ = detail::deadline_after(Clock::now(), *timeout);
        order_.reserve(tasks_.size());
        // Those done already come first, in the order given.
        for (std::size_t i = 0; i < tasks_.size(); ++i) {
            nodes_[i].owner = this;
            nodes_[i].index = i;
            nodes_[i].on_done = &on_task_done;
            if (tasks_[i].state().done()) {
                order_.push_back(i);
            } else {
                tasks_[i].state().add_done_waiter(nodes_[i]);
            }
        }
    }
    AsCompleted(const AsCompleted&) = delete;
    AsCompleted& operator=(const AsCompleted&) = delete;
    ~AsCompleted() {
        for (std::size_t i = 0; i < tasks_.size(); ++i) {
            if (!tasks_[i].state().done()) tasks_[i].state().remove_done_waiter(nodes_[i]);
        }
    }

    /// How many tasks next() has yet to give.
    std::size_t remaining() const noexcept { return tasks_.size() - given_; }

    class Next : public detail::Parked, public detail::TimerNode {
    public:
        explicit Next(AsCompleted& owner) noexcept : Parked(&on_cancel), owner_(owner) { fire = &on_timeout; }
        bool await_ready() const noexcept { return owner_.given_ < owner_.order_.size() || owner_.remaining() == 0; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            if (owner_.waiter_ != nullptr) {
                ASYNCLINK_THROW(UsageError, "as_completed(): next() awaited by two tasks at once");
            }
            if (!park(h)) return false;
            if (owner_.deadline_ && *owner_.deadline_ <= Clock::now()) {
                task->suspension = nullptr;  // await_resume throws TimeoutError
                return false;
            }
            owner_.waiter_ = this;
            if (owner_.deadline_) {
                deadline = *owner_.deadline_;
                detail::LoopAccess::add_timer(*task->loop, *this);
            }
            return true;
        }
        std::optional<TaskHandle<T>> await_resume() {
            throw_if_cancelled();
            if (owner_.given_ < owner_.order_.size()) return owner_.tasks_[owner_.order_[owner_.given_++]];
            if (owner_.remaining() == 0) return std::nullopt;
            throw TimeoutError();  // only a timeout resumes the waiter with nothing to give
        }

    private:
        friend class AsCompleted;
        static void on_timeout(TimerNode& self) noexcept {
            auto& n = static_cast<Next&>(self);
            n.owner_.waiter_ = nullptr;
            n.task->wake();
        }
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& n = static_cast<Next&>(self);
            n.owner_.waiter_ = nullptr;
            if (n.owner_.deadline_) detail::LoopAccess::remove_timer(*n.task->loop, n);
            n.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        AsCompleted& owner_;
    };

    /// Suspends until a task not yet given is done; see the class comment.
    [[nodiscard]] Next next() noexcept { return Next(*this); }

private:
    struct Node : detail::DoneWaiter {
        AsCompleted* owner = nullptr;
        std::size_t index = 0;
    };
    static void on_task_done(detail::DoneWaiter& self) noexcept {
        auto& node = static_cast<Node&>(self);
        AsCompleted& ac = *node.owner;
        ac.order_.push_back(node.index);  // reserved: never allocates here
        if (Next* w = std::exchange(ac.waiter_, nullptr)) {
            if (ac.deadline_) detail::LoopAccess::remove_timer(*w->task->loop, *w);
            w->task->wake();
        }
    }

    std::vector<TaskHandle<T>> tasks_;
    std::vector<Node> nodes_;
    std::vector<std::size_t> order_;  ///< indices of the done tasks, in the order they finished
    std::size_t given_ = 0;           ///< how many of order_ next() has given
    std::optional<Clock::time_point> deadline_;
    Next* waiter_ = nullptr;
};

/// asyncio.as_completed(tasks): see AsCompleted.
template <class T>
AsCompleted<T> as_completed(std::vector<TaskHandle<T>> tasks) {
    return AsCompleted<T>(std::move(tasks));
}
/// asyncio.as_completed(tasks, timeout=...): next() throws TimeoutError once
/// `timeout` has passed and a task is still running.
template <class T, class Rep, class Period>
AsCompleted<T> as_completed(std::vector<TaskHandle<T>> tasks, std::chrono::duration<Rep, Period> timeout) {
    return AsCompleted<T>(std::move(tasks), detail::saturating_duration(timeout));
}

}  // namespace asynclink
