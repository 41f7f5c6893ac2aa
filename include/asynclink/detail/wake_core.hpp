// SPDX-License-Identifier: BSL-1.0
// The remote-wake half of a loop: everything another context touches to
// reach it (the posted list of wake-up requests, the schedule() ring, the
// call_soon_threadsafe() list, the sleeping flag and the port's Idle with its
// wake handle), kept apart from the Loop and reference-counted, as Tokio's
// wakers hold the runtime's handle rather than the runtime.
//
// Why: a context that posts to a loop (a set() that took a waiting bit, a
// Context worker finishing a job, a thread holding a Loop::Handle) may do so
// while the loop ends. It must find live memory, and its post must either be
// run or be refused, never be left in a dead list. So:
//   - The Loop holds one reference; so does every WakeSlot bound to the core
//     (a thread-safe primitive armed by one of the loop's tasks), every
//     LoopBinding (a loop-only primitive bound to the loop) and every
//     Loop::Handle. The core goes when the last one does.
//   - ~Loop closes the core: it runs what was posted, then swaps a CLOSED
//     marker into each list and closes the ring (see close_*), atomically
//     with respect to the posters, without waiting for any of them. A post
//     after that is refused: post() returns false and leaves the node not
//     queued, schedule() returns false, call_soon_threadsafe throws.
//
// Allocation: one core per Loop, made by the Loop's constructor; nothing is
// allocated on a post. Hosted ports use the heap. Cortex-M (no heap) takes a
// core from a static pool of ASYNCLINK_MAX_LOOPS (default 2) entries: loops
// alive at once, plus loops that ended while a primitive still holds their
// core (until that primitive is destroyed or used by a later loop). An empty
// pool is a port::fatal naming the macro.
//
// A core freed from a signal handler (a setter's borrowed reference was the
// last one, see WakeSlot) is not freed there: release_from_any_context() puts
// it on a lock-free list that the next Loop constructor or destructor frees.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "asynclink/detail/array_store.hpp"
#include "asynclink/detail/counter.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/port/port.hpp"

#if ASYNCLINK_PORT_HAS_THREADS
#include <functional>
#endif

namespace asynclink {
class Loop;
}

namespace asynclink::detail {

#if ASYNCLINK_PORT_HAS_THREADS
/// One call_soon_threadsafe() call: a heap node each, so posting is a push.
struct PostedCall {
    PostedCall* next = nullptr;
    std::function<void()> fn;
#if ASYNCLINK_TRACE
    std::uint32_t trace_flow = 0;  ///< the hand-over's trace flow id (asynclink/trace.hpp)
#endif
};
#endif

/// A core's address is this aligned, so a WakeSlot keeps a count of its
/// borrowers in the low bits of the pointer: up to 255 contexts mid-post on
/// one primitive at once with threads, 63 on bare metal (interrupt levels and
/// the other core). More is a port::fatal.
inline constexpr std::size_t wake_core_alignment = ASYNCLINK_PORT_HAS_THREADS ? 256 : 64;

class alignas(wake_core_alignment) WakeCore {
public:
    /// A core for `owner`, holding the owner's reference. Throws UsageError
    /// for a schedule capacity the port cannot hold.
    static WakeCore* create(Loop& owner, std::size_t schedule_capacity);

    WakeCore(const WakeCore&) = delete;
    WakeCore& operator=(const WakeCore&) = delete;

    // ------------------------------------------------ references (any context)

    void add_ref(std::int32_t n = 1) noexcept {
        // Relaxed: the caller already holds a reference, so the core cannot go
        // meanwhile; nothing is published by taking one.
        refs_.fetch_add(n, std::memory_order_relaxed);
    }
    /// Drops n references; the last one frees the core. Not in a signal
    /// handler or ISR (freeing is not async-signal-safe): use the next one.
    void release(std::int32_t n = 1) noexcept;
    /// Drops one reference from any context; a core freed this way is
    /// reclaimed by a later Loop constructor or destructor.
    void release_from_any_context() noexcept;

    // ------------------------------------------------ posting (any context)

