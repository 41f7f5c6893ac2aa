// SPDX-License-Identifier: BSL-1.0
/// @file
/// gather(): run several awaitables as tasks and wait for all of them
/// (asyncio.gather).
///
/// | operation        | task | other loop | thread | signal handler / ISR |
/// |------------------|------|------------|--------|----------------------|
/// | co_await gather  | yes  | no         | no     | no                   |
///
/// Children are Task<T> (started as tasks, in argument order, when the gather
/// starts) or TaskHandle<T> (already running). Results come back in argument
/// order; void results as std::monostate.
///
/// Without return_exceptions, the first child to fail makes gather cancel the
/// others, wait until they have finished, and then rethrow that first
/// exception. (asyncio leaves the others running; in C++ they may reference the
/// awaiting frame, so gather never returns while a child still runs.)
/// With return_exceptions, every child runs to its end and each result is an
/// Outcome<T>, holding a value or the child's exception (CancelledError for a
/// cancelled child).
/// Cancelling the task awaiting gather cancels every child; gather then throws
/// CancelledError once they have all finished, unless every child ended with a
/// value all the same (the cancel came too late for what each waited on): then
/// the results are returned and CancelledError comes at the waiter's next
/// suspension point, so neither the results nor the cancel is lost.
#pragma once

#include <cstddef>
#include <exception>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "asynclink/detail/child_tasks.hpp"
#include "asynclink/detail/parked.hpp"
#include "asynclink/outcome.hpp"
#include "asynclink/task_handle.hpp"

namespace asynclink {

struct return_exceptions_t {
    explicit return_exceptions_t() = default;
};
/// Tag for gather(return_exceptions, ...).
inline constexpr return_exceptions_t return_exceptions{};

namespace detail {

template <class T>
TaskHandle<T> as_handle(Task<T>&& t) {
    return create_task(std::move(t));
}
template <class T>
TaskHandle<T> as_handle(TaskHandle<T> h) noexcept {
    return h;
}

template <class A>
struct handle_value;
template <class T>
struct handle_value<Task<T>> {
    using type = T;
};
template <class T>
struct handle_value<TaskHandle<T>> {
    using type = T;
};
template <class A>
using handle_value_t = typename handle_value<std::remove_cvref_t<A>>::type;

/// Waits until every child task is done, then says how the gather ends:
/// await_resume() gives nullptr to return the results, or the exception to
/// rethrow. With fail_fast, the first child to fail (in time) cancels the
/// others and its exception is the one rethrown. Cancelling the waiter
/// forwards the cancel to every child and makes the gather throw
/// CancelledError, whatever they end with.
class WaitAll : public Parked {
public:
    /// A child's place on its done list.
    struct Node : DoneWaiter {
        WaitAll* owner = nullptr;
        TaskBase* child = nullptr;
        bool ended_before_cancel = false;  ///< see await_resume()
    };

    WaitAll(std::vector<TaskBase*> children, bool fail_fast)
        : Parked(&on_cancel), children_(std::move(children)), fail_fast_(fail_fast) {}
    /// Borrows `children` and `nodes` (one per child), which outlive the wait.
    WaitAll(std::span<TaskBase* const> children, std::span<Node> nodes, bool fail_fast) noexcept
        : Parked(&on_cancel), children_(children, nodes), fail_fast_(fail_fast) {}

    bool await_ready() const noexcept {
        for (TaskBase* c : children_) {
            if (!c->done()) return false;
        }
        return true;
    }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        // A pending cancel is forwarded rather than thrown here: the children
        // are already running and must be finished before gather may return.
        task = &task_of(h);
        bool cancel_pending = task->take_cancel_request();
        task->park(h, this);
        for (std::size_t i = 0; i < children_.size(); ++i) {
            if (children_[i]->done()) continue;
            children_.node(i).owner = this;
            children_.node(i).child = children_[i];
            children_.node(i).on_done = &on_child_done;
            children_[i]->add_done_waiter(children_.node(i));
            ++remaining_;
        }
        if (fail_fast_) {
            // Children that failed before the wait began count in argument order.
            for (TaskBase* c : children_) {
                if (c->done() && c->exception()) {
                    failure_ = c->exception();
                    break;
                }
            }
        }
        if (cancel_pending) note_cancel();
        if (failure_ || cancelled) cancel_all();
        if (remaining_ == 0) {
            task->suspension = nullptr;
            return false;
        }
        return true;
    }
    std::exception_ptr await_resume() const {
        if (cancelled) {
            // Every child ended with a value in spite of the cancel (each one's
            // wait was already satisfied): return the results rather than drop
            // them, and keep the cancel for the waiter's next suspension point,
            // as wait_for does.
            // A child kept its value if it had ended before the cancel, or if the
            // cancel came too late for it (TaskBase::outran_cancel).
            for (std::size_t i = 0; i < children_.size(); ++i) {
                const TaskBase& c = *children_[i];
                bool kept = children_.node(i).ended_before_cancel ? c.ended_with_value() : c.outran_cancel();
                if (!kept) return std::make_exception_ptr(CancelledError());
            }
            task->request_cancel();
            return nullptr;
        }
        if (!fail_fast_) return nullptr;
        if (failure_) return failure_;
        for (TaskBase* c : children_) {  // all were done before the wait: argument order
            if (std::exception_ptr e = c->exception()) return e;
        }
        return nullptr;
    }

private:
    void note_cancel() noexcept {
        cancelled = true;
        for (std::size_t i = 0; i < children_.size(); ++i) children_.node(i).ended_before_cancel = children_[i]->done();
    }
    void cancel_all() noexcept {
        for (TaskBase* c : children_) c->cancel();
    }
    static void on_child_done(DoneWaiter& self) noexcept {
        Node& node = static_cast<Node&>(self);
        WaitAll& w = *node.owner;
        // Once the children have been cancelled, by a failure or by the
        // waiter's cancel, the CancelledErrors that follow are not failures,
        // and cancelling again would cut the others' clean-up short.
        if (w.fail_fast_ && !w.failure_ && !w.cancelled && node.child->exception()) {
            w.failure_ = node.child->exception();
            w.cancel_all();
        }
        if (--w.remaining_ == 0) w.task->wake();
    }
    static CancelResult on_cancel(Suspension& self) noexcept {
        // Each cancel() of the waiter is forwarded, as for an awaited TaskHandle.
        auto& w = static_cast<WaitAll&>(self);
        if (!w.cancelled) w.note_cancel();
        w.cancel_all();
        return CancelResult::forwarded;
    }

