// SPDX-License-Identifier: BSL-1.0
/// @file
/// detail::QueueApi: the put and get calls that ThreadSafeQueue<T> (one
/// producer) and ThreadSafeQueue<T, many_producers> share, written once over
/// each queue's own core. The queue is the CRTP parameter and provides:
///
/// - `PushResult push(Item&)`: one non-blocking attempt; the item is moved
///   or copied only when it is ok.
/// - `PushResult push_waiting(Item&)`: after a full push, waits (a thread)
///   until ok or closed.
/// - `bool pop(std::optional<T>&)`: one non-blocking attempt.
/// - `bool pop_waiting(std::optional<T>&)`: after an empty pop, waits (a
///   thread); false once the queue is drained and closed.
/// - `bool consumer_may_stop()`: after an empty pop, the consumer has seen
///   the end (one more pop takes an item put just before close()).
/// - `qsize()`, `capacity()`, and the awaiters `BasicGetter<bool>`, `Putter`
///   and `PutterOfReference`.
///
/// The calls' contracts (which context may make which call) are the queues'
/// own: see thread_safe_queue.hpp and many_producer_queue.hpp.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "asynclink/detail/config.hpp"
#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/errors.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/stats.hpp"

namespace asynclink::detail {

/// What one attempt to put found. `item` stays with the caller unless ok.
enum class PushResult { ok, full, closed };

/// The misuse reports below, out of line: the checks sit on every queue
/// operation and inline to a load and a branch.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_awaited_off_loop(const char* operation,
                                                                          const char* alternative) {
    ASYNCLINK_THROW(UsageError, std::string(operation) + " awaited on a thread that is not running a loop; use " +
                                    alternative + " there");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_blocking_on_loop(const char* operation,
                                                                          const char* alternative) {
    ASYNCLINK_THROW(UsageError, std::string(operation) +
                                    " called on a thread running a loop: it would stop the loop; use " + alternative +
                                    " in a task, or the non-blocking form");
}

/// A co_await of a queue awaiter on a thread that runs no loop: nothing could
/// ever resume the task.
inline void check_awaited_on_loop(const char* operation, const char* alternative) {
    if (Loop::current_or_null() == nullptr) [[unlikely]]
        throw_awaited_off_loop(operation, alternative);
}

/// A blocking put_sync/get_sync would stop the loop this thread runs (and
/// never return if the other end is a task on it). Only a port whose
/// current_loop() is per thread can tell (not Cortex-M: one for all contexts).
inline void check_may_block(const char* operation, const char* alternative) {
    if constexpr (ASYNCLINK_PORT_HAS_THREADS != 0) {
        if (Loop::current_or_null() != nullptr) [[unlikely]]
            throw_blocking_on_loop(operation, alternative);
    }
}

/// What next()'s awaiter returns: the item moved out of the optional it was
/// popped into. Not `return std::move(held)`: for a small T the compiler
/// copies that optional with one 16-byte load right after pop() wrote its
/// value and its flag with two narrower stores, and the load cannot take
/// them from the store buffer; it waits for them (next() took twice as long
/// as get() per item, x86-64, g++ 12).
template <class T>
std::optional<T> take_item(std::optional<T>& held) noexcept {
    if (!held) return std::nullopt;
    return std::optional<T>(std::in_place, std::move(*held));
}

template <class Queue, class T>
class QueueApi {
public:
    // ------------------------------------------------------------ producer end

    /// Enqueues `item` if there is room: true. False when full or closed, and
    /// the item stays with the caller: the argument of try_put(std::move(item))
    /// is moved from only on success. Never blocks (and never waits for another
    /// producer); async-signal-safe.
    bool try_put(T&& item) noexcept { return accepted(queue().push(item)); }
    /// The same with a copy of `item`, made only if there is room (as
    /// put_sync(item) does: an lvalue is never moved from).
    // clang-format off
    bool try_put(const T& item) noexcept(std::is_nothrow_copy_constructible_v<T>)
        requires std::is_copy_constructible_v<T>
    {
        // clang-format on
        return accepted(queue().push(item));
    }

    /// Enqueues from a thread. block=false: throws QueueFull when full. block=true:
    /// waits for room (spinning briefly, then blocked); UsageError on a thread
    /// running a loop (a task uses co_await put()). Throws QueueClosed if the
    /// queue is closed. A failed put leaves the item with the caller: the
    /// argument of put_sync(std::move(item)) is moved from only on success.
    void put_sync(T&& item, bool block = false) { put_sync_or_throw(item, block); }
    /// The same with a copy of `item`.
    // clang-format off
    void put_sync(const T& item, bool block = false)
        requires std::is_copy_constructible_v<T>
    {
        // clang-format on
        put_sync_or_throw(item, block);
    }

    /// Suspends the task while the queue is full, then enqueues. Throws
    /// QueueClosed if the queue is or becomes closed. Cancellable: a cancelled
    /// put did not enqueue. The item travels inside the awaiter, so a put that
    /// fails (closed or cancelled) destroys it; use put(std::ref(item)) to keep it.
    [[nodiscard]] auto put(T item) noexcept { return typename Queue::Putter(queue(), std::move(item)); }
    /// put(std::ref(item)): the same, but `item` stays with the caller until it
    /// is enqueued; it is moved from only if the put succeeds, so a put that
    /// fails with QueueClosed or CancelledError hands the item back. `item`
    /// must outlive the co_await.
    [[nodiscard]] auto put(std::reference_wrapper<T> item) noexcept {
        return typename Queue::PutterOfReference(queue(), item.get());
    }

    // ------------------------------------------------------------ consumer end

    /// Dequeues the oldest item if it is there. Never blocks; async-signal-safe.
    std::optional<T> try_get() noexcept {
        std::optional<T> out;
        queue().pop(out);
        return out;
    }

    /// Dequeues from a thread. block=false: throws QueueEmpty when empty.
    /// block=true: waits for an item (spinning briefly, then blocked);
    /// UsageError on a thread running a loop (a task uses co_await get()).
    /// Throws QueueClosed once the queue is closed and drained.
    T get_sync(bool block = false) {
        if (block) check_may_block("ThreadSafeQueue::get_sync(block = true)", "co_await get() or next()");
        std::optional<T> out;
        if (queue().pop(out)) return std::move(*out);
        if (block) {
            if (queue().pop_waiting(out)) return std::move(*out);
            ASYNCLINK_THROW(QueueClosed);
        }
        if (!queue().consumer_may_stop()) ASYNCLINK_THROW(QueueEmpty);
        if (queue().pop(out)) return std::move(*out);  // an item put just before close()
        ASYNCLINK_THROW(QueueClosed);
    }

    /// Suspends the task until an item arrives and returns it. Throws
    /// QueueClosed once the queue is closed and drained. Cancellable: a
    /// cancelled get took nothing.
    [[nodiscard]] auto get() noexcept { return typename Queue::template BasicGetter<false>(queue()); }
    /// Iteration: the next item, or nullopt once the queue is closed and drained.
    /// `while (auto v = co_await q.next()) use(*v);`
    [[nodiscard]] auto next() noexcept { return typename Queue::template BasicGetter<true>(queue()); }

    // ------------------------------------------------------------ any context

    bool empty() const noexcept { return queue().qsize() == 0; }
    bool full() const noexcept { return queue().qsize() == queue().capacity(); }

    /// The most a blocked put_sync(item, true) or get_sync(true) spins for the
    /// other end's answer before it sleeps in the kernel: 50 us by default,
    /// and each end adapts below it (a partner slower than the limit soon
    /// finds the end sleeping at once; docs/benchmarks.md has what a spin and
    /// a sleep cost). Zero: the blocking ends never spin, for a program that
    /// pays for CPU time or battery more than for latency. Both ends; tasks
    /// never spin. Any context, any time: the next wait uses it. UsageError
    /// outside [0, 1 s].
    void set_spin_before_block(Clock::duration limit) {
        if (limit < Clock::duration::zero() || limit > SpinBudget::longest) {
            ASYNCLINK_THROW(UsageError,
                            "ThreadSafeQueue::set_spin_before_block: the limit must be between 0 and 1 s, "
                            "got " +
                                std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count()) +
                                " ns");
        }
        queue().set_block_spin(limit);
    }
    /// The limit set_spin_before_block() set (50 us by default). Any context.
    Clock::duration spin_before_block() const noexcept { return queue().block_spin(); }
    /// The counters, one by one (asynclink/stats.hpp). Any context.
    QueueStats stats() const noexcept { return queue().counted(); }

private:
    Queue& queue() noexcept { return static_cast<Queue&>(*this); }
    const Queue& queue() const noexcept { return static_cast<const Queue&>(*this); }

    bool accepted(PushResult r) noexcept {
        if (r == PushResult::full) queue().count_refused();
        return r == PushResult::ok;
    }

    template <class Item>
    void put_sync_or_throw(Item& item, bool block) {
        if (block) check_may_block("ThreadSafeQueue::put_sync(item, block = true)", "co_await put(item)");
        PushResult r = queue().push(item);
        if (r == PushResult::full && block) r = queue().push_waiting(item);
        if (r == PushResult::closed) ASYNCLINK_THROW(QueueClosed);
        if (r == PushResult::full) {
            queue().count_refused();
            ASYNCLINK_THROW(QueueFull);
        }
    }
};

}  // namespace asynclink::detail
