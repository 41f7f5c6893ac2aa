// SPDX-License-Identifier: BSL-1.0
// Semaphore: asyncio.Semaphore for tasks of one loop.
//
// | method                 | task | other loop | thread | signal handler / ISR |
// |------------------------|------|------------|--------|----------------------|
// | co_await acquire()     | yes  | no         | no     | no                   |
// | release / value        | yes  | no         | no     | no                   |
//
// Use this to bound how many tasks use a resource at once. To bound work handed
// to threads, use Context (its bounded job queue does it).
#pragma once

#include <cstddef>
#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink {

/// A counter of permits. FIFO-fair: release() hands a permit straight to the
/// longest waiter. A waiter cancelled after receiving its permit keeps it (the
/// guard returns it as the CancelledError unwinds).
class Semaphore {
public:
    /// Holds one permit until destroyed, release()d or detach()ed. Never
    /// throws from its destructor: the loop was checked when the permit was
    /// acquired, and a guard released on a thread that is not running the
    /// semaphore's loop (moved to a std::thread, say) stops the program with
    /// port::fatal and a message instead of touching the semaphore from there.
    class [[nodiscard]] Guard {
    public:
        Guard() noexcept = default;
        Guard(Guard&& other) noexcept : sem_(std::exchange(other.sem_, nullptr)) {}
        Guard& operator=(Guard&& other) noexcept {
            if (this != &other) {
                release();
                sem_ = std::exchange(other.sem_, nullptr);
            }
            return *this;
        }
        ~Guard() { release(); }
        void release() noexcept {
            if (sem_ != nullptr) std::exchange(sem_, nullptr)->release_from_guard();
        }
        /// Keeps the permit; the caller must call Semaphore::release() later.
        void detach() noexcept { sem_ = nullptr; }

    private:
        friend class Semaphore;
        explicit Guard(Semaphore& s) noexcept : sem_(&s) {}
        Semaphore* sem_ = nullptr;
    };

    explicit Semaphore(std::size_t initial = 1) noexcept : value_(initial) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    class Acquirer : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Acquirer(Semaphore& s) noexcept : Parked(&on_cancel), sem_(s) {}
        bool await_ready() {
            sem_.binding_.check("Semaphore::acquire", "Context to bound work handed to threads");
            if (sem_.value_ == 0 || !sem_.waiters_.empty()) return false;
            --sem_.value_;
            return true;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            sem_.waiters_.push_back(*this);
            return true;
        }
        Guard await_resume() const {
            throw_if_cancelled();
            return Guard(sem_);
        }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& a = static_cast<Acquirer&>(self);
            a.sem_.waiters_.remove(a);
            a.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        Semaphore& sem_;
    };

    /// Suspends until a permit is available and takes it.
    [[nodiscard]] Acquirer acquire() noexcept { return Acquirer(*this); }

    /// Returns a permit, handing it to the longest waiter if there is one.
    void release() {
        binding_.check("Semaphore::release", "Loop::call_soon_threadsafe");
        return_permit();
    }

    /// Permits available now.
    std::size_t value() {
        binding_.check("Semaphore::value", "Loop::call_soon_threadsafe");
        return value_;
    }
    bool locked() { return value() == 0; }

private:
    // The guard's release: noexcept, so it checks without throwing. The loop
    // was checked at acquire time; only a guard carried to another thread
    // fails here, and it must not touch the semaphore from there.
    void release_from_guard() noexcept {
        if (port::current_loop() == nullptr || port::current_loop() != binding_.loop()) {
            port::fatal(
                "asynclink: Semaphore::Guard released on a thread that is not running the semaphore's "
                "loop; release the permit in a task of that loop");
        }
        return_permit();
    }
    void return_permit() noexcept {
        if (detail::ListedWaiter* w = waiters_.pop_front()) {
            static_cast<Acquirer*>(w)->task->wake();
        } else {
            ++value_;
        }
    }

    detail::LoopBinding binding_;
    detail::WaiterList waiters_;
    std::size_t value_;
};

}  // namespace asynclink
