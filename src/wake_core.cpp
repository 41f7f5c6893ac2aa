// SPDX-License-Identifier: BSL-1.0
// The loop's remote-wake half. See include/asynclink/detail/wake_core.hpp; the
// wake protocol itself is described at Loop::wait_for_work (src/loop_idle.cpp).
#include "asynclink/detail/wake_core.hpp"

#include <new>
#include <string>
#include <utility>

#include "asynclink/detail/config.hpp"
#include "asynclink/errors.hpp"
#include "asynclink/trace.hpp"

#ifndef ASYNCLINK_MAX_LOOPS
#define ASYNCLINK_MAX_LOOPS 2
#endif

namespace asynclink::detail {

// Where cores come from and go to. Freeing must be possible from a signal
// handler or ISR (a borrower's last reference, see WakeSlot::give_back), so a
// dying core is pushed onto a lock-free list (the heap) or its pool entry is
// marked free (no heap), never handed to the allocator there.
class WakeCorePool {
public:
#if ASYNCLINK_PORT_HAS_THREADS
    static WakeCore* allocate(Loop& owner) {
        reclaim();
        return new WakeCore(owner);
    }
    static void retire(WakeCore* core) noexcept {
        // A push onto a list of cores nobody references any more.
        // release: the core's last uses happen before reclaim() deletes it.
        WakeCore* head = dead_.load(std::memory_order_relaxed);
        do {
            core->next_dead_ = head;
        } while (!dead_.compare_exchange_weak(head, core, std::memory_order_release, std::memory_order_relaxed));
    }
    static void free_now(WakeCore* core) noexcept { delete core; }
    /// Frees every retired core; ordinary code only.
    static void reclaim() noexcept {
        // Relaxed: an empty list is the common case and needs no ordering.
        if (dead_.load(std::memory_order_relaxed) == nullptr) return;
        // acquire: pairs with retire()'s release. Taking the whole list at once
        // leaves no ABA problem to a concurrent retire().
        for (WakeCore* core = dead_.exchange(nullptr, std::memory_order_acquire); core != nullptr;) {
            WakeCore* next = core->next_dead_;
            delete core;
            core = next;
        }
    }

private:
    static inline port::atomic<WakeCore*> dead_{nullptr};
#else
    static WakeCore* allocate(Loop& owner) {
        for (std::size_t i = 0; i < size; ++i) {
            std::uint32_t expected = 0;
            // acquire: pairs with free_now()'s release; the entry's last owner is done.
            if (used_[i].compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
                return ::new (static_cast<void*>(&entries_[i])) WakeCore(owner);
            }
        }
        port::fatal(
            "asynclink: more loops (or ended loops still referenced by a primitive) than "
            "ASYNCLINK_MAX_LOOPS; raise it");
    }
    static void retire(WakeCore* core) noexcept { free_now(core); }
    static void free_now(WakeCore* core) noexcept {
        auto* entry = reinterpret_cast<Entry*>(core);
        core->~WakeCore();
        // release: our uses of the entry happen before its next allocation.
        used_[static_cast<std::size_t>(entry - entries_)].store(0, std::memory_order_release);
    }
    static void reclaim() noexcept {}

private:
    static constexpr std::size_t size = ASYNCLINK_MAX_LOOPS;
    struct Entry {
        alignas(WakeCore) unsigned char bytes[sizeof(WakeCore)];
    };
    static inline Entry entries_[size];
    static inline port::atomic<std::uint32_t> used_[size]{};
#endif
};

WakeCore* WakeCore::create(Loop& owner, std::size_t capacity) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
        ASYNCLINK_THROW(UsageError, "LoopOptions::schedule_capacity must be a power of two of at least 2, got " +
                                        std::to_string(capacity));
    }
    if (capacity > port::max_schedule_capacity && port::max_schedule_capacity != 0) {
        ASYNCLINK_THROW(UsageError,
                        "LoopOptions::schedule_capacity is larger than the port's "
                        "max_schedule_capacity");
    }
    WakeCore* core = WakeCorePool::allocate(owner);
