// SPDX-License-Identifier: BSL-1.0
// The event loop: construction and the end, tasks, posted work, running.
// Timers are in loop_timers.cpp, going idle in loop_idle.cpp, the task
// state in task_base.cpp. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/errors.hpp"
#include "asynclink/task.hpp"
#include "asynclink/trace.hpp"

namespace asynclink {

namespace {
#if ASYNCLINK_PORT_HAS_THREADS
// ASYNCLINK_STALL_MS=<milliseconds>: the stall detector for loops that did
// not set LoopOptions::stall_threshold (as PYTHONASYNCIODEBUG turns on
// asyncio's slow-callback warning). Anything but a positive number: off.
Clock::duration stall_threshold_from_environment() noexcept {
    // getenv races only with a setenv, which asynclink never calls; a program
    // that does while its loops start races with itself already.
    // NOLINTNEXTLINE(concurrency-mt-unsafe): see above
    const char* text = std::getenv("ASYNCLINK_STALL_MS");
    if (text == nullptr) return Clock::duration::zero();
    long ms = std::strtol(text, nullptr, 10);
    return ms > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms))
                  : Clock::duration::zero();
}

void print_stall(const TaskStall& stall) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    std::fprintf(stderr, "asynclink: task '%s' ran %lld ms without yielding (threshold %lld ms)\n",
                 stall.task_name.c_str(), static_cast<long long>(duration_cast<milliseconds>(stall.ran_for).count()),
                 static_cast<long long>(duration_cast<milliseconds>(stall.threshold).count()));
}
#endif

/// The options with the stall threshold from the environment (if they leave
/// it zero); throws UsageError for a negative threshold or a spin outside
/// [0, 1 s].
LoopOptions checked(LoopOptions options) {
#if ASYNCLINK_PORT_HAS_THREADS
    if (options.stall_threshold == Clock::duration::zero())
        options.stall_threshold = stall_threshold_from_environment();
#endif
    if (options.stall_threshold < Clock::duration::zero()) {
        ASYNCLINK_THROW(UsageError, "LoopOptions::stall_threshold is negative; zero turns the detector off");
    }
    if constexpr (port::idle_spins) {
        if (options.spin_before_sleep < Clock::duration::zero() ||
            options.spin_before_sleep > detail::SpinBudget::longest) {
            ASYNCLINK_THROW(UsageError, "LoopOptions::spin_before_sleep must be between 0 and 1 s; zero never spins");
        }
    }
    return options;
}

std::uint64_t next_loop_id() noexcept {
    static port::atomic<std::uint64_t> counter{0};
    // Relaxed: only uniqueness matters, which the RMW gives by itself.
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}
}  // namespace

Loop::Loop(LoopOptions options)
    // The options are checked before the core exists: nothing to undo if they throw.
    : options_(checked(options)),
      id_(next_loop_id()),
      spin_(options_.spin_before_sleep),
      core_(detail::WakeCore::create(*this, options.schedule_capacity)) {
    now_ = Clock::now();
#if ASYNCLINK_PORT_HAS_THREADS
    stall_handler_ = &print_stall;
#endif
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
    // An embedded loop's thread names it as its loop (see step()): that thread
    // alone may end it, and stops naming it at the end.
    if (host_thread_ != nullptr && host_thread_ != &port::current_loop()) {
        port::fatal(
            "asynclink: an embedded Loop (stepped by a host event loop) destroyed on a thread other than the one "
            "that steps it; destroy it on that thread");
    }
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
    if (host_thread_ != nullptr && port::current_loop() == this) port::current_loop() = nullptr;
    // Handles may outlive the loop; they must no longer point at it.
    for (detail::TaskBase* t = tasks_; t != nullptr; t = t->next_in_loop) t->loop = nullptr;
#if ASYNCLINK_PORT_HAS_THREADS
    // Callbacks still waiting for their time are dropped unrun, as asyncio's.
    while (detail::CallbackTimer* t = callback_timers_) {
        unlink(*t);
        t->cancelled = true;
        t->release();
    }
#endif
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
    ReadyQueue& q = task.priority == Priority::high ? high_ready_ : ready_;
    if (q.tail != nullptr) {
        q.tail->next_ready = &task;
    } else {
        q.head = &task;
    }
    q.tail = &task;
    wake_host();
}

void Loop::adopt(detail::TaskBase& task) noexcept {
    task.next_in_loop = tasks_;
    if (tasks_ != nullptr) tasks_->prev_in_loop = &task;
    tasks_ = &task;
    ++pending_count_;
    task.number = ++tasks_made_;
    if (task.priority == Priority::high) ++high_tasks_;
#if ASYNCLINK_TRACE
    if (trace::detail::on()) [[unlikely]]
        trace::detail::record_task_created(task);
#endif
}

