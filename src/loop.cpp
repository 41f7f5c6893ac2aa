// SPDX-License-Identifier: BSL-1.0
// The event loop: construction and the end, tasks, posted work, running.
// Timers are in loop_timers.cpp, going idle in loop_idle.cpp, the task
// state in task_base.cpp. See include/asynclink/loop.hpp.
#include "asynclink/loop.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/errors.hpp"
#include "asynclink/task.hpp"

namespace asynclink {

namespace {
std::uint64_t next_loop_id() noexcept {
    static port::atomic<std::uint64_t> counter{0};
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
    wake_host();
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
    task.resume_point.resume();
    running_ = outer;
    if (!task.done() && task.take_cancel_request()) {
        task.cancel();
    }
    task.release();
#else
    detail::TaskBase* outer = std::exchange(running_, &task);
    task.resume_point.resume();
    running_ = outer;
#endif
}

void Loop::run_ready() {
    // Run only the tasks ready now; those they wake run next iteration, after
    // posted work and timers had their turn. High-priority tasks go first,
    // and while any exist, again between two normal tasks: a wake-up posted
    // meanwhile (an interrupt's set()) is taken at once, so a high task it
    // readies runs after the one normal task, not after the whole batch.
    run_high_ready();
    for (detail::TaskBase* batch = ready_.take(); batch != nullptr;) {
        detail::TaskBase* task = std::exchange(batch, batch->next_ready);
        resume(*task);
        if (high_tasks_ != 0) [[unlikely]] {
            if (core_->nodes_posted()) take_posted_work();
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
    take_posted_work();
    // The callback queues are empty on almost every iteration, and one load
    // each says so: an iteration that only resumes tasks calls neither routine.
    // Hints; the routines re-read with the ordering they need. A callback
    // missed here runs at the next iteration, and the loop re-checks after
    // fence F2 before it sleeps.
    if (core_->scheduled_ready()) run_scheduled_callbacks();
    if (soon_calls_pending() || threadsafe_calls_posted()) run_threadsafe_calls();
    fire_timers();
    if (ready_.head == nullptr && high_ready_.head == nullptr && !until.done() && !soon_calls_pending()) {
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
