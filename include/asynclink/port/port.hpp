// SPDX-License-Identifier: BSL-1.0
/// @file
/// The port seam. Everything above this header reaches the platform only
/// through the names in asynclink::port, chosen here at compile time:
///   - Clock                       monotonic time for timers
///   - Idle                        per-loop sleep / wake (wake is ISR/signal-safe)
///   - block_thread / unblock_threads
///                                 blocking a thread on a 32-bit atomic
///   - pin_current_thread, ...     CPU affinity
///   - CriticalSection             interrupt masking where atomics are not enough
///   - current_loop                the loop running in this context
///   - fatal                       the end of a program that misused asynclink
///                                 where nothing can be thrown
///   - idle_spins                  whether the loop polls before it sleeps
///   - runs_alone                  whether the caller excludes every other
///                                 context's thread-level code (an ISR on one core)
///   - cache_line                  the padding between contexts' hot words
///   - asymmetric_fences           whether publish_fence() is cheaper than
///                                 sleep_fence() (membarrier), so a queue whose
///                                 ends wait often may switch to full fences
///                                 (ASYNCLINK_PORT_ASYMMETRIC_FENCES: the same, 1/0)
///   - coherent_caches             whether reading another context's word can
///                                 pull its cache line from another core
///   - max_timers, max_schedule_capacity
///                                 fixed sizes of the loop's arrays (0: heap)
///   - ASYNCLINK_PORT_HAS_THREADS  1 if the platform has threads and a heap for
///                                 std::function (Loop::call_soon_threadsafe,
///                                 call_soon, set_exception_handler)
///   - ASYNCLINK_PORT_HAS_DESCRIPTOR 1 if Idle has a descriptor() a host event
///                                 loop can poll (Loop::descriptor); else 0
///   - ASYNCLINK_PORT_WAKE_IS_A_STORE 1 if Idle::wake() costs a poster less than
///                                 the look at whether the loop sleeps: every
///                                 post wakes, and the loop calls Idle::rearm()
///                                 where it would announce its sleep; else 0
///   - atomic, atomic_thread_fence every atomic operation and fence (the sim
///                                 port watches them; elsewhere std's own)
#pragma once

#if defined(ASYNCLINK_PORT_SIM)
#include "asynclink/port/sim.hpp"
#elif defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#include "asynclink/port/cortex_m.hpp"
#else
#include "asynclink/port/linux.hpp"
#endif

#ifndef ASYNCLINK_PORT_HAS_DESCRIPTOR
#define ASYNCLINK_PORT_HAS_DESCRIPTOR 0
#endif
#ifndef ASYNCLINK_PORT_WAKE_IS_A_STORE
#define ASYNCLINK_PORT_WAKE_IS_A_STORE 0
#endif

namespace asynclink {
using Clock = port::Clock;
}
