// SPDX-License-Identifier: BSL-1.0
// Build configuration the core derives from the compiler: whether exceptions
// exist. Everything else about the platform comes from the port
// (asynclink/port/port.hpp).
//
// With exceptions (the hosted build), errors are the exception classes of
// asynclink/errors.hpp and cancellation is CancelledError thrown at the task's
// suspension point. Built with -fno-exceptions (ASYNCLINK_NO_EXCEPTIONS, the
// bare-metal build), nothing is thrown:
//   - cancelling a task ends it at its suspension point without resuming it:
//     it finishes in the cancelled state and its coroutine frames are
//     destroyed, running the destructors of their locals (docs/bare-metal.md
//     says when);
//   - misuse and the errors that have no status-returning form (UsageError,
//     QueueFull from put_nowait, ...) call port::fatal() with the error's name.
//     Each of them has a form that reports through its result instead:
//     try_put/try_get, next() (nullopt when closed), TaskHandle::cancelled().
#pragma once

#include <exception>

#include "asynclink/port/port.hpp"

/// ASYNCLINK_TRACE: the trace recorder's hooks (asynclink/trace.hpp) are
/// compiled in (1) or not (0). Hosted, 1 is the default (CMake option
/// ASYNCLINK_TRACE). Bare metal, 0 is: the recorder's static RAM ring and its
/// code are paid only by a firmware that asks (-DASYNCLINK_TRACE=1, for every
/// file of the firmware). The sim port would make each of its atomics a
/// preemption point of every explored schedule: off there, whatever was asked.
#ifndef ASYNCLINK_TRACE
#if ASYNCLINK_PORT_HAS_THREADS
#define ASYNCLINK_TRACE 1
#else
#define ASYNCLINK_TRACE 0
#endif
#endif
#if defined(ASYNCLINK_PORT_SIM)
#undef ASYNCLINK_TRACE
#define ASYNCLINK_TRACE 0
#endif

/// ASYNCLINK_COUNTERS: the primitives' and the loop's counters
/// (asynclink/stats.hpp) are compiled in (1, the default; CMake option
/// ASYNCLINK_COUNTERS) or not (0: stats() returns zeros). Off on the sim port
/// (each increment would be a preemption point of every explored schedule)
/// and on ports without threads (the Cortex-M firmware: its footprint stays
/// as measured; define it to 1 there to have them).
#ifndef ASYNCLINK_COUNTERS
#if !ASYNCLINK_PORT_HAS_THREADS || defined(ASYNCLINK_PORT_SIM)
#define ASYNCLINK_COUNTERS 0
#else
#define ASYNCLINK_COUNTERS 1
#endif
#endif
#if defined(ASYNCLINK_PORT_SIM)
#undef ASYNCLINK_COUNTERS
#define ASYNCLINK_COUNTERS 0
#endif

/// ASYNCLINK_QUEUE_LAP_SLOTS: how the ends of a ThreadSafeQueue find their
/// slot. 1: from the base of the half of the ring their index is in
/// (QueueEnd::lap_base), with one compare per item for the end of that half:
/// the fewest instructions, the default on ports without threads (Cortex-M,
/// where instructions are the cost: try_put 40 -> 35, try_get 24 -> 20 on
/// the M3). 0: the slot from the index with a compare and a select, the next
/// index with another, the default elsewhere: on Linux the lap base took 6
/// instructions from try_put and 7 from try_get (callgrind), yet the queue
/// rows across cores ran 7-23 % slower with it (docs/benchmarks.md). Define
/// it the same in every file of a program; the tests build both.
#ifndef ASYNCLINK_QUEUE_LAP_SLOTS
#if ASYNCLINK_PORT_HAS_THREADS
#define ASYNCLINK_QUEUE_LAP_SLOTS 0
#else
#define ASYNCLINK_QUEUE_LAP_SLOTS 1
#endif
#endif

#if defined(__cpp_exceptions)
#define ASYNCLINK_NO_EXCEPTIONS 0
#else
#define ASYNCLINK_NO_EXCEPTIONS 1
#endif

/// `ASYNCLINK_THROW(UsageError, message)` throws UsageError(message); without
/// exceptions it calls port::fatal with the error's name and does not evaluate
/// the constructor arguments (no message is built; the sizeof, which evaluates
/// nothing, keeps them "used").
#if ASYNCLINK_NO_EXCEPTIONS
#define ASYNCLINK_THROW(Type, ...) \
    (static_cast<void>(sizeof(Type{__VA_ARGS__})), ::asynclink::port::fatal("asynclink: " #Type))
#else
#define ASYNCLINK_THROW(Type, ...) throw Type(__VA_ARGS__)
#endif

namespace asynclink::detail {

#if ASYNCLINK_NO_EXCEPTIONS
/// What a coroutine's promise stores as its error: nothing can be stored
/// without exceptions (a cancelled task is marked in its TaskBase instead).
struct NoError {
    explicit operator bool() const noexcept { return false; }
};
using ErrorPtr = NoError;
inline void rethrow_if_error(const ErrorPtr&) noexcept {}
#else
using ErrorPtr = std::exception_ptr;
inline void rethrow_if_error(const ErrorPtr& error) {
    if (error) std::rethrow_exception(error);
}
#endif

}  // namespace asynclink::detail
