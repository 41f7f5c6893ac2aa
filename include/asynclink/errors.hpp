// The exceptions asynclink throws. Each names what went wrong and, for misuse,
// what to use instead.
#pragma once

#include <stdexcept>
#include <string>

namespace asynclink {

/// Thrown at a task's suspension point when the task is cancelled
/// (asyncio.CancelledError). A task may catch it to clean up; if it lets it
/// propagate, the task ends in the cancelled state.
class CancelledError : public std::runtime_error {
public:
    CancelledError() : std::runtime_error("asynclink: task cancelled") {}
};

/// Thrown by wait_for() when the awaited operation did not finish in time.
class TimeoutError : public std::runtime_error {
public:
    TimeoutError() : std::runtime_error("asynclink: operation timed out") {}
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
