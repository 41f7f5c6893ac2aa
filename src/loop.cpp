// SPDX-License-Identifier: BSL-1.0
// The event loop. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/errors.hpp"
#include "asynclink/task.hpp"

namespace asynclink {

// ---------------------------------------------------------------- TaskBase

namespace detail {

bool TaskBase::cancel() noexcept {
    if (done) return false;
    // Already on its way to throw CancelledError: as in asyncio, further
    // cancels before it runs add nothing (a second one would hit its clean-up).
    if (cancel_delivering) return true;
    if (started && suspension != nullptr) {
        switch (suspension->cancel(*suspension)) {
        case CancelResult::resume_now:
            suspension = nullptr;
            cancel_delivering = true;
            loop->enqueue(*this);
            return true;
        case CancelResult::already_scheduled:
            suspension = nullptr;
            cancel_delivering = true;
            return true;
        case CancelResult::forwarded: return true;  // the suspension stays: a later cancel() forwards again
        case CancelResult::too_late: break;
        }
    }
    // Not started, running, or its wait already satisfied: the next suspension
    // point (or the first step) throws.
    cancel_requested = true;
    return true;
}

void TaskBase::wake() noexcept {
    suspension = nullptr;
    loop->enqueue(*this);
}

#if !ASYNCLINK_NO_EXCEPTIONS
std::exception_ptr TaskBase::exception() const noexcept { return root->error; }
#endif

void TaskBase::finish_cancelled() noexcept {
#if ASYNCLINK_NO_EXCEPTIONS
    cancelled = true;
#else
    root->error = std::make_exception_ptr(CancelledError());
#endif
    finish();
}

void TaskBase::finish() noexcept {
    done = true;
#if !ASYNCLINK_NO_EXCEPTIONS
    if (root->error) {
        try {
            std::rethrow_exception(root->error);
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (...) {
        }
    }
#endif
    // Wake every waiter: each enqueues its own task; none runs user code here.
    for (DoneWaiter* w = std::exchange(done_waiters, nullptr); w != nullptr;) {
        DoneWaiter* next = w->next;
        w->on_done(*w);
        w = next;
    }
    if (loop != nullptr) loop->task_finished(*this);
    release();  // the loop's reference
}

void TaskBase::release() noexcept {
    if (--refs != 0) return;
#if !ASYNCLINK_NO_EXCEPTIONS
    if (done && root->error && !cancelled && !outcome_observed) {
        if (loop != nullptr) {
            loop->report(root->error);
        } else {
            try {
                std::rethrow_exception(root->error);
            } catch (const CancelledError& e) {  // not a std::exception (see errors.hpp)
                std::fprintf(stderr, "asynclink: task exception was never retrieved: %s\n", e.what());
            } catch (const std::exception& e) {
                std::fprintf(stderr, "asynclink: task exception was never retrieved: %s\n", e.what());
            } catch (...) {
                std::fprintf(stderr, "asynclink: task exception was never retrieved (not a std::exception)\n");
            }
        }
    }
#endif
    if (loop != nullptr) loop->forget_task(*this);
    frame.destroy();
}

}  // namespace detail

// ---------------------------------------------------------------- Loop

namespace {
std::uint64_t next_loop_id() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    // Relaxed: only uniqueness matters, which the RMW gives by itself.
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace

Loop::Loop(LoopOptions options)
    : options_(options),
      id_(next_loop_id()),
      spin_budget_(options.spin_before_sleep),
      core_(detail::WakeCore::create(*this, options.schedule_capacity)) {
    now_ = Clock::now();
}

// The end, in an order that keeps every promise without waiting for anyone:
//   1. shutdown: the pending tasks are cancelled and run to their end;
//   2. drain: what was posted meanwhile runs, again until nothing is left (a
//      call that posts another is accepted, so it must run too);
//   3. close: each list and the schedule() ring is closed by one atomic step
//      that also takes what it held, and that runs; a post after that step is
//      refused (false, or UsageError), so nothing is accepted and dropped;
//   4. the core reference goes. A poster still inside post() or schedule()
//      holds the core alive itself (a primitive's slot, a Handle, a job's
//      reference), so there is no poster to wait for.
Loop::~Loop() {
    if (pending_count_ != 0) {
        Loop*& current = port::current_loop();
        Loop* outer = current;
        if (outer == nullptr || outer == this) {
            current = this;
            shutdown();
            current = outer;
        }
    }
    while (run_posted_work()) {
    }
    close();
    // Handles may outlive the loop; they must no longer point at it.
    for (detail::TaskBase* t = tasks_; t != nullptr; t = t->next_in_loop) t->loop = nullptr;
    core_->release();
}

Loop& Loop::current() {
    Loop* loop = port::current_loop();
    if (loop == nullptr) {
        ASYNCLINK_THROW(UsageError,
                        "no loop is running on this thread; use run() to start one, or Loop::call_soon_threadsafe "
                        "to reach a loop running elsewhere");
    }
    return *loop;
}

void Loop::check_thread(const char* operation, const char* alternative) const {
    if (port::current_loop() == this) return;
    ASYNCLINK_THROW(UsageError,
                    std::string(operation) + " called from a thread that is not running its loop; use " + alternative);
}

void Loop::enqueue(detail::TaskBase& task) noexcept {
    task.in_ready_queue = true;
    task.next_ready = nullptr;
    if (ready_tail_ != nullptr) {
        ready_tail_->next_ready = &task;
    } else {
        ready_head_ = &task;
    }
    ready_tail_ = &task;
}

void Loop::adopt(detail::TaskBase& task) noexcept {
    task.next_in_loop = tasks_;
    if (tasks_ != nullptr) tasks_->prev_in_loop = &task;
    tasks_ = &task;
    ++pending_count_;
}

void Loop::task_finished(detail::TaskBase&) noexcept { --pending_count_; }

void Loop::forget_task(detail::TaskBase& task) noexcept {
    if (task.prev_in_loop != nullptr) {
        task.prev_in_loop->next_in_loop = task.next_in_loop;
    } else {
        tasks_ = task.next_in_loop;
    }
    if (task.next_in_loop != nullptr) task.next_in_loop->prev_in_loop = task.prev_in_loop;
    if (!task.done) --pending_count_;
}

#if ASYNCLINK_PORT_HAS_THREADS
void Loop::set_exception_handler(std::function<void(std::exception_ptr)> handler) {
    check_thread("Loop::set_exception_handler", "Loop::call_soon_threadsafe");
    exception_handler_ = std::move(handler);
}
#endif

template <class F>
void Loop::call_reporting(F&& f) noexcept {
#if ASYNCLINK_NO_EXCEPTIONS
    f();
#else
    try {
        f();
    } catch (...) {
        report(std::current_exception());
    }
#endif
}

#if !ASYNCLINK_NO_EXCEPTIONS

void Loop::report(std::exception_ptr error) noexcept {
#if ASYNCLINK_PORT_HAS_THREADS
    if (exception_handler_) {
        try {
            exception_handler_(error);
            return;
        } catch (...) {
            std::fprintf(stderr, "asynclink: the exception handler itself threw\n");
        }
    }
#endif
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& e) {  // not a std::exception (see errors.hpp)
        std::fprintf(stderr, "asynclink: unhandled exception: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asynclink: unhandled exception: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "asynclink: unhandled exception (not a std::exception)\n");
    }
}
#endif

// --- timers: a binary min-heap with each node's index kept in the node, so a
// cancelled sleep leaves the heap in O(log n). Sifting moves a hole and writes
// each entry once, instead of swapping pairs.

void Loop::add_timer(detail::TimerNode& timer) {
    if (timers_.full()) port::fatal("asynclink: more timers pending than the port's max_timers");
    timers_.push_back(TimerEntry{timer.deadline, timer_sequence_++, &timer});
    sift_up(timers_.size() - 1, timers_.back());
}

void Loop::remove_timer(detail::TimerNode& timer) noexcept {
    std::size_t i = timer.heap_index;
    if (i == detail::TimerNode::not_queued) return;
    timer.heap_index = detail::TimerNode::not_queued;
    TimerEntry last = timers_.back();
    timers_.pop_back();
    if (i == timers_.size()) return;  // it was the last entry
    sift_down_then_up(i, last);
}

void Loop::sift_up(std::size_t hole, TimerEntry entry) noexcept {
    while (hole > 0) {
        std::size_t parent = (hole - 1) / 2;
        if (!earlier(entry, timers_[parent])) break;
        place_timer(hole, timers_[parent]);
        hole = parent;
    }
    place_timer(hole, entry);
}

// Floyd's variant: the entry refilling a hole came from the bottom of the heap
// and nearly always belongs near it again, so the hole first sinks to a leaf
// along the earlier child (one comparison per level instead of two), then the
// entry rises from there as far as it must: usually a level or none, above the
// original hole when that was mid-heap and the entry is earlier than its parent.
void Loop::sift_down_then_up(std::size_t hole, TimerEntry entry) noexcept {
    std::size_t size = timers_.size();
    for (std::size_t child = 2 * hole + 1; child < size; child = 2 * hole + 1) {
        if (child + 1 < size && earlier(timers_[child + 1], timers_[child])) ++child;
        place_timer(hole, timers_[child]);
        hole = child;
    }
    sift_up(hole, entry);
}

void Loop::fire_timers() {
    if (timers_.empty()) return;
    now_ = Clock::now();
    while (!timers_.empty() && timers_.front().deadline <= now_) {
        detail::TimerNode* t = timers_.front().node;
        remove_timer(*t);
        t->fire(*t);
    }
}

// --- work posted from other contexts (the remote-wake state lives in the
// wake core: detail/wake_core.hpp, src/wake_core.cpp).

void Loop::run_nodes(detail::RemoteNode* fifo) noexcept {
    while (fifo != nullptr) {
        detail::RemoteNode* node = fifo;
        fifo = node->next;
        // acq_rel RMW: reads from the `true` of any post that coalesced into
        // this one, so the state that post published is visible to run() below.
        // Cleared before run(): a state change after this point posts again.
        node->queued.exchange(false, std::memory_order_acq_rel);
        node->run(*node);
    }
}

void Loop::take_posted_work() noexcept { run_nodes(core_->take_posted()); }

void Loop::drain_notifications() noexcept { take_posted_work(); }

void Loop::run_scheduled_callbacks() {
    // Only the callbacks present now: one that re-schedules itself runs at the
    // next iteration, so tasks are not starved.
    std::size_t end = core_->scheduled_end();
    void (*fn)(void*);
    void* arg;
    while (core_->pop_scheduled(end, fn, arg)) call_reporting([&] { fn(arg); });
}

#if ASYNCLINK_PORT_HAS_THREADS

void Loop::call_soon(std::function<void()> fn) {
    check_thread("Loop::call_soon", "Loop::call_soon_threadsafe");
    if (!fn) ASYNCLINK_THROW(UsageError, "call_soon() given an empty function");
    soon_calls_.push_back(std::move(fn));
}

void Loop::run_calls(detail::PostedCall* fifo) noexcept {
    while (fifo != nullptr) {
        detail::PostedCall* call = fifo;
        fifo = call->next;
        call_reporting(call->fn);
        delete call;
    }
}

void Loop::run_threadsafe_calls() {
    // Nothing queued is the common case, paid on every iteration: leave
    // before building a batch.
    if (soon_calls_.empty() && !core_->calls_posted()) return;
    // Only the calls present now; each kind runs in the order it came.
    std::vector<std::function<void()>> soon;
    soon.swap(soon_calls_);
    detail::PostedCall* posted = core_->take_calls();
    for (auto& f : soon) call_reporting(f);
    run_calls(posted);
}
#else
void Loop::run_threadsafe_calls() {}
#endif

// Runs what other contexts posted, and the soon calls: true if anything ran.
bool Loop::run_posted_work() noexcept {
    bool ran = core_->has_posted_work() || soon_calls_pending();
    call_reporting([&] {
        take_posted_work();
        run_scheduled_callbacks();
        run_threadsafe_calls();
    });
    return ran;
}

void Loop::close() noexcept {
    run_nodes(core_->close_posted());
#if ASYNCLINK_PORT_HAS_THREADS
    run_calls(core_->close_calls());
#endif
    std::size_t end = core_->close_schedule();
    void (*fn)(void*);
    void* arg;
    while (core_->pop_closing(end, fn, arg)) call_reporting([&] { fn(arg); });
    // What the calls above queued on this thread still runs; a post to
    // another context's primitive is refused from now on.
    while (soon_calls_pending()) call_reporting([&] { run_threadsafe_calls(); });
}

// --- running

void Loop::resume(detail::TaskBase& task) noexcept {
    task.in_ready_queue = false;
    [[maybe_unused]] bool cancelling = std::exchange(task.cancel_delivering, false);
    if (!task.started) {
        task.started = true;
        if (task.cancel_requested) {
            // Cancelled before it ever ran: like asyncio, the body never starts.
            task.cancel_requested = false;
            task.finish_cancelled();
            return;
        }
    }
#if ASYNCLINK_NO_EXCEPTIONS
    // Without exceptions a cancellation is not thrown at the suspension point:
    // the task ends there, never resumed (see detail/config.hpp).
    if (cancelling) {
        task.finish_cancelled();
        return;
    }
    // A cancel() that came while the task ran, or after its wait was already
    // satisfied, takes effect at the suspension point the task reaches now.
    // The extra reference keeps its state alive if it finishes meanwhile.
    task.add_ref();
    task.resume_point.resume();
    if (!task.done && task.cancel_requested) {
        task.cancel_requested = false;
        task.cancel();
    }
    task.release();
#else
    task.resume_point.resume();
#endif
}

void Loop::run_ready() {
    // Run only the tasks ready now; those they wake run next iteration, after
    // posted work and timers had their turn.
    detail::TaskBase* batch = ready_head_;
    ready_head_ = ready_tail_ = nullptr;
    while (batch != nullptr) {
        detail::TaskBase* task = batch;
        batch = task->next_ready;
        resume(*task);
    }
}

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
//
// Idle: spin for posted work while spinning has recently paid off, then sleep.
//
// The spin budget adapts so that an idle loop costs no CPU: after a sleep that
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
    std::atomic_thread_fence(std::memory_order_seq_cst);  // F2
    if (core_->has_posted_work()) {
        core_->end_sleep();
        return;
    }
    core_->idle().wait(timeout);
    core_->end_sleep();
    if constexpr (!port::idle_spins) return;
    // The poster's time is the low 32 bits of the clock's ticks: the
    // difference modulo 2^32 is exact for the microseconds that matter here,
    // and a stale value (from before this idle period) comes out huge.
    auto posted_after_idle = static_cast<std::uint32_t>(
        core_->wake_posted_at() - static_cast<std::uint32_t>(idle_start.time_since_epoch().count()));
    bool cut_short = posted_after_idle <= options_.spin_before_sleep.count() && core_->has_posted_work();
    if (cut_short) {
        spin_budget_ = options_.spin_before_sleep;
    } else {
        spin_budget_ /= 2;
        if (spin_budget_ < std::chrono::microseconds(1)) spin_budget_ = Clock::duration::zero();
    }
}

// The spin of wait_for_work(): true if posted work arrived during it.
bool Loop::spin_for_posted_work(std::optional<Clock::duration> timeout) noexcept {
    if (spin_skip_ > 0) {
        --spin_skip_;
        return false;
    }
    if (spin_budget_.count() == 0 || (timeout && *timeout <= spin_budget_)) return false;
    detail::SpinWait spin(spin_budget_);
    bool found = false;
    while (!found && spin.once()) found = core_->has_posted_work();
    if (spin.overran()) {
        // A CPU-bound thread shares this CPU: each yield in the spin gave it a
        // time slice (milliseconds), far more than a sleep-and-wake costs. Skip
        // the spin for the next idle periods, twice as many each time it
        // happens again (16 to 4096), so a loop sharing its CPU with such a
        // thread sleeps at once nearly always.
        spin_penalty_ = std::clamp<std::uint32_t>(spin_penalty_ * 2, 16, 4096);
        spin_skip_ = spin_penalty_;
    } else if (found) {
        spin_penalty_ /= 2;  // spinning pays again: forgive, gradually
    }
    return found;
}

void Loop::run_once(const detail::TaskBase& until) {
    take_posted_work();
    // The callback queues are empty on almost every iteration, and one load
    // each says so: an iteration that only resumes tasks calls neither routine.
    // Hints; the routines re-read with the ordering they need. A callback
    // missed here runs at the next iteration, and the loop re-checks after
    // fence F2 before it sleeps.
    if (core_->scheduled_ready()) run_scheduled_callbacks();
    if (soon_calls_pending() || threadsafe_calls_posted()) run_threadsafe_calls();
    fire_timers();
    if (ready_head_ == nullptr && !until.done && !soon_calls_pending()) {
        std::optional<Clock::duration> timeout;
        if (!timers_.empty()) timeout = timers_.front().deadline - Clock::now();
        wait_for_work(timeout);
        return;
    }
    if (io_watches_ != 0) core_->idle().wait(Clock::duration::zero());
    run_ready();
}

void Loop::run_until_done(detail::TaskBase& task) {
    check_thread("Loop::run_until_done", "run() on the thread that should run the loop");
    while (!task.done) run_once(task);
}

void Loop::shutdown() noexcept {
    // asyncio.run's epilogue: cancel what is still pending and let it finish,
    // so every task's clean-up runs and nothing is silently dropped.
    // Cancelled once, as asyncio does: a task may await during its clean-up.
    // A task that ignores cancellation and never ends keeps the loop running.
    for (detail::TaskBase* t = tasks_; t != nullptr; t = t->next_in_loop) {
        if (!t->done) t->cancel();
    }
    detail::TaskBase never;  // a sentinel that never finishes
    while (pending_count_ != 0) call_reporting([&] { run_once(never); });
    // A call that schedule() or call_soon_threadsafe() accepted runs before
    // the loop ends: an accepted call is never dropped (and ~Loop runs those
    // accepted after this, up to its close).
    call_reporting([&] {
        run_scheduled_callbacks();
        run_threadsafe_calls();
    });
}

}  // namespace asynclink
