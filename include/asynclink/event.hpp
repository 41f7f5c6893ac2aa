// SPDX-License-Identifier: BSL-1.0
/// @file
/// Event: asyncio.Event for tasks of one loop.
///
/// | method            | task | other loop | thread | signal handler / ISR |
/// |-------------------|------|------------|--------|----------------------|
/// | set / clear       | yes  | no         | no     | no                   |
/// | is_set            | yes  | no         | no     | no                   |
/// | co_await wait()   | yes  | no         | no     | no                   |
///
/// Use this when every user is a task of the same loop. Use ThreadSafeEvent
/// when set() comes from a thread, a signal handler, an ISR or another loop.
#pragma once

#include "asynclink/detail/parked.hpp"

namespace asynclink {

/// Any number of tasks wait until the event is set; set() wakes them all and
/// the event stays set until clear(). Waiting on a set event does not suspend.
/// A cancelled waiter leaves the list; the others are unaffected.
class Event {
public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    void set() {
        binding_.check("Event::set", "ThreadSafeEvent, or Loop::call_soon_threadsafe");
        if (set_) return;
        set_ = true;
        while (detail::ListedWaiter* w = waiters_.pop_front()) static_cast<Waiter*>(w)->task->wake();
    }
    void clear() {
        binding_.check("Event::clear", "ThreadSafeEvent, or Loop::call_soon_threadsafe");
        set_ = false;
    }
    bool is_set() {
        binding_.check("Event::is_set", "ThreadSafeEvent");
        return set_;
    }

    class Waiter : public detail::Parked, public detail::ListedWaiter {
    public:
        explicit Waiter(Event& e) noexcept : Parked(&on_cancel), event_(e) {}
        bool await_ready() {
            event_.binding_.check("Event::wait", "ThreadSafeEvent");
            return event_.set_;
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) noexcept {
            if (!park(h)) return false;
            event_.waiters_.push_back(*this);
            return true;
        }
        void await_resume() const { throw_if_cancelled(); }

    private:
        static detail::CancelResult on_cancel(detail::Suspension& self) noexcept {
            auto& w = static_cast<Waiter&>(self);
            w.event_.waiters_.remove(w);
            w.cancelled = true;
            return detail::CancelResult::resume_now;
        }
        Event& event_;
    };

    /// Suspends until the event is set. Cancellable.
    [[nodiscard]] Waiter wait() noexcept { return Waiter(*this); }

private:
    detail::LoopBinding binding_;
    detail::WaiterList waiters_;
    bool set_ = false;
};

}  // namespace asynclink
