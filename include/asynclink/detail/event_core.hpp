// SPDX-License-Identifier: BSL-1.0
// The engine shared by ThreadSafeEvent and Message: a flag any context may set,
// any number of tasks of one loop may wait on, with a set counter (the epoch)
// so that a set() followed at once by clear() still wakes everyone who was
// waiting when set() ran (as asyncio.Event.set() does).
//
// state_ bits: 0 = set, 1 = waiting (the loop has waiters: a set() must post),
// 2..31 = epoch, advanced by every set() that finds the event clear. A waiter
// wakes when the event is set, or (the event cleared again) when the epoch
// moved on from the one it recorded.
// Modelled in proof/thread_safe_event.pml.
#pragma once

#include <atomic>
#include <cstdint>

#include "asynclink/detail/counter.hpp"
#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/waiting_loop.hpp"
#include "asynclink/stats.hpp"
#include "asynclink/trace.hpp"

namespace asynclink::detail {

class EventCore {
    static constexpr std::uint32_t set_bit = 1;
    static constexpr std::uint32_t waiting_bit = 2;
    static constexpr std::uint32_t epoch_one = 4;

public:
    EventCore() noexcept = default;
    EventCore(const EventCore&) = delete;
    EventCore& operator=(const EventCore&) = delete;
    ~EventCore() {
        if (!waiters_.empty()) {
            port::fatal("asynclink: ThreadSafeEvent/Message destroyed while tasks wait on it");
        }
        // A posted wake-up must not outlive the node.
        loop_.drain(node_);
    }

    /// `op` names the set() in the trace (ThreadSafeEvent's or Message's).
    void set(trace::Op op = trace::Op::event_set) noexcept {
        std::uint32_t s = state_.load(std::memory_order_relaxed);
        std::uint32_t next;
        do {
            if ((s & set_bit) != 0) {
                ASYNCLINK_TRACE_HANDOVER_NODE_OP(op, this, true, node_);
                counts_[Count::coalesced].add();
                return;  // already set: this set() coalesces with that one
            }
            // The setter that finds waiting_bit takes it, and with it the duty to post.
            next = ((s & ~waiting_bit) + epoch_one) | set_bit;
            // acq_rel: release publishes the caller's data (Message's payload) to
            // the waiters; acquire pairs with the waiter's release that set
            // waiting_bit, making the slot's binding visible.
        } while (!state_.compare_exchange_weak(s, next, std::memory_order_acq_rel, std::memory_order_relaxed));
        ASYNCLINK_TRACE_HANDOVER_NODE_OP(op, this, false, node_);
        if ((s & waiting_bit) != 0) loop_.post(node_);  // the slot keeps the waiting loop's core alive
    }

    /// Any context.
    void clear() noexcept {
        if (lower()) counts_[Count::cleared].add();
    }
    /// clear() by the waiters' loop only (Message's doorbell): the count
    /// without a locked instruction.
    void clear_on_loop() noexcept {
        if (lower()) counts_[Count::cleared].add_by_owner();
    }

    /// Every set() either raised the flag, which a clear then lowered or
    /// which is still up, or coalesced (nothing takes an event): so the set()s
    /// are counted without a counter of their own, and a set() that raises
    /// the flag (the one that wakes) pays for no count at all.
    SignalStats stats() const noexcept {
        return derived_signal_stats(counts_[Count::coalesced].get(), 0, counts_[Count::cleared].get(), is_set(),
                                    wakeups());
    }
    /// The tasks woken by a set() (Message counts its sets itself).
    std::size_t wakeups() const noexcept { return counts_[Count::wakeups].get(); }

    bool is_set() const noexcept {
        // acquire: whoever sees it set also sees what the setter wrote before set().
        return (state_.load(std::memory_order_acquire) & set_bit) != 0;
    }

    /// The calling thread's loop, if it is the waiters' loop (see WaitingLoop);
    /// else throws UsageError naming `operation` and `alternative`.
    Loop& check(const char* operation, const char* alternative) { return loop_.check(operation, alternative); }

    /// Test seam: advances the epoch as if `sets` set()/clear() pairs had run
    /// while the loop looked away (2^30 real ones take too long for a test).
    void skip_epochs_for_test(std::uint32_t sets) noexcept {
        // relaxed: the test runs it on the loop thread, ordered by program order.
        state_.fetch_add(sets * epoch_one, std::memory_order_relaxed);
    }

    /// Suspends a task until the event is set. Loop thread only.
    class Waiter : public Parked, public ListedWaiter {
    public:
        Waiter(EventCore& e, const char* operation) noexcept : Parked(&on_cancel), event_(e), operation_(operation) {}

        bool await_ready() {
            event_.loop_.check(operation_,
                               "set() from elsewhere; waiters must all belong to the loop that first waited");
            return event_.is_set();
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            // Published by the release CAS that sets waiting_bit below.
            event_.loop_.wait_on(*task->loop);
            std::uint32_t s = event_.state_.load(std::memory_order_acquire);
            if ((s & set_bit) != 0) {
                task->suspension = nullptr;
                return false;
            }
            epoch_ = s >> 2;
            event_.waiters_.push_back(*this);
            while ((s & waiting_bit) == 0) {
                // release: publishes the binding to the set() that takes waiting_bit.
                // acquire on failure: a set() that slipped in published its data.
                if (event_.state_.compare_exchange_weak(s, s | waiting_bit, std::memory_order_release,
                                                        std::memory_order_acquire)) {
                    break;
                }
                if ((s & set_bit) != 0 || (s >> 2) != epoch_) {
                    // Set (and perhaps cleared again) since we looked: that set()
                    // did not see our bit, so it is ours to notice.
                    event_.waiters_.remove(*this);
                    task->suspension = nullptr;
                    return false;
                }
            }
            return true;
        }
        void await_resume() const { throw_if_cancelled(); }

