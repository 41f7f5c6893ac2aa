// SPDX-License-Identifier: BSL-1.0
// The loop driven by another event loop: step() and the host's half of the
// wake protocol. See include/asynclink/loop.hpp and docs/embedding.md.
#include <string>

#include "asynclink/errors.hpp"
#include "asynclink/loop.hpp"

namespace asynclink {

// An embedded loop sleeps in the host loop, not in port::Idle::wait: step()
// announces the sleep as wait_for_work() does (sleeping_ = true, fence F2,
// re-check), then returns to the host instead of waiting. The protocol at
// Loop::wait_for_work holds unchanged: a post after F2 finds sleeping_ and
// writes the wake handle, which makes descriptor() readable (the wake
// eventfd sits in the epoll set); a post before F2 is seen by the re-check,
// and step() returns zero. The next step() ends the sleep and drains the
// idle (Idle::wait with a zero timeout), so the descriptor does not stay
// readable. A poster that took the wake duty may write the handle late, after
// that drain: the descriptor is then readable with nothing to do, which the
// host sees only after a step that announced a sleep again, and that step's
// successor drains it. One spurious step, never a busy host.
//
// Work the loop's own thread adds between two steps (a task readied by host
// code, a timer, a soon call) is not posted: wake_host() writes the wake
// handle itself, once per wait.

void Loop::bind_host_thread(const char* operation) {
    Loop*& current = port::current_loop();
    if (current == this) return;
    if (current != nullptr) {
        ASYNCLINK_THROW(UsageError, std::string(operation) +
                                        " called on a thread that runs another loop; one loop per thread: "
                                        "step each loop from its own thread");
    }
    if (host_thread_ != nullptr) {
        ASYNCLINK_THROW(UsageError, std::string(operation) +
                                        " called from a thread other than the one that steps the loop; a loop "
                                        "runs on one thread: use Loop::call_soon_threadsafe to reach it");
    }
    host_thread_ = &current;
    current = this;
}

std::optional<Clock::duration> Loop::step() {
    if (port::current_loop() == this && host_thread_ == nullptr) {
        ASYNCLINK_THROW(UsageError,
                        "Loop::step called on a loop that run() is running; a loop is either run or stepped by a "
                        "host event loop, not both");
    }
    bind_host_thread("Loop::step");
    if (stepping_ || running_ != nullptr) {
        ASYNCLINK_THROW(UsageError,
                        "Loop::step called inside the loop (from a task or a callback); only the host loop steps "
                        "it: to wait in a task, co_await");
    }
    struct Stepping {
        bool& flag;
        explicit Stepping(bool& f) noexcept : flag(f) { flag = true; }
        ~Stepping() { flag = false; }
    } stepping(stepping_);
    // After a wait the wake handle may hold a write: drain it with the ready
    // descriptors. Otherwise poll only if descriptors are watched.
    bool drain = host_ != HostState::running;
    if (drain) {
        core_->end_sleep();
        host_ = HostState::running;
    }
    counts_[Count::iterations].add_by_owner();
    take_posted_work();
    if (core_->scheduled_ready()) run_scheduled_callbacks();
    if (soon_calls_pending() || threadsafe_calls_posted()) run_threadsafe_calls();
    fire_timers();
    if (drain || io_watches_ != 0) core_->idle().wait(Clock::duration::zero());
    run_ready();
    return next_step_due();
}

std::optional<Clock::duration> Loop::next_step_due() {
    if (ready_.head != nullptr || high_ready_.head != nullptr || soon_calls_pending()) return Clock::duration::zero();
    std::optional<Clock::duration> due;
    if (!timers_.empty()) {
        due = timers_.front().deadline - Clock::now();
        if (due->count() <= 0) return Clock::duration::zero();
    }
    core_->announce_sleep();
    port::atomic_thread_fence(std::memory_order_seq_cst);  // F2, see Loop::wait_for_work
    if (core_->has_posted_work()) {
        core_->end_sleep();
        return Clock::duration::zero();
    }
    host_ = HostState::waiting;
    return due;
}

void Loop::wake_waiting_host() noexcept {
    host_ = HostState::woken;
    // A refused write is kept by the idle and thrown by the next step's drain.
    core_->idle().wake();
}

}  // namespace asynclink
