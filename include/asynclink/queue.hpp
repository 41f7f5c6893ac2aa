// SPDX-License-Identifier: BSL-1.0
/// @file
/// Queue<T>: asyncio.Queue for tasks of one loop; PriorityQueue<T> and
/// LifoQueue<T> are the same queue taking its items out in another order.
///
/// | method                     | task | other loop | thread | signal handler / ISR |
/// |----------------------------|------|------------|--------|----------------------|
/// | co_await put / get         | yes  | no         | no     | no                   |
/// | put_nowait / get_nowait    | yes  | no         | no     | no                   |
/// | qsize / empty / full       | yes  | no         | no     | no                   |
///
/// (The same rows hold for PriorityQueue and LifoQueue.)
///
/// Use this between tasks of one loop. Use ThreadSafeQueue when one end is a
/// thread, a signal handler, an ISR or another loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <vector>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink {

namespace detail {
// The order a Queue takes its items out in: push() an item, next() is the
// one the next get takes, pop() drops it.

/// First in, first out (asyncio.Queue).
template <class T>
class FifoOrder {
public:
    template <class X>
    void push(X&& item) {
        items_.push_back(std::forward<X>(item));
    }
    T& next() noexcept { return items_.front(); }
    void pop() noexcept { items_.pop_front(); }
    std::size_t size() const noexcept { return items_.size(); }

private:
    std::deque<T> items_;
};

/// Last in, first out (asyncio.LifoQueue).
template <class T>
class LifoOrder {
public:
    template <class X>
    void push(X&& item) {
        items_.push_back(std::forward<X>(item));
    }
    T& next() noexcept { return items_.back(); }
    void pop() noexcept { items_.pop_back(); }
    std::size_t size() const noexcept { return items_.size(); }

private:
    std::vector<T> items_;
};

/// Smallest first by Compare, a binary heap (asyncio.PriorityQueue, heapq).
/// Equal items come out in no particular order: to keep the order they were
/// put in, put (priority, sequence, item) tuples, as asyncio's docs advise.
template <class T, class Compare>
class PriorityOrder {
public:
    template <class X>
    void push(X&& item) {
        items_.push_back(std::forward<X>(item));  // strong: nothing changes if it throws
        std::push_heap(items_.begin(), items_.end(), greater_);
    }
    T& next() noexcept { return items_.front(); }
    // next() may have been moved from: pop_heap moves it to the back, where
    // no comparison reads it, and drops it there.
    void pop() noexcept {
        std::pop_heap(items_.begin(), items_.end(), greater_);
        items_.pop_back();
    }
    std::size_t size() const noexcept { return items_.size(); }

private:
    // std::*_heap keep the largest on top: compare reversed for the smallest.
    struct Greater {
        Compare less;
        bool operator()(const T& a, const T& b) const { return less(b, a); }
    };
    std::vector<T> items_;
    Greater greater_{};
};

}  // namespace detail

/// FIFO queue (Order: another order of taking items out, see PriorityQueue
/// and LifoQueue); maxsize 0 means unbounded (as asyncio). An item put while
/// a getter waits is promised to that getter: the queue keeps one item for
/// it, no longer counted by qsize(), until the getter runs and takes the next
/// item in the queue's order. A getter woken that way keeps it even if it is
/// cancelled before it runs (the cancel then fires at its next suspension
/// point): no item is lost to cancellation.
///
/// Exception safety: every hand-over gives the strong guarantee, so a T whose
/// copy or move throws loses neither an item nor a waiting task. An item is
/// moved when T's move cannot throw, and copied otherwise (as std::vector
/// does), so the source is intact when the copy throws. If it throws:
///   - in a put (put_nowait, co_await put): the put throws, nothing was
///     enqueued, the waiting getters still wait;
///   - on the way out to a get (get_nowait, co_await get): the get throws and
///     the item stays at the front of the queue;
///   - in the refill a get makes from the longest-waiting putter: the get
///     succeeds and that put throws the exception instead (its item was never
///     enqueued; put(std::ref(item)) leaves it with the caller).
/// A T with a throwing move and no copy (move-only) gets the basic guarantee
/// only: the item the failed move came from is in whatever state it left.
template <class T, class Order = detail::FifoOrder<T>>
class Queue {
public:
    explicit Queue(std::size_t maxsize = 0) noexcept : maxsize_(maxsize) {}
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    class Getter : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Getter(Queue& q) noexcept : Parked(&on_cancel), queue_(q) {}
        Getter(Getter&& other) noexcept : Parked(&on_cancel), queue_(other.queue_) {}  // before the co_await only
        Getter& operator=(const Getter&) = delete;
        /// A getter woken with a promised item that never ran (its frame was
        /// destroyed) leaves the item in the queue for the next getter.
        ~Getter() {
            if (promised_) queue_.forget_promise();
        }
        bool await_ready() {
            queue_.check("Queue::get");
            return queue_.qsize_now() != 0;  // taken in await_resume, with nothing in between
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            queue_.getters_.push_back(*this);
            return true;
        }
        T await_resume() {
            throw_if_cancelled();
            return queue_.take_front(promised_ ? this : nullptr);
        }

