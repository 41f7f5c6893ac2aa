// SPDX-License-Identifier: BSL-1.0
/// @file
/// ThreadSafeFlag: wake one task from any context (MicroPython's ThreadSafeFlag).
///
/// | method           | task | other loop | thread | signal handler / ISR |
/// |------------------|------|------------|--------|----------------------|
/// | set / clear      | yes  | yes        | yes    | yes                  |
/// | is_set / stats   | yes  | yes        | yes    | yes                  |
/// | co_await wait()  | yes  | no         | no     | no                   |
///
/// Use this when exactly one task waits for "something happened" signalled from
/// an interrupt, a signal handler, a thread or another loop, and the payload (if
/// any) travels some other way. For several waiting tasks use ThreadSafeEvent;
/// to carry a value use Message; to carry a stream of values use ThreadSafeQueue.
///
/// set() takes no lock, allocates nothing and is async-signal-safe. A set()
/// before wait() is remembered; many sets before one wake-up coalesce into one;
/// wait() clears the flag as it returns. A second task waiting while one already
/// waits is a usage error (UsageError), not a silent overwrite. Cancelling the
/// waiting task leaves a set() that raced with the cancellation in the flag, so
/// the next wait() sees it: no wake-up is lost.
///
/// stats() counts the set()s, those that coalesced into a set() no wait() had
/// consumed yet, and the wake-ups (asynclink/stats.hpp).
///
/// The protocol and its memory orders are modelled in proof/thread_safe_flag.pml.
#pragma once

#include <atomic>
#include <cstdint>

#include "asynclink/detail/counter.hpp"
#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/waiting_loop.hpp"
#include "asynclink/stats.hpp"
#include "asynclink/trace.hpp"

namespace asynclink {

class ThreadSafeFlag {
    static constexpr std::uint32_t set_bit = 1;
    static constexpr std::uint32_t waiting_bit = 2;  ///< a task is parked; set() must post a wake-up

public:
    ThreadSafeFlag() noexcept = default;
    ThreadSafeFlag(const ThreadSafeFlag&) = delete;
    ThreadSafeFlag& operator=(const ThreadSafeFlag&) = delete;
    /// Destroy on the waiting loop's thread, after every context that calls
    /// set() has stopped, and with no task waiting.
    ~ThreadSafeFlag() {
        if (waiter_ != nullptr) {
            port::fatal("asynclink: ThreadSafeFlag destroyed while a task waits on it");
        }
        // A set() posted a wake-up the loop has not processed: process it now,
        // before the node it points at disappears.
        loop_.drain(node_);
    }

    /// Sets the flag and wakes the waiting task, if any. Any context.
    void set() noexcept {
        // acq_rel: release publishes whatever the caller wrote before set() to
        // the task that wait()s; acquire pairs with the waiter's release CAS
        // that set waiting_bit, so the slot's binding is visible when we see that bit.
        std::uint32_t old = state_.fetch_or(set_bit, std::memory_order_acq_rel);
        ASYNCLINK_TRACE_HANDOVER_NODE(flag_set, this, (old & set_bit) != 0, node_);
        if ((old & set_bit) != 0) counts_[Count::coalesced].add();  // the only count a set() pays for
        // The slot holds the waiting loop's wake core: live memory even if
        // that loop is ending now (then the post is refused, harmlessly).
        if ((old & waiting_bit) != 0 && (old & set_bit) == 0) loop_.post(node_);
    }

    /// Forgets a set() that no wait() has consumed yet. Any context.
    void clear() noexcept {
        // release: a later set() is ordered after this clear for the waiter.
        std::uint32_t old = state_.fetch_and(~set_bit, std::memory_order_release);
        if ((old & set_bit) != 0) counts_[Count::cleared].add();
    }

    /// Any context. Only a snapshot: another context may change it at once.
    bool is_set() const noexcept {
        // acquire: a caller that sees the flag set also sees what the setter wrote before set().
        return (state_.load(std::memory_order_acquire) & set_bit) != 0;
    }

    /// Any context; the counters one by one (see asynclink/stats.hpp). Every
    /// set() either raised the flag, which a wait() then took or a clear()
    /// lowered or which is still up, or coalesced: so the set()s are counted
    /// without a counter of their own, and the set() that raises the flag
    /// (the one that wakes) pays for no count at all.
    SignalStats stats() const noexcept {
        return detail::derived_signal_stats(counts_[Count::coalesced].get(), counts_[Count::taken].get(),
                                            counts_[Count::cleared].get(), is_set(), counts_[Count::wakeups].get());
    }

