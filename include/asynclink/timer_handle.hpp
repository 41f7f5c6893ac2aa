// SPDX-License-Identifier: BSL-1.0
/// @file
/// TimerHandle: a callback Loop::call_later() or Loop::call_at() will run
/// (asyncio.TimerHandle).
///
/// | method                      | task | other loop | thread | signal handler / ISR |
/// |-----------------------------|------|------------|--------|----------------------|
/// | call_later / call_at        | yes  | no         | no     | no                   |
/// | cancel / cancelled / when   | yes  | no         | no     | no                   |
///
/// The callback runs on the loop between tasks, at its time or later (a busy
/// loop fires late, never early); an exception it throws goes to the loop's
/// exception handler. A handle is a shared, non-atomic reference: copy and
/// drop it on the loop's thread. A callback still pending when the loop ends
/// is dropped unrun (asyncio's too), and its handle then says cancelled().
/// From another thread, reach the loop with call_soon_threadsafe first.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "asynclink/detail/timer_node.hpp"

namespace asynclink {

class Loop;

namespace detail {
/// One call_later()/call_at() callback: a timer in the loop's heap, shared by
/// the loop (while queued) and the handles.
struct CallbackTimer : TimerNode {
    std::function<void()> fn;
    Loop* loop = nullptr;  ///< nullptr once fired, cancelled or the loop has ended
    CallbackTimer* prev = nullptr;
    CallbackTimer* next = nullptr;  ///< the loop's list of queued callbacks
    std::uint32_t refs = 0;
    bool cancelled = false;

    void release() noexcept {
        if (--refs == 0) delete this;
    }
};
}  // namespace detail

class TimerHandle {
public:
    TimerHandle() noexcept = default;
    TimerHandle(const TimerHandle& other) noexcept : timer_(other.timer_) {
        if (timer_ != nullptr) ++timer_->refs;
    }
    TimerHandle(TimerHandle&& other) noexcept : timer_(std::exchange(other.timer_, nullptr)) {}
    TimerHandle& operator=(TimerHandle other) noexcept {
        std::swap(timer_, other.timer_);
        return *this;
    }
    ~TimerHandle() {
        if (timer_ != nullptr) timer_->release();
    }

    /// Stops the callback from running if it has not run yet. Loop thread only.
    void cancel() noexcept;
    /// True once cancel() was called, or the loop ended before the callback ran.
    bool cancelled() const noexcept { return timer_ != nullptr && timer_->cancelled; }
    /// When the callback is due, on the loop's clock.
    Clock::time_point when() const noexcept { return timer_ != nullptr ? timer_->deadline : Clock::time_point{}; }
    explicit operator bool() const noexcept { return timer_ != nullptr; }

private:
    friend class Loop;
    explicit TimerHandle(detail::CallbackTimer& t) noexcept : timer_(&t) { ++timer_->refs; }
    detail::CallbackTimer* timer_ = nullptr;
};

}  // namespace asynclink
