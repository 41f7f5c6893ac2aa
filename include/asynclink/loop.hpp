// SPDX-License-Identifier: BSL-1.0
/// @file
/// The event loop: one per thread, single-threaded, asyncio's model.
///
/// | method                | task | other loop | thread | signal handler / ISR |
/// |-----------------------|------|------------|--------|----------------------|
/// | current()             | yes  | -          | -      | -                    |
/// | schedule(fn, arg)     | yes  | yes        | yes    | yes                  |
/// | call_soon_threadsafe  | yes  | yes        | yes    | no (allocates)       |
/// | handle()              | yes  | yes        | yes    | no                   |
/// | call_soon             | yes  | no         | no     | no                   |
/// | call_later / call_at  | yes  | no         | no     | no                   |
/// | set_exception_handler | yes  | no         | no     | no                   |
/// | set_stall_handler     | yes  | no         | no     | no                   |
/// | set_stall_threshold   | yes  | no         | no     | no                   |
/// | step / create_task    | host | no         | no     | no                   |
/// | descriptor()          | yes  | yes        | yes    | yes                  |
/// | stats()               | yes  | yes        | yes    | yes                  |
///
/// A loop-only method called from a thread that is not running the loop throws
/// UsageError naming the thread-safe alternative instead of corrupting it.
///
/// A context that may post while the loop ends (a thread that schedules work
/// for whichever loop is running) holds a Loop::Handle: it keeps the loop's
/// wake core alive, and once the loop has ended its schedule() returns false
/// and its call_soon_threadsafe() throws UsageError ("the loop is closed"). A
/// call accepted (true, or no exception) always runs, at the latest in ~Loop.
///
/// Embedded in another event loop (an Asio io_context, libuv, GLib: see
/// docs/embedding.md), the loop has no thread of its own: the host loop's
/// thread calls step() whenever descriptor() is readable or the time step()
/// asked for has come ("host" in the table: that thread, between steps, or a
/// task). The first step() or create_task() binds the loop to the calling
/// thread, which from then on counts as running it (Loop::current(),
/// create_task() and the loop-only methods work there between steps); a
/// step() from another thread throws UsageError. Destroy an embedded loop on
/// that thread.
///
/// On a port without threads (ASYNCLINK_PORT_HAS_THREADS 0: bare metal) the
/// std::function methods (call_soon_threadsafe, call_soon,
/// set_exception_handler) do not exist; schedule() is the way in from an ISR or
/// another core there.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "asynclink/detail/array_store.hpp"
#include "asynclink/detail/config.hpp"
#include "asynclink/detail/counter.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/detail/spin_wait.hpp"
#include "asynclink/detail/task_base.hpp"
#include "asynclink/detail/timer_node.hpp"
#include "asynclink/detail/wake_core.hpp"
#include "asynclink/port/port.hpp"
#include "asynclink/stats.hpp"
#include "asynclink/trace.hpp"

#if ASYNCLINK_PORT_HAS_THREADS
#include <functional>
#include <string>
#include <vector>

#include "asynclink/timer_handle.hpp"
#endif

