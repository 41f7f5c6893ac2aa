// SPDX-License-Identifier: BSL-1.0
/// @file
/// ThreadSafeQueue<T>: a bounded single-producer single-consumer queue between
/// any two contexts (the seed's ThreadSafeQueue).
///
/// | method                          | task | other loop | thread | signal handler / ISR |
/// |---------------------------------|------|------------|--------|----------------------|
/// | try_put / try_get               | yes  | yes        | yes    | yes                  |
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
/// * A blocking put_sync/get_sync on a thread that runs a loop would stop the
///   loop (and never return if the other end is a task on it): it throws
///   UsageError there (on Linux; the Cortex-M port cannot tell one core's
///   context from another's). A task uses co_await put()/get().
///
/// Use this to move a stream of values between exactly one producing context and
/// exactly one consuming context: ISR or signal handler -> task, thread -> task,
/// task -> thread, loop -> loop. Each end is async (co_await, on any loop) or
/// synchronous (a thread, which may block), independently. For several
/// producers, give each its own queue, or use Loop::call_soon_threadsafe. When
/// only the latest value matters, use Message.
///
/// - Capacity N holds N items (the seed's held N-1). Storage is allocated once at
///   construction, or supplied by the user. On Linux an end also allocates a
///   small wake block the first time a task waits at it (see Destruction);
///   nothing else is ever allocated.
/// - try_put/try_get take no lock and allocate nothing: legal in a signal
///   handler or ISR. Every put copies an lvalue and moves an rvalue (try_put,
///   put_sync and put alike; in a handler, T's copy must be async-signal-safe
///   too); items are moved out. A pointer put on the queue transfers ownership
///   of what it points to to the consumer.
/// - Blocking ends spin briefly, then block the thread in the kernel (futex): a
///   blocked thread costs no CPU. The spin adapts per end (detail::SpinBudget):
///   up to detail::spin_before_block while the other side answers within it,
///   shrinking to nothing when it answers later. The loop end suspends the
///   task; the loop sleeps.
/// - close() ends the stream: the consumer receives every item put before it,
///   then the end marker (next() yields nullopt; get()/get_sync() throw
///   QueueClosed). Putting on a closed queue fails with QueueClosed (try_put
///   returns false and leaves the item with the caller).
/// - Using one end from two contexts at once is detected in debug builds
///   (abort with a message).
/// - Destruction: destroy the queue once nobody waits on either end and no
///   call on it is still running in any context (the other end's thread was
///   joined or its task has finished; a close() made elsewhere has returned:
///   seeing the end marker does not tell that). Any thread may destroy it; on
///   Cortex-M, the loop's own context. Wake-ups the queue posted to a loop and
///   that loop has not run yet may outlive it: they hold the end's small wake
///   block (detail::QueueEndWake), not the queue.
///
/// Protocol (model: proof/queue_asymmetric.pml, an asymmetric Dekker on
/// weak memory; destruction with the ends on two loops:
/// proof/queue_destruction.pml). Each end has a word only it writes (the word
/// of its end, detail::QueueEnd):
///   tail = producer_.word = index << 1 | busy
///   head = consumer_.word = index (the consumer marks nothing: no shift)
/// Indices run over [0, 2N) so that full (distance N) and empty (distance 0)
/// differ. Beside them, on the read-mostly line: each end's "I am waiting"
/// flag (waiting_) and the closed flag. Per item an end does what a plain SPSC
/// ring does (a release store of its index, an acquire load of the other's
/// when its cached copy says full or empty) plus one plain load of the other
/// end's waiting flag: no locked instruction, no fence instruction where
/// membarrier exists. An end about to sleep sets its own flag, calls
/// port::sleep_fence() (membarrier: every thread of the process passes a full
/// barrier) and looks once more; whoever then finds the flag set takes it
/// with an exchange and wakes the sleeper. close() from any context sets the
/// closed flag; a producer preempted between "not closed" and its publishing
/// store must not publish after the consumer has ended, so it marks its tail
/// busy before it reads the flag and clears the mark with the publishing
/// store, and a consumer that finds the queue closed and empty passes a
/// sleep_fence() and ends only if the tail is not busy (else it waits for the
/// producer's next look at its flag). A queue whose ends wait at every few
/// items switches once to a full fence on both sides, where a membarrier per
/// wait would cost more than a fence per item (FenceMode below).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/queue_api.hpp"
#include "asynclink/detail/queue_producers.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/detail/queue_end.hpp"
#include "asynclink/detail/waiting_loop.hpp"
#include "asynclink/trace.hpp"

namespace asynclink {

template <class T, class Producers>
class ThreadSafeQueue : public detail::QueueApi<ThreadSafeQueue<T, Producers>, T> {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                  "ThreadSafeQueue<T> needs a noexcept move constructor and destructor (items move in and out)");

    static constexpr std::uint32_t busy_bit = 1;  // in the tail: a put is between "not closed" and its store

    using PushResult = detail::PushResult;
    friend class detail::QueueApi<ThreadSafeQueue, T>;

