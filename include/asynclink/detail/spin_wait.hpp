// SPDX-License-Identifier: BSL-1.0
// SpinWait: how a context waiting for another one polls before it sleeps in
// the kernel (an idle loop before epoll, a blocked put_sync/get_sync before
// the futex).
//
// SpinBudget: how long the next of a context's waits may spin, learnt from the
// last ones; PauseHint: whether it begins with the pause phase, learnt from
// where the last ones were answered; WakeStamp: when the partner woke a
// sleeper, to learn from.
//
// Sleeping and being woken costs tens of microseconds of latency on a virtual
// machine (the wake is an inter-processor interrupt and a reschedule), while an
// answer from a partner running on another CPU often takes one or two. So the
// waiter first polls with the CPU's pause hint; after a couple of microseconds
// it yields the CPU between polls instead, because a partner sharing this CPU
// can only answer once we let it run; at the deadline it gives up and the
// caller blocks. Spinning for about as long as a sleep-and-wake costs at most
// doubles the price of a wait that ends up sleeping anyway (the ski-rental
// bound), and never burns a core for longer than that.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

/// The default spin before a kernel sleep: a little more than one wake-up's
/// latency across CPUs on the virtual machines asynclink is measured on
/// (about 35 us: an eventfd ping-pong takes some 70 us there). Shorter, and two
/// sides that take turns fall into a convoy: each one's spin ends before the
/// other's wake-up arrives, so both sleep on every exchange.
inline constexpr Clock::duration spin_before_block = std::chrono::microseconds(50);

class SpinWait {
public:
    /// Long enough for a partner on another CPU to answer without a system
    /// call in between; short enough that a partner on this CPU is not kept
    /// waiting for long.
    static constexpr Clock::duration pause_phase = std::chrono::microseconds(2);

    /// Starts a spin that may last up to `limit`; without `pause_first`, it
    /// yields from its first look on (see PauseHint).
    explicit SpinWait(Clock::duration limit, bool pause_first = true) noexcept
        : start_(Clock::now()), limit_(limit), pause_phase_(pause_first ? pause_phase : Clock::duration::zero()) {}

