// SPDX-License-Identifier: BSL-1.0
/// @file
/// The trace recorder: a timeline of which context woke which task, when, and
/// how long the task took to run, written as Chrome trace event JSON (open it
/// in Perfetto UI, chrome://tracing or tools/trace-view).
///
/// | function                 | task | other loop | thread | signal handler / ISR |
/// |--------------------------|------|------------|--------|----------------------|
/// | start / stop             | yes  | yes        | yes    | no (start allocates) |
/// | recording                | yes  | yes        | yes    | yes                  |
/// | dump                     | yes  | yes        | yes    | no                   |
/// | write_chrome_json        | yes  | yes        | yes    | no                   |
/// | convert_dump             | yes  | yes        | yes    | no                   |
/// | name_this_thread         | yes  | yes        | yes    | no                   |
/// | HandlerScope             | -    | -          | -      | yes                  |
///
/// Use this when a wake-up arrives late or never, when a task hogs its loop,
/// or to see what an interrupt actually did; for totals over a long run (how
/// many sets coalesced, how full a queue got) counters cost less than a trace.
///
/// What is recorded, per context, once start() has run: each task slice
/// (resume to the next suspension), task creation and end, every hand-over a
/// thread-safe primitive carries (ThreadSafeFlag/ThreadSafeEvent/Message set,
/// ThreadSafeQueue put and get, Loop::schedule, call_soon_threadsafe) with a
/// flow arrow to the slice of the task it woke, timers firing with their
/// lateness, the loop's sleeps, and stalls (LoopOptions::stall_threshold).
///
/// Each context writes to its own lane: a fixed-size buffer of 32-byte records
/// taken by one compare-and-swap, so recording takes no lock, allocates
/// nothing and is async-signal-safe. A full lane counts what it drops and
/// keeps what it has (the export lists the drops per lane); nothing blocks.
/// A signal handler that wraps its body in a HandlerScope gets a lane of its
/// own ("handler SIGUSR1"); without one its records go to the lane of the
/// thread it interrupted (still consistent, only drawn there).
///
///     asynclink::trace::start();
///     asynclink::run(main_task());
///     asynclink::trace::stop();
///     asynclink::trace::write_chrome_json("trace.json");
///
/// Cost: compiled in by default on Linux (CMake option ASYNCLINK_TRACE); while
/// it is not recording each hook is one relaxed load and a branch predicted
/// not taken. -DASYNCLINK_TRACE=OFF removes every hook at compile time.
///
/// On Cortex-M the recorder is opt-in (define ASYNCLINK_TRACE=1 for the whole
/// firmware): its lanes are a static RAM ring of ASYNCLINK_TRACE_LANES (4) ×
/// ASYNCLINK_TRACE_RECORDS (64) records, one lane per exception number (thread
/// mode, SysTick, each IRQ), and nothing is allocated. dump() sends the raw
/// records to any byte sink (a UART); dump_semihosting() writes them to a file
/// on the debugger's host; the host's tools/trace-convert (or convert_dump())
/// turns that file into the same JSON. On the sim port the hooks compile to
/// nothing. docs/tracing.md has the file formats and the figures.
#pragma once

#include <cstddef>
#include <cstdint>

#include "asynclink/detail/config.hpp"
#include "asynclink/detail/remote_node.hpp"
#include "asynclink/port/port.hpp"

#if ASYNCLINK_TRACE && ASYNCLINK_PORT_HAS_THREADS
#include <iosfwd>
#include <string>
#endif

#if !ASYNCLINK_PORT_HAS_THREADS
/// Bare metal: the lanes of the static ring (at most 32).
#ifndef ASYNCLINK_TRACE_LANES
#define ASYNCLINK_TRACE_LANES 4
#endif
/// Bare metal: the records each lane of the static ring holds (32 bytes each).
#ifndef ASYNCLINK_TRACE_RECORDS
#define ASYNCLINK_TRACE_RECORDS 64
#endif
#endif