    /// Queues the node's run() on the loop and wakes the loop if it sleeps.
    /// Lock-free, allocation-free, async-signal-safe. Repeated posts coalesce
    /// until the loop takes the node. False (and the node left not queued) if
    /// the loop has closed.
    bool post(RemoteNode& node) noexcept;
    /// Loop::schedule(): false when the ring is full or the loop has closed.
    /// Inline, so that with the counters compiled out it is the ring's
    /// routine itself (no extra call on the ISR path).
    bool schedule(void (*fn)(void*), void* arg) noexcept {
        bool ok = enqueue_scheduled(fn, arg);
        schedule_counts_[ok ? ScheduleCount::accepted : ScheduleCount::refused].add();
        return ok;
    }
#if ASYNCLINK_PORT_HAS_THREADS
    /// Loop::call_soon_threadsafe(): throws UsageError once the loop has closed.
    void call_soon_threadsafe(std::function<void()> fn);
#endif
    /// True once ~Loop has closed the core. Any context; a snapshot.
    bool closed() const noexcept {
        // acquire: pairs with the closing exchange; whoever sees it closed
        // sees the loop's end.
        return posted_.load(std::memory_order_acquire) == closed_nodes();
    }
    /// The loop this core belongs to; meaningful only while !closed().
    Loop* owner() const noexcept { return owner_; }

    port::Idle& idle() noexcept { return idle_; }

    // ------------------------------------------------ the loop's side (its thread only)

    /// Any work posted now (a hint, or exact after fence F2 of the sleep protocol).
    bool has_posted_work() const noexcept;
    /// True if a node is posted now (a hint: take_posted() reads with the
    /// ordering it needs).
    bool nodes_posted() const noexcept {
        // Relaxed: a hint, as above; a node missed here is taken at the
        // loop's next iteration.
        return posted_.load(std::memory_order_relaxed) != nullptr;
    }
    /// Takes every posted node, oldest first (the list is linked through next).
    RemoteNode* take_posted() noexcept;
    /// The end of the schedule() calls present now, for pop_scheduled().
    std::size_t scheduled_end() const noexcept {
        // Relaxed: positions claimed before this load are the calls present
        // now; each cell's own sequence says when its data is there.
        return schedule_enqueue_.load(std::memory_order_relaxed) & ~ring_closed;
    }
    /// The oldest scheduled call before `end` if its data is there, and the
    /// trace flow id of its schedule() (0 if not recorded).
    bool pop_scheduled(std::size_t end, void (*&fn)(void*), void*& arg, std::uint32_t& trace_flow) noexcept;
    /// True if a scheduled call is ready to pop (a hint). Inline: the loop
    /// asks on every iteration, and the answer is almost always no.
    bool scheduled_ready() const noexcept {
        const ScheduleCell& cell = schedule_cells_[cell_index(schedule_dequeue_)];
        // Relaxed: a hint; pop_scheduled() re-reads with acquire.
        return cell.sequence.load(std::memory_order_relaxed) == schedule_dequeue_ + 1;
    }
#if ASYNCLINK_PORT_HAS_THREADS
    bool calls_posted() const noexcept {
        // Relaxed: a hint; take_calls() reads with the ordering it needs.
        PostedCall* head = calls_.load(std::memory_order_relaxed);
        return head != nullptr && head != closed_calls();
    }
    /// Takes every posted call, oldest first.
    PostedCall* take_calls() noexcept;
#endif

    /// The sleep protocol's two halves (see Loop::wait_for_work): the loop
    /// announces it may sleep, and a poster that finds it asleep wakes it.
    /// Where a wake is one store (ASYNCLINK_PORT_WAKE_IS_A_STORE) every post
    /// wakes, and announcing is forgetting the wakes of earlier posts.
    void announce_sleep() noexcept {
#if ASYNCLINK_PORT_WAKE_IS_A_STORE
        idle_.rearm();
#else
        // Relaxed: ordered by fence F2, which the loop issues next.
        sleeping_.store(true, std::memory_order_relaxed);
#endif
    }
    void end_sleep() noexcept {
#if !ASYNCLINK_PORT_WAKE_IS_A_STORE
        // Relaxed: only the loop reads it as a "do not sleep" decision after F2;
        // a poster that still sees true pays one needless wake.
        sleeping_.store(false, std::memory_order_relaxed);
#endif
    }
    /// When the poster that woke the loop posted (the low 32 bits of the
    /// clock's ticks: a 64-bit atomic is not lock-free on every target a
    /// signal handler runs on). A hint for the spin budget.
    /// schedule() calls accepted and refused (Loop::stats()). Any context.
    std::size_t scheduled() const noexcept { return schedule_counts_[ScheduleCount::accepted].get(); }
    std::size_t schedule_refused() const noexcept { return schedule_counts_[ScheduleCount::refused].get(); }