    /// Waits a little: pauses, or yields the CPU once the pause phase is over.
    /// False once `limit` has passed since construction: the caller should block or sleep.
    bool once() noexcept {
        Clock::duration elapsed = Clock::now() - start_;
        if (elapsed >= limit_) {
            if (elapsed >= 2 * limit_) overran_ = true;
            return false;
        }
        if (elapsed < pause_phase_) {
            port::cpu_relax();
        } else {
            port::yield_thread();
            ++yields_;
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
    /// Whether the spin began with the pause phase.
    bool paused_first() const noexcept { return pause_phase_.count() != 0; }
    /// How many times it has yielded the CPU so far.
    std::uint32_t yields() const noexcept { return yields_; }

private:
    Clock::time_point start_;
    Clock::duration limit_;
    Clock::duration pause_phase_;
    std::uint32_t yields_ = 0;
    bool overran_ = false;
};

/// Whether a context's next spin should begin with the pause phase. A partner
/// on another CPU answers a busy stream within it, without a system call; a
/// partner on the waiter's own CPU cannot answer before the waiter yields, so
/// there the pause phase only adds its 2 us to every wait (to each hand-over
/// of a stream whose ends share a CPU, or run on a machine with one CPU).
/// Which one it is shows in where the answers come: in the pause phase, or at
/// the first look after the first yield. After `confirm` waits in a row
/// answered there, the next `probe_every` spins skip the pause phase; then
/// one spin pauses again (a probe), and if its answer also comes after the
/// first yield the skipping starts again at once. An answer a pause catches
/// keeps the pause phase on until `confirm` more come after the first yield.
class PauseHint {
public:
    static constexpr std::uint8_t confirm = 4;
    static constexpr std::uint8_t probe_every = 64;

    /// Whether the next spin should pause first.
    bool pause_first() noexcept {
        if (skip_ == 0) return true;
        --skip_;
        return false;
    }
    /// After a spin that ended with the answer (`answered`) or ran out.
    void learn(bool answered, bool paused_first, std::uint32_t yields, bool overran) noexcept {
        // A spin that ran out, or that skipped the pause phase, cannot tell
        // where the partner runs; nor can one whose yield gave the CPU to a
        // stranger for a time slice (SpinWait::overran()): the answer came
        // after the yield because the yield took that long.
        if (!answered || !paused_first || overran) return;
        // No yield: a pause caught the answer, the partner runs elsewhere;
        // several: a slow partner, on this CPU or not.
        if (yields != 1) {
            streak_ = 0;
            return;
        }
        if (++streak_ >= confirm) {
            skip_ = probe_every;
            streak_ = confirm - 1;  // one more such answer, at the probe, confirms again
        }
    }
    void learn(const SpinWait& spin, bool answered) noexcept {
        learn(answered, spin.paused_first(), spin.yields(), spin.overran());
    }

private:
    // Two bytes, so that the hint fits in a padding hole of its owner.
    std::uint8_t skip_ = 0;    // spins left without the pause phase
    std::uint8_t streak_ = 0;  // answers in a row at the first look after the first yield
};

/// How long a context that waits again and again (a blocked put_sync or
/// get_sync; the loop going idle follows the same policy in src/loop_idle.cpp)
/// spins before it sleeps, learnt from its last waits. The full budget while
/// the partner answers within it (a spin would catch the answer without the
/// sleep-and-wake); half as much after each wait it did not, and none below a
/// microsecond, so a waiter whose partner answers late stops burning CPU; no
/// spin at all for the next waits after a spin overran (a CPU-bound thread
/// shares this CPU, so each yield costs a time slice), twice as many each time
/// it happens again (16 to 4096).
class SpinBudget {
public:
    explicit SpinBudget(Clock::duration full) noexcept : full_ns_(to_ns(full)), budget_(full) {}

    /// The most a wait may spin (the user's setting; any context, any time).
    void set_limit(Clock::duration full) noexcept {
        // Relaxed: a setting the waiter reads at its next wait; nothing else hangs on it.
        full_ns_.store(to_ns(full), std::memory_order_relaxed);
    }
    Clock::duration limit() const noexcept {
        // Relaxed: as set_limit().
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::nanoseconds(full_ns_.load(std::memory_order_relaxed)));
    }

    /// The spin the next wait may do; zero: sleep at once.
    Clock::duration next() noexcept {
        if (skip_ > 0) {
            --skip_;
            return Clock::duration::zero();
        }
        return std::min(budget_, limit());
    }
    /// Whether the next spin should begin with the pause phase (PauseHint).
    bool pause_first() noexcept { return pause_.pause_first(); }
    /// After a spin of next()'s length, which ended with the answer or not.
    void spun(const SpinWait& spin, bool answered) noexcept {
        pause_.learn(spin, answered);
        if (spin.overran()) {
            penalty_ = std::clamp<std::uint32_t>(penalty_ * 2, 16, 4096);
            skip_ = penalty_;
        } else if (answered) {
            penalty_ /= 2;  // spinning pays again: forgive, gradually
        }
    }
    /// After a wait the spin did not end: the partner answered `answered_after`
    /// the wait began.
    void waited(Clock::duration answered_after) noexcept {
        Clock::duration full = limit();
        if (answered_after <= full) {
            budget_ = full;
        } else {
            budget_ /= 2;
            if (budget_ < std::chrono::microseconds(1)) budget_ = Clock::duration::zero();
        }
    }

    /// The longest limit set_limit() takes: a spin of a second would be a busy wait, not a spin.
    static constexpr Clock::duration longest = std::chrono::seconds(1);

private:
    static std::uint32_t to_ns(Clock::duration d) noexcept {
        return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    }

    port::atomic<std::uint32_t> full_ns_;  ///< the limit in ns (at most `longest`: fits 32 bits)
    PauseHint pause_;                      // in the padding before budget_
    Clock::duration budget_;
    std::uint32_t skip_ = 0;     // waits left without a spin
    std::uint32_t penalty_ = 0;  // how many the next overrun skips
};

/// SpinBudget's stand-in on a port that never spins (the loop on a port with
/// port::idle_spins false): no state, and every wait sleeps at once.
struct NoSpinBudget {
    explicit NoSpinBudget(Clock::duration) noexcept {}
    Clock::duration next() noexcept { return Clock::duration::zero(); }
    bool pause_first() noexcept { return true; }
    void spun(const SpinWait&, bool) noexcept {}
    void waited(Clock::duration) noexcept {}
};

/// The time a partner woke a sleeper, as a 32-bit word the partner stores from
/// any context (a signal handler too: 32-bit atomics are lock-free on every
/// target, 64-bit ones are not) and the sleeper compares with the time it
/// began to wait. Units of 1024 ns, wrapping every 73 minutes: a stale or
/// wrapped stamp only costs one spin decision.
struct WakeStamp {
    static std::uint32_t now() noexcept {
        return static_cast<std::uint32_t>(static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) >> 10);
    }
    static Clock::duration between(std::uint32_t from, std::uint32_t to) noexcept {
        return Clock::duration(static_cast<Clock::rep>(static_cast<std::uint64_t>(to - from) << 10));
    }
};

}  // namespace asynclink::detail
