// SPDX-License-Identifier: BSL-1.0
/// @file
/// The Cortex-M port: bare metal, no operating system. Selected by port.hpp
/// when compiling for an M-profile core; the rest of asynclink is the same
/// source as on Linux. See docs/bare-metal.md.
///
/// | piece            | realisation                                                |
/// |------------------|------------------------------------------------------------|
/// | clock            | tickless SysTick: 64-bit cycles, the periods that ended     |
/// |                  | plus the counter's progress in the running one              |
/// | idle / wake      | SysTick's period set to end at the loop's deadline (at most |
/// |                  | 2^24 cycles), interrupts masked (PRIMASK), then "woken?     |
/// |                  | else WFI", then unmasked, and again until woken or due. An  |
/// |                  | interrupt between the check and the WFI stays pending and   |
/// |                  | ends the WFI, so no wake-up is slept through.               |
/// |                  | wake() sets the flag and signals an event (SEV). With       |
/// |                  | ASYNCLINK_CORTEX_M_IDLE_WFE (several cores) the loop waits  |
/// |                  | in WFE, which another core's SEV ends (SEVONPEND is set, so |
/// |                  | a pending interrupt ends it too).                           |
/// | thread blocking  | WFE until the word changes; unblock_threads is DSB + SEV    |
/// |                  | (a core other than the loop's, blocked in put_sync/get_sync)|
/// | atomics          | one core: std::atomic's interface without DMB (see atomic  |
/// |                  | below); several cores (ASYNCLINK_CORTEX_M_IDLE_WFE):       |
/// |                  | std::atomic itself                                          |
/// | critical section | PRIMASK; 64-bit atomics (which no M profile has) take it    |
/// |                  | (plus a spin lock on several cores, so they hold across     |
/// |                  | cores)                                                      |
/// | ARMv6-M atomics  | M0/M0+ have no exclusive load/store: every 8-, 16- and     |
/// |                  | 32-bit read-modify-write is a libatomic call this port     |
/// |                  | defines under PRIMASK (one core only)                       |
/// | current loop     | one loop per program                                        |
/// | arrays           | fixed: ASYNCLINK_MAX_TIMERS (16), ASYNCLINK_MAX_SCHEDULE_   |
/// |                  | CAPACITY (64); nothing is allocated on the heap             |
///
/// Tested on M3 and M33, and with ARMv6-M code (-mcpu=cortex-m0) run on the M3
/// (docs/bare-metal.md). A two-core ARMv6-M chip (RP2040) would need its
/// hardware spin lock in the read-modify-write helpers; PRIMASK alone keeps out
/// interrupts, not the other core.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#define ASYNCLINK_PORT_HAS_THREADS 0

#ifndef ASYNCLINK_MAX_TIMERS
#define ASYNCLINK_MAX_TIMERS 16
#endif
#ifndef ASYNCLINK_MAX_SCHEDULE_CAPACITY
#define ASYNCLINK_MAX_SCHEDULE_CAPACITY 64
#endif

namespace asynclink {
class Loop;
}

namespace asynclink::port {

/// Every atomic operation and fence above the port goes through these names,
/// so that a port can watch them (the sim port makes each one a preemption
/// point).
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
/// Several cores: the standard library's own, with their barriers (DMB), as
/// if std::atomic were written.
template <class T>
using atomic = std::atomic<T>;
using std::atomic_thread_fence;
#else
/// One core: std::atomic's interface without barrier instructions. Every
/// context (thread mode and each interrupt handler) runs on this one core,
/// which observes its own memory accesses in program order, and an interrupt
/// is taken between two instructions: so what one context wrote before an
/// atomic store is there for any context that later reads it, and only the
/// compiler could reorder it. Each operation is the relaxed one (a plain load
/// or store; LDREX/STREX for a read-modify-write on ARMv7-M and ARMv8-M, the
/// PRIMASK helpers on ARMv6-M), with a compiler fence (std::atomic_signal_fence,
/// no instruction) on the side its memory order asks for. Every schedule of
/// such a program is an interleaving of program orders: what the sim port
/// explores. A part whose memory other bus masters (DMA) share with the
/// primitives' words is not covered, nor two cores: ASYNCLINK_CORTEX_M_IDLE_WFE
/// builds keep std::atomic.
template <class T>
class atomic {
public:
    using value_type = T;
    static constexpr bool is_always_lock_free = std::atomic<T>::is_always_lock_free;

    constexpr atomic() noexcept = default;
    constexpr atomic(T desired) noexcept : value_(desired) {}  // NOLINT(google-explicit-constructor): as std::atomic
    atomic(const atomic&) = delete;
    atomic& operator=(const atomic&) = delete;

