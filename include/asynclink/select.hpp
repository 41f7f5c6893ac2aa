// SPDX-License-Identifier: BSL-1.0
/// @file
/// select(): wait for the first of several awaitables, cancel the rest, and
/// lose nothing.
///
/// | operation         | task | other loop | thread | signal handler / ISR |
/// |-------------------|------|------------|--------|----------------------|
/// | co_await select() | yes  | no         | no     | no                   |
///
/// ```cpp
/// auto [item, flagged, timed_out] = co_await al::select(q.get(), flag.wait(), al::sleep(10ms));
/// if (item) use(*item);          // std::optional<T> for a branch with a value
/// if (flagged) react();          // bool for a void branch
/// ```
///
/// Each branch runs as a task of its own (in argument order, when the select
/// starts). When the first one ends, select cancels the others and waits for
/// them to end too, so it never returns while a branch still runs. The result
/// holds one slot per branch, std::optional<T> (bool for void): every branch
/// that produced its value is engaged, the first one and any other that
/// completed before its cancel reached it, so a completed branch's value is
/// never dropped. A cancelled branch loses nothing: the primitives' waits are
/// cancellation-safe (an item stays in the queue, a set stays in the flag).
///
/// Branches: any asynclink awaitable (a queue's get()/next()/put(), a flag's
/// or event's wait(), a Message, sleep(), a stream read), a Task<T> (started
/// as the branch, and cancelled if another wins), or a TaskHandle<T> (awaited
/// without cancelling the task: losing the race only stops the wait). An
/// lvalue awaitable (a Message) is awaited in place; it must outlive the
/// select, as it does in `co_await select(...)`.
///
/// A branch that fails with an exception other than CancelledError makes
/// select rethrow it (the first in argument order) once every branch has ended.
/// If the task awaiting select is cancelled, every branch is cancelled; select
/// throws CancelledError unless a branch completed all the same, in which case
/// it returns the result and the cancel comes at the next suspension point.
/// Use wait() instead to let the others run on, gather() to wait for all.
///
/// Cost: select allocates its own frame and one per branch (3 for two
/// branches), nothing else: the waits' bookkeeping lives in its frame, and a
/// branch around a primitive's awaitable that loses ends where it is parked,
/// without a CancelledError thrown through it.
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/gather.hpp"
#include "asynclink/shield.hpp"
#include "asynclink/wait.hpp"