    /// Which end: the producer moves the tail (producer_.word), the consumer
    /// the head (consumer_.word). Each waits by setting its own waiting_ flag.
    enum class Side { producer, consumer };

public:
    using value_type = T;
    using slot_type = detail::QueueSlot<T>;

    /// A queue holding up to `capacity` items in storage it allocates now.
    explicit ThreadSafeQueue(std::size_t capacity)
        // The capacity is checked before anything is allocated for it.
        : owned_(std::make_unique<slot_type[]>(checked_capacity(capacity))),
          slots_(owned_.get()),
          capacity_(static_cast<std::uint32_t>(capacity)) {
        start_ends();
        choose_fences();
    }
    /// A queue over user-supplied storage, holding storage.size() items.
    explicit ThreadSafeQueue(std::span<slot_type> storage)
        : slots_(storage.data()), capacity_(checked_capacity(storage.size())) {
        start_ends();
        choose_fences();
    }
    ThreadSafeQueue(const ThreadSafeQueue&) = delete;
    ThreadSafeQueue& operator=(const ThreadSafeQueue&) = delete;

    /// Destroys the items still queued. Destroy once nobody waits on either end
    /// and no call on the queue is running in any context (see the header).
    ~ThreadSafeQueue() {
        std::uint32_t h = consumer_.word.load(std::memory_order_acquire);
        std::uint32_t t = index_of(producer_.word.load(std::memory_order_acquire));
        for (; h != t; h = advance(h)) slots_[slot_of(h)].get()->~T();
    }

    std::size_t capacity() const noexcept { return capacity_; }

    // ------------------------------------------------------------ producer end

    template <bool ByReference>
    class BasicPutter;
    using Putter = BasicPutter<false>;
    using PutterOfReference = BasicPutter<true>;
    // try_put, put_sync, put (detail::QueueApi)

    /// Ends the stream: items already queued are still delivered, then the end
    /// marker. Any context; idempotent.
    void close() noexcept {
        // seq_cst (all three): a full barrier each, so the flag is set before
        // either waiting flag is looked at, against a side that sets its flag
        // and then looks at closed_ (after its sleep_fence).
        closed_.store(1, std::memory_order_seq_cst);
        // Take each flag rather than just read it: the change of value is
        // what stops a side that is about to block from sleeping through this
        // wake-up (the futex only sleeps while its flag is still set).
        if (waiting_[index(Side::consumer)].exchange(0, std::memory_order_seq_cst) != 0) wake<Side::consumer>();
        if (waiting_[index(Side::producer)].exchange(0, std::memory_order_seq_cst) != 0) wake<Side::producer>();
    }

    // ------------------------------------------------------------ consumer end

    template <bool Iterating>
    class BasicGetter;
    // try_get, get_sync, get, next (detail::QueueApi)

    // ------------------------------------------------------------ any context

    /// Items queued now (a snapshot).
    std::size_t qsize() const noexcept {
        // acquire: a consumer that sees the count also sees the items' contents.
        return distance(consumer_.word.load(std::memory_order_acquire),
                        index_of(producer_.word.load(std::memory_order_acquire)));
    }
    bool closed() const noexcept { return is_closed(); }
    /// Whether the ends use a full fence on both sides: after they switched
    /// from the asymmetric fences (a membarrier per wait, nothing per item),
    /// as a queue does whose ends wait at every few items (see FenceMode), or
    /// from the start where there is no membarrier (a kernel without it,
    /// Cortex-M, the sim). A snapshot, for tests and tools.
    bool uses_full_fences() const noexcept {
        if constexpr (port::asymmetric_fences) {
            // relaxed: a snapshot.
            return fences_.load(std::memory_order_relaxed) != asymmetric;
        } else {
            return true;
        }
    }

    /// For QueueApi::stats(). The producer's part of the high-water mark: a
    /// refused or waiting put saw the queue full.
    QueueStats counted() const noexcept {
        QueueStats s{.puts = producer_.counts[detail::QueueEnd::Count::items].get(),
                     .gets = consumer_.counts[detail::QueueEnd::Count::items].get(),
                     .refused_full = producer_.counts[detail::QueueEnd::Count::refused].get(),
                     .producer_waits = producer_.counts[detail::QueueEnd::Count::waits].get(),
                     .consumer_waits = consumer_.counts[detail::QueueEnd::Count::waits].get(),
                     .high_water = consumer_.counts[detail::QueueEnd::Count::high_water].get(),
                     .capacity = capacity_};
        if (s.refused_full + s.producer_waits != 0) s.high_water = capacity_;
        s.high_water = std::max(s.high_water, qsize());
        return s;
    }
    void count_refused() noexcept {
        producer_.counts[detail::QueueEnd::Count::refused].add_by_owner();
    }  // the producer's context only
    /// For QueueApi::set_spin_before_block(): both blocking ends' limit.
    void set_block_spin(Clock::duration limit) noexcept {
        producer_.spin.set_limit(limit);
        consumer_.spin.set_limit(limit);
    }
    Clock::duration block_spin() const noexcept { return consumer_.spin.limit(); }