namespace asynclink::trace {

/// The hand-overs a primitive records: the instant's name is "<Primitive>.<op>".
enum class Op : std::uint8_t {
    flag_set,
    event_set,
    message_set,
    queue_put,
    queue_get,
    many_producer_put,
    many_producer_get,
    schedule,
    call_soon_threadsafe,
};

#if ASYNCLINK_TRACE

struct Options {
#if ASYNCLINK_PORT_HAS_THREADS
    /// Records each lane holds (32 bytes each) before it drops; at most 2^24.
    /// The default, 8192 per lane for 32 lanes, takes 8 MiB.
    /// A start() that asks for another size than the last one allocates new
    /// buffers; the old ones are kept (a late writer may still hold them).
    std::size_t records_per_lane = std::size_t{1} << 13;
    /// Contexts (threads, loops, handlers in a HandlerScope) that get a lane;
    /// at most 32. Records of the others are counted as dropped.
    std::size_t lanes = 32;
#else
    /// Bare metal: the static ring's sizes are the most there is.
    std::size_t records_per_lane = ASYNCLINK_TRACE_RECORDS;
    std::size_t lanes = ASYNCLINK_TRACE_LANES;
#endif
};

/// Clears what an earlier recording left and starts recording. Allocates the
/// lanes' buffers the first time (lanes × records_per_lane × 32 bytes; on bare
/// metal the static ring, sizes at most its own). Throws UsageError (bare
/// metal: port::fatal) for sizes the recorder cannot index.
void start(const Options& options = {});
/// Stops recording. What was recorded stays for the export. A context already
/// inside a hook may still finish its record.
void stop() noexcept;
/// True between start() and stop(). Any context.
bool recording() noexcept;

/// Where dump() sends its bytes, in order, a piece at a time.
using Sink = void (*)(const void* bytes, std::size_t size, void* context) noexcept;
/// Writes what was recorded, raw and compact (the dump format of
/// docs/tracing.md: the lanes and their valid records), to `sink`; on bare
/// metal the way out of the device (a UART, semihosting). Allocates nothing.
/// Call it after stop(): records being written meanwhile are skipped, never
/// torn. convert_dump() or tools/trace-convert turn it into JSON.
void dump(Sink sink, void* context) noexcept;

#if defined(__arm__) && !ASYNCLINK_PORT_HAS_THREADS
/// Bare metal under a debugger or QEMU (-semihosting): dump() into the file
/// `path` on the host (semihosting SYS_OPEN/SYS_WRITE). False if the host
/// refused the file. Without a debugger attached, a semihosting call is a
/// HardFault: on a board in the field, dump() to the UART instead.
bool dump_semihosting(const char* path) noexcept;
#endif

#if ASYNCLINK_PORT_HAS_THREADS
/// Writes what was recorded as Chrome trace event JSON (the contract in
/// docs/tracing.md). Call it after stop(): records being written
/// meanwhile are skipped, never torn.
void write_chrome_json(std::ostream& out);
/// As above, to a file; throws std::runtime_error naming it if it cannot be written.
void write_chrome_json(const std::string& path);
/// Turns a dump() (from this program, or read back from a device) into the
/// JSON write_chrome_json() writes. Throws std::runtime_error saying what is
/// wrong and at which byte, for input that is not a whole dump.
void convert_dump(std::istream& in, std::ostream& out);

/// Names the calling thread's lane "thread <name>" (a loop's lane is named
/// after the loop). `name` must outlive the export (a string literal).
void name_this_thread(const char* name) noexcept;
#else
/// Bare metal: thread mode has one lane, named after its loop.
inline void name_this_thread(const char*) noexcept {}
#endif

/// Records made in a signal handler while one lives go to the handler's own
/// lane "handler <name>". Async-signal-safe; put one at the top of the
/// handler. `name` must outlive the export (a string literal: "SIGUSR1").
/// Bare metal: every exception has its own lane anyway ("handler IRQ3",
/// "handler SysTick"); a scope only names it.
class HandlerScope {
public:
    explicit HandlerScope(const char* name) noexcept;
    ~HandlerScope();
    HandlerScope(const HandlerScope&) = delete;
    HandlerScope& operator=(const HandlerScope&) = delete;

private:
    void* outer_;
};

#else

// Without the recorder, the calls a program makes in every context compile
// and do nothing; start() and the export do not exist (asking for a trace
// from a build without the recorder fails to compile).
inline bool recording() noexcept { return false; }
inline void name_this_thread(const char*) noexcept {}
class HandlerScope {
public:
    explicit HandlerScope(const char*) noexcept {}
    HandlerScope(const HandlerScope&) = delete;
    HandlerScope& operator=(const HandlerScope&) = delete;
};

#endif

}  // namespace asynclink::trace

#if ASYNCLINK_TRACE

namespace asynclink::detail {
class TaskBase;
}  // namespace asynclink::detail

