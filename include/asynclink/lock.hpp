// SPDX-License-Identifier: BSL-1.0
/// @file
/// Lock: asyncio.Lock for tasks of one loop, with an RAII guard.
///
/// | method                 | task | other loop | thread | signal handler / ISR |
/// |------------------------|------|------------|--------|----------------------|
/// | co_await acquire()     | yes  | no         | no     | no                   |
/// | release / locked       | yes  | no         | no     | no                   |
///
/// Use this to keep tasks of one loop from interleaving (e.g. multi-byte writes
/// to a shared stream). A thread or ISR must never wait on it: hand the work to
/// the loop through a ThreadSafeQueue instead.
#pragma once

#include <cstdint>
#include <utility>

#include "asynclink/detail/permits.hpp"

namespace asynclink {

/// FIFO-fair: release() hands the lock straight to the longest waiter, so a
/// task that releases and re-acquires cannot starve the others. A waiter
/// cancelled after the lock was handed to it still receives it (its guard
/// releases it as the CancelledError unwinds at its next suspension point).
/// A lock is a semaphore of one permit (detail::Permits) that also counts its
/// ownerships, so a guard can tell whether it still owns the lock.
class Lock {
public:
    /// Owns the lock until destroyed or release()d. Never throws from its
    /// destructor: the loop was checked when the lock was acquired, and a
    /// guard released on a thread that is not running the lock's loop (moved
    /// to a std::thread, say) stops the program with port::fatal and a message
    /// instead of touching the lock from there. If Lock::release() released
    /// the lock behind the guard's back (asyncio's lock.release()), the guard
    /// owns nothing any more and its destruction does nothing.
    class [[nodiscard]] Guard : public detail::PermitGuard<Lock> {
    public:
        Guard() noexcept = default;
        bool owns_lock() const noexcept { return owner_ != nullptr && owner_->ownership_ == token_; }

    private:
        friend class Lock;
        explicit Guard(Lock& lock) noexcept : PermitGuard(lock, lock.ownership_) {}
    };

    Lock() = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    class Acquirer : public detail::Permits::Acquirer {
    public:
        explicit Acquirer(Lock& l) noexcept
            : detail::Permits::Acquirer(l.permits_, {"Lock::acquire", alternative}), lock_(l) {}
        Guard await_resume() const {
            detail::Permits::Acquirer::await_resume();
            return Guard(lock_);
        }

    private:
        Lock& lock_;
    };

    /// Suspends until the lock is free, then owns it: `auto g = co_await l.acquire();`
    [[nodiscard]] Acquirer acquire() noexcept { return Acquirer(*this); }

    /// Releases the lock (normally done by the Guard, which then owns nothing).
    /// Throws UsageError if the lock is not held.
    void release() {
        permits_.check("Lock::release", alternative);
        if (!held()) ASYNCLINK_THROW(UsageError, "Lock::release() on a lock that is not held");
        pass_on();
    }

    bool locked() {
        permits_.check("Lock::locked", alternative);
        return held();
    }

private:
    friend class detail::PermitGuard<Lock>;
    friend class Condition;
    bool owned_by(const Guard& g) const noexcept { return g.owner_ == this && g.owns_lock(); }
    void check(const char* operation) { permits_.check(operation, alternative); }
    static constexpr const char* alternative = "a ThreadSafeQueue to hand work to the loop";

    bool held() const noexcept { return permits_.available() == 0; }
    // The guard's release: noexcept, so it checks without throwing. The loop
    // was checked at acquire time; only a guard carried to another thread
    // fails here, and it must not touch the lock from there.
    void release_from_guard(std::uint32_t ownership) noexcept {
        permits_.check_guard_thread(
            "asynclink: Lock::Guard released on a thread that is not running the lock's loop; "
            "release the lock in a task of that loop (hand the work to it through a ThreadSafeQueue)");
        if (ownership == ownership_) pass_on();  // else Lock::release() already released it
    }
    // Ends the current ownership: to the longest waiter, or the lock is free.
    void pass_on() noexcept {
        ++ownership_;  // a guard of the ending ownership owns nothing any more
        permits_.give_back();
    }

    detail::Permits permits_{1};
    // Counts ownerships, so a guard can tell the ownership it was made for
    // from a later one. 32 bits, to keep the Lock and its guards small (they
    // live in coroutine frames); a guard mistaken for a later owner would
    // have to outlive its ownership by exactly a multiple of 2^32 ownerships.
    std::uint32_t ownership_ = 0;
};

}  // namespace asynclink