    // ------------------------------------------------------------ awaiters

    template <bool Iterating>
    class BasicGetter : public detail::Parked {
    public:
        explicit BasicGetter(ThreadSafeQueue& q) noexcept : Parked(&on_cancel), queue_(q) {}
        bool await_ready() {
            detail::check_awaited_on_loop(Iterating ? "ThreadSafeQueue::next" : "ThreadSafeQueue::get", "get_sync");
            if (queue_.pop(item_) || queue_.consumer_may_stop()) return true;
            queue_.template prepare_task<Side::consumer>(Iterating ? "ThreadSafeQueue::next" : "ThreadSafeQueue::get");
            return false;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            if (queue_.template park_task<Side::consumer>(*this)) return true;
            task->suspension = nullptr;
            return false;
        }
        /// get(): the item, or QueueClosed at the end. next(): the item, or nullopt at the end.
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
            g.queue_.template withdraw_task<Side::consumer>();  // the items stay queued: a cancelled get took nothing
            g.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        ThreadSafeQueue& queue_;
        std::optional<T> item_;
    };
    using Getter = BasicGetter<false>;
    using NextGetter = BasicGetter<true>;

    /// The awaiter of put(): holds the item (ByReference = false) or refers to
    /// the caller's (ByReference = true).
    template <bool ByReference>
    class BasicPutter : public detail::Parked {
        using Held = std::conditional_t<ByReference, T&, T>;
        using Given = std::conditional_t<ByReference, T&, T&&>;

    public:
        BasicPutter(ThreadSafeQueue& q, Given item) noexcept
            : Parked(&on_cancel), queue_(q), item_(static_cast<Given>(item)) {}
        bool await_ready() {
            detail::check_awaited_on_loop("ThreadSafeQueue::put", "put_sync or try_put");
            result_ = queue_.push(item_);
            if (result_ != PushResult::full) return true;
            queue_.template prepare_task<Side::producer>("ThreadSafeQueue::put");
            return false;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            for (;;) {
                if (queue_.template park_task<Side::producer>(*this)) return true;
                // Room appeared (or the queue closed) while we armed: try again now.
                result_ = queue_.push(item_);
                if (result_ != PushResult::full) {
                    task->suspension = nullptr;
                    return false;
                }
            }
        }
        void await_resume() {
            throw_if_cancelled();
            if (result_ == PushResult::full) result_ = queue_.push(item_);
            if (result_ == PushResult::closed) ASYNCLINK_THROW(QueueClosed);
        }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& p = static_cast<BasicPutter&>(self);
            p.queue_
                .template withdraw_task<Side::producer>();  // the item was never queued: a cancelled put did nothing
            p.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        ThreadSafeQueue& queue_;
        Held item_;
        PushResult result_ = PushResult::full;
    };

private:
    static std::uint32_t checked_capacity(std::size_t capacity) {
        if (capacity == 0) ASYNCLINK_THROW(UsageError, "ThreadSafeQueue capacity must be at least 1");
        if (capacity > (std::size_t{1} << 28))
            ASYNCLINK_THROW(UsageError, "ThreadSafeQueue capacity must be at most 2^28");
        return static_cast<std::uint32_t>(capacity);
    }
    static std::uint32_t index_of(std::uint32_t word) noexcept { return word >> 1; }
    std::uint32_t advance(std::uint32_t index) const noexcept { return index + 1 == 2 * capacity_ ? 0 : index + 1; }
    std::uint32_t slot_of(std::uint32_t index) const noexcept { return index < capacity_ ? index : index - capacity_; }
    /// The tail index at which the queue is full, given the head index `head`
    /// (the head plus the capacity, in [0, 2N)).
    std::uint32_t full_at(std::uint32_t head) const noexcept {
        return head < capacity_ ? head + capacity_ : head - capacity_;
    }
    std::size_t distance(std::uint32_t head, std::uint32_t tail) const noexcept {
        return tail >= head ? tail - head : tail + 2 * capacity_ - head;
    }
#if ASYNCLINK_QUEUE_LAP_SLOTS
    /// The slot of `index` for an end whose index is in the same half (see
    /// QueueEnd::lap_base).
    static slot_type* slot_at(const detail::QueueEnd& e, std::uint32_t index) noexcept {
        return reinterpret_cast<slot_type*>(e.lap_base + std::uintptr_t{index} * sizeof(slot_type));
    }
    /// Sets an end's lap base and last index for the half its index `index`
    /// is in. The end's own context only (or the constructor).
    template <Side S>
    void retarget(std::uint32_t index) noexcept {
        detail::QueueEnd& e = end<S>();
        bool upper = index >= capacity_;
        e.lap_base = reinterpret_cast<std::uintptr_t>(slots_) -
                     (upper ? std::uintptr_t{capacity_} * sizeof(slot_type) : std::uintptr_t{0});
        e.last = upper ? 2 * capacity_ - 1 : capacity_ - 1;
    }
    /// At the last index `index` of its half, an end moves to the next half:
    /// returns the next index (0 after 2N - 1). Once per N items, but inline:
    /// a call in the middle of push() or pop() would make every put and get
    /// save the registers that live across it.
    [[gnu::always_inline]] std::uint32_t turn(detail::QueueEnd& e, std::uint32_t index) const noexcept {
        std::uintptr_t half = std::uintptr_t{capacity_} * sizeof(slot_type);
        if (index < capacity_) {  // N - 1: on to [N, 2N)
            e.lap_base -= half;
            e.last = index + capacity_;
            return index + 1;
        }
        e.lap_base += half;  // 2N - 1: back to [0, N)
        e.last = capacity_ - 1;
        return 0;
    }
#endif
    /// The fallback where membarrier is missing is the symmetric pair from
    /// the start (see FenceMode).
    void choose_fences() noexcept {
        port::prepare_sleep_fence();
        if constexpr (port::asymmetric_fences) {
            // relaxed: the constructor.
            if (!port::asymmetric_fences_in_use()) fences_.store(symmetric, std::memory_order_relaxed);
        }
    }
    /// Both ends at index 0 of an empty queue.
    void start_ends() noexcept {
        producer_.limit = full_at(0);
#if ASYNCLINK_QUEUE_LAP_SLOTS
        retarget<Side::producer>(0);
        retarget<Side::consumer>(0);
#endif
    }
    // Inline even at -Os: on every put (a call would cost more than the load).
    [[gnu::always_inline]] bool is_closed() const noexcept {
        // acquire: a context that sees the flag also sees what came before close().
        return closed_.load(std::memory_order_acquire) != 0;
    }
    /// After an empty pop: the consumer has seen the end (see QueueApi::get_sync),
    /// or an item arrived meanwhile (the caller pops again). The consumer's
    /// context only.
    bool consumer_may_stop() const noexcept { return ready<Side::consumer>(); }

