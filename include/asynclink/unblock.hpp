// SPDX-License-Identifier: BSL-1.0
/// @file
/// unblock(fn, args...): await one blocking call without stalling the loop
/// (asyncio.to_thread).
///
/// | operation                    | task | other loop | thread          | signal handler / ISR |
/// |------------------------------|------|------------|-----------------|----------------------|
/// | co_await unblock(fn, args...) | yes  | yes        | no (UsageError) | no                   |
///
/// Use this for an occasional blocking call (a slow read, a DNS lookup, a
/// sleep in a driver). For a stream of calls, for pinning to a CPU, or to bound
/// how many run at once, make a Context and use Context::assign.
#pragma once

#include <utility>

#include "asynclink/context.hpp"

namespace asynclink {

namespace detail {
/// The Context behind unblock(): created at the first call, shared by every
/// loop, with min(32, CPUs + 4) workers (as Python's default executor) and a
/// queue of 64 calls; it runs what is pending and joins its workers at exit.
Context& unblock_context();
}  // namespace detail

/// Calls fn(args...) on a worker thread and returns its result, or rethrows
/// its exception, in the awaiting task; meanwhile the loop runs other tasks.
/// Arguments are moved into the call (std::ref for a reference).
/// Cancellation, results and errors behave as for Context::assign: a cancelled
/// task resumes at once with CancelledError while a call already running
/// finishes on its worker and its result is dropped. Calls beyond the workers'
/// number wait, in order, for a free worker.
template <class F, class... Args>
[[nodiscard]] auto unblock(F&& fn, Args&&... args) {
    return detail::unblock_context().assign(std::forward<F>(fn), std::forward<Args>(args)...);
}

}  // namespace asynclink