    private:
        friend class Queue;
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& g = static_cast<Getter&>(self);
            g.queue_.getters_.remove(g);
            g.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        Queue& queue_;
        bool promised_ = false;  ///< an item is kept for this getter (see Queue)
    };

    /// What both kinds of put() awaiter share; the refill after a get moves
    /// the item of the longest-waiting one into the queue through it.
    class PutterBase : public detail::Parked, public detail::ListedWaiter {
    public:
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            queue_.putters_.push_back(*this);
            return true;
        }
        void await_resume() const {
            throw_if_cancelled();
            detail::rethrow_if_error(error_);
        }

    protected:
        PutterBase(Queue& q, T& (*item_of)(PutterBase&) noexcept) noexcept
            : Parked(&on_cancel), queue_(q), item_of_(item_of) {}
        Queue& queue_;

    private:
        friend class Queue;
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& p = static_cast<PutterBase&>(self);
            p.queue_.putters_.remove(p);  // the item was never queued: the put fails with CancelledError
            p.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        T& (*item_of_)(PutterBase&) noexcept;  // a function, not a pointer to the item: awaiters may be moved
        detail::ErrorPtr error_;               ///< why the refill could not enqueue the item
    };

    /// The awaiter of put(): holds the item (ByReference = false) or refers to
    /// the caller's (ByReference = true).
    template <bool ByReference>
    class BasicPutter : public PutterBase {
        using Held = std::conditional_t<ByReference, T&, T>;
        using Given = std::conditional_t<ByReference, T&, T&&>;

    public:
        BasicPutter(Queue& q, Given item) noexcept(ByReference || std::is_nothrow_move_constructible_v<T>)
            : PutterBase(q, &item_of), item_(static_cast<Given>(item)) {}
        bool await_ready() {
            this->queue_.check("Queue::put");
            return this->queue_.try_put(item_);
        }

    private:
        static T& item_of(PutterBase& self) noexcept { return static_cast<BasicPutter&>(self).item_; }
        Held item_;
    };
    using Putter = BasicPutter<false>;
    using PutterOfReference = BasicPutter<true>;

    /// Suspends while the queue is full, then enqueues. Cancellable. The item
    /// travels inside the awaiter, so a cancelled put destroys it; use
    /// put(std::ref(item)) to keep it.
    [[nodiscard]] Putter put(T item) { return Putter(*this, std::move(item)); }
    /// put(std::ref(item)): the same, but `item` stays with the caller until it
    /// is enqueued and is moved from only then, so a cancelled put hands it
    /// back. `item` must outlive the co_await.
    [[nodiscard]] PutterOfReference put(std::reference_wrapper<T> item) noexcept {
        return PutterOfReference(*this, item.get());
    }
    /// Suspends while the queue is empty, then dequeues. Cancellable.
    [[nodiscard]] Getter get() noexcept { return Getter(*this); }

    /// Enqueues without waiting; throws QueueFull when full, leaving the item
    /// with the caller (the argument of put_nowait(std::move(item)) is moved
    /// from only on success).
    void put_nowait(T&& item) {
        check("Queue::put_nowait");
        if (!try_put(item)) ASYNCLINK_THROW(QueueFull);
    }
    /// The same with a copy of `item`.
    // clang-format off
    void put_nowait(const T& item)
        requires std::is_copy_constructible_v<T>
    {
        // clang-format on
        check("Queue::put_nowait");
        if (!try_put(item)) ASYNCLINK_THROW(QueueFull);
    }
    /// Dequeues without waiting; throws QueueEmpty when empty.
    T get_nowait() {
        check("Queue::get_nowait");
        if (qsize_now() == 0) ASYNCLINK_THROW(QueueEmpty);
        return take_front(nullptr);
    }

    /// Items queued, not counting those promised to woken getters.
    std::size_t qsize() {
        check("Queue::qsize");
        return qsize_now();
    }
    bool empty() { return qsize() == 0; }
    bool full() { return maxsize_ != 0 && qsize() >= maxsize_; }
    std::size_t maxsize() const noexcept { return maxsize_; }

