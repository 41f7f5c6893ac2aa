// SPDX-License-Identifier: BSL-1.0
/// @file
/// PeriodicSignal: a periodic POSIX timer whose callback runs inside a signal
/// handler on the thread that created it. It is the Linux stand-in for the
/// guide's hardware timer interrupt (pyb.Timer with a callback), used by the
/// examples and tests; it is not needed to use the library.
///
/// | method              | task | other loop | thread | signal handler / ISR |
/// |---------------------|------|------------|--------|----------------------|
/// | construct / destroy | yes  | yes        | yes    | no                   |
/// | ticks               | yes  | yes        | yes    | yes                  |
///
/// The callback has the rules of a hard ISR: it may only do what is
/// async-signal-safe — no locks, no allocation, no loop-only call. From
/// asynclink that means ThreadSafeFlag::set, ThreadSafeEvent::set, Message::set (for
/// a T whose copy allocates nothing), ThreadSafeQueue::try_put, Shared::write
/// and Loop::schedule.
///
/// The signal interrupts the creating thread wherever it is: running a task
/// (the loop is busy) or sleeping in the kernel (the loop is asleep and wakes
/// through the primitives' wake path, not through the interruption).
/// Destroying the object stops the timer; no callback runs after the destructor
/// returns. Destroy it on the thread that created it.
#pragma once

#include <chrono>
#include <cstdint>

#include "asynclink/port/port.hpp"

namespace asynclink {

class PeriodicSignal {
public:
    using Callback = void (*)(void* arg) noexcept;

    /// Starts a timer that calls callback(arg) in a signal handler on the
    /// calling thread every `period` (at least 10 µs). Throws
    /// std::system_error if the kernel refuses.
    PeriodicSignal(std::chrono::nanoseconds period, Callback callback, void* arg);
    ~PeriodicSignal();
    PeriodicSignal(const PeriodicSignal&) = delete;
    PeriodicSignal& operator=(const PeriodicSignal&) = delete;

    /// Callbacks run so far, modulo 2^32 (the counters are 32 bits, the widest
    /// atomic that is lock-free in a signal handler on every Linux target:
    /// riscv32, mips and ppc32 have no lock-free 64-bit one). At the shortest
    /// period (10 µs) the count wraps after 11.9 hours.
    std::uint32_t ticks() const noexcept { return ticks_.load(std::memory_order_relaxed); }
    /// Expirations the kernel merged because the previous signal was still
    /// pending (the callback ran fewer times than the timer expired), modulo 2^32.
    std::uint32_t overruns() const noexcept { return overruns_.load(std::memory_order_relaxed); }

    /// The signal number used (a real-time signal).
    static int signal_number() noexcept;

private:
    static void dispatch(PeriodicSignal& self, int overrun) noexcept;
    friend struct PeriodicSignalAccess;

    Callback callback_;
    void* arg_;
    void* timer_ = nullptr;                 // timer_t, kept opaque so no OS header is needed here
    port::atomic<std::uint32_t> ticks_{0};  // written in the signal handler
    port::atomic<std::uint32_t> overruns_{0};
    static_assert(port::atomic<std::uint32_t>::is_always_lock_free,
                  "the counters are written in a signal handler: they must be lock-free");
};

}  // namespace asynclink
