// SPDX-License-Identifier: BSL-1.0
/// @file
/// ThreadSafeQueue<T, many_producers>: a bounded queue that any number of
/// contexts put on at once and one context takes from.
///
/// | method (many_producers)         | task | other loop | thread | signal handler / ISR |
/// |---------------------------------|------|------------|--------|----------------------|
/// | try_put                         | yes  | yes        | yes    | yes                  |
/// | try_get                         | yes  | yes        | yes    | yes                  |
/// | put_sync / get_sync (no block)  | yes  | yes        | yes    | no (throws)          |
/// | put_sync / get_sync (block)     | no * | no *       | yes    | no                   |
/// | co_await put / get / next       | yes  | yes        | no     | no                   |
/// | close                           | yes  | yes        | yes    | yes                  |
/// | qsize / empty / full / closed   | yes  | yes        | yes    | yes                  |
/// | stats                           | yes  | yes        | yes    | yes                  |
/// | set_spin_before_block           | yes  | yes        | yes    | no (may throw)       |
/// | spin_before_block               | yes  | yes        | yes    | yes                  |
/// | destroy                         | yes  | yes        | yes    | no                   |
///
/// * As for the single-producer queue: a blocking call on a thread that runs
///   a loop throws UsageError (a task uses co_await put()/get()).
///
/// Use this when several contexts feed one consumer: a UART interrupt and a
/// timer interrupt feeding one task, a pool of worker threads reporting to the
/// loop, several loops reporting to one. Any number of producers put at once
/// (every put row above holds for each of them at the same time); the
/// consumer end belongs to one context at a time, as in the single-producer
/// queue (two contexts taking at once are detected in debug builds). With one
/// producer, use ThreadSafeQueue<T> (the default): it is faster. When only the
/// latest value matters, use Message.
///
/// ```cpp
/// al::ThreadSafeQueue<Sample, al::many_producers> samples(64);
/// // in each interrupt handler or thread:  samples.try_put(sample);
/// while (std::optional<Sample> s = co_await samples.next()) use(*s);
/// ```
///
/// Everything the single-producer queue promises holds: capacity N holds N;
/// storage allocated once at construction or supplied by the user (on Linux a
/// small wake block is allocated the first time a task waits at the consumer
/// end, and one per loop whose tasks wait in put(), kept until the queue is
/// destroyed and reused by later loops); try_put/try_get take no lock and
/// allocate nothing (legal in a handler); blocking ends spin briefly and then
/// block the thread in the kernel; close() delivers every accepted item, then
/// the end marker; a refused put leaves the item with the caller.
/// And for many producers:
/// - A producer never waits for another producer: a put claims the next
///   ticket with one CAS and never looks at the producers before it. An
///   interrupt that preempts a producer in the middle of its put just claims
///   the ticket after it.
/// - Order: items come out in the order their puts claimed tickets, so the
///   items of each producer come out in the order it put them (FIFO per
///   producer), and the whole stream has one order all producers agree with.
/// - A producer preempted between its claim and its publish leaves a hole.
///   The consumer never spins on it and never skips it: a task parks and a
///   thread blocks, and the producer's publish wakes it. Skipping the hole
///   would keep the consumer busy, but the items behind it come from other
///   producers only if order per producer is tracked, which costs a word per
///   producer and a look at every item; a preempted producer runs again as
///   soon as what preempted it is done (an interrupt, or the scheduler's next
///   slice), and the items stay in the order of the stream. So: an interrupt
///   handler must not wait for room in a loop (spinning in try_put) while the
///   producer it preempted holds the oldest ticket; it would wait for itself.
///   try_get at a hole returns nothing, as on an empty queue.
/// - Full: a put that finds the queue full fails (try_put, put_sync without
///   block) or waits. Any number of producers may wait at once: threads block
///   in the kernel, tasks park in a list of their loop; the consumer wakes
///   them all when it makes room, and those that find the room taken wait
///   again. Tasks of one loop are served in the order they started waiting.
/// - Capacity: 1 to 2^26 items.
///
/// Protocol (model: proof/many_producer_queue.pml). A ticket names a cell and
/// a lap: ticket = lap << index_bits | index, so a cell is found with a mask
/// (no division, also for capacities that are not powers of two), and tickets
/// run over 2^29 values (then wrap). Three kinds of words:
///   claim_       = ticket << 1 | closed          producers' CAS claims a ticket
///   cell.stamp   = (lap << 1 | published) << 1 | consumer_waits_here
///   head_        = ticket << 3 | task_producers_wait | thread_producers_wait | consumer_waits
/// A put: if the cell of the ticket in claim_ is free for that lap, CAS claim_
/// to the next ticket (failing once closed: close() is a fetch_or there, so a
/// put is accepted exactly when its claim precedes the close); build the item
/// in the cell; publish it with an exchange of the stamp (lap, published).
/// The consumer takes cells in ticket order: a cell published for its lap is
/// moved out, then freed for the next lap with a store; then head_ moves on
/// with an exchange, which takes the producers' waiting bits.
/// Waiting, with the waiting-bit handshake of every primitive here (an RMW on
/// one word by each side; see docs/architecture.md):
/// - The consumer, at an unpublished cell (empty queue or hole), sets
///   consumer_waits in head_, then consumer_waits_here in the cell's stamp, then
///   looks at claim_ for the end (closed and nothing claimed). The producer's
///   publishing exchange on the stamp sees the cell bit and takes head_'s bit
///   with an RMW, and wakes the consumer if it got it; close() takes it too.
/// - A producer that finds the queue full sets its waiting bit in head_ and
///   looks again; the consumer's exchange of head_ after freeing a cell takes
///   the bits and wakes every waiter (threads: futex on head_; tasks: a post
///   to each loop with waiting putters). Producers never clear a waiting bit
///   (it is shared: clearing it could drop another producer's); a bit nobody
///   needs any more costs one needless wake.
/// - close(): fetch_or closed into claim_, then takes every waiting bit of
///   head_. Both are seq_cst, as are the waiters' arming RMW and their look at
///   claim_: the waiter sees closed, or close() sees its bit.
/// The hole: a claimed cell stays unpublished only while its producer is
/// between the claim and the publish, so the consumer waits for something
/// that is coming; the publish wakes it. Tickets wrap after 2^29 puts; a
/// producer that stays preempted between reading claim_ and its CAS for that
/// many puts of the others could claim a cell out of turn (as in Vyukov's
/// queue, whose counters wrap too).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "asynclink/thread_safe_queue.hpp"