void Loop::task_finished(detail::TaskBase& task) noexcept {
    --pending_count_;
    if (task.priority == Priority::high) --high_tasks_;
}

void Loop::forget_task(detail::TaskBase& task) noexcept {
    if (task.prev_in_loop != nullptr) {
        task.prev_in_loop->next_in_loop = task.next_in_loop;
    } else {
        tasks_ = task.next_in_loop;
    }
    if (task.next_in_loop != nullptr) task.next_in_loop->prev_in_loop = task.prev_in_loop;
    if (!task.done()) task_finished(task);
}

void Loop::set_stall_handler(StallHandler handler) {
    check_thread("Loop::set_stall_handler", "Loop::call_soon_threadsafe");
    stall_handler_ = std::move(handler);
}

void Loop::set_stall_threshold(Clock::duration threshold) {
    check_thread("Loop::set_stall_threshold", "Loop::call_soon_threadsafe");
    if (threshold < Clock::duration::zero()) {
        ASYNCLINK_THROW(UsageError, "Loop::set_stall_threshold given a negative duration; zero turns the detector off");
    }
    options_.stall_threshold = threshold;
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

void Loop::report(const std::exception_ptr& error) noexcept {
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
#if ASYNCLINK_TRACE
        // Relaxed: the exchange above ordered the poster's store before us.
        if (trace::detail::on()) [[unlikely]]
            trace_cause_ = node->trace_flow.exchange(0, std::memory_order_relaxed);
#endif
        counts_[Count::posts].add_by_owner();
        node->run(*node);
#if ASYNCLINK_TRACE
        trace_cause_ = 0;
#endif
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
    std::uint32_t flow = 0;
    while (core_->pop_scheduled(end, fn, arg, flow)) {
#if ASYNCLINK_TRACE
        trace_cause_ = flow;
#endif
        counts_[Count::posts].add_by_owner();
        call_reporting([&] { fn(arg); });
    }
#if ASYNCLINK_TRACE
    trace_cause_ = 0;
#endif
}

#if ASYNCLINK_PORT_HAS_THREADS

void Loop::call_soon(std::function<void()> fn) {
    check_thread("Loop::call_soon", "Loop::call_soon_threadsafe");
    if (!fn) ASYNCLINK_THROW(UsageError, "call_soon() given an empty function");
    soon_calls_.push_back(std::move(fn));
    wake_host();
}

void Loop::run_calls(detail::PostedCall* fifo) noexcept {
    while (fifo != nullptr) {
        detail::PostedCall* call = fifo;
        fifo = call->next;
#if ASYNCLINK_TRACE
        trace_cause_ = call->trace_flow;
#endif
        counts_[Count::posts].add_by_owner();
        call_reporting(call->fn);
        delete call;
    }
#if ASYNCLINK_TRACE
    trace_cause_ = 0;
#endif
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
    [[maybe_unused]] bool cancelling = task.cancel_state == detail::CancelState::delivering;
    if (cancelling) task.cancel_state = detail::CancelState::none;
    if (task.state == detail::TaskState::created) {
        if (task.take_cancel_request()) {
            // Cancelled before it ever ran: like asyncio, the body never starts.
            task.finish_cancelled();
            return;
        }
        task.state = detail::TaskState::pending;
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
    detail::TaskBase* outer = std::exchange(running_, &task);
    if (timing_this_batch()) [[unlikely]] {
        run_timed(task);
    } else {
        task.resume_point.resume();
    }
    running_ = outer;
    if (!task.done() && task.take_cancel_request()) {
        task.cancel();
    }
    task.release();
#else
    if (cancelling && task.ends_where_cancelled) {
        // Throwing CancelledError through the frame and classifying it in
        // finish() costs two unwinds; the body has nothing to run on the way.
        task.finish_cancelled();
        return;
    }
    detail::TaskBase* outer = std::exchange(running_, &task);
    if (timing_this_batch()) [[unlikely]] {
        // The extra reference keeps the task's state (in its frame) alive
        // for the slice's end if it finishes meanwhile.
        task.add_ref();
        run_timed(task);
        running_ = outer;
        task.release();
    } else {
        task.resume_point.resume();
        running_ = outer;
    }
#endif
}

// One clock read per slice: a slice runs from the previous one's end (or the
// start of the batch, see run_ready) to now, which includes the loop's own
// few instructions between two tasks.
void Loop::run_timed(detail::TaskBase& task) noexcept {
    // No mark: timing began during this batch; this slice pays a read of its own.
    Clock::time_point begin = slice_mark_ != Clock::time_point{} ? slice_mark_ : Clock::now();
    task.resume_point.resume();
    Clock::time_point end = Clock::now();
    slice_mark_ = end;
#if ASYNCLINK_TRACE
    if (trace::detail::on()) trace::detail::record_slice(id_, task, begin, end);
#endif
    Clock::duration ran_for = end - begin;
    if (options_.stall_threshold != Clock::duration::zero() && ran_for > options_.stall_threshold) [[unlikely]] {
        report_stall(task, ran_for);
    }
}

void Loop::report_stall(detail::TaskBase& task, Clock::duration ran_for) noexcept {
#if ASYNCLINK_TRACE
    if (trace::detail::on()) trace::detail::record_stall(task, ran_for);
#endif
    if (!stall_handler_) return;
#if ASYNCLINK_PORT_HAS_THREADS
    // The name is copied (a handler may keep the report): not the hot path.
    call_reporting([&] { stall_handler_(TaskStall{detail::task_name(task), ran_for, options_.stall_threshold}); });
#else
    stall_handler_(TaskStall{detail::task_name(task), ran_for, options_.stall_threshold});
#endif
}

void Loop::run_ready() {
    // Run only the tasks ready now; those they wake run next iteration, after
    // posted work and timers had their turn. High-priority tasks go first,
    // and while any exist, again between two normal tasks: a wake-up posted
    // meanwhile (an interrupt's set()) is taken at once, so a high task it
    // readies runs after the one normal task, not after the whole batch.
    // A mark from an earlier batch would time this batch's first slice from
    // then (when timing starts mid-batch: trace::start, set_stall_threshold).
    bool timing = timing_slices();
#if ASYNCLINK_TRACE
    timing_batch_ = timing;
#endif
    slice_mark_ = timing ? Clock::now() : Clock::time_point{};
    if (high_ready_.head != nullptr) run_high_ready();
    for (detail::TaskBase* batch = ready_.take(); batch != nullptr;) {
        detail::TaskBase* task = std::exchange(batch, batch->next_ready);
        resume(*task);
        if (high_tasks_ != 0) [[unlikely]] {
            if (core_->nodes_posted()) {
                take_posted_work();
                if (timing_slices()) slice_mark_ = Clock::now();
            }
            run_high_ready();
        }
    }
}

void Loop::run_high_ready() {
    for (detail::TaskBase* batch = high_ready_.take(); batch != nullptr;) {
        resume(*std::exchange(batch, batch->next_ready));
    }
}

void Loop::run_once(const detail::TaskBase& until) {
    counts_[Count::iterations].add_by_owner();
    take_posted_work();
    // The callback queues are empty on almost every iteration, and one load
    // each says so: an iteration that only resumes tasks calls neither routine.
    // Hints; the routines re-read with the ordering they need. A callback
    // missed here runs at the next iteration, and the loop re-checks after
    // fence F2 before it sleeps.
    if (core_->scheduled_ready()) run_scheduled_callbacks();
    if (soon_calls_pending() || threadsafe_calls_posted()) run_threadsafe_calls();
    if (!timers_.empty()) fire_timers();  // the check inline: most iterations have no timer
    if (ready_.head == nullptr && high_ready_.head == nullptr && !until.done() && !soon_calls_pending()) {
        std::optional<Clock::duration> timeout;
        if (!timers_.empty()) timeout = timers_.front().deadline - Clock::now();
        wait_for_work(timeout);
        return;
    }
    if (io_watches_ != 0) core_->idle().wait(Clock::duration::zero());
    run_ready();
}

LoopStats Loop::stats() const noexcept {
    LoopStats s{.iterations = counts_[Count::iterations].get(),
                .sleeps = counts_[Count::sleeps].get(),
                .woken_by_posts = counts_[Count::posts].get(),
                .woken_by_timers = counts_[Count::timers].get(),
                .woken_by_io = counts_[Count::io].get(),
                .scheduled = core_->scheduled(),
                .schedule_refused = core_->schedule_refused(),
                .wake_latency = {},
                .timer_lateness = {}};
    for (std::size_t b = 0; b < Log2Histogram::buckets; ++b) {
        s.wake_latency.counts[b] = counts_.at(Count::wake_latency, b).get();
        s.timer_lateness.counts[b] = counts_.at(Count::timer_lateness, b).get();
    }
    return s;
}

void Loop::run_until_done(detail::TaskBase& task) {
    check_thread("Loop::run_until_done", "run() on the thread that should run the loop");
    while (!task.done()) run_once(task);
}

void Loop::shutdown() noexcept {
    // asyncio.run's epilogue: cancel what is still pending and let it finish,
    // so every task's clean-up runs and nothing is silently dropped.
    // Cancelled once, as asyncio does: a task may await during its clean-up.
    // A task that ignores cancellation and never ends keeps the loop running.
    for (detail::TaskBase* t = tasks_; t != nullptr; t = t->next_in_loop) {
        if (!t->done()) t->cancel();
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