    [[gnu::always_inline]] T load(std::memory_order order = std::memory_order_seq_cst) const noexcept {
        T v = value_.load(std::memory_order_relaxed);
        after(order);
        return v;
    }
    [[gnu::always_inline]] void store(T v, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        value_.store(v, std::memory_order_relaxed);
        if (order == std::memory_order_seq_cst) std::atomic_signal_fence(order);
    }
    [[gnu::always_inline]] T exchange(T v, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        T old = value_.exchange(v, std::memory_order_relaxed);
        after(order);
        return old;
    }
    [[gnu::always_inline]] bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                                                      std::memory_order failure) noexcept {
        before(success);
        bool ok = value_.compare_exchange_weak(expected, desired, std::memory_order_relaxed, std::memory_order_relaxed);
        after(ok ? success : failure);
        return ok;
    }
    [[gnu::always_inline]] bool compare_exchange_weak(T& expected, T desired,
                                                      std::memory_order order = std::memory_order_seq_cst) noexcept {
        return compare_exchange_weak(expected, desired, order, order);
    }
    [[gnu::always_inline]] bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                                                        std::memory_order failure) noexcept {
        before(success);
        bool ok =
            value_.compare_exchange_strong(expected, desired, std::memory_order_relaxed, std::memory_order_relaxed);
        after(ok ? success : failure);
        return ok;
    }
    [[gnu::always_inline]] bool compare_exchange_strong(T& expected, T desired,
                                                        std::memory_order order = std::memory_order_seq_cst) noexcept {
        return compare_exchange_strong(expected, desired, order, order);
    }
    template <class U>
    [[gnu::always_inline]] T fetch_add(U arg, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        T old = value_.fetch_add(arg, std::memory_order_relaxed);
        after(order);
        return old;
    }
    template <class U>
    [[gnu::always_inline]] T fetch_sub(U arg, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        T old = value_.fetch_sub(arg, std::memory_order_relaxed);
        after(order);
        return old;
    }
    [[gnu::always_inline]] T fetch_and(T arg, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        T old = value_.fetch_and(arg, std::memory_order_relaxed);
        after(order);
        return old;
    }
    [[gnu::always_inline]] T fetch_or(T arg, std::memory_order order = std::memory_order_seq_cst) noexcept {
        before(order);
        T old = value_.fetch_or(arg, std::memory_order_relaxed);
        after(order);
        return old;
    }

private:
    // The compiler keeps what the order asks for on each side: earlier
    // accesses before a release, later ones after an acquire.
    [[gnu::always_inline]] static void before(std::memory_order order) noexcept {
        if (order != std::memory_order_relaxed && order != std::memory_order_acquire &&
            order != std::memory_order_consume) {
            std::atomic_signal_fence(std::memory_order_seq_cst);
        }
    }
    [[gnu::always_inline]] static void after(std::memory_order order) noexcept {
        if (order != std::memory_order_relaxed && order != std::memory_order_release) {
            std::atomic_signal_fence(std::memory_order_seq_cst);
        }
    }

    std::atomic<T> value_{};
};
/// One core: a fence only keeps the compiler from moving accesses across it.
[[gnu::always_inline]] inline void atomic_thread_fence(std::memory_order order) noexcept {
    std::atomic_signal_fence(order);
}
#endif

/// The fences of ThreadSafeQueue's asymmetric Dekker (see the Linux port).
/// One core observes its own accesses in order and takes an interrupt between
/// two instructions, so both keep only the compiler from reordering; several
/// cores (ASYNCLINK_CORTEX_M_IDLE_WFE) have no membarrier, so both are a DMB.
inline void prepare_sleep_fence() noexcept {}
[[gnu::always_inline]] inline void publish_fence() noexcept { port::atomic_thread_fence(std::memory_order_seq_cst); }
[[gnu::always_inline]] inline void sleep_fence() noexcept { port::atomic_thread_fence(std::memory_order_seq_cst); }
#define ASYNCLINK_PORT_ASYMMETRIC_FENCES 0
inline constexpr bool asymmetric_fences = false;  // both are full fences
inline bool asymmetric_fences_in_use() noexcept { return false; }

/// The monotonic clock every timer in the loop runs on: nanoseconds since
/// start_clock(), with the resolution of one core clock cycle.
struct Clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<Clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept;
};

/// Starts the clock: SysTick counts the core clock (`core_hz`), in periods of
/// 2^24 cycles while no loop waits for a deadline (tickless: the idle wait
/// sets the period to end at the deadline). Call once at start-up, on the
/// loop's core, before the first loop runs. The vector table must route
/// SysTick to SysTick_Handler (defined by this port). Interrupts must not stay
/// masked for a whole SysTick period (docs/bare-metal.md, Limits), or the
/// clock loses one.
void start_clock(std::uint32_t core_hz) noexcept;