namespace asynclink {

template <class T>
class Task;
template <class T>
class TaskHandle;

/// A task that ran longer than LoopOptions::stall_threshold without reaching
/// a suspension point (asyncio debug mode's slow_callback_duration).
struct TaskStall {
#if ASYNCLINK_PORT_HAS_THREADS
    std::string task_name;
#else
    const char* task_name;
#endif
    Clock::duration ran_for;
    Clock::duration threshold;
};
#if ASYNCLINK_PORT_HAS_THREADS
using StallHandler = std::function<void(const TaskStall&)>;
#else
using StallHandler = void (*)(const TaskStall&);
#endif

struct LoopOptions {
    /// Capacity of the soft-ISR queue behind schedule(); a power of two.
    std::size_t schedule_capacity = 64;
    /// The longest an idle loop polls for posted work (a thread-safe
    /// primitive's wake-up, schedule(), call_soon_threadsafe()) before it
    /// sleeps in the kernel. Polling answers a thread that replies within a few
    /// microseconds without the tens of microseconds a sleep-and-wake costs;
    /// the loop polls only while that keeps happening (the budget adapts, see
    /// src/loop_idle.cpp), so an idle loop, or one woken now and then, costs no CPU.
    /// Zero: always sleep at once; UsageError outside [0, 1 s]. Ignored on a
    /// port that never polls (port::idle_spins false: Cortex-M).
    Clock::duration spin_before_sleep = detail::spin_before_block;
    /// A task that runs longer than this between two suspension points is
    /// reported to the stall handler (Loop::set_stall_handler; by default a
    /// line on stderr) and recorded in the trace. Zero (the default): off,
    /// unless the environment says otherwise (below). Measured when the slice
    /// ends, with one clock read per slice, which is not free: about 40 ns on
    /// the benchmark machine, more than a whole yield (docs/benchmarks.md).
    /// So, like asyncio's slow-callback warning outside debug mode, it is off
    /// unless asked for. recommended_stall_threshold (100 ms, asyncio's
    /// slow_callback_duration) is a good value. On a port with threads, the
    /// environment variable `ASYNCLINK_STALL_MS=100` (milliseconds) turns it on for
    /// every loop that leaves this zero, without recompiling.
    Clock::duration stall_threshold = Clock::duration::zero();
    static constexpr Clock::duration recommended_stall_threshold = std::chrono::milliseconds(100);
};

namespace detail {
struct LoopAccess;
}

class Loop {
public:
    explicit Loop(LoopOptions options = {});
    /// Cancels and finishes every pending task (running them to completion),
    /// runs every call schedule() or call_soon_threadsafe() accepted (also
    /// those accepted meanwhile), then closes: from then on posts are refused.
    /// Detaches the task handles that outlive it.
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// The loop running on this thread. Throws UsageError if there is none.
    static Loop& current();
    static Loop* current_or_null() noexcept { return port::current_loop(); }
    bool is_running_here() const noexcept { return port::current_loop() == this; }

    /// Runs this loop on the calling thread until `main` finishes, then cancels
    /// the tasks still pending and runs them until they end (asyncio.run).
    /// Returns main's result or rethrows its exception.
    template <class T>
    T run_until_complete(Task<T> main);

    /// The soft-ISR mechanism (micropython.schedule): queues fn(arg) to run on
    /// the loop between tasks. Lock-free, allocation-free, async-signal-safe.
    /// Returns false when the queue is full or the loop has closed (the call
    /// is not queued). The Loop must be alive when the call begins; the call
    /// itself may end the loop before it returns (its callback runs and the
    /// loop finishes). From a context that may race the loop's end for other
    /// reasons, use a Handle.
    bool schedule(void (*fn)(void*), void* arg) noexcept {
        // An interrupt handler on one core: the loop cannot end before it returns.
        if (port::runs_alone()) return core_->schedule(fn, arg);
        // The core stays alive until we leave it, even if the loop ends
        // meanwhile; a last reference dropped here is freed by a later Loop
        // (this may run in a signal handler, which must not free).
        detail::WakeCore* core = core_;
        core->add_ref();
        bool accepted = core->schedule(fn, arg);
        core->release_from_any_context();
        return accepted;
    }

#if ASYNCLINK_PORT_HAS_THREADS
    /// Queues fn to run on the loop, from any thread. Lock-free, but allocates
    /// one node: not for signal handlers (use schedule()). Exceptions fn
    /// throws go to the exception handler. Throws UsageError once the loop has
    /// closed (in ~Loop). As for schedule(), the Loop must be alive when the
    /// call begins and may end before it returns; see Handle otherwise.
    void call_soon_threadsafe(std::function<void()> fn) {
        detail::WakeRef core(*core_);  // alive until we leave it (see schedule())
        core->call_soon_threadsafe(std::move(fn));
    }

    /// Queues fn to run on the loop at its next iteration. Loop thread only.
    void call_soon(std::function<void()> fn);

    /// Runs fn on the loop once `delay` has passed (asyncio.call_later);
    /// cancel it through the handle. Loop thread only; see timer_handle.hpp.
    TimerHandle call_later(Clock::duration delay, std::function<void()> fn);
    /// Runs fn on the loop at `when` on its clock (asyncio.call_at).
    TimerHandle call_at(Clock::time_point when, std::function<void()> fn);