namespace asynclink {

namespace detail {

template <class A>
decltype(auto) awaiter_of(A&& a) {
    if constexpr (requires { static_cast<A&&>(a).operator co_await(); }) {
        return static_cast<A&&>(a).operator co_await();
    } else {
        return static_cast<A&&>(a);
    }
}
/// What `co_await a` gives, for an awaitable `a` of type A.
template <class A>
using await_result_t = std::remove_cvref_t<decltype(awaiter_of(std::declval<A>()).await_resume())>;

template <class A>
struct is_task_handle : std::false_type {};
template <class T>
struct is_task_handle<TaskHandle<T>> : std::true_type {};

template <class A>
struct await_result {
    using type = await_result_t<A>;
};
/// The value a branch produces: a task's value (handle_value, as gather), or
/// what co_await gives.
template <class A, class Plain = std::remove_cvref_t<A>>
using branch_value_t = typename std::conditional_t<is_task<Plain>::value || is_task_handle<Plain>::value,
                                                   handle_value<Plain>, await_result<A>>::type;

/// A branch's slot in select's result.
template <class T>
using select_slot_t = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

/// Awaits an awaitable as a task of its own. `A` is a reference type for an
/// lvalue awaitable (awaited in place) and a value type for an rvalue (moved
/// into this frame).
template <class A>
Task<branch_value_t<A>> await_branch(A awaitable) {
    co_return co_await static_cast<A&&>(awaitable);
}

template <class A>
auto start_branch(A&& a) {
    using Plain = std::remove_cvref_t<A>;
    if constexpr (is_task<Plain>::value) {
        static_assert(!std::is_lvalue_reference_v<A>, "select(): pass a Task as an rvalue (std::move it, or call it)");
        return create_task(static_cast<Plain&&>(a));
    } else if constexpr (is_task_handle<Plain>::value) {
        return create_task(shielded(Plain(a)));
    } else {
        TaskHandle<branch_value_t<A>> branch = create_task(await_branch<A>(static_cast<A&&>(a)));
        // Its body only awaits: a cancel that detached the awaiter ends it there.
        branch.state().ends_where_cancelled = true;
        return branch;
    }
}

/// A TaskHandle branch of another loop's task is refused where select() is
/// called, before anything touches the task.
template <class A>
void check_branch(const A& a) {
    if constexpr (is_task_handle<A>::value) check_task_loop(a, "select()");
}

/// A no-op suspension point that requests a cancel for the task's next one
/// (a cancel that came too late to stop a branch that completed).
struct RequestCancel {
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        task_of(h).request_cancel();
        return false;
    }
    void await_resume() const noexcept {}
};

template <class T>
select_slot_t<T> take_slot(const TaskHandle<T>& h) {
    if (!h.state().ended_with_value()) {
        h.exception();  // a cancelled branch: its CancelledError is seen here
        return select_slot_t<T>{};
    }
    if constexpr (std::is_void_v<T>) {
        h.result();
        return true;
    } else {
        return select_slot_t<T>(h.result());
    }
}

template <class... As>
Task<std::tuple<select_slot_t<branch_value_t<As>>...>> select_all(std::tuple<As...> awaitables) {
    // Braces: the branches start in argument order.
    auto branches =
        std::apply([](auto&&... a) { return std::tuple{start_branch<decltype(a)>(static_cast<decltype(a)&&>(a))...}; },
                   std::move(awaitables));
    // The branches and the waits' nodes live in this frame: a select allocates
    // only its frame and each branch's.
    constexpr std::size_t count = sizeof...(As);
    const std::array<TaskBase*, count> states =
        std::apply([](auto&... b) { return std::array<TaskBase*, count>{&b.state()...}; }, branches);
    std::array<WaitSome::Node, count> first_nodes;
    std::array<WaitAll::Node, count> all_nodes;

    bool cancelled = !co_await WaitSome(states, first_nodes, ReturnWhen::first_completed, std::nullopt);
    for (TaskBase* s : states) {
        if (!s->done()) s->cancel();
    }
    // Not interruptible: a cancel of the waiter meanwhile is forwarded to the
    // branches (already cancelled) and reported here.
    if (co_await WaitAll(states, all_nodes, false)) cancelled = true;

    std::exception_ptr failure;
    bool any_value = false;
    for (TaskBase* s : states) {
        if (!failure && s->state == TaskState::finished && s->exception()) failure = s->exception();
        any_value = any_value || s->ended_with_value();
    }
    if (failure) {
        std::apply([](auto&... b) { (b.exception(), ...); }, branches);  // seen: rethrown or cancelled by us
        std::rethrow_exception(failure);
    }
    if (!any_value) {
        std::apply([](auto&... b) { (b.exception(), ...); }, branches);
        throw CancelledError();
    }
    if (cancelled) co_await RequestCancel{};
    co_return std::apply([](auto&... b) { return std::tuple<select_slot_t<branch_value_t<As>>...>(take_slot(b)...); },
                         branches);
}

}  // namespace detail

/// Waits for the first of `awaitables`; see the file comment.
template <class... As>
requires(sizeof...(As) >=
         1) Task<std::tuple<detail::select_slot_t<detail::branch_value_t<As>>...>> select(As&&... awaitables) {
    (detail::check_branch(awaitables), ...);
    return detail::select_all<As...>(std::tuple<As...>(std::forward<As>(awaitables)...));
}

}  // namespace asynclink