#if !ASYNCLINK_NO_EXCEPTIONS
    try {
#endif
        core->schedule_cells_.reset(capacity);
#if !ASYNCLINK_NO_EXCEPTIONS
    } catch (...) {
        WakeCorePool::free_now(core);
        throw;
    }
#endif
    for (std::size_t i = 0; i < capacity; ++i) {
        // Relaxed: the core is not shared with anyone yet.
        core->schedule_cells_[i].sequence.store(i * position_step, std::memory_order_relaxed);
    }
    core->schedule_mask_ = capacity - 1;
    return core;
}

void WakeCore::release(std::int32_t n) noexcept {
    // acq_rel: release orders this holder's uses before the free; acquire
    // makes the freeing holder see everyone's.
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) != n) return;
    WakeCorePool::free_now(this);
    WakeCorePool::reclaim();
}

void WakeCore::release_from_any_context() noexcept {
    // acq_rel: as release().
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) WakeCorePool::retire(this);
}

RemoteNode* WakeCore::closed_nodes() noexcept {
    static RemoteNode marker;
    return &marker;
}

#if ASYNCLINK_PORT_HAS_THREADS
PostedCall* WakeCore::closed_calls() noexcept {
    static PostedCall marker;
    return &marker;
}
#endif

// --- posting: the poster's half of the protocol at Loop::wait_for_work.

#if !ASYNCLINK_PORT_WAKE_IS_A_STORE
void WakeCore::wake_if_sleeping() noexcept {
    port::atomic_thread_fence(std::memory_order_seq_cst);  // F1, see Loop::wait_for_work
    // Relaxed load: a cheap filter; the exchange decides who wakes.
    // acq_rel exchange: serialises posters so exactly one writes the wake handle.
    if (sleeping_.load(std::memory_order_relaxed) && sleeping_.exchange(false, std::memory_order_acq_rel)) {
        // Relaxed: only a hint for the spin budget (see Loop::wait_for_work),
        // read after the wake-up. Reading the clock is async-signal-safe and
        // costs little next to the system call that follows.
        if constexpr (port::idle_spins) {
            wake_posted_at_.store(static_cast<std::uint32_t>(Clock::now().time_since_epoch().count()),
                                  std::memory_order_relaxed);
        }
        if (!idle_.wake()) {
            // The kernel refused the wake (Idle::wake records why, and the
            // loop's next wait reports it). The loop may still be asleep: give
            // the duty back, so the next post writes again instead of finding
            // an awake loop that is not. Relaxed: as announce_sleep().
            sleeping_.store(true, std::memory_order_relaxed);
        }
    }
}
#endif

bool WakeCore::post(RemoteNode& node) noexcept {
    // acq_rel: acquire pairs with the loop's release when it took the node off
    // (so our earlier state changes are not reordered before the re-post);
    // release publishes the primitive's state change that led to this post.
    if (node.queued.exchange(true, std::memory_order_acq_rel)) return true;  // already posted: coalesce
    RemoteNode* head = posted_.load(std::memory_order_relaxed);
    do {
        if (head == closed_nodes()) {
            // The loop has ended: refused. release: pairs with the acquire
            // load in a primitive's destructor, which then finds nothing to drain.
            node.queued.store(false, std::memory_order_release);
            return false;
        }
        node.next = head;
        // release: the loop's acquire exchange in take_posted() then sees
        // node.next. Relaxed on failure: we only retry with the fresh head.
    } while (!posted_.compare_exchange_weak(head, &node, std::memory_order_release, std::memory_order_relaxed));
    wake_if_sleeping();
    return true;
}