    /// Receives exceptions nobody else will see: a task's exception that was
    /// never retrieved, an exception thrown by a callback. Default: print to
    /// stderr. Loop thread only.
    void set_exception_handler(std::function<void(std::exception_ptr)> handler);
#endif

    /// Replaces what a stall is reported to (see LoopOptions::stall_threshold);
    /// an empty handler reports nothing. Loop thread only.
    void set_stall_handler(StallHandler handler);
    /// Changes LoopOptions::stall_threshold (zero: off). Loop thread only.
    void set_stall_threshold(Clock::duration threshold);

    /// The loop's counters, one by one (asynclink/stats.hpp). Any context,
    /// while the loop lives.
    LoopStats stats() const noexcept;

    /// The loop's clock, cached at the start of each iteration.
    Clock::time_point time() const noexcept { return now_; }

    /// Number of tasks created on this loop that have not finished.
    std::size_t pending_tasks() const noexcept { return pending_count_; }

    // --- embedding: another event loop drives this one (docs/embedding.md)

    /// Runs one bounded round of what is ready now, without waiting: posted
    /// wake-ups, schedule() callbacks, threadsafe and soon calls, due timers,
    /// ready descriptors, then the tasks ready at that point (the tasks they
    /// wake run at the next step, so the host loop is not starved). Returns
    /// when the loop next needs a step: zero (at once: work is ready), a
    /// duration (the next timer), or nullopt (only when descriptor() becomes
    /// readable). A wake-up posted from any context after the return makes
    /// descriptor() readable; one that raced the return made it zero. The
    /// host, not this loop, waits: step() never spins or sleeps. Binds the
    /// loop to the calling thread on first use; UsageError from another
    /// thread, from inside the loop (a task or callback), or on a thread
    /// running another loop.
    std::optional<Clock::duration> step();

#if ASYNCLINK_PORT_HAS_DESCRIPTOR
    /// A descriptor that is readable whenever the loop needs a step for work
    /// posted from another context (a set(), schedule(), call_soon_threadsafe)
    /// or a ready stream; for a host loop to poll (never read it, never close
    /// it). Valid while the Loop lives. Any context.
    int descriptor() const noexcept { return core_->idle().descriptor(); }
#endif

    /// Starts `task` on this loop and returns its handle (asyncio's
    /// loop.create_task): the way in for the code of a host loop, where no
    /// asynclink task runs yet. Binds the loop to the calling thread as step()
    /// does; the task first runs at the next step.
    template <class T>
    TaskHandle<T> create_task(Task<T> task, Priority priority = Priority::normal);
    /// create_task(lambda) on this loop: the task owns the lambda, so its
    /// captures live as long as it runs (see owning_task).
    // clang-format off
    template <class F>
        requires std::invocable<std::decay_t<F>&>
    auto create_task(F&& make, Priority priority = Priority::normal);
    // clang-format on

    /// A reference to this loop that outlives it: posts through it run on the
    /// loop while it lives and are refused once it has ended. Copy and destroy
    /// handles in ordinary code, not in a signal handler; using one (schedule)
    /// is async-signal-safe.
    class Handle {
    public:
        /// Loop::schedule(); false also once the loop has ended.
        bool schedule(void (*fn)(void*), void* arg) const noexcept { return core_->schedule(fn, arg); }
#if ASYNCLINK_PORT_HAS_THREADS
        /// Loop::call_soon_threadsafe(); throws UsageError once the loop has ended.
        void call_soon_threadsafe(std::function<void()> fn) const { core_->call_soon_threadsafe(std::move(fn)); }
#endif
        /// True once the loop has ended (a snapshot).
        bool closed() const noexcept { return core_->closed(); }

    private:
        friend class Loop;
        explicit Handle(detail::WakeCore& core) noexcept : core_(core) {}
        detail::WakeRef core_;
    };
    Handle handle() const noexcept { return Handle(*core_); }

