// SpinWait: how a context waiting for another one polls before it sleeps in
// the kernel (an idle loop before epoll, a blocked put_sync/get_sync before
// the futex).
//
// Sleeping and being woken costs tens of microseconds of latency on a virtual
// machine (the wake is an inter-processor interrupt and a reschedule), while an
// answer from a partner running on another CPU often takes one or two. So the
// waiter first polls with the CPU's pause hint; after a couple of microseconds
// it yields the CPU between polls instead, because a partner sharing this CPU
// can only answer once we let it run; at the deadline it gives up and the
// caller parks. Spinning for about as long as a sleep-and-wake costs at most
// doubles the price of a wait that ends up sleeping anyway (the ski-rental
// bound), and never burns a core for longer than that.
#pragma once

#include <chrono>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

/// The default spin before a kernel sleep: a little more than one wake-up's
/// latency across CPUs on the virtual machines asynclink is measured on
/// (about 35 us: an eventfd ping-pong takes some 70 us there). Shorter, and two
/// sides that take turns fall into a convoy: each one's spin ends before the
/// other's wake-up arrives, so both sleep on every exchange.
inline constexpr Clock::duration spin_before_park = std::chrono::microseconds(50);

class SpinWait {
public:
    /// Starts a spin that may last up to `limit`.
    explicit SpinWait(Clock::duration limit) noexcept : start_(Clock::now()), limit_(limit) {}

    /// Waits a little: pauses, or yields the CPU once the pause phase is over.
    /// False once `limit` has passed since construction: the caller should park.
    bool once() noexcept {
        Clock::duration elapsed = Clock::now() - start_;
        if (elapsed >= limit_) {
            if (elapsed >= 2 * limit_) overran_ = true;
            return false;
        }
        if (elapsed < pause_phase) {
            port::cpu_relax();
        } else {
            port::yield_thread();
            // A yield that came back after more than the whole budget handed the
            // CPU to another thread for a time slice: something CPU-bound shares it.
            if (Clock::now() - start_ >= 2 * limit_) overran_ = true;
        }
        return true;
    }

    /// True if the CPU was away (another thread ran, or this one was
    /// preempted) for longer than the whole spin was to last: spinning on this
    /// CPU now costs time slices, not microseconds.
    bool overran() const noexcept { return overran_; }

private:
    /// Long enough for a partner on another CPU to answer without a system
    /// call in between; short enough that a partner on this CPU is not kept
    /// waiting for long.
    static constexpr Clock::duration pause_phase = std::chrono::microseconds(2);

    Clock::time_point start_;
    Clock::duration limit_;
    bool overran_ = false;
};

}  // namespace asynclink::detail
