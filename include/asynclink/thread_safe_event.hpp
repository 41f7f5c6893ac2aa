// SPDX-License-Identifier: BSL-1.0
/// @file
/// ThreadSafeEvent: asyncio.Event whose set() may come from any context
/// (the seed's ThreadSafeEvent).
///
/// | method           | task | other loop | thread | signal handler / ISR |
/// |------------------|------|------------|--------|----------------------|
/// | set / clear      | yes  | yes        | yes    | yes                  |
/// | is_set / stats   | yes  | yes        | yes    | yes                  |
/// | co_await wait()  | yes  | no         | no     | no                   |
///
/// Use this when any number of tasks wait for a condition signalled from an
/// interrupt, a signal handler, a thread or another loop. For one waiter,
/// ThreadSafeFlag is cheaper and clears itself; to carry a value, use Message.
///
/// set() takes no lock, allocates nothing and is async-signal-safe. Every task
/// waiting when set() runs is woken, even if clear() follows at once; the event
/// stays set until clear(). (The one bound: a set() counter of 30 bits tells
/// the loop that a set came and went; if exactly a multiple of 2^30 set()/
/// clear() pairs run while the loop looks away and the event ends clear, the
/// waiters sleep on as if they had started after them. A set event always
/// wakes them.) Cancelling one waiter never costs the others their
/// wake-up (the seed needed a helper task for this). All waiting tasks belong to
/// one loop, the first that waits; set() and clear() may come from anywhere.
#pragma once

#include "asynclink/detail/event_core.hpp"

namespace asynclink {

class ThreadSafeEvent {
public:
    ThreadSafeEvent() = default;

    /// Sets the event and wakes every waiting task. Any context.
    void set() noexcept { core_.set(trace::Op::event_set); }
    /// Any context.
    void clear() noexcept { core_.clear(); }
    /// Any context; a snapshot.
    bool is_set() const noexcept { return core_.is_set(); }
    /// Any context: set()s, those that found the event already set, and the
    /// tasks woken (asynclink/stats.hpp).
    SignalStats stats() const noexcept { return core_.stats(); }
    /// Suspends until the event is set (not at all if it is). Loop thread
    /// only. Cancellable.
    [[nodiscard]] detail::EventCore::Waiter wait() noexcept { return core_.wait("ThreadSafeEvent::wait"); }

private:
    detail::EventCore core_;
};

}  // namespace asynclink
