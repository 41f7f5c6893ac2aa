// SPDX-License-Identifier: BSL-1.0
// The sim port: asynclink's own code run under a controlled scheduler, for
// exploring its schedules (docs/testing.md, <asynclink/sim.hpp>). Selected by
// port.hpp when ASYNCLINK_PORT_SIM is defined (the asynclink_sim target).
//
// | piece           | realisation                                                  |
// |-----------------|--------------------------------------------------------------|
// | atomics, fences | sim::atomic: each operation is a preemption point first       |
// | contexts        | fibers (loops, threads, interrupt handlers) run one at a time |
// |                 | on one OS thread by the scheduler (src/sim/scheduler.hpp)     |
// | clock           | virtual: it stands still while contexts run, advances by a   |
// |                 | step at each spin hint, and jumps to the next deadline when  |
// |                 | every context is blocked                                      |
// | idle / wake     | the loop's context blocks until wake() or its deadline       |
// | thread blocking | the context blocks on the word until unblock_threads()       |
// | spinning        | cpu_relax and yield_thread advance the clock and let the      |
// |                 | scheduler run another context (a spin never holds the search)|
// | critical section| masks the interrupts of the context's core                   |
// | current loop    | one per context                                               |
// | failures        | fatal() fails the schedule instead of ending the process     |
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "asynclink/sim/atomic.hpp"

#define ASYNCLINK_PORT_HAS_THREADS 1

namespace asynclink {
class Loop;
}

namespace asynclink::port {

using sim::atomic;
using sim::atomic_thread_fence;

/// Virtual time, in nanoseconds since the schedule began (plus one second).
struct Clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<Clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept;
};

/// A loop's sleep: its context blocks until wake() or the timeout, which the
/// scheduler's clock reaches by jumping when nothing else can run.
class Idle {
public:
    Idle() noexcept = default;
    Idle(const Idle&) = delete;
    Idle& operator=(const Idle&) = delete;

    void wait(std::optional<Clock::duration> timeout) noexcept;
    bool wake() noexcept;

private:
    bool woken_ = false;  // one OS thread runs every context: a plain bool
};

/// Blocks the calling context while `word` holds `expected`.
void block_thread(const atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
/// Makes every context blocked on `word` runnable.
void unblock_threads(const atomic<std::uint32_t>& word) noexcept;

/// The fences of ThreadSafeQueue's asymmetric Dekker (see the Linux port):
/// the sim runs one context at a time with sequentially consistent memory, so
/// each is a preemption point only, where another context may run.
inline void prepare_sleep_fence() noexcept {}
inline void publish_fence() noexcept { sim::atomic_thread_fence(std::memory_order_seq_cst); }
inline void sleep_fence() noexcept { sim::atomic_thread_fence(std::memory_order_seq_cst); }
#define ASYNCLINK_PORT_ASYMMETRIC_FENCES 0
inline constexpr bool asymmetric_fences = false;  // both are full fences
inline bool asymmetric_fences_in_use() noexcept { return false; }

/// Spin hints: a preemption point where the scheduler prefers another
/// context, and a step of the virtual clock (1 us and 10 us), so a spin that
/// reads the clock ends after a few turns.
void cpu_relax() noexcept;
void yield_thread() noexcept;

/// The simulated cores: a context's core decides which interrupts stop it.
bool pin_current_thread(int cpu) noexcept;
int current_cpu() noexcept;
int cpu_count() noexcept;

/// Masks the interrupts of the calling context's core for its lifetime (it
/// nests), as PRIMASK does on Cortex-M.
class CriticalSection {
public:
    CriticalSection() noexcept;
    ~CriticalSection();
    CriticalSection(const CriticalSection&) = delete;
    CriticalSection& operator=(const CriticalSection&) = delete;

private:
    int core_;
};

/// The loop running in the calling context (nullptr if none).
Loop*& current_loop() noexcept;

/// Fails the running schedule with `message` (outside a schedule: prints it
/// and aborts).
[[noreturn]] void fatal(const char* message) noexcept;

inline constexpr std::size_t cache_line = 64;
/// As on Linux, whose code the sim explores.
inline constexpr bool coherent_caches = true;
/// The loop never polls before it idles: a poll is only more preemption
/// points, and the search is better spent elsewhere.
inline constexpr bool idle_spins = false;
/// Never: the schedule interleaves every context (see the Cortex-M port).
inline constexpr bool runs_alone() noexcept { return false; }
inline constexpr std::size_t max_timers = 0;
inline constexpr std::size_t max_schedule_capacity = 0;

}  // namespace asynclink::port