    std::uint32_t wake_posted_at() const noexcept {
        // Relaxed: a hint, read after the wake-up; a stale value costs one
        // spin decision.
        return wake_posted_at_.load(std::memory_order_relaxed);
    }

    /// ~Loop's close, in three steps it runs in this order: after each the
    /// matching post is refused, and what the step returns was accepted before
    /// it and must run. None waits for a poster.
    RemoteNode* close_posted() noexcept;
#if ASYNCLINK_PORT_HAS_THREADS
    PostedCall* close_calls() noexcept;
#endif
    /// Closes the ring; returns the end of the claimed positions. Then
    /// pop_closing() hands out each call published in time, and marks dead
    /// each claimed cell whose producer had not published (its schedule()
    /// returns false).
    std::size_t close_schedule() noexcept;
    bool pop_closing(std::size_t end, void (*&fn)(void*), void*& arg) noexcept;

private:
    struct ScheduleCell {
        port::atomic<std::size_t> sequence;
        void (*fn)(void*);
        void* arg;
#if ASYNCLINK_TRACE
        std::uint32_t trace_flow;  ///< the schedule()'s trace flow id, published with fn and arg
#endif
    };

    WakeCore(Loop& owner) noexcept : owner_(&owner) {}
    ~WakeCore() = default;
    friend class WakeCorePool;

    static RemoteNode* closed_nodes() noexcept;
    /// schedule() without the counting: the ring's protocol alone.
    bool enqueue_scheduled(void (*fn)(void*), void* arg) noexcept;
#if ASYNCLINK_TRACE
    /// The same while recording: the hand-over is recorded and its flow id
    /// travels in the cell. Out of line, so the call into the recorder does
    /// not make enqueue_scheduled() save registers on every schedule().
    bool enqueue_scheduled_traced(void (*fn)(void*), void* arg) noexcept;
#endif
    /// The protocol itself; `trace_flow` goes into the cell (0: none).
    bool claim_and_publish(void (*fn)(void*), void* arg, std::uint32_t trace_flow) noexcept;
#if ASYNCLINK_PORT_HAS_THREADS
    static PostedCall* closed_calls() noexcept;
#endif
#if ASYNCLINK_PORT_WAKE_IS_A_STORE
    [[gnu::always_inline]] void wake_if_sleeping() noexcept {
        port::atomic_thread_fence(std::memory_order_seq_cst);  // F1, see Loop::wait_for_work
        idle_.wake();  // one store: cheaper than looking whether the loop sleeps
    }
#else
    void wake_if_sleeping() noexcept;
#endif
    std::size_t cell_index(std::size_t position) const noexcept { return (position >> 1) & schedule_mask_; }

    // schedule() positions advance by 2: bit 0 of schedule_enqueue_ marks the
    // ring closed, so claiming a position (a CAS on that word) and closing are
    // one atomic decision, and the positions still wrap like plain counters.
    static constexpr std::size_t ring_closed = 1;
    static constexpr std::size_t position_step = 2;

    // Posted from other contexts (see post()); the loop's hot remote words.
    alignas(port::cache_line) port::atomic<RemoteNode*> posted_{nullptr};
#if !ASYNCLINK_PORT_WAKE_IS_A_STORE
    port::atomic<bool> sleeping_{false};
#endif
    port::atomic<std::uint32_t> wake_posted_at_{0};
    port::atomic<std::int32_t> refs_{1};
#if ASYNCLINK_PORT_HAS_THREADS
    port::atomic<PostedCall*> calls_{nullptr};
#endif
    Loop* owner_;
    WakeCore* next_dead_ = nullptr;  // on the list of cores to reclaim