// Inlined into both callers below (one translation unit).
inline bool WakeCore::claim_and_publish(void (*fn)(void*), void* arg,
                                        [[maybe_unused]] std::uint32_t trace_flow) noexcept {
    // Vyukov's bounded queue: a cell whose sequence equals our position is free
    // for us; claiming the position with a CAS makes it ours alone.
    // Relaxed: the position is only a ticket; the cell's sequence orders the data.
    std::size_t pos = schedule_enqueue_.load(std::memory_order_relaxed);
    for (;;) {
        if ((pos & ring_closed) != 0) return false;  // the loop has ended
        ScheduleCell& cell = schedule_cells_[cell_index(pos)];
        // acquire: pairs with the loop's release after it emptied the cell.
        std::size_t seq = cell.sequence.load(std::memory_order_acquire);
        auto diff = static_cast<std::intptr_t>(seq - pos);
        if (diff == 0) {
            // Relaxed: the CAS only hands out the ticket. It fails once the
            // ring is closed (the word changed), and we then see the mark.
            if (schedule_enqueue_.compare_exchange_weak(pos, pos + position_step, std::memory_order_relaxed)) {
                cell.fn = fn;
                cell.arg = arg;
#if ASYNCLINK_TRACE
                cell.trace_flow = trace_flow;
#endif
                // Publish, unless the loop closed meanwhile and marked the cell
                // dead: one CAS decides accepted or refused, and the loop never
                // waits for us. release: the loop's acquire sees fn and arg.
                std::size_t expected = pos;
                if (!cell.sequence.compare_exchange_strong(expected, pos + 1, std::memory_order_release,
                                                           std::memory_order_relaxed)) {
                    return false;
                }
                wake_if_sleeping();
                return true;
            }
        } else if (diff < 0) {
            return false;  // full: the loop has not emptied this cell since the last lap
        } else {
            pos = schedule_enqueue_.load(std::memory_order_relaxed);
        }
    }
}

bool WakeCore::enqueue_scheduled(void (*fn)(void*), void* arg) noexcept {
#if ASYNCLINK_TRACE
    if (trace::detail::on()) [[unlikely]]
        return enqueue_scheduled_traced(fn, arg);  // a tail call: no frame here
#endif
    return claim_and_publish(fn, arg, 0);
}

#if ASYNCLINK_TRACE
bool WakeCore::enqueue_scheduled_traced(void (*fn)(void*), void* arg) noexcept {
    // Recorded without testing the recording word again: the caller did.
    return claim_and_publish(fn, arg, trace::detail::record_handover(trace::Op::schedule, owner_, false));
}
#endif

#if ASYNCLINK_PORT_HAS_THREADS
void WakeCore::call_soon_threadsafe(std::function<void()> fn) {
    if (!fn) ASYNCLINK_THROW(UsageError, "call_soon_threadsafe() given an empty function");
    auto* call = new PostedCall{nullptr, std::move(fn)};
#if ASYNCLINK_TRACE
    call->trace_flow = ASYNCLINK_TRACE_HANDOVER(call_soon_threadsafe, owner_, false);
#endif
    PostedCall* head = calls_.load(std::memory_order_relaxed);
    do {
        if (head == closed_calls()) {
            delete call;
            ASYNCLINK_THROW(UsageError,
                            "call_soon_threadsafe(): the loop is closed (it has ended); nothing will run "
                            "the call");
        }
        call->next = head;
        // release: the loop's acquire exchange in take_calls() sees the node.
    } while (!calls_.compare_exchange_weak(head, call, std::memory_order_release, std::memory_order_relaxed));
    wake_if_sleeping();
}
#endif

// --- the loop's side

bool WakeCore::has_posted_work() const noexcept {
    // Relaxed: called after fence F2 (or as a hint); the fence gives the ordering.
    if (posted_.load(std::memory_order_relaxed) != nullptr) return true;
#if ASYNCLINK_PORT_HAS_THREADS
    if (calls_posted()) return true;
#endif
    return scheduled_ready();
}

