// SPDX-License-Identifier: BSL-1.0
/// @file
/// The freestanding core: the loop, tasks and every primitive, with nothing
/// that needs an operating system (it builds for Cortex-M with the firmware's
/// flags: no heap, no exceptions, no threads). <asynclink/asynclink.hpp> adds
/// the hosted contexts: Context, unblock(), and the POSIX streams and timer
/// signal (asynclink/posix/). gather() and wait_for() report a child's
/// failure as an exception, so they are here only where exceptions are
/// (not in the firmware's -fno-exceptions build).
#pragma once

#include "asynclink/detail/config.hpp"

#include "asynclink/errors.hpp"
#include "asynclink/event.hpp"
#include "asynclink/lock.hpp"
#include "asynclink/loop.hpp"
#include "asynclink/message.hpp"
#include "asynclink/outcome.hpp"
#include "asynclink/port/port.hpp"
#include "asynclink/queue.hpp"
#include "asynclink/semaphore.hpp"
#include "asynclink/shared.hpp"
#include "asynclink/sleep.hpp"
#include "asynclink/stats.hpp"
#include "asynclink/task.hpp"
#include "asynclink/task_handle.hpp"
#include "asynclink/thread_safe_event.hpp"
#include "asynclink/thread_safe_flag.hpp"
#include "asynclink/thread_safe_queue.hpp"
#include "asynclink/trace.hpp"

#if !ASYNCLINK_NO_EXCEPTIONS
#include "asynclink/gather.hpp"
#include "asynclink/wait_for.hpp"
#endif
