// Queue<T>: asyncio.Queue for tasks of one loop.
//
// | method                     | task | other loop | thread | signal handler / ISR |
// |----------------------------|------|------------|--------|----------------------|
// | co_await put / get         | yes  | no         | no     | no                   |
// | put_nowait / get_nowait    | yes  | no         | no     | no                   |
// | qsize / empty / full       | yes  | no         | no     | no                   |
//
// Use this between tasks of one loop. Use ThreadSafeQueue when one end is a
// thread, a signal handler, an ISR or another loop.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink {

/// FIFO queue; maxsize 0 means unbounded (as asyncio). Items go straight from a
/// putter to a waiting getter, so a getter woken with an item keeps it even if
/// it is cancelled before it runs (the cancel then fires at its next
/// suspension point): no item is lost to cancellation.
template <class T>
class Queue {
public:
    explicit Queue(std::size_t maxsize = 0) noexcept : maxsize_(maxsize) {}
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    class Getter : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Getter(Queue& q) noexcept : Parked(&on_cancel), queue_(q) {}
        bool await_ready() {
            queue_.check("Queue::get");
            if (queue_.items_.empty()) return false;
            item_.emplace(queue_.take_front());
            return true;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            queue_.getters_.push_back(*this);
            return true;
        }
        T await_resume() {
            throw_if_cancelled();
            return std::move(*item_);
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
        std::optional<T> item_;
    };

    /// What both kinds of put() awaiter share; take_front() moves the item of
    /// the longest-waiting one into the queue through it.
    class PutterBase : public detail::Parked, public detail::ListedWaiter {
    public:
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            queue_.putters_.push_back(*this);
            return true;
        }
        void await_resume() const { throw_if_cancelled(); }

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
    void put_nowait(const T& item)
        requires std::is_copy_constructible_v<T>
    {
        check("Queue::put_nowait");
        T copy(item);
        if (!try_put(copy)) ASYNCLINK_THROW(QueueFull);
    }
    /// Dequeues without waiting; throws QueueEmpty when empty.
    T get_nowait() {
        check("Queue::get_nowait");
        if (items_.empty()) ASYNCLINK_THROW(QueueEmpty);
        return take_front();
    }

    std::size_t qsize() {
        check("Queue::qsize");
        return items_.size();
    }
    bool empty() { return qsize() == 0; }
    bool full() { return maxsize_ != 0 && qsize() >= maxsize_; }
    std::size_t maxsize() const noexcept { return maxsize_; }

private:
    void check(const char* operation) { binding_.check(operation, "ThreadSafeQueue"); }

    // A waiting getter means the queue is empty: the item goes to it directly.
    bool try_put(T& item) {
        if (detail::ListedWaiter* w = getters_.pop_front()) {
            auto* g = static_cast<Getter*>(w);
            g->item_.emplace(std::move(item));
            g->task->wake();
            return true;
        }
        if (maxsize_ != 0 && items_.size() >= maxsize_) return false;
        items_.push_back(std::move(item));
        return true;
    }

    // Takes the front item and lets the longest-waiting putter fill the space.
    T take_front() {
        T item = std::move(items_.front());
        items_.pop_front();
        if (detail::ListedWaiter* w = putters_.pop_front()) {
            auto* p = static_cast<PutterBase*>(w);
            items_.push_back(std::move(p->item_of_(*p)));
            p->task->wake();
        }
        return item;
    }

    detail::LoopBinding binding_;
    std::deque<T> items_;
    detail::WaiterList getters_;
    detail::WaiterList putters_;
    std::size_t maxsize_;
};

}  // namespace asynclink