namespace {
/// A list pushed newest-first, reversed so the loop runs it in posting order.
template <class Node>
Node* oldest_first(Node* list) noexcept {
    Node* fifo = nullptr;
    while (list != nullptr) {
        Node* next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    return fifo;
}
}  // namespace

RemoteNode* WakeCore::take_posted() noexcept {
    // Relaxed load: an empty list is the common case and needs no ordering.
    if (posted_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    // acquire: pairs with the posters' release CAS, so every node's `next` and
    // the state each poster changed are visible.
    return oldest_first(posted_.exchange(nullptr, std::memory_order_acquire));
}

bool WakeCore::pop_scheduled(std::size_t end, void (*&fn)(void*), void*& arg,
                             [[maybe_unused]] std::uint32_t& trace_flow) noexcept {
    if (schedule_dequeue_ == end) return false;
    ScheduleCell& cell = schedule_cells_[cell_index(schedule_dequeue_)];
    // acquire: pairs with the producer's release, making fn and arg visible.
    if (cell.sequence.load(std::memory_order_acquire) != schedule_dequeue_ + 1) return false;
    fn = cell.fn;
    arg = cell.arg;
#if ASYNCLINK_TRACE
    trace_flow = cell.trace_flow;
#endif
    // release: the cell is free for the producer one lap ahead.
    cell.sequence.store(schedule_dequeue_ + position_step * (schedule_mask_ + 1), std::memory_order_release);
    schedule_dequeue_ += position_step;
    return true;
}

#if ASYNCLINK_PORT_HAS_THREADS
PostedCall* WakeCore::take_calls() noexcept {
    if (!calls_posted()) return nullptr;
    // acquire: pairs with the posters' release CAS; the nodes are complete.
    return oldest_first(calls_.exchange(nullptr, std::memory_order_acquire));
}
#endif

// --- closing (~Loop)

RemoteNode* WakeCore::close_posted() noexcept {
    // acq_rel: acquire sees the nodes posted before (as take_posted); release
    // publishes the loop's end to closed() readers. A poster's CAS after this
    // finds the marker and refuses.
    RemoteNode* list = posted_.exchange(closed_nodes(), std::memory_order_acq_rel);
    end_sleep();
    return list == closed_nodes() ? nullptr : oldest_first(list);
}

#if ASYNCLINK_PORT_HAS_THREADS
PostedCall* WakeCore::close_calls() noexcept {
    // acq_rel: as close_posted().
    PostedCall* list = calls_.exchange(closed_calls(), std::memory_order_acq_rel);
    return list == closed_calls() ? nullptr : oldest_first(list);
}
#endif

std::size_t WakeCore::close_schedule() noexcept {
    // Relaxed: no claim succeeds after this (its CAS sees the word changed);
    // each claimed cell's own CAS settles it in pop_closing().
    return schedule_enqueue_.fetch_or(ring_closed, std::memory_order_relaxed) & ~ring_closed;
}

bool WakeCore::pop_closing(std::size_t end, void (*&fn)(void*), void*& arg) noexcept {
    while (schedule_dequeue_ != end) {
        ScheduleCell& cell = schedule_cells_[cell_index(schedule_dequeue_)];
        std::size_t claimed = schedule_dequeue_;
        schedule_dequeue_ += position_step;
        // Claimed but not yet published: mark it dead, and its producer's
        // publishing CAS fails (its schedule() returns false). acquire on
        // failure: the producer published first; see its fn and arg. Nothing
        // is read from a dead cell, but the success order may not be weaker
        // than the failure order (GCC rejects it for the __atomic builtins).
        std::size_t seen = claimed;
        if (cell.sequence.compare_exchange_strong(seen, claimed + position_step, std::memory_order_acquire,
                                                  std::memory_order_acquire)) {
            continue;
        }
        fn = cell.fn;
        arg = cell.arg;
        return true;
    }
    return false;
}

}  // namespace asynclink::detail
