// SPDX-License-Identifier: BSL-1.0
// The loop going idle: the sleep half of the wake protocol, and the spin
// before sleeping. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/trace.hpp"

namespace asynclink {

// The wake protocol (the "waiter bit handshake"; model: proof/loop_wake.pml):
//   poster:  publish the work (a release-or-stronger RMW or store)
//            fence(seq_cst)                              -- F1
//            if sleeping_ then exchange(sleeping_, false) and, if it was true, idle.wake()
//   loop:    sleeping_ = true
//            fence(seq_cst)                              -- F2
//            if any work is posted: sleeping_ = false, do not sleep
//            else idle.wait(...)
// F1 and F2 are ordered one way or the other in the single total order of
// seq_cst fences. If F1 comes first, the loop's re-check sees the work; if F2
// comes first, the poster sees sleeping_ == true and writes the eventfd. So a
// post is never left unseen by a sleeping loop, and a loop that is awake costs
// the poster no system call. The exchange makes one poster, not all, pay for
// the wake. A wake the kernel refuses gives the duty back (sleeping_ = true
// again), so the next post writes again: the loop is not left asleep with no
// one to wake it, and its next wait reports the failure (Idle::wait throws).
// The poster's half is WakeCore::wake_if_sleeping.
// Where a wake is one store (ASYNCLINK_PORT_WAKE_IS_A_STORE: one Cortex-M
// core, whose idle looks at its flag with interrupts masked before the WFI)
// every poster wakes, which costs it less than the look at sleeping_, and the
// loop's announcement clears the flag instead (Idle::rearm): a post before
// the clear was taken already or is seen after F2, one after it leaves the
// flag set, so the wait returns at once or its WFI ends.
//
// Idle: spin for posted work while spinning has recently paid off, then sleep.
//
// The spin budget (detail::SpinBudget: the rules a blocking queue end's wait
// follows too) adapts so that an idle loop costs no CPU: after a sleep that
// work posted within spin_before_sleep of going idle cut short (a partner that
// answers quickly: a spin would have caught it without the sleep-and-wake),
// the next idle period spins the full spin_before_sleep; after any other sleep
// (a long gap, a timer, a descriptor) the budget halves, and below a
// microsecond it is zero. The post's time comes from the poster that woke us
// (wake_posted_at_): the wake-up's own latency, often longer than the spin on a
// virtual machine, must not count. A loop woken now and then therefore spins a
// few tens of microseconds in all, then sleeps at once every time; a loop in a
// fast exchange with another thread never sleeps. Only posted work (notify,
// schedule, call_soon_threadsafe) ends a spin; descriptors and timers wait for
// the sleep, which the spin delays by at most the budget (a timer due sooner
// than that is not spun for).
// A port whose idle is woken at once (port::idle_spins false: an interrupt ends
// a WFI within cycles) never spins, and none of this code is kept there.
void Loop::wait_for_work(std::optional<Clock::duration> timeout) {
    Clock::time_point idle_start{};
    if constexpr (port::idle_spins) {
        idle_start = Clock::now();
        if (spin_for_posted_work(timeout)) return;
    }
    core_->announce_sleep();
    port::atomic_thread_fence(std::memory_order_seq_cst);  // F2
    if (core_->has_posted_work()) {
        core_->end_sleep();
        return;
    }
#if ASYNCLINK_TRACE
    bool traced = trace::detail::on();
    Clock::time_point slept_at = traced ? Clock::now() : Clock::time_point{};
#endif
    core_->idle().wait(timeout);
#if ASYNCLINK_TRACE
    if (traced) [[unlikely]]
        trace::detail::record_sleep(id_, slept_at, Clock::now());
#endif
    counts_[Count::sleeps].add_by_owner();
    core_->end_sleep();
    if constexpr (!port::idle_spins) return;
    if (timing_slices()) [[unlikely]]
        count_wake_latency(Clock::now());
    // The poster's time is the low 32 bits of the clock's ticks: the
    // difference modulo 2^32 is exact for the microseconds that matter here,
    // and a stale value (from before this idle period) comes out huge.
    auto posted_after_idle = static_cast<std::uint32_t>(
        core_->wake_posted_at() - static_cast<std::uint32_t>(idle_start.time_since_epoch().count()));
    // Ended by a timer or a descriptor, not by a post: no answer a spin could
    // have caught.
    spin_.waited(core_->has_posted_work() ? Clock::duration(posted_after_idle) : Clock::duration::max());
}

// After a sleep that posted work ended: the time from the post that woke the
// loop (its low 32 bits of the clock's ticks, stamped by wake_if_sleeping) to
// now. A sleep ended by a timer or a descriptor, or a stale stamp, is not a
// post's wake-up: the difference modulo 2^32 is then huge or nothing is posted.
void Loop::count_wake_latency(Clock::time_point now) noexcept {
    if (!core_->has_posted_work()) return;
    auto since = static_cast<std::uint32_t>(static_cast<std::uint32_t>(now.time_since_epoch().count()) -
                                            core_->wake_posted_at());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::duration(since)).count();
    if (ns > std::chrono::nanoseconds(std::chrono::seconds(1)).count()) return;
    counts_.at(Count::wake_latency, Log2Histogram::bucket_of(static_cast<std::uint64_t>(ns))).add_by_owner();
}

// The spin of wait_for_work(): true if posted work arrived during it.
bool Loop::spin_for_posted_work(std::optional<Clock::duration> timeout) noexcept {
    // A CPU-bound thread sharing this CPU makes a spin overrun: each yield
    // gave it a time slice (milliseconds), far more than a sleep-and-wake
    // costs; the budget then skips the spin for the next idle periods (16 to
    // 4096, twice as many each time), so such a loop sleeps at once nearly
    // always. A poster on this loop's own CPU (a thread sharing it, or a
    // one-CPU machine) can only post once the spin yields: the budget learns
    // to skip the pause phase then (detail::PauseHint).
    Clock::duration budget = spin_.next();
    if (budget.count() == 0 || (timeout && *timeout <= budget)) return false;
    detail::SpinWait spin(budget, spin_.pause_first());
    bool found = false;
    while (!found && spin.once()) found = core_->has_posted_work();
    spin_.spun(spin, found);
    return found;
}

}  // namespace asynclink
