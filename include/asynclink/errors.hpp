// SPDX-License-Identifier: BSL-1.0
/// @file
/// The exceptions asynclink throws. Each names what went wrong and, for misuse,
/// what to use instead. All derive from std::exception except CancelledError,
/// which is not an error (see below).
#pragma once

#include <stdexcept>
#include <string>

namespace asynclink {

/// Thrown at a task's suspension point when the task is cancelled
/// (asyncio.CancelledError). A task may catch it to clean up; if it lets it
/// propagate, the task ends in the cancelled state.
///
/// Not a std::exception, on purpose: asyncio moved CancelledError out of
/// Exception because `except Exception:` loops swallowed cancellation, and
/// `catch (const std::exception&)` would do the same here (the worker never
/// ends; wait_for() and the loop's shutdown wait for it forever). Catch it by
/// name, `catch (const asynclink::CancelledError&)`, or with `catch (...)`,
/// and rethrow it (`throw;`) once the clean-up is done:
///
///     try {
///         co_await work();
///     } catch (const asynclink::CancelledError&) {
///         throw;                        // cancelled: let it end the task
///     } catch (const std::exception& e) {
///         log(e.what());                // a real error: log and go on
///     }
///
/// (The first handler is only needed before a `catch (...)`; a
/// `catch (const std::exception&)` alone no longer catches it.)
class CancelledError {
public:
    CancelledError() noexcept = default;
    /// What happened, as std::exception::what() says it for the others.
    const char* what() const noexcept { return "asynclink: task cancelled"; }
};

/// Thrown by wait_for() when the awaited operation did not finish in time.
class TimeoutError : public std::runtime_error {
public:
    TimeoutError() : std::runtime_error("asynclink: operation timed out") {}
    /// Names what timed out ("open_connection(\"host\", 80): no connection
    /// within 500 ms").
    explicit TimeoutError(const std::string& what) : std::runtime_error("asynclink: " + what) {}
};

/// Thrown by a non-blocking put on a full queue (asyncio.QueueFull; the
/// MicroPython ThreadSafeQueue raised IndexError).
class QueueFull : public std::runtime_error {
public:
    QueueFull() : std::runtime_error("asynclink: queue full") {}
};

/// Thrown by a non-blocking get on an empty queue (asyncio.QueueEmpty).
class QueueEmpty : public std::runtime_error {
public:
    QueueEmpty() : std::runtime_error("asynclink: queue empty") {}
};

/// Thrown when an item is put on a closed ThreadSafeQueue, or a get is made on
/// a closed and drained one through an API that cannot return an end marker.
class QueueClosed : public std::runtime_error {
public:
    QueueClosed() : std::runtime_error("asynclink: queue closed") {}
};

/// Misuse of the library: a loop-only call from another thread, a second
/// waiter on a ThreadSafeFlag, a zero capacity, ... The message says what was
/// wrong and what to use instead.
class UsageError : public std::logic_error {
public:
    explicit UsageError(const std::string& what) : std::logic_error("asynclink: " + what) {}
};

}  // namespace asynclink