    protected:
        /// Called on the loop for a waiter whose wake-up is due, before it is
        /// woken: false keeps it waiting (after keep_waiting_from_now()). For
        /// an awaiter that takes something as it wakes (Message::next), so a
        /// wake-up that finds nothing to take is filtered here, on the loop.
        using Filter = bool (*)(Waiter&) noexcept;
        Waiter(EventCore& e, const char* operation, Filter filter) noexcept : Waiter(e, operation) { filter_ = filter; }
        /// For a filter that found nothing after clearing the event: if the
        /// event is still clear, the waiter waits from the current epoch on
        /// (true); if it is set again, a set() came meanwhile (false: look again).
        bool keep_waiting_from_now() noexcept {
            // acquire: a set() seen here published its data to the look that follows.
            std::uint32_t s = event_.state_.load(std::memory_order_acquire);
            if ((s & set_bit) != 0) return false;
            epoch_ = s >> 2;
            return true;
        }

    private:
        friend class EventCore;
        static CancelResult on_cancel(Suspension& self) noexcept {
            auto& w = static_cast<Waiter&>(self);
            // Only this waiter leaves; a wake-up posted for the others still
            // reaches them.
            w.event_.waiters_.remove(w);
            // The last one withdraws the waiting bit, so a set() from now on
            // posts nothing to this loop, which may be gone by then (the
            // waiters cancelled by the loop's end, then a signal handler's set()).
            // A set() that took the bit first posts a wake-up that finds no
            // waiter. Relaxed: nothing is published by withdrawing.
            if (w.event_.waiters_.empty()) w.event_.state_.fetch_and(~waiting_bit, std::memory_order_relaxed);
            w.cancelled = true;
            return CancelResult::resume_now;
        }
        EventCore& event_;
        const char* operation_;
        Filter filter_ = nullptr;
        std::uint32_t epoch_ = 0;
    };

    Waiter wait(const char* operation) noexcept { return Waiter(*this, operation); }

private:
    /// Lowers the flag; true if it was up (the clear counts).
    bool lower() noexcept {
        // release: orders the clear before a later set() for observers.
        return (state_.fetch_and(~set_bit, std::memory_order_release) & set_bit) != 0;
    }

    // Runs on the loop after a set() took waiting_bit: wake every waiter if
    // the event is set (every waiter began with it clear, so a set() came
    // since), else every waiter that started waiting before the current
    // epoch. The epoch alone would not do: 2^30 sets bring it back round to a
    // waiter's own, and that waiter would sleep with the event set
    // (proof/thread_safe_event.pml -DEPOCH_WRAP). With the event clear again,
    // 2^30 set()/clear() pairs while the loop looks away are still missed: the
    // waiter sleeps on, as if it had started after them (documented bound).
    static void on_notify(RemoteNode& node) noexcept {
        auto& e = *static_cast<EventCore*>(node.owner);
        // acquire: pairs with set()'s release; waiters see the payload.
        std::uint32_t s = e.state_.load(std::memory_order_acquire);
        for (;;) {
            std::uint32_t epoch = s >> 2;
            for (ListedWaiter* lw = e.waiters_.front(); lw != nullptr;) {
                auto* w = static_cast<Waiter*>(lw);
                lw = lw->next;
                if ((s & set_bit) != 0 || w->epoch_ != epoch) {
                    // A refused wake-up changed the state: the re-arm below
                    // fails and the next round looks at the state anew.
                    if (w->filter_ != nullptr && !w->filter_(*w)) continue;
                    e.waiters_.remove(*w);
                    e.counts_[Count::wakeups].add_by_owner();  // on the loop only
                    w->task->wake();
                }
            }
            if (e.waiters_.empty()) return;
            // Waiters that came after the set remain (the event was cleared in
            // between): re-arm so the next set() posts again.
            // release: as in Waiter::await_suspend. acquire on failure: a newer set()'s data.
            if ((s & waiting_bit) != 0 ||
                e.state_.compare_exchange_strong(s, s | waiting_bit, std::memory_order_release,
                                                 std::memory_order_acquire)) {
                return;
            }
            // A set() slipped in without seeing waiting_bit: go round and wake for it.
        }
    }

    port::atomic<std::uint32_t> state_{0};
    WaitingLoop loop_;  // the waiting tasks' loop, for set()
    RemoteNode node_{.run = &on_notify, .owner = this};
    WaiterList waiters_;  // loop thread only
    // coalesced: by the setters; cleared: by clear()'s caller (the loop's
    // own with add_by_owner); wakeups: by the waiting loop only.
    enum class Count { coalesced, cleared, wakeups, kinds };
    [[no_unique_address]] CounterArray<Count> counts_;
};

}  // namespace asynclink::detail