    ChildTasks<Node> children_;
    std::size_t remaining_ = 0;
    std::exception_ptr failure_;
    bool fail_fast_;
};

/// How a gather reports each child: its result (the first failure is
/// rethrown), or an Outcome holding its value or its exception.
struct TakeResults {
    static constexpr bool fail_fast = true;
    template <class T>
    static result_t<T> take(const TaskHandle<T>& h) {
        if constexpr (std::is_void_v<T>) {
            h.result();
            return {};
        } else {
            return h.result();
        }
    }
};
struct TakeOutcomes {
    static constexpr bool fail_fast = false;
    template <class T>
    static Outcome<T> take(const TaskHandle<T>& h) {
        if (std::exception_ptr e = h.exception()) return Outcome<T>(e);
        return Outcome<T>(TakeResults::take(h));
    }
};
template <class Take, class H>
using taken_t = decltype(Take::take(std::declval<const H&>()));

// The children, variadic (a tuple) or a range (a vector): started in order as
// tasks, visited, and collected into the gather's result.

template <class... As>
std::tuple<TaskHandle<handle_value_t<As>>...> start_children(std::tuple<As...>& children) {
    // Braces: the children start in argument order.
    return std::apply(
        [](As&... c) { return std::tuple<TaskHandle<handle_value_t<As>>...>{as_handle(std::move(c))...}; }, children);
}
template <class A>
std::vector<TaskHandle<handle_value_t<A>>> start_children(std::vector<A>& children) {
    std::vector<TaskHandle<handle_value_t<A>>> handles;
    handles.reserve(children.size());
    for (auto& c : children) handles.push_back(as_handle(std::move(c)));
    return handles;
}

template <class... Hs, class F>
void for_each_child(std::tuple<Hs...>& handles, F f) {
    std::apply([&](Hs&... h) { (f(h), ...); }, handles);
}
template <class H, class F>
void for_each_child(std::vector<H>& handles, F f) {
    for (H& h : handles) f(h);
}

template <class Take, class... Hs>
std::tuple<taken_t<Take, Hs>...> collect(std::tuple<Hs...>& handles) {
    return std::apply([](Hs&... h) { return std::tuple<taken_t<Take, Hs>...>(Take::take(h)...); }, handles);
}
template <class Take, class H>
std::vector<taken_t<Take, H>> collect(std::vector<H>& handles) {
    std::vector<taken_t<Take, H>> results;
    results.reserve(handles.size());
    for (H& h : handles) results.push_back(Take::take(h));
    return results;
}

template <class Children>
using handles_t = decltype(start_children(std::declval<Children&>()));
template <class Take, class Children>
using gathered_t = decltype(collect<Take>(std::declval<handles_t<Children>&>()));

/// The one gather. Takes its children unstarted and starts them in its first
/// step: a gather that never runs (cancelled first, or never awaited) starts
/// nothing.
template <class Take, class Children>
Task<gathered_t<Take, Children>> gather_all(Children children) {
    handles_t<Children> handles = start_children(children);
    std::vector<TaskBase*> states;
    for_each_child(handles, [&](auto& h) { states.push_back(&h.state()); });
    if (std::exception_ptr e = co_await WaitAll(std::move(states), Take::fail_fast)) {
        for_each_child(handles, [](auto& h) { h.exception(); });  // every child's outcome was seen here
        std::rethrow_exception(e);
    }
    co_return collect<Take>(handles);
}

}  // namespace detail

/// Runs every child concurrently; returns a tuple of their results.
template <class... As>
Task<std::tuple<result_t<detail::handle_value_t<As>>...>> gather(As&&... children) {
    return detail::gather_all<detail::TakeResults>(
        std::tuple<std::remove_cvref_t<As>...>(std::forward<As>(children)...));
}

/// Runs every child to its end; returns a tuple of Outcome<T>.
template <class... As>
Task<std::tuple<Outcome<detail::handle_value_t<As>>...>> gather(return_exceptions_t, As&&... children) {
    return detail::gather_all<detail::TakeOutcomes>(
        std::tuple<std::remove_cvref_t<As>...>(std::forward<As>(children)...));
}

/// Over a range of Task<T> or TaskHandle<T>: a vector of results.
template <class A>
Task<std::vector<result_t<detail::handle_value_t<A>>>> gather(std::vector<A> children) {
    return detail::gather_all<detail::TakeResults>(std::move(children));
}

/// Over a range, every child to its end: a vector of Outcome<T>.
template <class A>
Task<std::vector<Outcome<detail::handle_value_t<A>>>> gather(return_exceptions_t, std::vector<A> children) {
    return detail::gather_all<detail::TakeOutcomes>(std::move(children));
}

}  // namespace asynclink