    // ------------------------------------------------------------ the two ends

    template <Side S>
    detail::QueueEnd& end() noexcept {
        return S == Side::producer ? producer_ : consumer_;
    }
    static constexpr std::size_t index(Side s) noexcept { return s == Side::producer ? 0 : 1; }
    /// The end's waiting flag: 1 while it sleeps or is about to (set only by
    /// the end, taken by whoever wakes it). A thread blocks on it.
    template <Side S>
    port::atomic<std::uint32_t>& flag() noexcept {
        return waiting_[index(S)];
    }

    /// Whether the end may stop waiting: the producer once there is room, the
    /// consumer once there is an item; the producer once the queue is closed,
    /// the consumer once it is closed and no put is in flight (the tail not
    /// busy after a sleep_fence(), proof/queue_asymmetric.pml). Acquire
    /// loads: the other end's release store published the item (push) or
    /// emptied the slot (pop). Called by the end's own context only.
    template <Side S>
    bool ready() const noexcept {
        if constexpr (S == Side::producer) {
            return room_for(1);
        } else {
            // relaxed: the consumer owns the head's index.
            std::uint32_t head = consumer_.word.load(std::memory_order_relaxed);
            std::uint32_t t = producer_.word.load(std::memory_order_acquire);
            if (index_of(t) != head) return true;
            if (!is_closed()) return false;
            // A put that read "not closed" may not have published yet: its
            // busy mark is visible once every thread has passed a barrier.
            sleep_fence();
            t = producer_.word.load(std::memory_order_acquire);
            return index_of(t) != head || (t & busy_bit) == 0;
        }
    }

    /// Sets the end's waiting flag, and makes it visible to the other side's
    /// next look (or that side's last store visible to the end's next look).
    /// release: publishes where the end waits (its loop slot and parked task)
    /// to whoever takes the flag with an acquire exchange.
    template <Side S>
    void arm() noexcept {
        flag<S>().store(1, std::memory_order_release);
#if ASYNCLINK_PORT_ASYMMETRIC_FENCES
        if (waits_often<S>()) {
            use_full_fences();  // its membarrier is this arm's fence too
            return;
        }
#endif
        sleep_fence();
    }

    // Fence modes (port::asymmetric_fences only). The asymmetric pair makes
    // a stream cheap (no fence instruction per item) and each wait dear (a
    // membarrier: every CPU running the process is interrupted, microseconds
    // on a virtual machine). A queue whose ends wait at every few items (a
    // request and its answer, one item at a time) spent almost all its time
    // there (bench/queue_waits_bench ping_pong: about 13 us a round trip,
    // against 0.3 us with a full fence on both sides), so such a queue
    // switches, once, to a full fence on both sides. The switch goes through
    // `switching`: publishers fence from then on, sleepers still call
    // membarrier; the switching end's membarrier then makes every store of a
    // publisher that read `asymmetric` visible, and only after it do
    // sleepers trust the publishers' fences (`symmetric`).
    // proof/queue_asymmetric.pml -DADAPTIVE checks it, with two mutants.
    // `symmetric` from the start where membarrier is missing (the fallback:
    // port::asymmetric_fences_in_use() is false).
    enum FenceMode : std::uint32_t { asymmetric, switching, symmetric };

