// SPDX-License-Identifier: BSL-1.0
/// @file
/// sleep(duration), sleep_ms(n) and sleep(0) as a yield (asyncio.sleep).
///
/// | operation   | task | other loop | thread | signal handler / ISR |
/// |-------------|------|------------|--------|----------------------|
/// | co_await sleep | yes | -        | -      | -                    |
#pragma once

#include <chrono>
#include <cstdint>

#include "asynclink/detail/parked.hpp"
#include "asynclink/detail/timer_node.hpp"

namespace asynclink {

namespace detail {

class SleepAwaiter : public Parked, public TimerNode {
public:
    explicit SleepAwaiter(Clock::duration d) noexcept : Parked(&on_cancel), duration_(d) { fire = &on_fire; }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!park(h)) return false;
        Loop& loop = *task->loop;
        if (duration_ <= Clock::duration::zero()) {
            // A yield: back of the ready queue, behind everything already runnable.
            yield_ = true;
            detail::LoopAccess::enqueue(loop, *task);
        } else {
            deadline = deadline_after(Clock::now(), duration_);  // "never" for a duration too long for the clock
            detail::LoopAccess::add_timer(loop, *this);
        }
        return true;
    }
    void await_resume() const { throw_if_cancelled(); }

private:
    static void on_fire(TimerNode& self) noexcept { static_cast<SleepAwaiter&>(self).task->wake(); }
    static CancelResult on_cancel(Suspension& self) noexcept {
        auto& s = static_cast<SleepAwaiter&>(self);
        s.cancelled = true;
        if (s.yield_) return CancelResult::already_scheduled;
        detail::LoopAccess::remove_timer(*s.task->loop, s);
        return CancelResult::resume_now;
    }

    Clock::duration duration_;
    bool yield_ = false;
};

}  // namespace detail

/// Suspends the task for `d`; a zero or negative duration yields to the other
/// ready tasks. Cancellable. Allocates nothing. A duration longer than the
/// clock can count (hours::max(), a double of 1e30 seconds) sleeps until
/// cancelled; a NaN one yields.
template <class Rep, class Period>
[[nodiscard]] detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return detail::SleepAwaiter(detail::saturating_duration(d));
}

/// Whole seconds, as asyncio.sleep(seconds); sleep(0) yields to the other ready tasks.
[[nodiscard]] inline detail::SleepAwaiter sleep(int seconds) noexcept {
    return detail::SleepAwaiter(std::chrono::seconds(seconds));
}

/// MicroPython's asyncio.sleep_ms.
[[nodiscard]] inline detail::SleepAwaiter sleep_ms(std::int64_t ms) noexcept {
    return detail::SleepAwaiter(detail::saturating_duration(std::chrono::milliseconds(ms)));
}

}  // namespace asynclink
