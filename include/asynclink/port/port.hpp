// The port seam. Everything above this header reaches the platform only
// through the names in asynclink::port, chosen here at compile time:
//   - Clock                       monotonic time for timers
//   - Idle                        per-loop sleep / wake (wake is ISR/signal-safe)
//   - park / unpark_all           parking a thread on a 32-bit atomic
//   - pin_current_thread, ...     CPU affinity
//   - CriticalSection             interrupt masking where atomics are not enough
//   - current_loop                the loop running in this context
#pragma once

#include "asynclink/port/linux.hpp"

namespace asynclink {
using Clock = port::Clock;
}