    /// The fence between a store and a look at the other side's flag. One
    /// load of the mode, from the line the look reads anyway; it replaces
    /// port::publish_fence()'s look at the process-wide choice, which the
    /// constructor folded into the mode.
    [[gnu::always_inline]] void publish_fence() const noexcept {
        if constexpr (port::asymmetric_fences) {
            // Keeps the mode's load and the look after the store before them
            // (the compiler may not hoist them): a publisher that reads
            // `asymmetric` made its store before the switching end's
            // membarrier reached its CPU.
            std::atomic_signal_fence(std::memory_order_seq_cst);
            // relaxed: the order is the membarrier's (see FenceMode).
            if (fences_.load(std::memory_order_relaxed) == asymmetric) return;  // the sleeper's membarrier pays
            port::atomic_thread_fence(std::memory_order_seq_cst);
        } else {
            port::publish_fence();
        }
    }
    /// The fence between an end's arming store (or the consumer's look at
    /// closed_) and its last look.
    void sleep_fence() const noexcept {
        if constexpr (port::asymmetric_fences) {
            // relaxed: `symmetric` was stored after the switch's membarrier
            // returned; the full fence below orders this load before the
            // look that follows it.
            if (fences_.load(std::memory_order_relaxed) == symmetric) {
                port::atomic_thread_fence(std::memory_order_seq_cst);
                return;
            }
        }
        port::sleep_fence();
    }
    /// Whether the end `S`, about to arm, has armed often lately: the
    /// `wait_streak`-th arm in a row with from 1 to `wait_gap` - 1 items
    /// moved by the end since its arm before. The end's own context only; once
    /// the queue uses full fences (also the fallback's), false.
#if ASYNCLINK_PORT_ASYMMETRIC_FENCES
    template <Side S>
    bool waits_often() noexcept {
        // relaxed: only this end's context reads its own counters; the mode
        // is a hint here (a second switch is harmless).
        if (fences_.load(std::memory_order_relaxed) != asymmetric) return false;
        detail::QueueEnd& e = end<S>();
        // relaxed: the end's own index.
        std::uint32_t at = e.word.load(std::memory_order_relaxed);
        if constexpr (S == Side::producer) at = index_of(at);
        detail::QueueEnd::ArmRate& rate = e.arm_rate;
        std::size_t moved = distance(rate.armed_at, at);
        // An arm again at the same index (its wake-up found nothing, or the
        // spin before a block) says nothing about the rate.
        if (moved == 0) return false;
        rate.armed_at = at;
        rate.wait_streak = moved < wait_gap ? rate.wait_streak + 1 : 0;
        return rate.wait_streak >= wait_streak;
    }
#endif
    /// Arms that count as frequent: fewer items than this between two (a
    /// membarrier costs about as much as this many full fences), this many
    /// in a row.
    static constexpr std::uint32_t wait_gap = 256;
    static constexpr std::uint8_t wait_streak = 64;
#if ASYNCLINK_PORT_ASYMMETRIC_FENCES
    /// Switches to a full fence on both sides (see FenceMode). Any end's
    /// context; both ends may switch at once.
    void use_full_fences() noexcept {
        // relaxed: the membarrier below orders it before every publisher's
        // next fence choice.
        fences_.store(switching, std::memory_order_relaxed);
        port::sleep_fence();  // the membarrier
        // release: with the membarrier before it; a sleeper that reads it
        // fences on its own.
        fences_.store(symmetric, std::memory_order_release);
    }
#endif

    /// Withdraws the end's flag (the other side may have taken it already, and
    /// then posted a wake-up that finds nobody parked, or unblocked a futex
    /// that nobody waits on). relaxed: nothing is published by withdrawing.
    template <Side S>
    void disarm() noexcept {
        flag<S>().store(0, std::memory_order_relaxed);
    }
    /// After a store that the end `S` may wait for (an item, a free slot, the
    /// busy mark cleared), following a publish_fence(): true if `S` waits and
    /// this call took its flag (the caller wakes it). A plain load first, so a
    /// stream with nobody waiting never writes the flag's line.
    template <Side S>
    [[gnu::always_inline]] bool take_waiter() noexcept {
        port::atomic<std::uint32_t>& f = flag<S>();
        // relaxed: a hint; acquire on the exchange pairs with arm()'s release
        // store, so the waiting end's loop slot and parked task are visible.
        return f.load(std::memory_order_relaxed) != 0 && f.exchange(0, std::memory_order_acquire) != 0;
    }

    // A task waits at an end in three steps: prepare_task() in await_ready,
    // park_task() in await_suspend, and on_wake() on its loop or
    // withdraw_task() when it is cancelled.