namespace asynclink {

namespace detail {

/// One cell of a many-producer queue: its stamp and room for one item.
template <class T>
struct StampedSlot {
    port::atomic<std::uint32_t> stamp{0};
    alignas(T) unsigned char storage[sizeof(T)];
    T* get() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
};

/// The putters of one loop waiting for room on a many-producer queue, and how
/// the consumer reaches them: a wake block posted to that loop.
///
/// A queue keeps these in a list that only grows (so the consumer walks it
/// without a lock while loops add to it): one inside the queue, more on the
/// heap when tasks of several loops wait at once. An entry belongs to one
/// loop until that loop has ended; then the next loop that needs one takes it
/// over (see ThreadSafeQueue<T, many_producers>::entry_for).
struct ProducerLoop {
    ProducerLoop(void* owner_queue, QueueEndWake::Handler on_wake) noexcept : queue(owner_queue), wake(this, on_wake) {}
    ProducerLoop(const ProducerLoop&) = delete;
    ProducerLoop& operator=(const ProducerLoop&) = delete;

    void* queue;
    ProducerLoop* next = nullptr;  ///< written before the entry is published, then never
    /// The loop's core; changed only by a loop thread holding `taking`.
    port::atomic<WakeCore*> owner{nullptr};
    /// A loop thread is taking the entry over (a try-lock: the loser looks on).
    port::atomic<bool> taking{false};
    /// Some putter of this loop waits: the consumer posts the wake block.
    port::atomic<bool> armed{false};
    WakeSlot loop;            ///< bound to owner's core
    QueueEndWakeHolder wake;  ///< its waiter is the first putter while any wait
    WaiterList putters;       ///< only the owner loop's thread touches it
};

}  // namespace detail

template <class T>
class ThreadSafeQueue<T, many_producers> : public detail::QueueApi<ThreadSafeQueue<T, many_producers>, T> {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "ThreadSafeQueue<T, many_producers> needs a noexcept move constructor and destructor");

    // claim_
    static constexpr std::uint32_t closed_bit = 1;
    static constexpr unsigned claim_shift = 1;
    // head_
    static constexpr std::uint32_t consumer_waits = 1;
    static constexpr std::uint32_t thread_producers_wait = 2;
    static constexpr std::uint32_t task_producers_wait = 4;
    static constexpr std::uint32_t producers_wait = thread_producers_wait | task_producers_wait;
    static constexpr std::uint32_t head_flags = 7;
    static constexpr unsigned head_shift = 3;
    // cell.stamp
    static constexpr std::uint32_t consumer_waits_here = 1;
    static constexpr std::uint32_t published_bit = 2;

    static constexpr unsigned ticket_bits = 29;
    static constexpr std::uint32_t ticket_mask = (std::uint32_t{1} << ticket_bits) - 1;
    static constexpr std::size_t max_capacity = std::size_t{1} << 26;  // leaves 3 or more bits of lap

    using PushResult = detail::PushResult;
    friend class detail::QueueApi<ThreadSafeQueue, T>;

public:
    using value_type = T;
    using slot_type = detail::StampedSlot<T>;

    /// A queue holding up to `capacity` items in storage it allocates now.
    explicit ThreadSafeQueue(std::size_t capacity)
        : owned_(std::make_unique<slot_type[]>(checked_capacity(capacity))),
          cells_(owned_.get()),
          capacity_(static_cast<std::uint32_t>(capacity)),
          index_bits_(static_cast<unsigned>(std::bit_width(capacity_ - 1))) {
        reset_cells();
    }
    /// A queue over user-supplied storage, holding storage.size() items.
    explicit ThreadSafeQueue(std::span<slot_type> storage)
        : cells_(storage.data()),
          capacity_(checked_capacity(storage.size())),
          index_bits_(static_cast<unsigned>(std::bit_width(capacity_ - 1))) {
        reset_cells();
    }
    ThreadSafeQueue(const ThreadSafeQueue&) = delete;
    ThreadSafeQueue& operator=(const ThreadSafeQueue&) = delete;