    /// A number no other Loop of this process has had, so per-loop state kept
    /// outside the loop (a stream's descriptor registration) can tell a new
    /// loop from a dead one that lived at the same address.
    std::uint64_t id() const noexcept { return id_; }

private:
    // --- for the primitives, through detail::LoopAccess (loop thread unless stated)
    friend struct detail::LoopAccess;

    /// The port's idle object (file-descriptor watching for streams). It
    /// lives in the wake core, so it stays valid while a poster holds the core.
    port::Idle& idle() noexcept { return core_->idle(); }
    /// The remote-wake state other contexts post to (see detail/wake_core.hpp).
    detail::WakeCore& wake_core() const noexcept { return *core_; }

    /// Throws UsageError unless the calling thread runs this loop.
    void check_thread(const char* operation, const char* alternative) const;
    /// Puts a task at the back of the ready queue.
    void enqueue(detail::TaskBase& task) noexcept;
    void add_timer(detail::TimerNode& timer);
    void remove_timer(detail::TimerNode& timer) noexcept;
    /// Posts a wake-up request; async-signal-safe. The node's run() will
    /// execute on the loop thread. The Loop must outlive the call: a context
    /// that may race the loop's end posts through a detail::WakeSlot.
    void notify(detail::RemoteNode& node) noexcept { core_->post(node); }
    /// Processes posted wake-up requests now; used before a primitive with a
    /// queued node is destroyed.
    void drain_notifications() noexcept;
    /// Registers a task created on this loop.
    void adopt(detail::TaskBase& task) noexcept;
    void task_finished(detail::TaskBase& task) noexcept;
    void forget_task(detail::TaskBase& task) noexcept;
#if !ASYNCLINK_NO_EXCEPTIONS
    void report(const std::exception_ptr& error) noexcept;
#endif
    void add_io_watch() noexcept { ++io_watches_; }
    void remove_io_watch() noexcept { --io_watches_; }

    /// Runs iterations until `task` is done.
    void run_until_done(detail::TaskBase& task);

    // --- embedding (src/loop_embed.cpp)
    /// Binds this loop to the calling thread for step() and create_task(), or
    /// throws UsageError naming `operation`.
    void bind_host_thread(const char* operation);
    /// When step() says the next one is due (announcing the host's wait).
    std::optional<Clock::duration> next_step_due();
    /// Loop-thread work done between two steps (a task readied, a timer or a
    /// soon call added) makes descriptor() readable while the host waits.
    void wake_host() noexcept {
        if (host_ == HostState::waiting) [[unlikely]]
            wake_waiting_host();
    }
    void wake_waiting_host() noexcept;

    // --- the loop's own
    void run_once(const detail::TaskBase& until);
    void wait_for_work(std::optional<Clock::duration> timeout);
    bool spin_for_posted_work(std::optional<Clock::duration> timeout) noexcept;
    void take_posted_work() noexcept;
    void run_nodes(detail::RemoteNode* fifo) noexcept;
    void run_scheduled_callbacks();
    void run_threadsafe_calls();
#if ASYNCLINK_PORT_HAS_THREADS
    void run_calls(detail::PostedCall* fifo) noexcept;
#endif
    void fire_timers();
    /// A due timer's lateness, while slices are timed: its histogram bucket
    /// and its trace instant (which becomes the cause of what it wakes).
    void note_lateness(const detail::TimerNode& timer) noexcept;
    void run_ready();
    struct ReadyQueue {
        detail::TaskBase* head = nullptr;
        detail::TaskBase* tail = nullptr;
        /// Empties the queue; returns its tasks, linked through next_ready.
        detail::TaskBase* take() noexcept {
            tail = nullptr;
            return std::exchange(head, nullptr);
        }
    };
    /// Runs the high-priority tasks ready now (those they ready run later).
    void run_high_ready();
    void shutdown() noexcept;
    bool run_posted_work() noexcept;
    void close() noexcept;
    void resume(detail::TaskBase& task) noexcept;
    /// Slices are timed (one clock read each) for the stall detector or the
    /// trace. Inline: asked once per batch and once per due timer.
    bool timing_slices() const noexcept {
#if ASYNCLINK_TRACE
        if (trace::detail::on()) return true;
#endif
        return options_.stall_threshold != Clock::duration::zero();
    }
    void run_timed(detail::TaskBase& task) noexcept;
    void report_stall(detail::TaskBase& task, Clock::duration ran_for) noexcept;
    template <class F>
    void call_reporting(F&& f) noexcept;