    /// Before a task of this thread's loop waits at the end (may throw).
    template <Side S>
    void prepare_task(const char* operation) {
        end<S>().prepare(Loop::current(), operation);
        end<S>().counts[detail::QueueEnd::Count::waits].add_by_owner();
    }
    /// Publishes where the parked task waits, arms, and looks once more. True:
    /// the task sleeps, armed; false: the end became ready meanwhile, and it
    /// is disarmed again and the task must not sleep.
    template <Side S>
    bool park_task(detail::Parked& parked) noexcept {
        detail::QueueEnd& e = end<S>();
        e.wake->waiter = &parked;
        // Published by arm()'s release store.
        e.loop.wait_on(*parked.task->loop);
        arm<S>();
        if (!ready<S>()) return true;
        disarm<S>();
        e.wake->waiter = nullptr;
        return false;
    }
    /// A cancelled task stops waiting at the end.
    template <Side S>
    void withdraw_task() noexcept {
        end<S>().wake->waiter = nullptr;
        disarm<S>();
    }

    // On the waiting end's loop: wake the parked task if the end is ready; a
    // stale post (the task found its item or room without sleeping) re-arms.
    // Whoever posted took the flag, so it is clear now unless a close() or a
    // re-arm raced. Called only with a task parked at the end, so the queue
    // is alive.
    template <Side S>
    static void on_wake(detail::QueueEndWake& wake) noexcept {
        auto& q = *static_cast<ThreadSafeQueue*>(wake.owner);
        detail::Parked* parked = wake.waiter;
        if (!q.template ready<S>()) {
            q.template arm<S>();
            if (!q.template ready<S>()) return;  // still not: stay parked, armed
            q.template disarm<S>();
        }
        wake.waiter = nullptr;
        parked->task->wake();
    }

    // The waiting end told us where it sleeps: on a loop (post a wake-up) or
    // in the kernel (futex on its flag).
    // `trace_flow`: the hand-over's trace flow id, for a loop's wake-up.
    // Out of line: inlined, its calls made every push() and pop() save and
    // restore the callee-saved registers, wake-up or not.
    template <Side S>
    [[gnu::noinline, gnu::cold]] void wake(std::uint32_t trace_flow = 0) noexcept {
        detail::QueueEnd& sleeper = end<S>();
        // Ordered by the acquire exchange that took the flag. The slot keeps
        // the waiting loop's core alive while we post.
        if (!sleeper.loop.with_core(
                [&sleeper, trace_flow](detail::WakeCore& core) noexcept { sleeper.wake->post(core, trace_flow); })) {
            // relaxed: a hint for the sleeper's spin budget (see block_until).
            sleeper.woken_at.store(detail::WakeStamp::now(), std::memory_order_relaxed);
#if ASYNCLINK_TRACE
            trace::detail::leave_flow(sleeper.thread_flow, trace_flow);
#endif
            port::unblock_threads(flag<S>());
        }
    }

    // The blocking ends wait in two steps: a spin of the end's adaptive budget
    // (the other side usually answers within microseconds, and a block-and-wake
    // costs tens), then a block on the end's own flag, armed.

    /// put_sync(item, block = true) once the queue was full: ok once there
    /// is room, closed once the queue is closed.
    ///
    /// While its spin pauses (the consumer runs on another CPU and frees a
    /// slot every few nanoseconds) it waits for a batch of room, not one
    /// slot: a producer that put as soon as one slot was free found the queue
    /// full again at the next item, read the consumer's head line at every
    /// item and slowed the consumer that sets the pace (docs/benchmarks.md,
    /// "A producer that waits for a batch of room"). Once the spin yields,
    /// and in the block, one slot is enough, so a put still returns once
    /// there is room, within the pause phase's 2 us.
    template <class Item>
    PushResult push_waiting(Item& item) {
        producer_.counts[detail::QueueEnd::Count::waits].add_by_owner();
        PushResult r = PushResult::full;
        auto put = [&] { return (r = push(item)) != PushResult::full; };
        block_until<Side::producer>(put, [&](const detail::SpinWait& spin) {
            return (spin.yields() == 0 && !room_for_batch()) ? false : put();
        });
        return r;
    }
    /// Whether the queue has room for a batch of puts (a quarter of the
    /// capacity, at most 64 slots), or is closed. The producer's context only.
    bool room_for_batch() const noexcept { return room_for(std::clamp<std::uint32_t>(capacity_ / 4, 1, 64)); }
    /// Whether the queue has room for `n` puts, or is closed. The producer's
    /// context only.
    bool room_for(std::uint32_t n) const noexcept {
        // relaxed: the producer owns the tail's index.
        std::uint32_t tail = index_of(producer_.word.load(std::memory_order_relaxed));
        // acquire: the consumer's release store emptied the slots.
        return capacity_ - distance(consumer_.word.load(std::memory_order_acquire), tail) >= n || is_closed();
    }

