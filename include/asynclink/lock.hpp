// Lock: asyncio.Lock for tasks of one loop, with an RAII guard.
//
// | method                 | task | other loop | thread | signal handler / ISR |
// |------------------------|------|------------|--------|----------------------|
// | co_await acquire()     | yes  | no         | no     | no                   |
// | release / locked       | yes  | no         | no     | no                   |
//
// Use this to keep tasks of one loop from interleaving (e.g. multi-byte writes
// to a shared stream). A thread or ISR must never wait on it: hand the work to
// the loop through a ThreadSafeQueue instead.
#pragma once

#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink {

/// FIFO-fair: release() hands the lock straight to the longest waiter, so a
/// task that releases and re-acquires cannot starve the others. A waiter
/// cancelled after the lock was handed to it still receives it (its guard
/// releases it as the CancelledError unwinds at its next suspension point).
class Lock {
public:
    /// Owns the lock until destroyed or release()d.
    class [[nodiscard]] Guard {
    public:
        Guard() noexcept = default;
        explicit Guard(Lock& lock) noexcept : lock_(&lock) {}
        Guard(Guard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
        Guard& operator=(Guard&& other) noexcept {
            if (this != &other) {
                release();
                lock_ = std::exchange(other.lock_, nullptr);
            }
            return *this;
        }
        ~Guard() { release(); }
        void release() {
            if (lock_ != nullptr) std::exchange(lock_, nullptr)->release();
        }
        bool owns_lock() const noexcept { return lock_ != nullptr; }

    private:
        Lock* lock_ = nullptr;
    };

    Lock() = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    class Acquirer : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Acquirer(Lock& l) noexcept : Parked(&on_cancel), lock_(l) {}
        bool await_ready() {
            lock_.binding_.check("Lock::acquire", "a ThreadSafeQueue to hand work to the loop");
            if (lock_.locked_ || !lock_.waiters_.empty()) return false;
            lock_.locked_ = true;
            return true;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            lock_.waiters_.push_back(*this);
            return true;
        }
        Guard await_resume() const {
            throw_if_cancelled();
            return Guard(lock_);
        }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& a = static_cast<Acquirer&>(self);
            a.lock_.waiters_.remove(a);
            a.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        Lock& lock_;
    };

    /// Suspends until the lock is free, then owns it: `auto g = co_await l.acquire();`
    [[nodiscard]] Acquirer acquire() noexcept { return Acquirer(*this); }

    /// Releases the lock (normally done by the Guard). Throws UsageError if the
    /// lock is not held.
    void release() {
        binding_.check("Lock::release", "a ThreadSafeQueue to hand work to the loop");
        if (!locked_) ASYNCLINK_THROW(UsageError, "Lock::release() on a lock that is not held");
        if (detail::ListedWaiter* w = waiters_.pop_front()) {
            static_cast<Acquirer*>(w)->task->wake();  // ownership passes on; locked_ stays true
        } else {
            locked_ = false;
        }
    }

    bool locked() {
        binding_.check("Lock::locked", "a ThreadSafeQueue to hand work to the loop");
        return locked_;
    }

private:
    detail::LoopBinding binding_;
    detail::WaiterList waiters_;
    bool locked_ = false;
};

}  // namespace asynclink
