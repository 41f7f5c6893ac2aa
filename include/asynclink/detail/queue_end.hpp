// SPDX-License-Identifier: BSL-1.0
// One end of a ThreadSafeQueue (detail::QueueEnd, used twice: the producer's
// and the consumer's), the wake node it posts to its loop (QueueEndWake) and
// where that node lives (QueueEndWakeHolder). The queue's protocol is in
// include/asynclink/thread_safe_queue.hpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "asynclink/detail/config.hpp"
#include "asynclink/detail/counter.hpp"
#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/detail/waiting_loop.hpp"

namespace asynclink::detail {

/// Uninitialised room for one queued item.
template <class T>
struct QueueSlot {
    alignas(T) unsigned char storage[sizeof(T)];
    T* get() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
};

/// What one end of a ThreadSafeQueue shares with the loop it waits on: the
/// node its wake-ups are posted with, and the task parked at that end.
///
/// A loop may run the node after the queue is gone: the other end took the
/// waiting bit and posted the wake-up, the task stopped waiting anyway (it
/// found its item while arming, or was cancelled), and the queue was destroyed
/// on another loop before this one took its posted work. So on a port with
/// threads, where the ends may live on two loops, the block is on the heap and
/// counted: the queue holds one reference, and the loop one while the node is
/// posted, which run() drops as its very last action (Loop::take_posted_work
/// touches a node only before calling run); whoever drops the last frees it.
/// A stale run() finds no parked task and touches nothing but the block; a
/// task parked at the end means the queue is alive (nobody destroys a queue
/// while someone waits on it). On Cortex-M (one loop per program, no heap) the
/// block is part of the queue (QueueEndWakeHolder), and the queue's
/// destructor, on that loop, runs the posted work first (QueueEnd).
class QueueEndWake : public RemoteNode {
public:
    /// Runs on the end's loop when a wake-up finds a task parked there.
    using Handler = void (*)(QueueEndWake& self) noexcept;
    static constexpr bool on_heap = ASYNCLINK_PORT_HAS_THREADS != 0;

    QueueEndWake(void* queue, Handler on_wake) noexcept : on_wake_(on_wake) {
        owner = queue;
        run = &run_posted;
    }
    QueueEndWake(const QueueEndWake&) = delete;
    QueueEndWake& operator=(const QueueEndWake&) = delete;

    /// The task parked at this end; only the end's loop thread touches it.
    Parked* waiter = nullptr;

    /// Posts the wake-up to the loop of `core`, once until the loop has run
    /// it. Any context; async-signal-safe. A loop that has ended refuses it:
    /// its end ran every task, so nobody waits for it there.
    /// `flow`: the trace flow id of the hand-over that posts (0: none).
    void post(WakeCore& core, [[maybe_unused]] std::uint32_t flow = 0) noexcept {
        // acq_rel: release hands our state change to the run() of the post we
        // coalesce into (its exchange reads ours); acquire orders us after the
        // reset of the run before.
        if (posted_.exchange(true, std::memory_order_acq_rel)) return;
#if ASYNCLINK_TRACE
        // Relaxed: core.post() below publishes it to the loop.
        if (flow != 0) trace_flow.store(flow, std::memory_order_relaxed);
#endif
        // relaxed: the queue's own reference keeps the block alive meanwhile;
        // the loop receives this one through the post's release.
        if constexpr (on_heap) holders_.fetch_add(1, std::memory_order_relaxed);
        if (!core.post(*this)) [[unlikely]] {
            // Refused (the node is not queued): hand back what run() would
            // have. release: as the reset in run_posted().
            posted_.store(false, std::memory_order_release);
            drop();
        }
    }

    /// Drops the queue's reference (on_heap only).
    void release() noexcept { drop(); }

private:
    static void run_posted(RemoteNode& node) noexcept {
        auto& self = static_cast<QueueEndWake&>(node);
        // acq_rel: acquire reads from the last post() (the one that linked the
        // node or one that coalesced into it), so its state change is visible;
        // reset before the handler, so a change after it posts again.
        self.posted_.exchange(false, std::memory_order_acq_rel);
        if (self.waiter != nullptr) self.on_wake_(self);
        self.drop();  // last: it may free the block
    }
    void drop() noexcept {
        if constexpr (on_heap) {
            // acq_rel: whoever frees the block sees every use of it by the other holder.
            if (holders_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
        }
    }

    Handler on_wake_;
    port::atomic<bool> posted_{false};
    port::atomic<std::uint32_t> holders_{1};
};

/// Where a queue keeps one end's QueueEndWake: on the heap, allocated when a
/// task first waits at that end (so a queue over user-supplied storage whose
/// ends never wait as tasks allocates nothing) and shared with the loop that
/// may still hold its node; or inside the queue on a port with one loop per
/// program (see QueueEndWake).
class QueueEndWakeHolder {
public:
    QueueEndWakeHolder(void* queue, QueueEndWake::Handler on_wake) noexcept
#if ASYNCLINK_PORT_HAS_THREADS
        : queue_(queue), on_wake_(on_wake) {
    }
    ~QueueEndWakeHolder() {
        // relaxed: the destructor runs after every call on the queue (its contract).
        if (QueueEndWake* block = block_.load(std::memory_order_relaxed)) block->release();
    }
    /// Makes the block exist, before a task first waits at the end. The end's
    /// own context only; throws std::bad_alloc.
    void make() {
        // relaxed (both): only this end's context stores the pointer, before
        // the seq_cst arm() that publishes the wait to the other side.
        if (block_.load(std::memory_order_relaxed) == nullptr) {
            block_.store(new QueueEndWake(queue_, on_wake_), std::memory_order_relaxed);
        }
    }
    /// The block; exists once a task has waited at the end (prepare()).
    /// relaxed: read after the RMW that saw the waiting bit, which orders it.
    QueueEndWake* operator->() const noexcept { return block_.load(std::memory_order_relaxed); }

private:
    void* queue_;
    QueueEndWake::Handler on_wake_;
    port::atomic<QueueEndWake*> block_{nullptr};
#else
        : block_(queue, on_wake) {
    }
    void make() noexcept {}
    QueueEndWake* operator->() noexcept { return &block_; }

private:
    QueueEndWake block_;
#endif
    QueueEndWakeHolder(const QueueEndWakeHolder&) = delete;
    QueueEndWakeHolder& operator=(const QueueEndWakeHolder&) = delete;
};

/// One end of a ThreadSafeQueue. A queue has two, the producer's and the
/// consumer's, mirror images of each other: each moves its own index and waits
/// for the other's, so one type serves both, and what tells them apart (which
/// word an end watches, when it may stop waiting) is the queue's Side.
///
/// The layout is rigtorp's SPSCQueue's: the word the end writes on every item
/// and its cached copy of the other end's index share a cache line that the
/// other end never writes, so the producer's stores never invalidate the
/// consumer's line. Then come the words used only when the end waits.
/// Checked by ThreadSafeQueueLayout in tests/thread_safe_queue_test.cpp.
struct alignas(port::cache_line) QueueEnd {
    QueueEnd(void* queue, QueueEndWake::Handler on_wake) noexcept : wake(queue, on_wake) {}
    QueueEnd(const QueueEnd&) = delete;
    QueueEnd& operator=(const QueueEnd&) = delete;
    ~QueueEnd() {
#if !ASYNCLINK_PORT_HAS_THREADS
        // The wake block is part of the queue here: a wake-up posted to the
        // loop and not run yet must run while the block lives.
        loop.drain(*wake.operator->());
#endif
    }