    /// get_sync(block = true) once the queue was empty: true with an item, false
    /// once the queue is closed and drained. Inline, with block_until: moved
    /// out of get_sync, the wake round trip measured 15-25 % slower in
    /// bridge_bench with the same instructions (docs/benchmarks.md).
    [[gnu::always_inline]] bool pop_waiting(std::optional<T>& out) noexcept {
        consumer_.counts[detail::QueueEnd::Count::waits].add_by_owner();
        bool got = false;
        block_until<Side::consumer>([&] {
            if ((got = pop(out))) return true;
            if (!consumer_may_stop()) return false;  // not closed, or a put in flight: wait
            got = pop(out);                          // an item put meanwhile, or the end
            return true;
        });
        return got;
    }

    /// The one blocking wait of both ends: until attempt() succeeds, spin up
    /// to the end's budget, then block on the end's flag after arm() and a
    /// last look. In the spin, spin_attempt(spin) looks instead, if given.
    /// Throws only what the attempts throw (a copy put by put_sync(item)).
    template <Side S, class Attempt, class SpinAttempt = std::nullptr_t>
    [[gnu::always_inline]] void block_until(Attempt attempt, SpinAttempt spin_attempt = nullptr) {
        detail::QueueEnd& e = end<S>();
        std::uint32_t began = detail::WakeStamp::now();
        if (Clock::duration limit = e.spin.next(); limit.count() != 0) {
            detail::SpinWait spin(limit, e.spin.pause_first());
            bool answered = false;
            while (!answered && spin.once()) {
                if constexpr (std::is_null_pointer_v<SpinAttempt>) {
                    answered = attempt();
                } else {
                    answered = spin_attempt(spin);
                }
            }
            e.spin.spun(spin, answered);
            if (answered) return;
        }
        bool slept = false;
        while (!attempt()) {
            // Published by arm()'s release store.
            e.loop.wait_on_thread();
            arm<S>();
            if (ready<S>()) {
                disarm<S>();
            } else {
                port::block_thread(flag<S>(), 1);
                slept = true;
            }
        }
#if ASYNCLINK_TRACE
        if (slept) trace::detail::thread_woken(e.thread_flow);
#endif
        // Would a full spin have caught the answer? Relaxed: a hint; a stale
        // stamp only costs one spin decision.
        std::uint32_t answered_at = slept ? e.woken_at.load(std::memory_order_relaxed) : detail::WakeStamp::now();
        e.spin.waited(detail::WakeStamp::between(began, answered_at));
    }

    /// Builds the item in its slot from `item`: moved from a T, copied from a
    /// const T (only once there is room). The caller keeps `item` if it fails.
    template <class Item>
    PushResult push(Item& item) noexcept(std::is_nothrow_constructible_v<T, Item&&>) {
        if constexpr (!std::is_nothrow_constructible_v<T, Item&&>) {
            // A copy that may throw is made before the busy mark below, which
            // must be cleared whatever happens (a mark left set would keep a
            // consumer of the closed queue from ever seeing the end).
            {
                EndGuard guard(producer_, "producer");
                if (!room_at(index_of(producer_.word.load(std::memory_order_relaxed)))) {
                    return is_closed() ? PushResult::closed : PushResult::full;
                }
            }
            T copy(std::move(item));
            return push(copy);
        }
        EndGuard guard(producer_, "producer");
        // relaxed: only this producer writes the tail (and its busy bit is
        // clear between calls).
        std::uint32_t t = producer_.word.load(std::memory_order_relaxed);
        std::uint32_t ti = index_of(t);
        if (!room_at(ti)) return is_closed() ? PushResult::closed : PushResult::full;
#if ASYNCLINK_QUEUE_LAP_SLOTS
        slot_type* slot = slot_at(producer_, ti);
        std::uint32_t next = t + 2;  // the next index << 1, but at the end of the half
        // Before the publishing store, which now fails only on a closed queue
        // (and then the producer goes back to its index's half).
        if (ti == producer_.last) [[unlikely]]
            next = turn(producer_, ti) << 1;
#endif
        // Busy before the look at closed_: a consumer that sees the queue
        // closed and empty passes a sleep_fence(), after which either this
        // mark or this call's look at closed_ is seen by the other.
        // relaxed: the fence below orders it before the load.
        producer_.word.store(t | busy_bit, std::memory_order_relaxed);
        publish_fence();
        if (is_closed()) {
            // release: nothing new is published, but the consumer that waits
            // for the mark to clear reads it with acquire as any tail.
            producer_.word.store(t, std::memory_order_release);
            publish_fence();
#if ASYNCLINK_QUEUE_LAP_SLOTS
            retarget<Side::producer>(ti);  // the turn above, if any, is undone
#endif
            if (take_waiter<Side::consumer>()) wake<Side::consumer>();
            return PushResult::closed;
        }
#if !ASYNCLINK_QUEUE_LAP_SLOTS
        slot_type* slot = &slots_[slot_of(ti)];
        std::uint32_t next = advance(ti) << 1;
#endif
        ::new (static_cast<void*>(slot->storage)) T(std::move(item));
        // release: publishes the item (and clears the busy mark).
        producer_.word.store(next, std::memory_order_release);
        // The store before the look at the consumer's flag (the other half
        // is the sleep_fence() in the consumer's arm()).
        publish_fence();
        std::uint32_t trace_flow = ASYNCLINK_TRACE_HANDOVER(queue_put, this, false);
        producer_.counts[detail::QueueEnd::Count::items].add_by_owner();
        if (take_waiter<Side::consumer>()) wake<Side::consumer>(trace_flow);
        return PushResult::ok;
    }