    // A heap entry carries its timer's key, so sifting compares entries of one
    // contiguous array instead of loading each key from an awaiter's frame.
    struct TimerEntry {
        Clock::time_point deadline;
        std::uint64_t sequence;  ///< equal deadlines fire in the order they were added
        detail::TimerNode* node;
    };
    static bool earlier(const TimerEntry& a, const TimerEntry& b) noexcept {
        return a.deadline < b.deadline || (a.deadline == b.deadline && a.sequence < b.sequence);
    }
    void place_timer(std::size_t i, const TimerEntry& entry) noexcept {
        timers_[i] = entry;
        entry.node->heap_index = i;
    }
    void sift_up(std::size_t hole, TimerEntry entry) noexcept;
    void sift_down_then_up(std::size_t hole, TimerEntry entry) noexcept;

    LoopOptions options_;
    std::uint64_t id_;
    Clock::time_point now_{};
    // How long the next idle period may spin, learnt from the last ones by
    // the rules a queue end's wait follows (see wait_for_work()); nothing on
    // a port that never spins.
    [[no_unique_address]] std::conditional_t<port::idle_spins, detail::SpinBudget, detail::NoSpinBudget> spin_;

    // Ready queues, one per Priority: intrusive FIFOs through
    // TaskBase::next_ready, so a yield never allocates.
    ReadyQueue ready_;
    ReadyQueue high_ready_;
    // Live high-priority tasks: while there are none, a loop iteration never
    // looks for them between two normal tasks.
    std::size_t high_tasks_ = 0;
    detail::TaskBase* running_ = nullptr;
    std::uint32_t tasks_made_ = 0;
    // The end of the last timed slice, or the start of the batch: where the
    // next slice is timed from.
    Clock::time_point slice_mark_{};
#if ASYNCLINK_TRACE
    /// timing_slices() as it was when the current batch began (run_ready):
    /// resume() tests this instead of the global recording word and the
    /// threshold on every task. Timing switched on mid-batch (trace::start,
    /// set_stall_threshold in a task) starts with the next batch. Without
    /// the recorder the threshold alone is as cheap to test (a Cortex-M
    /// interrupt -> task path would pay 3 instructions for the flag).
    bool timing_batch_ = false;
#endif
    /// Whether resume() times the slice it runs (see timing_batch_).
    bool timing_this_batch() const noexcept {
#if ASYNCLINK_TRACE
        return timing_batch_;
#else
        return timing_slices();
#endif
    }
    StallHandler stall_handler_;
    // Written by the loop's thread only (add_by_owner); read from anywhere.
    // The histograms' buckets follow the counts.
    enum class Count : std::size_t {
        iterations,
        sleeps,
        posts,
        timers,
        io,
        wake_latency,
        timer_lateness = wake_latency + Log2Histogram::buckets,
        kinds = timer_lateness + Log2Histogram::buckets
    };
    [[no_unique_address]] detail::CounterArray<Count> counts_;
    void count_wake_latency(Clock::time_point now) noexcept;
#if ASYNCLINK_TRACE
    // The flow id of the hand-over whose wake-up the loop is running now (a
    // posted node, a scheduled call, a timer): the task it wakes carries it
    // to its next slice. Loop thread only.
    std::uint32_t trace_cause_ = 0;
#endif

    // Every task bound to this loop, so shutdown can find the pending ones.
    detail::TaskBase* tasks_ = nullptr;
    std::size_t pending_count_ = 0;

    detail::ArrayStore<TimerEntry, port::max_timers> timers_;  // binary min-heap
    std::uint64_t timer_sequence_ = 0;
    std::size_t io_watches_ = 0;

    // Everything other contexts touch: the posted list, the schedule() ring,
    // the call_soon_threadsafe() list, the sleeping flag, the port's Idle.
    // This loop holds one reference; see detail/wake_core.hpp.
    detail::WakeCore* core_;

#if ASYNCLINK_PORT_HAS_THREADS
    std::vector<std::function<void()>> soon_calls_;