    // schedule(): Vyukov's bounded multi-producer queue; each cell's sequence
    // says whose turn it is (free for position p: p; published: p + 1; free
    // for the next lap: p + 2 * capacity; dead after the close: p + 2).
    ArrayStore<ScheduleCell, port::max_schedule_capacity> schedule_cells_;
    std::size_t schedule_mask_ = 0;
    alignas(port::cache_line) port::atomic<std::size_t> schedule_enqueue_{0};
    // schedule()'s verdicts, beside the word every schedule() writes (any context).
    enum class ScheduleCount { accepted, refused, kinds };
    [[no_unique_address]] CounterArray<ScheduleCount> schedule_counts_;
    alignas(port::cache_line) std::size_t schedule_dequeue_ = 0;

    port::Idle idle_;

    // Every atomic a signal handler or an ISR touches must be lock-free there
    // (ARMv6-M has no atomic read-modify-write instructions; its port makes
    // each one a short critical section, which is as good in one core's ISRs).
#if !defined(__ARM_ARCH_6M__)
    // NOLINTBEGIN(misc-redundant-expression): std::size_t and std::uintptr_t are one type on some targets only
    static_assert(port::atomic<RemoteNode*>::is_always_lock_free && port::atomic<bool>::is_always_lock_free &&
                      port::atomic<std::uint32_t>::is_always_lock_free &&
                      port::atomic<std::int32_t>::is_always_lock_free &&
                      port::atomic<std::size_t>::is_always_lock_free &&
                      port::atomic<std::uintptr_t>::is_always_lock_free,
                  "the wake path runs in signal handlers and ISRs: its atomics must be lock-free");
    // NOLINTEND(misc-redundant-expression)
#endif
};

/// A strong reference to a core (Loop::Handle, a Context job). Copy and
/// destroy it in ordinary code, not in a signal handler (see release()).
class WakeRef {
public:
    WakeRef() noexcept = default;
    explicit WakeRef(WakeCore& core) noexcept : core_(&core) { core.add_ref(); }
    WakeRef(const WakeRef& other) noexcept : core_(other.core_) {
        if (core_ != nullptr) core_->add_ref();
    }
    WakeRef(WakeRef&& other) noexcept : core_(other.core_) { other.core_ = nullptr; }
    WakeRef& operator=(WakeRef other) noexcept {
        std::swap(core_, other.core_);
        return *this;
    }
    ~WakeRef() {
        if (core_ != nullptr) core_->release();
    }
    WakeCore* get() const noexcept { return core_; }
    WakeCore* operator->() const noexcept { return core_; }
    explicit operator bool() const noexcept { return core_ != nullptr; }

private:
    WakeCore* core_ = nullptr;
};

/// A thread-safe primitive's side of one loop: the core of the loop whose
/// task armed it, which any context may post to.
///
/// The slot holds a reference to that core, so a setter never touches freed
/// memory. The hard case is the loop thread rebinding the slot (to a later
/// loop, or to none) while a setter that read the old core is still posting
/// to it: the loop cannot wait for that setter, and must not free the core
/// under it. So a setter borrows the core with one atomic step on the slot's
/// word (a count in the pointer's low bits, "split reference counting"), and
/// the rebinding turns each borrow still counted there into a reference of
/// its own on the old core, which the borrower drops when it is done. No side
/// waits; the old core goes when the last borrower has left.
class WakeSlot {
public:
    WakeSlot() noexcept = default;
    WakeSlot(const WakeSlot&) = delete;
    WakeSlot& operator=(const WakeSlot&) = delete;
    /// After every context that posts through the slot has stopped.
    ~WakeSlot() { bind(nullptr); }

