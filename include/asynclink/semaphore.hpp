// SPDX-License-Identifier: BSL-1.0
/// @file
/// Semaphore: asyncio.Semaphore for tasks of one loop.
///
/// | method                 | task | other loop | thread | signal handler / ISR |
/// |------------------------|------|------------|--------|----------------------|
/// | co_await acquire()     | yes  | no         | no     | no                   |
/// | release / value        | yes  | no         | no     | no                   |
///
/// Use this to bound how many tasks use a resource at once; BoundedSemaphore
/// also catches a release() without an acquire. To bound work handed to
/// threads, use Context (its bounded job queue does it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "asynclink/detail/permits.hpp"

namespace asynclink {

/// A counter of permits (detail::Permits). FIFO-fair: release() hands a
/// permit straight to the longest waiter. A waiter cancelled after receiving
/// its permit keeps it (the guard returns it as the CancelledError unwinds).
class Semaphore {
public:
    /// Holds one permit until destroyed, release()d or detach()ed. Never
    /// throws from its destructor: the loop was checked when the permit was
    /// acquired, and a guard released on a thread that is not running the
    /// semaphore's loop (moved to a std::thread, say) stops the program with
    /// port::fatal and a message instead of touching the semaphore from there.
    class [[nodiscard]] Guard : public detail::PermitGuard<Semaphore> {
    public:
        Guard() noexcept = default;
        /// Keeps the permit; the caller must call Semaphore::release() later.
        void detach() noexcept { owner_ = nullptr; }

    private:
        friend class Semaphore;
        explicit Guard(Semaphore& s) noexcept : PermitGuard(s, 0) {}
    };

    explicit Semaphore(std::size_t initial = 1) noexcept : permits_(initial) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    class Acquirer : public detail::Permits::Acquirer {
    public:
        explicit Acquirer(Semaphore& s) noexcept
            : detail::Permits::Acquirer(s.permits_, {"Semaphore::acquire", "Context to bound work handed to threads"}),
              sem_(s) {}
        Guard await_resume() const {
            detail::Permits::Acquirer::await_resume();
            return Guard(sem_);
        }

    private:
        Semaphore& sem_;
    };

    /// Suspends until a permit is available and takes it.
    [[nodiscard]] Acquirer acquire() noexcept { return Acquirer(*this); }

    /// Returns a permit, handing it to the longest waiter if there is one.
    /// A BoundedSemaphore throws UsageError instead of going above its
    /// initial value.
    void release() {
        permits_.check("Semaphore::release", "Loop::call_soon_threadsafe");
        if (permits_.available() >= bound_) {
            ASYNCLINK_THROW(UsageError, "BoundedSemaphore released too many times (more releases than acquires)");
        }
        permits_.give_back();
    }

    /// Permits available now.
    std::size_t value() {
        permits_.check("Semaphore::value", "Loop::call_soon_threadsafe");
        return permits_.available();
    }
    bool locked() { return value() == 0; }

protected:
    /// A semaphore that may not count above `bound` (BoundedSemaphore).
    Semaphore(std::size_t initial, std::size_t bound) noexcept : permits_(initial), bound_(bound) {}

private:
    friend class detail::PermitGuard<Semaphore>;

    // The guard's release: noexcept, so it checks without throwing. The loop
    // was checked at acquire time; only a guard carried to another thread
    // fails here, and it must not touch the semaphore from there.
    void release_from_guard(std::uint32_t) noexcept {
        permits_.check_guard_thread(
            "asynclink: Semaphore::Guard released on a thread that is not running the semaphore's "
            "loop; release the permit in a task of that loop");
        permits_.give_back();
    }

    detail::Permits permits_;
    std::size_t bound_ = SIZE_MAX;  ///< no bound unless a BoundedSemaphore
};

/// asyncio.BoundedSemaphore: a Semaphore whose release() throws UsageError
/// rather than raise the count above its initial value (a release without
/// an acquire is a bug this catches). A guard's release never exceeds it.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(std::size_t initial = 1) noexcept : Semaphore(initial, initial) {}
};

}  // namespace asynclink