/// The hooks. Each is a relaxed load of the "recording" word and a branch
/// predicted not taken; the record itself is out of line (src/trace.cpp).
namespace asynclink::trace::detail {

// Relaxed: a hint; a hook that sees a stale value records one event more or
// less around start()/stop(), and every record is self-validating (see
// src/trace.cpp).
inline port::atomic<std::uint32_t> recording_word{0};
inline bool on() noexcept { return recording_word.load(std::memory_order_relaxed) != 0; }

/// The flow id of the hand-over recorded (0 if none was).
std::uint32_t record_handover(Op op, const void* object, bool coalesced) noexcept;
void record_slice(std::uint64_t loop_id, asynclink::detail::TaskBase& task, Clock::time_point begin,
                  Clock::time_point end) noexcept;
void record_task_created(asynclink::detail::TaskBase& task) noexcept;
void record_task_finished(asynclink::detail::TaskBase& task) noexcept;
/// The flow id of the timer's instant.
std::uint32_t record_timer(std::uint64_t loop_id, Clock::duration lateness) noexcept;
void record_stall(asynclink::detail::TaskBase& task, Clock::duration ran_for) noexcept;
/// The loop slept (its port's idle wait) from `begin` to `end`.
void record_sleep(std::uint64_t loop_id, Clock::time_point begin, Clock::time_point end) noexcept;
/// The calling thread, blocked in the kernel at a queue's end, was woken by
/// the hand-over `flow` (0: none recorded).
void record_thread_woken(std::uint32_t flow) noexcept;
/// True if the flow id `task` holds was left by an earlier recording (one
/// stopped between its wake-up and its slice): the next wake-up replaces it.
bool holds_old_flow(const asynclink::detail::TaskBase& task) noexcept;

/// A hand-over that unblocks a thread leaves its flow id in `cell` (the
/// waiting end's); the thread takes it once it runs again.
inline void leave_flow(port::atomic<std::uint32_t>& cell, std::uint32_t flow) noexcept {
    // Relaxed: the woken thread may read it before it lands, and then only
    // loses the arrow; the hand-over itself is recorded either way.
    if (flow != 0) cell.store(flow, std::memory_order_relaxed);
}
inline void thread_woken(port::atomic<std::uint32_t>& cell) noexcept {
    // Relaxed: as leave_flow(). Taken even when not recording, so a stale id
    // does not draw an arrow in a later recording.
    std::uint32_t flow = cell.exchange(0, std::memory_order_relaxed);
    if (on()) [[unlikely]]
        record_thread_woken(flow);
}

inline std::uint32_t handover(Op op, const void* object, bool coalesced) noexcept {
    if (on()) [[unlikely]]
        return record_handover(op, object, coalesced);
    return 0;
}
inline void handover(Op op, const void* object, bool coalesced, asynclink::detail::RemoteNode& node) noexcept {
    // Relaxed: the post that follows publishes it to the loop (and a flow id
    // read stale only loses an arrow).
    // A coalesced set leaves the arrow to the hand-over that posted the node.
    if (on()) [[unlikely]] {
        std::uint32_t flow = record_handover(op, object, coalesced);
        if (!coalesced) node.trace_flow.store(flow, std::memory_order_relaxed);
    }
}

}  // namespace asynclink::trace::detail

/// Records a hand-over; evaluates to its flow id (0 when not recording), which
/// the caller hands to the wake-up it posts.
#define ASYNCLINK_TRACE_HANDOVER(op, object, coalesced) \
    ::asynclink::trace::detail::handover(::asynclink::trace::Op::op, object, coalesced)
/// Records a hand-over that posts `node`: the node carries the flow id to the loop.
#define ASYNCLINK_TRACE_HANDOVER_NODE(op, object, coalesced, node) \
    ::asynclink::trace::detail::handover(::asynclink::trace::Op::op, object, coalesced, node)
/// As above, for an Op held in a variable (a core shared by two primitives).
#define ASYNCLINK_TRACE_HANDOVER_NODE_OP(op, object, coalesced, node) \
    ::asynclink::trace::detail::handover(op, object, coalesced, node)
#else
#define ASYNCLINK_TRACE_HANDOVER(op, object, coalesced) (static_cast<std::uint32_t>(0))
#define ASYNCLINK_TRACE_HANDOVER_NODE(op, object, coalesced, node) (static_cast<void>(0))
#define ASYNCLINK_TRACE_HANDOVER_NODE_OP(op, object, coalesced, node) (static_cast<void>(op))
#endif
