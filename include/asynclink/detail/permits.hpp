// SPDX-License-Identifier: BSL-1.0
// The FIFO-fair permit counter under Lock and Semaphore, with the awaiter
// that takes a permit and the RAII guard that gives it back. Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "asynclink/detail/parked.hpp"

namespace asynclink::detail {

/// A count of permits and the tasks waiting in line for one. A permit given
/// back goes straight to the longest waiter, so a task that gives back and
/// takes again cannot starve the others; a waiter cancelled after the permit
/// was handed to it still receives it (its guard gives it back as the
/// CancelledError unwinds at its next suspension point).
class Permits {
public:
    /// The names a misuse message gives: the call, and what to use instead
    /// from a context that is not the primitive's loop.
    struct Names {
        const char* acquire;
        const char* alternative;
    };

    explicit Permits(std::size_t initial) noexcept : available_(initial) {}
    Permits(const Permits&) = delete;
    Permits& operator=(const Permits&) = delete;

    /// `co_await` takes a permit, waiting in line when none is free; the
    /// owner's awaiter derives from it and turns await_resume into its guard.
    class Acquirer : public Parked, public ListedWaiter {
    public:
        Acquirer(Permits& permits, Names names) noexcept : Parked(&on_cancel), permits_(permits), names_(names) {}
        bool await_ready() {
            permits_.binding_.check(names_.acquire, names_.alternative);
            if (permits_.available_ == 0 || !permits_.waiters_.empty()) return false;
            --permits_.available_;
            return true;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            permits_.waiters_.push_back(*this);
            return true;
        }
        void await_resume() const { throw_if_cancelled(); }

    private:
        static CancelResult on_cancel(Suspension& self) noexcept {
            auto& a = static_cast<Acquirer&>(self);
            a.permits_.waiters_.remove(a);
            a.cancelled = true;
            return CancelResult::resume_now;
        }
        Permits& permits_;
        Names names_;
    };

    /// Gives a permit back: to the longest waiter, whose task wakes owning it,
    /// or to the count.
    void give_back() noexcept {
        if (ListedWaiter* w = waiters_.pop_front()) {
            static_cast<Acquirer*>(w)->task->wake();
        } else {
            ++available_;
        }
    }

    /// Throws UsageError unless called on the permits' loop.
    void check(const char* operation, const char* alternative) { binding_.check(operation, alternative); }

    /// For a guard's noexcept release: stops the program with `message` unless
    /// called on the permits' loop (a guard moved to a std::thread, say, must
    /// not touch them from there).
    void check_guard_thread(const char* message) const noexcept {
        if (port::current_loop() == nullptr || port::current_loop() != binding_.loop()) port::fatal(message);
    }

    std::size_t available() const noexcept { return available_; }

private:
    LoopBinding binding_;
    WaiterList waiters_;
    std::size_t available_;
};

/// Holds what `Owner` handed out (a lock's ownership, a semaphore's permit)
/// until destroyed or release()d; movable, never copied. `Owner` provides
/// `void release_from_guard(std::uint32_t token) noexcept`, which gets back
/// the token the guard was made with. Never throws from its destructor.
template <class Owner>
class [[nodiscard]] PermitGuard {
public:
    PermitGuard() noexcept = default;
    PermitGuard(PermitGuard&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), token_(other.token_) {}
    PermitGuard& operator=(PermitGuard&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = std::exchange(other.owner_, nullptr);
            token_ = other.token_;
        }
        return *this;
    }
    ~PermitGuard() { release(); }
    void release() noexcept {
        if (owner_ != nullptr) std::exchange(owner_, nullptr)->release_from_guard(token_);
    }

protected:
    PermitGuard(Owner& owner, std::uint32_t token) noexcept : owner_(&owner), token_(token) {}
    Owner* owner_ = nullptr;
    std::uint32_t token_ = 0;
};

}  // namespace asynclink::detail
