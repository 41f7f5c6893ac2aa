// SPDX-License-Identifier: BSL-1.0
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

#include <cstdint>
#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink {

/// FIFO-fair: release() hands the lock straight to the longest waiter, so a
/// task that releases and re-acquires cannot starve the others. A waiter
/// cancelled after the lock was handed to it still receives it (its guard
/// releases it as the CancelledError unwinds at its next suspension point).
class Lock {
public:
    /// Owns the lock until destroyed or release()d. Never throws from its
    /// destructor: the loop was checked when the lock was acquired, and a
    /// guard released on a thread that is not running the lock's loop (moved
    /// to a std::thread, say) stops the program with port::fatal and a message
    /// instead of touching the lock from there. If Lock::release() released
    /// the lock behind the guard's back (asyncio's lock.release()), the guard
    /// owns nothing any more and its destruction does nothing.
    class [[nodiscard]] Guard {
    public:
        Guard() noexcept = default;
        Guard(Guard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)), ownership_(other.ownership_) {}
        Guard& operator=(Guard&& other) noexcept {
            if (this != &other) {
                release();
                lock_ = std::exchange(other.lock_, nullptr);
                ownership_ = other.ownership_;
            }
            return *this;
        }
        ~Guard() { release(); }
        void release() noexcept {
            if (lock_ != nullptr) std::exchange(lock_, nullptr)->release_from_guard(ownership_);
        }
        bool owns_lock() const noexcept { return lock_ != nullptr && lock_->ownership_ == ownership_; }

    private:
        friend class Lock;
        explicit Guard(Lock& lock) noexcept : lock_(&lock), ownership_(lock.ownership_) {}
        Lock* lock_ = nullptr;
        std::uint32_t ownership_ = 0;  ///< the Lock::ownership_ this guard was made for
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

    /// Releases the lock (normally done by the Guard, which then owns nothing).
    /// Throws UsageError if the lock is not held.
    void release() {
        binding_.check("Lock::release", "a ThreadSafeQueue to hand work to the loop");
        if (!locked_) ASYNCLINK_THROW(UsageError, "Lock::release() on a lock that is not held");
        pass_on();
    }

    bool locked() {
        binding_.check("Lock::locked", "a ThreadSafeQueue to hand work to the loop");
        return locked_;
    }

private:
    // The guard's release: noexcept, so it checks without throwing. The loop
    // was checked at acquire time; only a guard carried to another thread
    // fails here, and it must not touch the lock from there.
    void release_from_guard(std::uint32_t ownership) noexcept {
        if (port::current_loop() == nullptr || port::current_loop() != binding_.loop()) {
            port::fatal(
                "asynclink: Lock::Guard released on a thread that is not running the lock's loop; "
                "release the lock in a task of that loop (hand the work to it through a ThreadSafeQueue)");
        }
        if (ownership == ownership_) pass_on();  // else Lock::release() already released it
    }
    // Ends the current ownership: to the longest waiter, or the lock is free.
    void pass_on() noexcept {
        ++ownership_;  // a guard of the ending ownership owns nothing any more
        if (detail::ListedWaiter* w = waiters_.pop_front()) {
            static_cast<Acquirer*>(w)->task->wake();  // ownership passes on; locked_ stays true
        } else {
            locked_ = false;
        }
    }

    detail::LoopBinding binding_;
    detail::WaiterList waiters_;
    // Counts ownerships, so a guard can tell the ownership it was made for
    // from a later one. 32 bits, to keep the Lock and its guards small (they
    // live in coroutine frames); a guard mistaken for a later owner would
    // have to outlive its ownership by exactly a multiple of 2^32 ownerships.
    std::uint32_t ownership_ = 0;
    bool locked_ = false;
};

}  // namespace asynclink