private:
    void check(const char* operation) { binding_.check(operation, "ThreadSafeQueue"); }
    std::size_t qsize_now() const noexcept { return items_.size() - promised_; }

    // The hand-over of an item the queue does not own yet: moved if that
    // cannot throw, else copied, so a throw leaves the source intact.
    static decltype(auto) hand_over(T& item) noexcept { return std::move_if_noexcept(item); }
    static const T& hand_over(const T& item) noexcept { return item; }

    // A waiting getter means no item is free: this one is promised to it.
    // push_back either enqueues or, throwing, changes nothing.
    template <class Item>
    bool try_put(Item& item) {
        if (getters_.empty() && maxsize_ != 0 && qsize_now() >= maxsize_) return false;
        items_.push(hand_over(item));
        if (detail::ListedWaiter* w = getters_.pop_front()) promise_front_to(*static_cast<Getter*>(w));
        return true;
    }

    void promise_front_to(Getter& g) noexcept {
        ++promised_;
        g.promised_ = true;
        g.task->wake();
    }

    // A promise given up (its getter's frame is gone, or the copy out to it
    // threw): the item is free again, for a getter still waiting if any.
    void forget_promise() noexcept {
        --promised_;
        if (detail::ListedWaiter* w = getters_.pop_front()) promise_front_to(*static_cast<Getter*>(w));
    }

    // Runs when the result of take_front() has been built (or failed to be):
    // only then is the front item dropped, so a copy that throws leaves it
    // queued.
    class FrontTaken {
    public:
        FrontTaken(Queue& q, Getter* g) noexcept : queue_(q), getter_(g) {}
        FrontTaken(const FrontTaken&) = delete;
        FrontTaken& operator=(const FrontTaken&) = delete;
        ~FrontTaken() {
#if ASYNCLINK_NO_EXCEPTIONS
            constexpr bool built = true;
#else
            bool built = std::uncaught_exceptions() == exceptions_;
#endif
            if (getter_ != nullptr) {
                getter_->promised_ = false;
                if (!built) {
                    queue_.forget_promise();
                    return;
                }
                --queue_.promised_;
            }
            if (!built) return;
            queue_.items_.pop();
            queue_.refill();
        }

    private:
        Queue& queue_;
        Getter* getter_;
#if !ASYNCLINK_NO_EXCEPTIONS
        int exceptions_ = std::uncaught_exceptions();
#endif
    };

    // The front item, for a get (`getter`: the one it was promised to, or
    // nullptr for a free item). Built straight into the caller's object
    // (a returned prvalue is not copied again), then dropped from the queue.
    T take_front(Getter* getter) {
        FrontTaken taken(*this, getter);
        return T(std::move_if_noexcept(items_.next()));
    }

    // A get made room: the longest-waiting putter fills it. A putter whose
    // item cannot be enqueued (its copy threw) is answered with that error,
    // and the next one tries.
    // Only a free item makes room: the promised ones are not counted, so
    // taking one leaves the queue as full as it was.
    void refill() noexcept {
        while (detail::ListedWaiter* w = putters_.front()) {
            if (maxsize_ != 0 && qsize_now() >= maxsize_) return;
            auto* p = static_cast<PutterBase*>(w);
#if ASYNCLINK_NO_EXCEPTIONS
            items_.push(hand_over(p->item_of_(*p)));
#else
            try {
                items_.push(hand_over(p->item_of_(*p)));
            } catch (...) {
                p->error_ = std::current_exception();
                putters_.remove(*p);
                p->task->wake();
                continue;
            }
#endif
            putters_.remove(*p);
            p->task->wake();
            return;
        }
    }

    detail::LoopBinding binding_;
    Order items_;               ///< promised_ of them are promised to woken getters
    std::size_t promised_ = 0;  ///< items kept for woken getters
    detail::WaiterList getters_;
    detail::WaiterList putters_;
    std::size_t maxsize_;
};

/// asyncio.PriorityQueue: a Queue whose get() takes the smallest item by
/// Compare (std::less: the lowest first). Same contract and contexts as Queue.
template <class T, class Compare = std::less<T>>
using PriorityQueue = Queue<T, detail::PriorityOrder<T, Compare>>;

/// asyncio.LifoQueue: a Queue whose get() takes the item put last.
template <class T>
using LifoQueue = Queue<T, detail::LifoOrder<T>>;

}  // namespace asynclink