    class Waiter : public detail::Parked {
    public:
        explicit Waiter(ThreadSafeFlag& f) noexcept : Parked(&on_cancel), flag_(f) {}

        bool await_ready() {
            flag_.loop_.check("ThreadSafeFlag::wait", "set() from elsewhere; only the owning loop may wait");
            if (flag_.waiter_ != nullptr) {
                ASYNCLINK_THROW(
                    UsageError,
                    "ThreadSafeFlag::wait: a second task waits while another already does; a ThreadSafeFlag has "
                    "one waiter at a time (use ThreadSafeEvent for several)");
            }
            return flag_.try_consume();
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            // Published by the release CAS below.
            flag_.loop_.wait_on(*task->loop);
            std::uint32_t s = flag_.state_.load(std::memory_order_relaxed);
            for (;;) {
                if ((s & set_bit) != 0) {
                    // A set() arrived since await_ready: consume it and do not sleep.
                    // acquire: see what the setter wrote before set().
                    if (flag_.state_.compare_exchange_weak(s, 0, std::memory_order_acquire,
                                                           std::memory_order_relaxed)) {
                        flag_.counts_[Count::taken].add_by_owner();  // on the loop only
                        task->suspension = nullptr;
                        return false;
                    }
                    continue;
                }
                // release: publishes the binding to the set() that will see waiting_bit.
                if (flag_.state_.compare_exchange_weak(s, waiting_bit, std::memory_order_release,
                                                       std::memory_order_relaxed)) {
                    flag_.waiter_ = this;
                    return true;
                }
            }
        }
        void await_resume() const { throw_if_cancelled(); }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& w = static_cast<Waiter&>(self);
            // Withdraw the waiting bit but leave any set() in the flag for the
            // next wait(). acq_rel: orders against a concurrent set()'s fetch_or.
            w.flag_.state_.fetch_and(~waiting_bit, std::memory_order_acq_rel);
            w.flag_.waiter_ = nullptr;
            w.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        ThreadSafeFlag& flag_;
    };

    /// Suspends until the flag is set, then clears it. Loop thread only, one
    /// waiting task at a time. Cancellable.
    [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }

private:
    bool try_consume() noexcept {
        // acquire: see what the setter wrote before set(). Only the loop ever
        // clears waiting_bit, and it is not set here, so clearing set_bit is all.
        if ((state_.fetch_and(~set_bit, std::memory_order_acquire) & set_bit) == 0) return false;
        counts_[Count::taken].add_by_owner();  // on the loop only
        return true;
    }

    // Runs on the loop after a set() saw waiting_bit.
    static void on_notify(detail::RemoteNode& node) noexcept {
        auto& flag = *static_cast<ThreadSafeFlag*>(node.owner);
        Waiter* w = flag.waiter_;
        if (w == nullptr) return;  // the waiter was cancelled after the set(): the set stays in the flag
        // acquire: see what the setter wrote before set().
        std::uint32_t s = flag.state_.load(std::memory_order_acquire);
        while ((s & set_bit) != 0) {
            if (flag.state_.compare_exchange_weak(s, 0, std::memory_order_acquire, std::memory_order_relaxed)) {
                flag.waiter_ = nullptr;
                flag.counts_[Count::taken].add_by_owner();  // on the loop only
                flag.counts_[Count::wakeups].add_by_owner();
                w->task->wake();
                return;
            }
        }
        // clear() withdrew the set before we got here: keep waiting. waiting_bit
        // is still set (only the loop clears it), so the next set() posts again.
    }

    port::atomic<std::uint32_t> state_{0};
    detail::WaitingLoop loop_;  // the waiting task's loop, for set()
    detail::RemoteNode node_{.run = &on_notify, .owner = this};
    Waiter* waiter_ = nullptr;  // loop thread only
    // coalesced: by the setters; cleared: by clear()'s caller; taken (a
    // wait() took the set) and wakeups: by the waiting loop only.
    enum class Count { coalesced, taken, cleared, wakeups, kinds };
    [[no_unique_address]] detail::CounterArray<Count> counts_;
};

}  // namespace asynclink