    /// Points the slot at `core` (nullptr: at none), taking a reference to it
    /// and dropping the old one. Called by the one context that arms the
    /// primitive (its loop's thread, or a thread end of a queue); a setter may
    /// be posting meanwhile.
    void bind(WakeCore* core) noexcept {
        // Relaxed: only this context changes the pointer; borrowers change
        // only the count below it.
        std::uintptr_t word = word_.load(std::memory_order_relaxed);
        WakeCore* previous = core_of(word);
        if (previous == core) return;
        if (core != nullptr) core->add_ref();
        // A borrower that sees the new pointer drops its borrow as a reference
        // of its own: the bias keeps such a drop from freeing the old core
        // before the borrows are settled below.
        if (previous != nullptr) previous->add_ref(settle_bias);
        // acq_rel: release publishes the new core to the borrowers (they also
        // reach it through the primitive's own release/acquire); acquire pairs
        // with each give-back's release. Relaxed on failure: only the count
        // moved; retry with it.
        while (!word_.compare_exchange_weak(word, reinterpret_cast<std::uintptr_t>(core), std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        }
        // The borrowers still counted in `word` now own a reference each; the
        // slot's own reference goes.
        if (previous != nullptr) previous->release(settle_bias - static_cast<std::int32_t>(borrows_of(word)) + 1);
    }

    /// Posts `node` to the bound core; any context, async-signal-safe. False
    /// if no core is bound (the waiting side is a thread, or nobody armed).
    /// A core that has closed refuses the post, which then does nothing.
    bool post(RemoteNode& node) noexcept {
        return with_core([&node](WakeCore& core) noexcept { core.post(node); });
    }

    /// Calls f(core) with the bound core borrowed; any context. False (f not
    /// called) if no core is bound.
    template <class F>
    bool with_core(F&& f) noexcept {
        static_assert(noexcept(f(std::declval<WakeCore&>())), "runs in any context: must not throw");
        if (port::runs_alone()) {
            // Nothing that rebinds the slot or drops its reference (both run
            // in the arming context) runs until we return: the bound core
            // stays alive without a borrow. acquire: as in borrow().
            WakeCore* core = core_of(word_.load(std::memory_order_acquire));
            if (core == nullptr) return false;
            f(*core);
            return true;
        }
        WakeCore* core = borrow();
        if (core == nullptr) return false;
        f(*core);
        give_back(*core);
        return true;
    }

private:
    static constexpr std::uintptr_t borrow_mask = wake_core_alignment - 1;
    static constexpr std::int32_t settle_bias = 1 << 20;

    // NOLINTNEXTLINE(performance-no-int-to-ptr): the borrow count lives in the pointer's low bits by design
    static WakeCore* core_of(std::uintptr_t word) noexcept { return reinterpret_cast<WakeCore*>(word & ~borrow_mask); }
    static std::uintptr_t borrows_of(std::uintptr_t word) noexcept { return word & borrow_mask; }

    WakeCore* borrow() noexcept {
        // Relaxed load: the CAS below decides; the caller reached this point
        // through the primitive's acquire of its waiting bit, which the
        // arming context set after bind().
        std::uintptr_t word = word_.load(std::memory_order_relaxed);
        do {
            if (core_of(word) == nullptr) return nullptr;
            if (borrows_of(word) == borrow_mask) {
                port::fatal(
                    "asynclink: too many contexts posting through one primitive at once (see "
                    "detail::wake_core_alignment)");
            }
            // acquire: pairs with bind()'s release; the core is fully built.
        } while (!word_.compare_exchange_weak(word, word + 1, std::memory_order_acquire, std::memory_order_relaxed));
        return core_of(word);
    }

    void give_back(WakeCore& core) noexcept {
        std::uintptr_t word = word_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
        // Still counted in the slot (the same core, a borrow to return):
        // return it there. release: our use of the core happens before
        // whoever frees it.
        while (core_of(word) == &core && borrows_of(word) != 0) {
            if (word_.compare_exchange_weak(word, word - 1, std::memory_order_release, std::memory_order_relaxed)) {
                return;
            }
        }
        // bind() has turned our borrow into a reference of our own.
        core.release_from_any_context();
    }

    port::atomic<std::uintptr_t> word_{0};
};

}  // namespace asynclink::detail