    /// Destroys the items still queued. Destroy once nobody waits on either
    /// end and no call on the queue is running in any context.
    ~ThreadSafeQueue() {
#if !ASYNCLINK_PORT_HAS_THREADS
        // The wake blocks are part of the queue here: a wake-up posted to the
        // loop and not run yet must run while they live.
        if (Loop* loop = port::current_loop()) detail::LoopAccess::drain_notifications(*loop);
#endif
        // relaxed: the contract orders every call before the destructor.
        std::uint32_t end = claim_.load(std::memory_order_relaxed) >> claim_shift;
        for (std::uint32_t t = head_ticket_; t != end; t = advance(t)) cell(t).get()->~T();
        detail::ProducerLoop* e = entries_.load(std::memory_order_relaxed);  // relaxed: as above
        while (e != &first_entry_) {
            detail::ProducerLoop* next = e->next;
            delete e;
            e = next;
        }
    }

    std::size_t capacity() const noexcept { return capacity_; }

    // ------------------------------------------------------------ producer end (any number)

    template <bool ByReference>
    class BasicPutter;
    using Putter = BasicPutter<false>;
    using PutterOfReference = BasicPutter<true>;
    // try_put, put_sync, put (detail::QueueApi): any number of producers at
    // once, none waiting for another; any number of threads and of tasks (on
    // any loops) may wait for room at once.

    /// Ends the stream: every put accepted before it is delivered (also one
    /// still being written by a preempted producer), then the end marker.
    /// Any context; idempotent.
    void close() noexcept {
        // seq_cst (both): against the waiters' seq_cst arm of head_ and look at
        // claim_ (two locations: the waiter sees closed, or we see its bit).
        claim_.fetch_or(closed_bit, std::memory_order_seq_cst);
        // Take the bits rather than read them: the change of head_ stops a
        // thread about to block on it from sleeping through this wake-up.
        std::uint32_t old = head_.fetch_and(~head_flags, std::memory_order_seq_cst);
        if ((old & consumer_waits) != 0) wake_consumer();
        if ((old & producers_wait) != 0) wake_producers(old);
    }

    // ------------------------------------------------------------ consumer end (one)

    template <bool Iterating>
    class BasicGetter;
    // try_get, get_sync, get, next (detail::QueueApi). The oldest item only:
    // while a preempted producer is still writing it, the consumer finds none
    // (get_sync throws QueueEmpty, get() sleeps until it is published).

    // ------------------------------------------------------------ any context

    /// Items put and not taken yet, counting puts still being written (a snapshot).
    std::size_t qsize() const noexcept {
        // acquire (both): a snapshot; no item is read through it.
        std::uint32_t head = head_.load(std::memory_order_acquire) >> head_shift;
        std::uint32_t claim = claim_.load(std::memory_order_acquire) >> claim_shift;
        return distance(head, claim);
    }
    bool closed() const noexcept {
        // seq_cst: as in close().
        return (claim_.load(std::memory_order_seq_cst) & closed_bit) != 0;
    }

    /// For QueueApi::stats(). The consumer never reads the claim word, so the
    /// high-water mark is the length now, or the capacity once a put found
    /// the queue full.
    QueueStats counted() const noexcept {
        QueueStats s{.puts = producer_counts_[ProducerCount::puts].get(),
                     .gets = consumer_counts_[ConsumerCount::gets].get(),
                     .refused_full = producer_counts_[ProducerCount::refused].get(),
                     .producer_waits = producer_counts_[ProducerCount::waits].get(),
                     .consumer_waits = consumer_counts_[ConsumerCount::waits].get(),
                     .high_water = qsize(),
                     .capacity = capacity_};
        if (s.refused_full + s.producer_waits != 0) s.high_water = capacity_;
        return s;
    }
    void count_refused() noexcept { producer_counts_[ProducerCount::refused].add(); }  // any producer
    /// For QueueApi::set_spin_before_block(): the consumer's budget holds the
    /// limit, which the blocked producers' spins use too.
    void set_block_spin(Clock::duration limit) noexcept { consumer_spin_.set_limit(limit); }
    Clock::duration block_spin() const noexcept { return consumer_spin_.limit(); }

    // ------------------------------------------------------------ awaiters