    /// Before a task of `current` waits at this end: checks that the end may
    /// wait there and makes the wake block exist. The end's own context only;
    /// throws UsageError or std::bad_alloc.
    void prepare(Loop& current, const char* operation) {
        // An end waits on one loop at a time: the loop of its last async wait,
        // until that loop has ended. A wake-up posted there that its loop has
        // not run yet must not coalesce with one for another loop, or run there.
        if (!loop.try_bind(current)) {
            ASYNCLINK_THROW(UsageError, std::string(operation) +
                                            ": this end of the queue waits on another loop, which is still "
                                            "running; an end moves to a new loop once its loop has ended");
        }
        wake.make();
    }

    /// The index only this end moves: the producer's is index << 1 | busy
    /// (the busy mark of a put in flight), the consumer's the index itself
    /// (see the protocol in the queue's header comment). Only this end
    /// writes it.
    port::atomic<std::uint32_t> word{0};
    /// How far this end may move its index before it reads the other end's
    /// word again: the consumer, up to the tail it last read (the queue looks
    /// empty there); the producer, up to the tail that fills the queue given
    /// the head it last read (that head plus the capacity), so its per-item
    /// check is one comparison.
    std::uint32_t limit = 0;
#if ASYNCLINK_QUEUE_LAP_SLOTS
    /// The last index of the half of the ring, [0, N) or [N, 2N), that this
    /// end's index is in: after it the index changes halves (or wraps to 0),
    /// and this end its `lap_base`. Up to it, the slot of index i is
    /// `lap_base` plus i slots and the next index is i + 1, with no compare.
    std::uint32_t last = 0;
    /// The address of the slot of index 0 for the half this end's index is
    /// in: the storage for [0, N), the storage minus N slots for [N, 2N). An
    /// address, not a pointer: the second half's base lies outside the
    /// storage.
    std::uintptr_t lap_base = 0;
#endif
    /// What this end counts, beside the word it writes anyway (only this end
    /// writes the line): the items it moved (puts or gets); the consumer's
    /// samples of the queue's length (see QueueStats::high_water); the puts or
    /// gets that had to wait (a task suspended or a thread blocked); the
    /// producer's try_put / put_sync(block = false) that found the queue full.
    enum class Count { items, high_water, waits, refused, kinds };
    [[no_unique_address]] CounterArray<Count> counts;

    WaitingLoop loop;         ///< the loop of a task waiting at this end; none: a thread
    QueueEndWakeHolder wake;  ///< the node that task is woken with
    /// Debug builds: set while a context is in a call on this end (EndGuard).
    port::atomic<bool> busy{false};
    /// A blocking end's spin, adapted to how fast the other end answers.
    SpinBudget spin{spin_before_block};
    /// This end's index when it last armed, and how many arms in a row came
    /// soon after the one before (ThreadSafeQueue::waits_often). Only where
    /// the port has two pairs of fences to choose from
    /// (ASYNCLINK_PORT_ASYMMETRIC_FENCES).
#if ASYNCLINK_PORT_ASYMMETRIC_FENCES
    struct ArmRate {
        std::uint32_t armed_at = 0;
        std::uint8_t wait_streak = 0;
    } arm_rate;
#endif
    /// When the other end last unblocked this one from the futex (written there).
    port::atomic<std::uint32_t> woken_at{0};
#if ASYNCLINK_TRACE
    /// The trace flow id of the hand-over that last unblocked this end's
    /// thread (written there): the thread's "woken" record ends its arrow.
    port::atomic<std::uint32_t> thread_flow{0};
#endif
};
static_assert(alignof(QueueEnd) == port::cache_line, "each end of a queue starts a cache line of its own");

/// Reads a queue's member addresses for the layout test (defined there only).
template <class Queue>
struct QueueLayoutProbe;

}  // namespace asynclink::detail
