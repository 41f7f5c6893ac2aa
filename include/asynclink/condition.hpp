// SPDX-License-Identifier: BSL-1.0
/// @file
/// Condition: asyncio.Condition for tasks of one loop.
///
/// | method                          | task | other loop | thread | signal handler / ISR |
/// |---------------------------------|------|------------|--------|----------------------|
/// | co_await acquire()              | yes  | no         | no     | no                   |
/// | co_await wait / wait_for(guard) | yes  | no         | no     | no                   |
/// | notify / notify_all             | yes  | no         | no     | no                   |
///
/// ```cpp
/// auto guard = co_await cond.acquire();
/// co_await cond.wait_for(guard, [&] { return !jobs.empty(); });
/// ```
///
/// Use this when tasks wait for a state that other tasks change under a
/// Lock. wait(guard) releases the lock, waits for a notify, and holds the
/// lock again when it returns, also when it throws CancelledError (as asyncio
/// does: the guard still owns the lock). A notify that reached a waiter
/// cancelled before it could return is passed on to the next waiter, so a
/// cancel never swallows one. notify() without the lock held is a UsageError
/// (asyncio's RuntimeError). For "something happened" without shared state,
/// use Event; from another context, ThreadSafeEvent.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <utility>

#include "asynclink/detail/parked.hpp"
#include "asynclink/lock.hpp"

namespace asynclink {

class Condition {
public:
    Condition() = default;
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// Takes the condition's lock: `auto guard = co_await cond.acquire();`
    [[nodiscard]] Lock::Acquirer acquire() noexcept { return lock_.acquire(); }
    Lock& lock() noexcept { return lock_; }

    /// Releases the lock `guard` owns, waits for a notify, then takes the lock
    /// again (into `guard`) before it returns or throws. UsageError unless
    /// `guard` owns this condition's lock.
    Task<void> wait(Lock::Guard& guard) {
        check_owner(guard, "Condition::wait");
        return wait_notified(guard);
    }

    /// Waits until `predicate()` is true, checking it under the lock first
    /// and after every notify (asyncio's wait_for).
    template <class Predicate>
    Task<void> wait_for(Lock::Guard& guard, Predicate predicate) {
        check_owner(guard, "Condition::wait_for");
        return wait_until_true(guard, std::move(predicate));
    }

    /// Wakes up to `n` waiters, longest waiting first. UsageError unless the
    /// lock is held.
    void notify(std::size_t n = 1) {
        check_locked("Condition::notify");
        wake(n);
    }
    void notify_all() {
        check_locked("Condition::notify_all");
        wake(static_cast<std::size_t>(-1));
    }

private:
    class Waiter : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Waiter(Condition& c) noexcept : Parked(&on_cancel), cond_(c) {}
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            cond_.waiters_.push_back(*this);
            return true;
        }
        void await_resume() const { throw_if_cancelled(); }
        bool notified = false;

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& w = static_cast<Waiter&>(self);
            w.cond_.waiters_.remove(w);
            w.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        Condition& cond_;
    };

    void check_owner(const Lock::Guard& guard, const char* operation) {
        lock_.check(operation);
        if (!lock_.owned_by(guard)) {
            ASYNCLINK_THROW(UsageError, std::string(operation) +
                                            " needs a guard that owns the condition's lock "
                                            "(auto guard = co_await cond.acquire())");
        }
    }
    void check_locked(const char* operation) {
        lock_.check(operation);  // from another thread: named as this operation, not as Lock::locked
        if (!lock_.locked()) {
            ASYNCLINK_THROW(UsageError,
                            std::string(operation) + " without the condition's lock held; acquire it first");
        }
    }
    void wake(std::size_t n) noexcept {
        for (; n != 0; --n) {
            auto* w = static_cast<Waiter*>(waiters_.pop_front());
            if (w == nullptr) return;
            w->notified = true;
            w->task->wake();
        }
    }

    Task<void> wait_notified(Lock::Guard& guard) {
        Waiter waiter(*this);
        guard.release();
        std::exception_ptr cancelled;
        try {
            co_await waiter;
        } catch (const CancelledError&) {
            cancelled = std::current_exception();
        }
        // The lock again, whatever happens: a cancel meanwhile is kept for
        // after it (C++ allows no co_await in a handler, hence the loop).
        for (;;) {
            try {
                guard = co_await lock_.acquire();
                break;
            } catch (const CancelledError&) {
                cancelled = std::current_exception();
            }
        }
        if (cancelled) {
            // Notified, but leaving by a cancel: the notify goes to the next
            // waiter instead of being lost.
            if (waiter.notified) wake(1);
            std::rethrow_exception(cancelled);
        }
    }

    template <class Predicate>
    Task<void> wait_until_true(Lock::Guard& guard, Predicate predicate) {
        while (!predicate()) co_await wait_notified(guard);
    }

    Lock lock_;
    detail::WaiterList waiters_;
};

}  // namespace asynclink