    std::function<void(std::exception_ptr)> exception_handler_;
    // Queued call_later()/call_at() callbacks, so ~Loop can drop them.
    detail::CallbackTimer* callback_timers_ = nullptr;
    friend class TimerHandle;
    void unlink(detail::CallbackTimer& t) noexcept;
    static void fire_callback(detail::TimerNode& node) noexcept;
#endif
    // The two kinds of std::function call, or none on a port without threads.
    bool threadsafe_calls_posted() const noexcept {
#if ASYNCLINK_PORT_HAS_THREADS
        return core_->calls_posted();
#else
        return false;
#endif
    }
    bool soon_calls_pending() const noexcept {
#if ASYNCLINK_PORT_HAS_THREADS
        return !soon_calls_.empty();
#else
        return false;
#endif
    }
    Loop* previous_loop_ = nullptr;

    /// Where an embedded loop's host is (loop thread only):
    ///
    ///     running --step() returns a wait (sleep announced)--> waiting
    ///     waiting --loop-thread work between steps (wake_host)--> woken
    ///     waiting, woken --the next step() begins--> running
    ///
    /// Not embedded, the loop stays `running`. A step that begins after
    /// `waiting` or `woken` drains the wake handle (a poster that took the
    /// wake duty may write it even after the step began: the next such step
    /// drains that too), so a readable descriptor() never stays readable.
    enum class HostState : std::uint8_t { running, waiting, woken };
    HostState host_ = HostState::running;
    bool stepping_ = false;  ///< inside step(): a nested step() is refused
    /// The bound thread's port::current_loop() slot (one per thread), or
    /// nullptr before the first step()/create_task().
    const void* host_thread_ = nullptr;
};

namespace detail {
/// The one way into a Loop's internals, for the primitives, the task machinery
/// and the hosted contexts (and white-box tests): what they need of the loop
/// is kept out of Loop's public API, which is the user's.
struct LoopAccess {
    static void check_thread(const Loop& l, const char* operation, const char* alternative) {
        l.check_thread(operation, alternative);
    }
    static void enqueue(Loop& l, TaskBase& task) noexcept { l.enqueue(task); }
    static void add_timer(Loop& l, TimerNode& timer) { l.add_timer(timer); }
    static void remove_timer(Loop& l, TimerNode& timer) noexcept { l.remove_timer(timer); }
    static void notify(Loop& l, RemoteNode& node) noexcept { l.notify(node); }
    static void drain_notifications(Loop& l) noexcept { l.drain_notifications(); }
    static void adopt(Loop& l, TaskBase& task) noexcept { l.adopt(task); }
    static void task_finished(Loop& l, TaskBase& task) noexcept { l.task_finished(task); }
    static void forget_task(Loop& l, TaskBase& task) noexcept { l.forget_task(task); }
#if !ASYNCLINK_NO_EXCEPTIONS
    static void report(Loop& l, const std::exception_ptr& error) noexcept { l.report(error); }
#endif
    static void add_io_watch(Loop& l) noexcept { l.add_io_watch(); }
    /// A watched descriptor was found ready. Loop thread only.
    static void count_io(Loop& l) noexcept { l.counts_[Loop::Count::io].add_by_owner(); }
    static void remove_io_watch(Loop& l) noexcept { l.remove_io_watch(); }
    static void run_until_done(Loop& l, TaskBase& task) { l.run_until_done(task); }
    static port::Idle& idle(Loop& l) noexcept { return l.idle(); }
    static WakeCore& wake_core(const Loop& l) noexcept { return l.wake_core(); }
    /// The task whose code is running now, or nullptr (a callback, or no task).
    static TaskBase* running_task(const Loop& l) noexcept { return l.running_; }
#if ASYNCLINK_TRACE
    /// The flow id of the wake-up the loop is running now (0: none).
    static std::uint32_t trace_cause(const Loop& l) noexcept { return l.trace_cause_; }
#endif
};
}  // namespace detail

}  // namespace asynclink