    template <bool Iterating>
    class BasicGetter : public detail::Parked {
    public:
        explicit BasicGetter(ThreadSafeQueue& q) noexcept : Parked(&on_cancel), queue_(q) {}
        bool await_ready() {
            const char* operation = Iterating ? "ThreadSafeQueue::next" : "ThreadSafeQueue::get";
            detail::check_awaited_on_loop(operation, "get_sync");
            if (queue_.pop(item_) || queue_.drained_and_closed()) return true;
            queue_.prepare_consumer(Loop::current(), operation);
            queue_.consumer_counts_[ConsumerCount::waits].add_by_owner();
            return false;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            queue_.consumer_wake_->waiter = this;
            // Published by the seq_cst RMW in arm_consumer().
            queue_.consumer_loop_.bind(&detail::LoopAccess::wake_core(*task->loop));
            if (queue_.arm_consumer()) {
                queue_.disarm_consumer();
                queue_.consumer_wake_->waiter = nullptr;
                task->suspension = nullptr;
                return false;
            }
            return true;
        }
        std::conditional_t<Iterating, std::optional<T>, T> await_resume() {
            throw_if_cancelled();
            if (!item_) queue_.pop(item_);
            if constexpr (Iterating) {
                return detail::take_item(item_);
            } else {
                if (!item_) ASYNCLINK_THROW(QueueClosed);
                return std::move(*item_);
            }
        }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& g = static_cast<BasicGetter&>(self);
            g.queue_.consumer_wake_->waiter = nullptr;
            g.queue_.disarm_consumer();  // the items stay queued: a cancelled get took nothing
            g.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        ThreadSafeQueue& queue_;
        std::optional<T> item_;
    };
    using Getter = BasicGetter<false>;
    using NextGetter = BasicGetter<true>;

private:
    /// A parked put(), in its loop's list of putters; `attempt` puts its item.
    struct PutWaiter : detail::Parked, detail::ListedWaiter {
        using Attempt = PushResult (*)(PutWaiter&) noexcept;
        PutWaiter(Attempt a, detail::CancelResult (*on_cancel)(detail::Suspension&) noexcept) noexcept
            : Parked(on_cancel), attempt(a) {}
        Attempt attempt;
        PushResult result = PushResult::full;
        detail::ProducerLoop* entry = nullptr;
    };

public:
    /// The awaiter of put(): holds the item (ByReference = false) or refers to
    /// the caller's (ByReference = true).
    template <bool ByReference>
    class BasicPutter : public PutWaiter {
        using Held = std::conditional_t<ByReference, T&, T>;
        using Given = std::conditional_t<ByReference, T&, T&&>;

    public:
        BasicPutter(ThreadSafeQueue& q, Given item) noexcept
            : PutWaiter(&attempt_put, &on_cancel), queue_(q), item_(static_cast<Given>(item)) {}
        bool await_ready() {
            detail::check_awaited_on_loop("ThreadSafeQueue::put", "put_sync or try_put");
            this->result = queue_.push(item_);
            if (this->result != PushResult::full) return true;
            detail::WakeCore& core = detail::LoopAccess::wake_core(Loop::current());
            this->entry = &queue_.entry_for(core);
            queue_.producer_counts_[ProducerCount::waits].add();
            this->entry->wake.make();  // the entry is this loop's (entry_for)
            return false;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!this->park(h)) return false;
            this->entry->putters.push_back(*this);
            queue_.serve_putters(*this->entry, this);
            if (this->listed) return true;
            this->task->suspension = nullptr;  // served while arming: do not suspend
            return false;
        }
        void await_resume() {
            this->throw_if_cancelled();
            if (this->result == PushResult::closed) ASYNCLINK_THROW(QueueClosed);
        }

    private:
        static PushResult attempt_put(PutWaiter& self) noexcept {
            auto& p = static_cast<BasicPutter&>(self);
            return p.queue_.push(p.item_);
        }
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& p = static_cast<BasicPutter&>(self);
            detail::ProducerLoop& e = *p.entry;
            e.putters.remove(p);  // the item was never queued: a cancelled put did nothing
            if (e.putters.empty()) {
                e.wake->waiter = nullptr;
                // relaxed: a hint for the consumer; a stale true costs one post.
                e.armed.store(false, std::memory_order_relaxed);
            } else {
                e.wake->waiter = static_cast<PutWaiter*>(e.putters.front());
            }
            p.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        ThreadSafeQueue& queue_;
        Held item_;
    };

