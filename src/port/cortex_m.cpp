// SPDX-License-Identifier: BSL-1.0
// The Cortex-M port. See include/asynclink/port/cortex_m.hpp. Compiled only
// for M-profile cores (the hosted build's source glob sees an empty file).
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'

#include "asynclink/port/cortex_m.hpp"

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
constexpr std::uint32_t scr_sevonpend = 1u << 4;

// Written by the SysTick handler only; read anywhere. Relaxed throughout:
// the clock publishes nothing but its own value.
std::atomic<std::uint32_t> milliseconds{0};
std::uint32_t reload = 0;            // SysTick reload value: cycles per millisecond - 1
std::uint32_t ns_per_cycle_q12 = 0;  // nanoseconds per cycle, 12 fractional bits

void (*fatal_handler)(const char*) noexcept = nullptr;

// Keeps out this core's interrupts (PRIMASK) and the other cores (a spin lock
// on a 32-bit word) while a 64-bit value is read and written.
class CrossCoreGuard {
public:
    CrossCoreGuard() noexcept {
        // acquire: the data read below is what the last holder wrote.
        while (lock_.exchange(1, std::memory_order_acquire) != 0) {
        }
    }
    // release: our writes are visible to the next holder.
    ~CrossCoreGuard() { lock_.store(0, std::memory_order_release); }

private:
    CriticalSection masked_;
    static inline std::atomic<std::uint32_t> lock_{0};
};

// The latest time Clock::now() returned (guarded by CrossCoreGuard).
std::int64_t latest_ns = 0;

}  // namespace

void start_clock(std::uint32_t core_hz) noexcept {
    reload = core_hz / 1000 - 1;
    // 10^6 ns << 12 still fits 32 bits: a 32-bit division, not a 64-bit one
    // (which would link 700 bytes of __udivmoddi4).
    ns_per_cycle_q12 = 4'096'000'000u / (reload + 1);
    reg(syst_rvr) = reload;
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
    // A core whose SysTick is not running (core 1) reads whole milliseconds.
    if ((reg(syst_csr) & 1) == 0) {
        return time_point(duration(std::int64_t{milliseconds.load(std::memory_order_relaxed)} * 1'000'000));
    }
    std::uint32_t ms;
    std::uint32_t value;
    bool wrapped;
    // Read the count, the counter and whether a wrap is waiting to be counted,
    // again if the count moved meanwhile.
    do {
        ms = milliseconds.load(std::memory_order_relaxed);
        value = reg(syst_cvr);
        wrapped = (reg(scb_icsr) & icsr_pendstset) != 0;
    } while (ms != milliseconds.load(std::memory_order_relaxed));
    // A wrap not yet counted (we run with the tick masked or above its
    // priority): a counter read after it is high again, and belongs to the
    // next millisecond.
    if (wrapped && value > reload / 2) ++ms;
    // A 32x32 -> 64-bit multiply (UMULL); off by at most cycles per ms / 4096
    // nanoseconds (6 ns at 25 MHz), whatever the core clock.
    auto within_ms = static_cast<std::int64_t>((std::uint64_t{reload - value} * ns_per_cycle_q12) >> 12);
    std::int64_t ns = std::int64_t{ms} * 1'000'000 + within_ms;
    // Never earlier than a time already returned. On hardware the wrap and its
    // pending bit change together and the check above suffices, as long as the
    // tick is not masked for half a millisecond; under QEMU with threaded TCG
    // the counter can wrap a moment before the pending bit is set, and the
    // clock would step back by up to a millisecond. The clock then stands
    // still for that moment instead.
    CrossCoreGuard guard;
    if (ns < latest_ns) return time_point(duration(latest_ns));
    latest_ns = ns;
    return time_point(duration(ns));
}

void Idle::wait(std::optional<Clock::duration> timeout) noexcept {
    if (!timeout || timeout->count() > 0) {
        __asm__ __volatile__("cpsid i" : : : "memory");
        // Relaxed: the loop's fence F2 ordered the check for work; this only
        // decides whether to sleep, and an interrupt arriving after it stays
        // pending, which ends the WFI (or, through SEVONPEND, the WFE).
        if (woken_.load(std::memory_order_relaxed) == 0) {
#if defined(ASYNCLINK_CORTEX_M_IDLE_WFE)
            __asm__ __volatile__("dsb\n wfe" : : : "memory");
#else
            __asm__ __volatile__("dsb\n wfi" : : : "memory");
#endif
        }
        woken_.store(0, std::memory_order_relaxed);            // relaxed: the loop re-checks everything next
        __asm__ __volatile__("cpsie i\n isb" : : : "memory");  // the interrupt that woke us runs here
        return;
    }
    woken_.store(0, std::memory_order_relaxed);  // relaxed: as above
}

bool Idle::wake() noexcept {
    // Relaxed: the work was published before wake() was called (the loop's
    // protocol, fence F1); this flag only stops a WFI that has not begun. The
    // DSB makes the store visible before the SEV reaches another core.
    woken_.store(1, std::memory_order_relaxed);
    __asm__ __volatile__("dsb\n sev" : : : "memory");
    return true;
}

void block_thread(const std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    // A SEV after our load sets this core's event register, so the WFE
    // returns at once: the change is never slept through.
    // acquire: the caller re-checks state published with the word.
    while (word.load(std::memory_order_acquire) == expected) __asm__ __volatile__("wfe" : : : "memory");
}

void unblock_threads(const std::atomic<std::uint32_t>&) noexcept { __asm__ __volatile__("dsb\n sev" : : : "memory"); }

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

// SysTick: one millisecond passed.
extern "C" void SysTick_Handler() {
    using asynclink::port::milliseconds;
    milliseconds.store(milliseconds.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

#endif