#if !defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
/// One core: wake() is one store, cheaper than the poster's look at whether
/// the loop sleeps, so every post wakes (see Idle::rearm).
#define ASYNCLINK_PORT_WAKE_IS_A_STORE 1
#endif

/// A loop's way to sleep until an interrupt (or another core) wakes it.
class Idle {
public:
    Idle() noexcept = default;
    Idle(const Idle&) = delete;
    Idle& operator=(const Idle&) = delete;

    /// Sleeps until wake() or the timeout: an interrupt that called no wake()
    /// (a SysTick at the end of a capped period) does not end it, so each
    /// return is one wake-up. A zero timeout only polls.
    void wait(std::optional<Clock::duration> timeout) noexcept;
#if ASYNCLINK_PORT_WAKE_IS_A_STORE
    /// Makes a current or the next wait() return. Any ISR. Never fails (true).
    /// A store and nothing else: wait() looks at the flag with interrupts
    /// masked just before its WFI, and an interrupt taken meanwhile stays
    /// pending and ends the WFI; no other core sleeps in a WFE.
    [[gnu::always_inline]] bool wake() noexcept {
        // The work this wake() announces is written before the flag: only the
        // compiler could reorder them (one core).
        std::atomic_signal_fence(std::memory_order_release);
        woken_.store(1, std::memory_order_relaxed);
        return true;
    }
    /// The loop, before its last look for work ahead of a wait(): forgets the
    /// wake() of a post it has already taken (every post wakes, asleep or not),
    /// so that the wait() sleeps. A post after this either is seen by that
    /// look or leaves the flag set for wait().
    void rearm() noexcept {
        woken_.store(0, std::memory_order_relaxed);  // relaxed: the loop's fence F2 orders it before the look
    }
#else
    /// Makes a current or the next wait() return. Any ISR, any core. Never
    /// fails (true).
    bool wake() noexcept;
#endif

private:
    std::atomic<std::uint32_t> woken_{0};
};

/// Waits (WFE) while `word` holds `expected`; spurious returns are possible.
void block_thread(const atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
/// Ends the block_thread() of another core (SEV).
void unblock_threads(const atomic<std::uint32_t>& word) noexcept;

inline void cpu_relax() noexcept { __asm__ __volatile__("nop"); }
/// No threads here: there is nobody to yield to.
inline void yield_thread() noexcept {}

/// Masks interrupts on this core (PRIMASK) for its lifetime and restores the
/// previous mask after, so it nests.
class CriticalSection {
public:
    CriticalSection() noexcept { __asm__ __volatile__("mrs %0, primask\n cpsid i" : "=r"(primask_) : : "memory"); }
    ~CriticalSection() { __asm__ __volatile__("msr primask, %0" : : "r"(primask_) : "memory"); }
    CriticalSection(const CriticalSection&) = delete;
    CriticalSection& operator=(const CriticalSection&) = delete;

private:
    std::uint32_t primask_;
};
#if !defined(__ARM_ARCH_6M__)
static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<void*>::is_always_lock_free,
              "ARMv7-M and ARMv8-M mainline have 32-bit read-modify-write atomics");
#endif

/// The loop running on this core (nullptr if none).
Loop*& current_loop() noexcept;

/// Called on misuse where nothing can be thrown: runs the handler given to
/// set_fatal_handler (which may print and stop the program), then traps
/// (UDF: a HardFault).
[[noreturn]] void fatal(const char* message) noexcept;
void set_fatal_handler(void (*handler)(const char* message) noexcept) noexcept;

/// How far apart two contexts' hot words are kept. M3 and M33 have no data
/// cache, so only alignment matters and padding would be wasted RAM; a part
/// whose cores share a data cache would set its line size here.
inline constexpr std::size_t cache_line = 8;
/// No data cache between the contexts: another context's word costs one
/// load like any other, so a queue end reads it each time rather than keep a
/// copy it must compare and refresh.
inline constexpr bool coherent_caches = false;

/// The loop never polls before it idles (LoopOptions::spin_before_sleep is
/// ignored): an interrupt ends a WFI within cycles, so polling only burns power.
inline constexpr bool idle_spins = false;

/// True in an interrupt handler of a one-core build: no thread-mode code (the
/// loop, a task arming a primitive, a loop ending) runs until the handler
/// returns, so a primitive's wake slot is read without a borrow
/// (detail::WakeSlot::with_core). A build for several cores, which defines
/// ASYNCLINK_CORTEX_M_IDLE_WFE, runs thread-mode code on the other core: never.
inline bool runs_alone() noexcept {
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
    return false;
#else
    std::uint32_t ipsr;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    return ipsr != 0;
#endif
}

inline constexpr std::size_t max_timers = ASYNCLINK_MAX_TIMERS;
inline constexpr std::size_t max_schedule_capacity = ASYNCLINK_MAX_SCHEDULE_CAPACITY;

}  // namespace asynclink::port