private:
    static std::uint32_t checked_capacity(std::size_t capacity) {
        if (capacity == 0) ASYNCLINK_THROW(UsageError, "ThreadSafeQueue capacity must be at least 1");
        if (capacity > max_capacity) {
            ASYNCLINK_THROW(UsageError, "ThreadSafeQueue<T, many_producers> capacity must be at most 2^26");
        }
        return static_cast<std::uint32_t>(capacity);
    }

    // ---------------------------------------------------------------- tickets and stamps

    std::uint32_t index_of(std::uint32_t ticket) const noexcept { return ticket & ((1u << index_bits_) - 1); }
    std::uint32_t lap_of(std::uint32_t ticket) const noexcept { return ticket >> index_bits_; }
    std::uint32_t lap_mask() const noexcept { return ticket_mask >> index_bits_; }
    std::uint32_t advance(std::uint32_t ticket) const noexcept {
        return index_of(ticket) + 1 < capacity_ ? ticket + 1 : ((lap_of(ticket) + 1) << index_bits_) & ticket_mask;
    }
    slot_type& cell(std::uint32_t ticket) const noexcept { return cells_[index_of(ticket)]; }
    /// The stamp of a cell free for (published = false) or holding (true) the
    /// item of `lap`. Laps count modulo lap_mask() + 1, as tickets do.
    std::uint32_t stamp_of(std::uint32_t lap, bool published) const noexcept {
        return ((lap & lap_mask()) << 2) | (published ? published_bit : 0);
    }
    /// Whether a cell whose stamp is `stamp` still holds the previous lap's
    /// item (or is still free for it): the queue is full for `lap`.
    bool behind(std::uint32_t stamp, std::uint32_t lap) const noexcept {
        std::uint32_t d = ((stamp >> 2) - lap) & lap_mask();
        return d > lap_mask() / 2;
    }
    std::size_t distance(std::uint32_t from, std::uint32_t to) const noexcept {
        // Both tickets; the number of puts between them.
        std::uint32_t laps = (lap_of(to) - lap_of(from)) & lap_mask();
        return std::size_t{laps} * capacity_ + index_of(to) - index_of(from);
    }
    void reset_cells() noexcept {
        for (std::uint32_t i = 0; i < capacity_; ++i) {
            // relaxed: the queue is not shared yet.
            cells_[i].stamp.store(stamp_of(0, false), std::memory_order_relaxed);
        }
    }

    // ---------------------------------------------------------------- the core routines

    /// Claims a ticket and publishes `item` in its cell: moved from a T,
    /// copied from a const T. The caller keeps `item` if it fails.
    template <class Item>
    PushResult push(Item& item) noexcept(std::is_nothrow_constructible_v<T, Item&&>) {
        if constexpr (!std::is_nothrow_constructible_v<T, Item&&>) {
            // A copy that may throw is made before the claim: a claimed ticket
            // must be published, whatever happens.
            T copy(item);
            return push(copy);
        } else {
            // relaxed: a ticket to try; the cell's stamp says whether it is free.
            std::uint32_t claim = claim_.load(std::memory_order_relaxed);
            std::uint32_t ticket;
            for (;;) {
                if ((claim & closed_bit) != 0) return PushResult::closed;
                ticket = claim >> claim_shift;
                // acquire: pairs with the consumer's release when it freed the
                // cell; its move out of the cell is done.
                std::uint32_t stamp = cell(ticket).stamp.load(std::memory_order_acquire) & ~consumer_waits_here;
                std::uint32_t lap = lap_of(ticket);
                if (stamp == stamp_of(lap, false)) {
                    // relaxed: the CAS only hands out the ticket (the stamp
                    // orders the cell). It fails once close() set the closed
                    // bit, since the word changed. Relaxed on failure: retry
                    // with the fresh word.
                    if (claim_.compare_exchange_weak(claim, advance(ticket) << claim_shift, std::memory_order_relaxed,
                                                     std::memory_order_relaxed)) {
                        break;
                    }
                } else if (behind(stamp, lap)) {
                    return PushResult::full;
                } else {
                    // Another producer took this ticket: look at the next one.
                    claim = claim_.load(std::memory_order_relaxed);  // relaxed: as above
                }
            }
            slot_type& c = cell(ticket);
            ::new (static_cast<void*>(c.storage)) T(std::move(item));
            // acq_rel: release publishes the item; acquire pairs with the
            // consumer's release RMW that set the cell bit, so its arm of head_
            // is visible to take_consumer_wait().
            std::uint32_t old = c.stamp.exchange(stamp_of(lap_of(ticket), true), std::memory_order_acq_rel);
            std::uint32_t trace_flow = ASYNCLINK_TRACE_HANDOVER(many_producer_put, this, false);
            producer_counts_[ProducerCount::puts].add();
            if ((old & consumer_waits_here) != 0) take_consumer_wait(trace_flow);
            return PushResult::ok;
        }
    }
    bool pop(std::optional<T>& out) noexcept {
        ConsumerGuard guard(consumer_busy_);
        std::uint32_t ticket = head_ticket_;
        slot_type& c = cell(ticket);
        // acquire: pairs with the publishing exchange; the item is built.
        std::uint32_t stamp = c.stamp.load(std::memory_order_acquire) & ~consumer_waits_here;
        if (stamp != stamp_of(lap_of(ticket), true)) return false;
        T* item = c.get();
        out.emplace(std::move(*item));
        item->~T();
        // release: the producer of the next lap builds in the cell only after our move.
        c.stamp.store(stamp_of(lap_of(ticket) + 1, false), std::memory_order_release);
        head_ticket_ = advance(ticket);
        consumer_counts_[ConsumerCount::gets].add_by_owner();
        // acq_rel: release hands the freed cell to a producer whose arm reads
        // this (its look at the stamp then sees it free); acquire pairs with
        // the arming RMWs, so their loops' entries are visible. Taking the
        // bits: a waiting producer is woken by exactly this move.
        std::uint32_t old = head_.exchange(head_ticket_ << head_shift, std::memory_order_acq_rel);
        if ((old & producers_wait) != 0) wake_producers(old, ASYNCLINK_TRACE_HANDOVER(many_producer_get, this, false));
        return true;
    }

    /// Closed, and every accepted item taken. Consumer end.
    bool drained_and_closed() const noexcept {
        // seq_cst: the consumer's look at claim_ after arming (see close()).
        std::uint32_t claim = claim_.load(std::memory_order_seq_cst);
        return (claim & closed_bit) != 0 && (claim >> claim_shift) == head_ticket_;
    }
    /// After an empty pop: the consumer has seen the end (see QueueApi::get_sync).
    bool consumer_may_stop() const noexcept { return drained_and_closed(); }

    // ---------------------------------------------------------------- the consumer's wait

    /// Arms the consumer's wait for the item at head_ticket_: true if there is
    /// no need to wait (the item is there, or the stream ended), and then the
    /// caller disarms. Consumer end.
    bool arm_consumer() noexcept {
        // seq_cst: against close() (see there).
        head_.fetch_or(consumer_waits, std::memory_order_seq_cst);
        return look_after_arming();
    }
    bool look_after_arming() noexcept {
        // acq_rel: release publishes our bit in head_ to the producer whose
        // exchange reads this; acquire pairs with its publish if it came first.
        std::uint32_t stamp = cell(head_ticket_).stamp.fetch_or(consumer_waits_here, std::memory_order_acq_rel);
        if ((stamp & ~consumer_waits_here) == stamp_of(lap_of(head_ticket_), true)) return true;
        return drained_and_closed();
    }
    bool item_or_end_there() const noexcept {
        // acquire: pairs with the publishing exchange, as in pop().
        std::uint32_t stamp = cell(head_ticket_).stamp.load(std::memory_order_acquire) & ~consumer_waits_here;
        return stamp == stamp_of(lap_of(head_ticket_), true) || drained_and_closed();
    }
    void disarm_consumer() noexcept {
        // relaxed: nothing is published by withdrawing (a waker may have taken it already).
        head_.fetch_and(~consumer_waits, std::memory_order_relaxed);
    }
    /// A producer found the consumer waiting at its cell: whoever takes the
    /// bit in head_ (this producer or close()) wakes it, once.
    void take_consumer_wait(std::uint32_t trace_flow = 0) noexcept {
        // acq_rel: acquire orders consumer_loop_ (bound before the arm) before
        // the wake; release: nothing more, any order would do for the bit.
        if ((head_.fetch_and(~consumer_waits, std::memory_order_acq_rel) & consumer_waits) != 0) {
            wake_consumer(trace_flow);
        }
    }
    // `trace_flow`: the hand-over's trace flow id, for a loop's wake-up.
    // Out of line, as ThreadSafeQueue::wake(): the common put saves no registers for it.
    [[gnu::noinline, gnu::cold]] void wake_consumer(std::uint32_t trace_flow = 0) noexcept {
        // The slot keeps the waiting loop's core alive while we post.
        if (!consumer_loop_.with_core(
                [this, trace_flow](detail::WakeCore& core) noexcept { consumer_wake_->post(core, trace_flow); })) {
            // relaxed: a hint for the sleeper's spin budget.
            consumer_woken_at_.store(detail::WakeStamp::now(), std::memory_order_relaxed);
#if ASYNCLINK_TRACE
            trace::detail::leave_flow(consumer_thread_flow_, trace_flow);
#endif
            port::unblock_threads(head_);
        }
    }

    /// get_sync(block = true) once the oldest item was not there: true with
    /// an item, false once the queue is closed and drained.
    bool pop_waiting(std::optional<T>& out) noexcept {
        consumer_counts_[ConsumerCount::waits].add_by_owner();
        std::uint32_t began = detail::WakeStamp::now();
        if (Clock::duration limit = consumer_spin_.next(); limit.count() != 0) {
            detail::SpinWait spin(limit, consumer_spin_.pause_first());
            bool answered = false;
            while (!answered && spin.once()) answered = pop(out) || drained_and_closed();
            consumer_spin_.spun(spin, answered);
            if (answered) return out.has_value();
        }
        bool slept = false;
        for (;;) {
            if (pop(out)) break;
            if (drained_and_closed()) break;
            // Published by the seq_cst RMW below.
            consumer_loop_.bind(nullptr);
            std::uint32_t word = head_.fetch_or(consumer_waits, std::memory_order_seq_cst);  // seq_cst: see close()
            if (look_after_arming()) {
                disarm_consumer();
            } else {
                port::block_thread(head_, word | consumer_waits);
                slept = true;
            }
        }
#if ASYNCLINK_TRACE
        if (slept) trace::detail::thread_woken(consumer_thread_flow_);
#endif
        // relaxed: a hint (see SpinBudget).
        std::uint32_t answered_at =
            slept ? consumer_woken_at_.load(std::memory_order_relaxed) : detail::WakeStamp::now();
        consumer_spin_.waited(detail::WakeStamp::between(began, answered_at));
        return out.has_value();
    }

    // On the consumer's loop: wake the parked task if its item is there (or the
    // stream ended); a stale post re-arms. Called only with a task parked.
    // Usually the producer that posted took the waiting bit and a plain load
    // shows its item, so no RMW is needed (each would take the consumer's
    // line away from the producers in the middle of a stream).
    static void on_consumer_wake(detail::QueueEndWake& wake) noexcept {
        auto& q = *static_cast<ThreadSafeQueue*>(wake.owner);
        if (!q.item_or_end_there()) {
            if (!q.arm_consumer()) return;  // still nothing: stay parked, armed
        }
        // relaxed: only the consumer sets the bit, so a word without it means it is clear.
        if ((q.head_.load(std::memory_order_relaxed) & consumer_waits) != 0) q.disarm_consumer();
        detail::Parked* g = wake.waiter;
        wake.waiter = nullptr;
        g->task->wake();
    }

    // ---------------------------------------------------------------- the producers' wait

    /// After arming: a put now would not find the cell of its ticket still
    /// taken (or the queue is closed).
    bool room_or_closed() const noexcept {
        // seq_cst: the producer's look at claim_ after arming (see close()).
        std::uint32_t claim = claim_.load(std::memory_order_seq_cst);
        if ((claim & closed_bit) != 0) return true;
        std::uint32_t ticket = claim >> claim_shift;
        // acquire: as in push().
        return !behind(cell(ticket).stamp.load(std::memory_order_acquire), lap_of(ticket));
    }

    /// put_sync(item, block = true) once the queue was full: ok once there
    /// is room, closed once the queue is closed.
    template <class Item>
    PushResult push_waiting(Item& item) {
        producer_counts_[ProducerCount::waits].add();
        // Spin first, up to the queue's limit: the consumer usually makes room
        // within microseconds.
        PushResult r = PushResult::full;
        if (Clock::duration limit = block_spin(); limit.count() != 0) {
            detail::SpinWait spin(limit);
            while (r == PushResult::full && spin.once()) r = push(item);
        }
        while (r == PushResult::full) {
            // seq_cst: see close(). The bit stays set if there is room
            // after all: it may be another waiter's too.
            std::uint32_t word = head_.fetch_or(thread_producers_wait, std::memory_order_seq_cst);
            if (!room_or_closed()) port::block_thread(head_, word | thread_producers_wait);
            r = push(item);
        }
        return r;
    }

    /// The consumer (or close()) took the producers' bits `flags` from head_.
    /// `trace_flow`: the hand-over's trace flow id, for the loops' wake-ups.
    [[gnu::noinline, gnu::cold]] void wake_producers(std::uint32_t flags, std::uint32_t trace_flow = 0) noexcept {
        if ((flags & thread_producers_wait) != 0) port::unblock_threads(head_);
        if ((flags & task_producers_wait) == 0) return;
        // acquire: pairs with the release push of a new entry.
        for (detail::ProducerLoop* e = entries_.load(std::memory_order_acquire); e != nullptr; e = e->next) {
            // relaxed: set before the arming RMW that our RMW of head_ read.
            if (!e->armed.load(std::memory_order_relaxed)) continue;
            e->loop.with_core([e, trace_flow](detail::WakeCore& core) noexcept { e->wake->post(core, trace_flow); });
        }
    }

    /// Serves the putters of one loop, oldest first, until one finds the queue
    /// full; then arms and looks again. Loop thread of the entry only.
    /// `self`, if given, is a putter being parked now: it is not woken (its
    /// await_suspend sees it unlisted and does not suspend).
    void serve_putters(detail::ProducerLoop& e, PutWaiter* self) noexcept {
        for (;;) {
            while (!e.putters.empty()) {
                auto* p = static_cast<PutWaiter*>(e.putters.front());
                PushResult r = p->attempt(*p);
                if (r == PushResult::full) break;
                e.putters.remove(*p);
                p->result = r;
                if (p != self) p->task->wake();
            }
            if (e.putters.empty()) {
                e.wake->waiter = nullptr;
                // relaxed: a hint for the consumer; a stale true costs one post.
                e.armed.store(false, std::memory_order_relaxed);
                return;
            }
            e.wake->waiter = static_cast<PutWaiter*>(e.putters.front());
            // relaxed: published by the release half of the RMW below.
            e.armed.store(true, std::memory_order_relaxed);
            // seq_cst: see close().
            head_.fetch_or(task_producers_wait, std::memory_order_seq_cst);
            if (!room_or_closed()) return;  // armed: the consumer's next move posts us
        }
    }
    static void on_producers_wake(detail::QueueEndWake& wake) noexcept {
        auto& e = *static_cast<detail::ProducerLoop*>(wake.owner);
        static_cast<ThreadSafeQueue*>(e.queue)->serve_putters(e, nullptr);
    }

    /// The entry of loop `core`, or one taken over from a loop that has
    /// ended, or a new one. The loop's thread only; throws UsageError on a
    /// port without a heap when every entry is in use (Cortex-M has one loop).
    detail::ProducerLoop& entry_for(detail::WakeCore& core) {
        // acquire: pairs with the release push; the entry is built.
        detail::ProducerLoop* first = entries_.load(std::memory_order_acquire);
        for (detail::ProducerLoop* e = first; e != nullptr; e = e->next) {
            // relaxed: only this thread sets an entry's owner to this core,
            // and only a thread whose loop has not ended changes it away.
            if (e->owner.load(std::memory_order_relaxed) == &core) return *e;
        }
        for (detail::ProducerLoop* e = first; e != nullptr; e = e->next) {
            // acquire: the entry's last taker is done with it. A taker that
            // finds it busy looks at the next one (never waits).
            if (e->taking.exchange(true, std::memory_order_acquire)) continue;
            detail::WakeCore* owner = e->owner.load(std::memory_order_relaxed);  // relaxed: changed only under `taking`
            // The owner's core lives while the entry's slot is bound to it.
            bool free = owner == nullptr || owner->closed();
            if (free) {
                e->owner.store(&core, std::memory_order_relaxed);  // relaxed: read as above
                e->loop.bind(&core);
            }
            e->taking.store(false, std::memory_order_release);  // release: hands the entry on
            if (free) return *e;
        }
#if ASYNCLINK_PORT_HAS_THREADS
        auto* e = new detail::ProducerLoop(this, &on_producers_wake);
        e->owner.store(&core, std::memory_order_relaxed);  // relaxed: published by the push
        e->loop.bind(&core);
        e->next = first;
        // release: publishes the entry to the consumer's walk and other loops.
        while (!entries_.compare_exchange_weak(e->next, e, std::memory_order_release, std::memory_order_acquire)) {
        }
        return *e;
#else
        ASYNCLINK_THROW(UsageError, "ThreadSafeQueue::put: tasks of a second loop wait on this queue's producer end");
#endif
    }
    // Debug-build detection of the consumer end used by two contexts at once.
    class ConsumerGuard {
    public:
#ifndef NDEBUG
        explicit ConsumerGuard(port::atomic<bool>& busy) noexcept : busy_(busy) {
            // acquire/release: a clean hand-over between contexts that take turns.
            if (busy_.exchange(true, std::memory_order_acquire)) {
                std::fprintf(stderr,
                             "asynclink: two contexts used the consumer end of a ThreadSafeQueue<T, many_producers> "
                             "at once; the consumer end belongs to one context at a time\n");
                std::abort();
            }
        }
        ~ConsumerGuard() { busy_.store(false, std::memory_order_release); }
        port::atomic<bool>& busy_;
#else
        explicit ConsumerGuard(port::atomic<bool>&) noexcept {}
#endif
        ConsumerGuard(const ConsumerGuard&) = delete;
        ConsumerGuard& operator=(const ConsumerGuard&) = delete;
    };

    // The layout: the read-mostly words first; then the producers' claim word
    // alone on its cache line (every put CASes it; nothing else there to be
    // invalidated); then the consumer's words on their own line (the consumer
    // writes head_ on every item; producers touch it only to wait). Checked by
    // ManyProducerQueueLayout in tests/many_producer_queue_test.cpp.
    template <class>
    friend struct detail::QueueLayoutProbe;

    std::unique_ptr<slot_type[]> owned_;
    slot_type* cells_;
    std::uint32_t capacity_;
    unsigned index_bits_;
    port::atomic<detail::ProducerLoop*> entries_{&first_entry_};

    alignas(port::cache_line) port::atomic<std::uint32_t> claim_{0};
    // The producers' counters, on the line every put writes anyway.
    enum class ProducerCount { puts, refused, waits, kinds };
    [[no_unique_address]] detail::CounterArray<ProducerCount> producer_counts_;

    alignas(port::cache_line) port::atomic<std::uint32_t> head_{0};
    std::uint32_t head_ticket_ = 0;  // the consumer's copy of head_'s ticket
    port::atomic<bool> consumer_busy_{false};
    detail::SpinBudget consumer_spin_{detail::spin_before_block};
    port::atomic<std::uint32_t> consumer_woken_at_{0};