    bool pop(std::optional<T>& out) noexcept {
        EndGuard guard(consumer_, "consumer");
        // relaxed: only this consumer moves the head index.
        std::uint32_t hi = consumer_.word.load(std::memory_order_relaxed);
        if constexpr (!port::coherent_caches) {
            // No cache line to save: the tail itself, not a copy to refresh.
            // acquire: pairs with push()'s release; the item is fully built.
            std::uint32_t tail = index_of(producer_.word.load(std::memory_order_acquire));
            consumer_.counts[detail::QueueEnd::Count::high_water].raise_by_owner(distance(hi, tail));
            if (hi == tail) return false;
        } else if (hi == consumer_.limit) {
            // acquire: pairs with push()'s release; the item is fully built.
            consumer_.limit = index_of(producer_.word.load(std::memory_order_acquire));
            // The length at this look, exact: only this end moves the head.
            consumer_.counts[detail::QueueEnd::Count::high_water].raise_by_owner(distance(hi, consumer_.limit));
            if (hi == consumer_.limit) return false;
        }
#if ASYNCLINK_QUEUE_LAP_SLOTS
        T* item = slot_at(consumer_, hi)->get();
        std::uint32_t next = hi + 1;  // but at the end of the half
        if (hi == consumer_.last) [[unlikely]]
            next = turn(consumer_, hi);
#else
        T* item = slots_[slot_of(hi)].get();
        std::uint32_t next = advance(hi);
#endif
        out.emplace(std::move(*item));
        item->~T();
        // release: hands the emptied slot back to the producer.
        consumer_.word.store(next, std::memory_order_release);
        // The store before the look at the producer's flag (the other half
        // is the sleep_fence() in the producer's arm()).
        publish_fence();
        consumer_.counts[detail::QueueEnd::Count::items].add_by_owner();
        if (take_waiter<Side::producer>()) wake<Side::producer>(ASYNCLINK_TRACE_HANDOVER(queue_get, this, false));
        return true;
    }

    /// Whether a put at the tail index `ti` finds room: one comparison with
    /// the limit, and only at the limit a look at the head again. The
    /// producer's context only.
    [[gnu::always_inline]] bool room_at(std::uint32_t ti) noexcept {
        if (ti != producer_.limit) return true;
        // acquire: the consumer has finished moving out of the slots it freed.
        producer_.limit = full_at(consumer_.word.load(std::memory_order_acquire));
        return ti != producer_.limit;
    }

    // Debug-build detection of one end used by two contexts at once.
    class EndGuard {
    public:
#ifndef NDEBUG
        EndGuard(detail::QueueEnd& end, const char* name) noexcept : busy_(end.busy) {
            // acquire/release: a clean hand-over between contexts that take turns.
            if (busy_.exchange(true, std::memory_order_acquire)) {
                std::fprintf(stderr,
                             "asynclink: two contexts used the %s end of a ThreadSafeQueue at once; each end "
                             "belongs to exactly one context (give each producer its own queue)\n",
                             name);
                std::abort();
            }
        }
        ~EndGuard() { busy_.store(false, std::memory_order_release); }
        port::atomic<bool>& busy_;
#else
        EndGuard(detail::QueueEnd&, const char*) noexcept {}
#endif
        EndGuard(const EndGuard&) = delete;
        EndGuard& operator=(const EndGuard&) = delete;
    };

    template <class>
    friend struct detail::QueueLayoutProbe;

    // The read-mostly words both ends read (the flags are written only when
    // an end waits or the queue closes); then each end on cache lines of its
    // own (see detail::QueueEnd).
    std::unique_ptr<slot_type[]> owned_;
    slot_type* slots_;
    std::uint32_t capacity_;
    port::atomic<std::uint32_t> closed_{0};
    port::atomic<std::uint32_t> waiting_[2] = {0, 0};  // index(Side): the producer's, the consumer's
    // FenceMode: which pair of fences the ends use (none to choose from
    // where the port has one pair: no word, so the Cortex-M layout and
    // instruction counts stay as they were).
    struct OneFencePair {};
    [[no_unique_address]] std::conditional_t<port::asymmetric_fences, port::atomic<std::uint32_t>, OneFencePair>
        fences_{};

    detail::QueueEnd producer_{this, &on_wake<Side::producer>};  // its word is the tail
    detail::QueueEnd consumer_{this, &on_wake<Side::consumer>};  // its word is the head
};

}  // namespace asynclink

// ThreadSafeQueue<T, many_producers>: needs the detail types above.
#include "asynclink/many_producer_queue.hpp"
