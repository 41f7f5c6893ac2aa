// SPDX-License-Identifier: BSL-1.0
// The hosted threading seam: what Context's workers are made of (a thread,
// a mutex, a condition variable, the calling thread's id). On Linux the
// standard library's own, by alias; in the sim port, contexts of its
// scheduler (asynclink/sim/threads.hpp), so a Context's jobs, shutdown and
// cancellation are explored like everything else.
#pragma once

#include "asynclink/port/port.hpp"

#if defined(ASYNCLINK_PORT_SIM)
#include "asynclink/sim/threads.hpp"
#else
#include <condition_variable>
#include <mutex>
#include <thread>

namespace asynclink::port {

using Thread = std::thread;
using Mutex = std::mutex;
using ConditionVariable = std::condition_variable;
inline Thread::id this_thread_id() noexcept { return std::this_thread::get_id(); }

}  // namespace asynclink::port
#endif