#if ASYNCLINK_TRACE
    /// The hand-over that last unblocked the consumer's thread (see QueueEnd::thread_flow).
    port::atomic<std::uint32_t> consumer_thread_flow_{0};
#endif
    detail::WakeSlot consumer_loop_;  // the waiting consumer's loop; empty: a thread
    detail::QueueEndWakeHolder consumer_wake_{this, &on_consumer_wake};
    detail::LoopBinding consumer_home_;  // the loop the consumer end waits on; only the consumer touches it
    enum class ConsumerCount { gets, waits, kinds };
    [[no_unique_address]] detail::CounterArray<ConsumerCount> consumer_counts_;  // the consumer only

    /// Before a task of `loop` waits at the consumer end: the end waits on one
    /// loop at a time, the loop of its last async wait, until that loop has
    /// ended (a wake-up posted there and not run yet must not coalesce with
    /// one for another loop, or run there); and the wake block exists.
    /// Throws UsageError or std::bad_alloc.
    void prepare_consumer(Loop& loop, const char* operation) {
        if (!consumer_home_.try_bind(loop)) {
            ASYNCLINK_THROW(UsageError, std::string(operation) +
                                            ": this end of the queue waits on another loop, which is still "
                                            "running; an end moves to a new loop once its loop has ended");
        }
        consumer_wake_.make();
    }

    // The putters of the first loop whose tasks wait for room (more loops: on the heap).
    alignas(port::cache_line) detail::ProducerLoop first_entry_{this, &on_producers_wake};

#if !defined(__ARM_ARCH_6M__)
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
                  "try_put runs in signal handlers and ISRs: its atomics must be lock-free");
#endif
};

}  // namespace asynclink
