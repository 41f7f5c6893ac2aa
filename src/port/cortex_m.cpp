// SPDX-License-Identifier: BSL-1.0
// The Cortex-M port. See include/asynclink/port/cortex_m.hpp. Compiled only
// for M-profile cores (the hosted build's source glob sees an empty file).
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'

#include "asynclink/port/cortex_m.hpp"

#include <algorithm>

namespace asynclink::port {

namespace {

// System control space registers, the same on every M profile.
volatile std::uint32_t& reg(std::uintptr_t address) { return *reinterpret_cast<volatile std::uint32_t*>(address); }
constexpr std::uintptr_t syst_csr = 0xE000E010;
constexpr std::uintptr_t syst_rvr = 0xE000E014;
constexpr std::uintptr_t syst_cvr = 0xE000E018;
constexpr std::uintptr_t scb_icsr = 0xE000ED04;
constexpr std::uintptr_t scb_scr = 0xE000ED10;
constexpr std::uint32_t icsr_pendstset = 1u << 26;
constexpr std::uint32_t icsr_pendstclr = 1u << 25;
constexpr std::uint32_t scr_sevonpend = 1u << 4;

// SysTick counts down 24 bits: the longest period, and the shortest one the
// idle wait programs (a deadline nearer than that is polled for instead: the
// SysTick handler must run before the counter wraps twice, and a period this
// long leaves the code between a wake-up and `cpsie` ample time).
constexpr std::uint32_t max_period = 1u << 24;
constexpr std::uint32_t min_period = 256;
// Restarting the counter: it is read and then cleared by the next
// instruction (sample_and_restart), and counts from the reload value one
// cycle after the clear; these cycles pass between the read and the start of
// the new period. (On an M3 or M4 the store's write lands a cycle or two after
// the load's read; the clock may lag a cycle per restart.)
constexpr std::uint32_t restart_cycles = 2;

void (*fatal_handler)(const char*) noexcept = nullptr;

// Keeps out this core's interrupts (PRIMASK) and the other cores (a spin lock
// on a 32-bit word) while a 64-bit value is read and written. A one-core
// build has no other core to keep out: PRIMASK alone.
class CrossCoreGuard {
public:
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
    CrossCoreGuard() noexcept {
        // acquire: the data read below is what the last holder wrote.
        while (lock_.exchange(1, std::memory_order_acquire) != 0) {
        }
    }
    // release: our writes are visible to the next holder.
    ~CrossCoreGuard() { lock_.store(0, std::memory_order_release); }
#else
    CrossCoreGuard() noexcept = default;
#endif
    CrossCoreGuard(const CrossCoreGuard&) = delete;
    CrossCoreGuard& operator=(const CrossCoreGuard&) = delete;

private:
    CriticalSection masked_;
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
    static inline std::atomic<std::uint32_t> lock_{0};
#endif
};

// The clock, tickless: SysTick runs periods of up to 2^24 cycles, and the
// idle wait programs the next one to end at the loop's next deadline, so no
// interrupt comes while nothing is due. The time is the cycles of every
// period that ended plus the counter's progress in the running one; the idle
// wait's restart of the counter adds the cycles it had counted. All of it is
// guarded by CrossCoreGuard (the SysTick handler included), so a reader on
// another core sees a consistent pair.
struct SysTickState {
    std::uint64_t period_start = 0;          // cycles since start_clock() when the running period began
    std::uint32_t period = max_period;       // cycles in the running period
    std::uint32_t next_period = max_period;  // cycles in the one after it: SYST_RVR + 1
    std::uint64_t ends_at_target = 0;        // the target the running period was set to end at, or 0
};
SysTickState systick;
// Nanoseconds per cycle (whole + frac / 2^32) and cycles per nanosecond
// (cycles_per_ns_q32 / 2^32, rounded up), from start_clock().
std::uint32_t ns_per_cycle_whole = 0;
std::uint32_t ns_per_cycle_frac = 0;
std::uint32_t cycles_per_ns_q32 = 0;

// The latest time read (guarded by CrossCoreGuard): see cycles_now().
std::uint64_t latest_cycles = 0;

// floor(numerator * 2^32 / denominator) for numerator < denominator, by long
// division: no 64-bit division (which would link 700 bytes of __udivmoddi4).
[[gnu::noinline]] std::uint32_t fraction_q32(std::uint32_t numerator, std::uint32_t denominator) noexcept {
    std::uint64_t remainder = numerator;
    std::uint32_t quotient = 0;
    for (int bit = 0; bit < 32; ++bit) {
        remainder <<= 1;
        quotient <<= 1;
        if (remainder >= denominator) {
            remainder -= denominator;
            quotient |= 1;
        }
    }
    return quotient;
}

// Within one nanosecond of the exact value, whatever the core clock.
std::int64_t cycles_to_ns(std::uint64_t cycles) noexcept {
    auto high = static_cast<std::uint32_t>(cycles >> 32);
    auto low = static_cast<std::uint32_t>(cycles);
    return static_cast<std::int64_t>(cycles * ns_per_cycle_whole + std::uint64_t{high} * ns_per_cycle_frac +
                                     ((std::uint64_t{low} * ns_per_cycle_frac) >> 32));
}

// At least the cycles `ns` nanoseconds take, plus two: the clock at
// start + the result reads at least its value at start + ns (see Idle::wait).
std::uint64_t ns_to_cycles_after(std::int64_t ns) noexcept {
    auto value = static_cast<std::uint64_t>(ns);
    auto high = static_cast<std::uint32_t>(value >> 32);
    auto low = static_cast<std::uint32_t>(value);
    return std::uint64_t{high} * cycles_per_ns_q32 + ((std::uint64_t{low} * cycles_per_ns_q32) >> 32) + 2;
}

bool wrap_pending() noexcept { return (reg(scb_icsr) & icsr_pendstset) != 0; }

// The cycles since start_clock(). Interrupts masked (CrossCoreGuard). A wrap
// the handler has not counted yet (we run masked, or above the tick's
// priority) is pending with the counter reloaded (non-zero: it reads zero in
// the last cycle of a period, when the wrap is pending already), so the value
// belongs to the next period; the pending bit is read before and after the
// counter, so both reads see the same side of the wrap. The handler is never
// a whole period late: the shortest is min_period, set only while the idle
// wait sleeps masked, and it takes the interrupt at once when woken.
//
// Never earlier than a time already read. On hardware the wrap and its
// pending bit change together and the reads above suffice; under QEMU with
// threaded TCG the counter can wrap a moment before the pending bit is set,
// and the clock would step back by up to a period. It then stands still for
// that moment instead. `counter`, if given, receives the counter value read.
std::uint64_t cycles_now(std::uint32_t* counter = nullptr) noexcept {
    bool wrapped;
    std::uint32_t value;
    do {
        wrapped = wrap_pending();
        value = reg(syst_cvr);
    } while (wrapped != wrap_pending());
    if (counter != nullptr) *counter = value;
    // Zero without a pending wrap: the last cycle of the period, or a counter
    // just restarted (program_period_end) that has not reloaded yet, which
    // takes one cycle on hardware but under QEMU lasts until its timer
    // callback runs. The clock stands still there.
    if (value == 0 && !wrapped) return std::max(systick.period_start, latest_cycles);
    std::uint64_t cycles = wrapped && value != 0
                               ? systick.period_start + systick.period + (systick.next_period - 1 - value)
                               : systick.period_start + (systick.period - 1 - value);
    if (cycles < latest_cycles) return latest_cycles;
    latest_cycles = cycles;
    return cycles;
}

bool systick_running() noexcept { return (reg(syst_csr) & 1) != 0; }

// Makes the running period end at `target` (cycles since start_clock()), or
// max_period from now if that is sooner. Interrupts masked (CrossCoreGuard).
// False, and nothing changed, when the target is nearer than min_period:
// poll for it instead of sleeping. A period already ending at the target is
// kept, so a wait woken by an unrelated interrupt does not restart the count;
// so is a longest period followed by another when the target lies beyond it
// (its wrap wakes the wait, which then programs the rest).
bool program_period_end(std::uint64_t target) noexcept {
    if (!wrap_pending() &&
        (systick.ends_at_target == target || (systick.period == max_period && systick.next_period == max_period &&
                                              target >= systick.period_start + max_period))) {
        return true;
    }
    std::uint32_t estimated_at;
    std::uint64_t now = cycles_now(&estimated_at);
    if (target < now + min_period) return false;
    std::uint64_t wanted = target - now;
    std::uint32_t period = wanted < max_period ? static_cast<std::uint32_t>(wanted) : max_period;
    // Read the counter, set the new period and clear the counter (which
    // restarts it from SYST_RVR) in three consecutive instructions, so that
    // only restart_cycles pass uncounted between the read and the restart.
    // The new period starts a little after `now`, so it ends a little after
    // the target, never before.
    std::uint32_t restarted_at;
    std::uint32_t zero = 0;
    __asm__ __volatile__("ldr %0, [%1]\n str %2, [%3]\n str %4, [%1]"
                         : "=&l"(restarted_at)  // low registers: ARMv6-M's LDR and STR take no other
                         : "l"(syst_cvr), "l"(period - 1), "l"(syst_rvr), "l"(zero)
                         : "memory");
    // The cycles counted between the two reads: a wrap between them (the
    // counter went up) reloaded the old SYST_RVR, next_period - 1.
    std::uint32_t since_estimate = restarted_at <= estimated_at
                                       ? estimated_at - restarted_at
                                       : estimated_at + 1 + (systick.next_period - 1 - restarted_at);
    // Any wrap pending now is one counted in the cycles above.
    reg(scb_icsr) = icsr_pendstclr;
    systick.period_start = now + since_estimate + restart_cycles;
    systick.period = period;
    systick.next_period = period;
    systick.ends_at_target = wanted <= max_period ? target : 0;
    latest_cycles = systick.period_start;
    return true;
}

[[gnu::noinline]] bool reached(std::uint64_t target) noexcept {
    CrossCoreGuard guard;
    return cycles_now() >= target;
}

}  // namespace

void start_clock(std::uint32_t core_hz) noexcept {
    ns_per_cycle_whole = 1'000'000'000u / core_hz;
    ns_per_cycle_frac = fraction_q32(1'000'000'000u % core_hz, core_hz);
    cycles_per_ns_q32 = fraction_q32(core_hz, 1'000'000'000u) + 1;  // rounded up
    systick = SysTickState{};
    reg(syst_rvr) = max_period - 1;
    reg(syst_cvr) = 0;
    reg(syst_csr) = 7;  // core clock, interrupt on wrap, enabled
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
    reg(scb_scr) |= scr_sevonpend;  // an interrupt becoming pending ends a WFE, masked or not
#else
    (void)scr_sevonpend;
    (void)scb_scr;
#endif
}

Clock::time_point Clock::now() noexcept {
    CrossCoreGuard guard;
    // A core whose SysTick is not running (core 1) reads the start of the
    // loop core's running period: coarse, but never ahead of it.
    std::uint64_t cycles = systick_running() ? cycles_now() : std::max(systick.period_start, latest_cycles);
    return time_point(duration(cycles_to_ns(cycles)));
}

void Idle::wait(std::optional<Clock::duration> timeout) noexcept {
    if (timeout && timeout->count() <= 0) {
        woken_.store(0, std::memory_order_relaxed);  // relaxed: the loop re-checks everything next
        return;
    }
    // The SysTick wrap that ends the wait: at or after the loop's deadline,
    // which is at most now + timeout (the loop read the clock first); none
    // without a timeout.
    std::uint64_t target = ~std::uint64_t{0};
    if (timeout) {
        CrossCoreGuard guard;
        target = cycles_now() + ns_to_cycles_after(timeout->count());
    }
    for (;;) {
        __asm__ __volatile__("cpsid i" : : : "memory");
        // Relaxed: the loop's fence F2 ordered the check for work; this only
        // decides whether to sleep, and an interrupt arriving after it stays
        // pending, which ends the WFI (or, through SEVONPEND, the WFE).
        if (woken_.load(std::memory_order_relaxed) != 0) break;
        bool sleep;
        {
            CrossCoreGuard guard;  // nests: PRIMASK stays set after it
            sleep = program_period_end(target);
        }
        if (!sleep) {
            // Due within min_period: poll for it here, interrupts enabled, so
            // that each return is one wake-up (the loop finds the timer due).
            __asm__ __volatile__("cpsie i" : : : "memory");
            while (woken_.load(std::memory_order_relaxed) == 0 && !reached(target)) {  // relaxed: as above
            }
            break;
        }
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
        __asm__ __volatile__("dsb\n wfe" : : : "memory");
#else
        __asm__ __volatile__("dsb\n wfi" : : : "memory");
#endif
        __asm__ __volatile__("cpsie i\n isb" : : : "memory");  // the interrupt that woke us runs here
        // Back to sleep unless woken or due: an interrupt that called no
        // wake() (the SysTick at the end of a capped period, a device's) has
        // given the loop nothing to do.
        if (woken_.load(std::memory_order_relaxed) != 0) break;  // relaxed: as above
        if (reached(target)) break;
    }
    woken_.store(0, std::memory_order_relaxed);  // relaxed: the loop re-checks everything next
    __asm__ __volatile__("cpsie i" : : : "memory");
}

#if !ASYNCLINK_PORT_WAKE_IS_A_STORE
bool Idle::wake() noexcept {
    // Relaxed: the work was published before wake() was called (the loop's
    // protocol, fence F1); this flag only stops a WFI that has not begun. The
    // DSB makes the store visible before the SEV reaches another core.
    woken_.store(1, std::memory_order_relaxed);
    __asm__ __volatile__("dsb\n sev" : : : "memory");
    return true;
}
#endif

void block_thread(const atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    // A SEV after our load sets this core's event register, so the WFE
    // returns at once: the change is never slept through.
    // acquire: the caller re-checks state published with the word.
    while (word.load(std::memory_order_acquire) == expected) __asm__ __volatile__("wfe" : : : "memory");
}

void unblock_threads(const atomic<std::uint32_t>&) noexcept { __asm__ __volatile__("dsb\n sev" : : : "memory"); }

Loop*& current_loop() noexcept {
    static Loop* loop = nullptr;
    return loop;
}

void set_fatal_handler(void (*handler)(const char*) noexcept) noexcept { fatal_handler = handler; }

void fatal(const char* message) noexcept {
    if (fatal_handler != nullptr) fatal_handler(message);
    __builtin_trap();
}

}  // namespace asynclink::port

// 64-bit atomics, which no M profile has in hardware: the compiler calls these
// (libatomic's interface), and each runs under CrossCoreGuard.
namespace {

using U64 = unsigned long long;
volatile U64& word64(volatile void* p) noexcept { return *static_cast<volatile U64*>(p); }

}  // namespace

extern "C" {

U64 __atomic_load_8(const volatile void* p, int) noexcept {
    asynclink::port::CrossCoreGuard guard;
    return *static_cast<const volatile U64*>(p);
}

void __atomic_store_8(volatile void* p, U64 value, int) noexcept {
    asynclink::port::CrossCoreGuard guard;
    word64(p) = value;
}

U64 __atomic_exchange_8(volatile void* p, U64 value, int) noexcept {
    asynclink::port::CrossCoreGuard guard;
    U64 old = word64(p);
    word64(p) = value;
    return old;
}

U64 __atomic_fetch_add_8(volatile void* p, U64 value, int) noexcept {
    asynclink::port::CrossCoreGuard guard;
    U64 old = word64(p);
    word64(p) = old + value;
    return old;
}

bool __atomic_compare_exchange_8(volatile void* p, void* expected, U64 desired, bool, int, int) noexcept {
    asynclink::port::CrossCoreGuard guard;
    U64 current = word64(p);
    if (current == *static_cast<U64*>(expected)) {
        word64(p) = desired;
        return true;
    }
    *static_cast<U64*>(expected) = current;
    return false;
}

}  // extern "C"

#if defined(__ARM_ARCH_6M__)
// ARMv6-M (M0/M0+) has no exclusive load/store, so every read-modify-write
// atomic is one of these calls: interrupts masked, which makes it atomic with
// respect to every ISR of this core (the only other context there is on a
// one-core chip). Plain loads and stores of 32 bits or less are atomic by
// themselves and stay inline.
namespace {

template <class T, class Op>
T read_modify_write(volatile void* p, Op op) noexcept {
    asynclink::port::CriticalSection masked;
    auto& word = *static_cast<volatile T*>(p);
    T old = word;
    word = op(old);
    return old;
}

template <class T>
bool compare_exchange(volatile void* p, void* expected, T desired) noexcept {
    asynclink::port::CriticalSection masked;
    auto& word = *static_cast<volatile T*>(p);
    T current = word;
    if (current == *static_cast<T*>(expected)) {
        word = desired;
        return true;
    }
    *static_cast<T*>(expected) = current;
    return false;
}

}  // namespace

#define ASYNCLINK_V6M_ATOMICS(N, T)                                                                            \
    T __atomic_exchange_##N(volatile void* p, T v, int) noexcept {                                             \
        return read_modify_write<T>(p, [v](T) { return v; });                                                  \
    }                                                                                                          \
    T __atomic_fetch_add_##N(volatile void* p, T v, int) noexcept {                                            \
        return read_modify_write<T>(p, [v](T old) { return static_cast<T>(old + v); });                        \
    }                                                                                                          \
    T __atomic_fetch_sub_##N(volatile void* p, T v, int) noexcept {                                            \
        return read_modify_write<T>(p, [v](T old) { return static_cast<T>(old - v); });                        \
    }                                                                                                          \
    T __atomic_fetch_and_##N(volatile void* p, T v, int) noexcept {                                            \
        return read_modify_write<T>(p, [v](T old) { return static_cast<T>(old & v); });                        \
    }                                                                                                          \
    T __atomic_fetch_or_##N(volatile void* p, T v, int) noexcept {                                             \
        return read_modify_write<T>(p, [v](T old) { return static_cast<T>(old | v); });                        \
    }                                                                                                          \
    bool __atomic_compare_exchange_##N(volatile void* p, void* expected, T desired, bool, int, int) noexcept { \
        return compare_exchange<T>(p, expected, desired);                                                      \
    }

extern "C" {
ASYNCLINK_V6M_ATOMICS(1, unsigned char)
ASYNCLINK_V6M_ATOMICS(2, unsigned short)
ASYNCLINK_V6M_ATOMICS(4, unsigned int)
}
#undef ASYNCLINK_V6M_ATOMICS
#endif

// SysTick: a period ended. The counter has reloaded with the next period;
// the one after it is the longest again, so a period the idle wait shortened
// for a deadline runs at most twice while the loop does not wait.
extern "C" void SysTick_Handler() {
    using asynclink::port::systick;
    asynclink::port::CrossCoreGuard guard;
    systick.period_start += systick.period;
    systick.period = systick.next_period;
    systick.ends_at_target = 0;
    if (systick.next_period != asynclink::port::max_period) {
        systick.next_period = asynclink::port::max_period;
        asynclink::port::reg(asynclink::port::syst_rvr) = asynclink::port::max_period - 1;
    }
}

#endif
