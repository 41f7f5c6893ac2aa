// SPDX-License-Identifier: BSL-1.0
// The test boards, as QEMU models them: mps2-an385 (one Cortex-M3 at 25 MHz)
// and mps2-an521 (two Cortex-M33 at 20 MHz, started in Secure state). The
// firmware talks to the outside through UART0 (QEMU's -serial stdio) and ends
// through semihosting, which makes QEMU exit with the firmware's status.
#pragma once

#include <cstdint>

namespace board {

#if defined(BOARD_AN521)
inline constexpr std::uint32_t core_hz = 20'000'000;
inline constexpr unsigned timer0_irq = 3;
inline constexpr unsigned software_irq = 40;  // unwired lines, raised through NVIC STIR
inline constexpr unsigned software_irq_2 = 41;
#else
inline constexpr std::uint32_t core_hz = 25'000'000;
inline constexpr unsigned timer0_irq = 8;
inline constexpr unsigned software_irq = 28;
inline constexpr unsigned software_irq_2 = 29;
#endif
inline constexpr unsigned irq_count = 64;

/// UART on, clock (SysTick) started, fatal handler installed.
void init() noexcept;

void print(const char* text) noexcept;
void print_number(std::uint32_t value) noexcept;

/// Ends the program: QEMU exits with `code` (semihosting SYS_EXIT_EXTENDED).
[[noreturn]] void exit(int code) noexcept;
/// Prints "FAIL: what" and exits with status 1 unless `ok`.
void check(bool ok, const char* what) noexcept;
/// Prints "PASS" and exits with status 0.
[[noreturn]] void pass() noexcept;

/// Routes interrupt `irq` to `handler` and enables it in the NVIC.
void attach_irq(unsigned irq, void (*handler)() noexcept) noexcept;
void detach_irq(unsigned irq) noexcept;
/// Makes `irq` pending from software (NVIC STIR), as hardware would.
void trigger_irq(unsigned irq) noexcept;
/// The NVIC priority of `irq` (0 is the most urgent; the top bits count). A
/// pending interrupt of a more urgent priority preempts a running handler.
void set_irq_priority(unsigned irq, std::uint8_t priority) noexcept;

/// CMSDK timer 0: interrupts `rate_hz` times a second until stopped. Its
/// handler must call timer0_acknowledge().
void timer0_start(std::uint32_t rate_hz) noexcept;
void timer0_acknowledge() noexcept;
void timer0_stop() noexcept;

/// 0 or 1: the core running the caller (always 0 on mps2-an385).
unsigned core_id() noexcept;
/// mps2-an521: starts core 1 at `entry` on its own stack. Call once.
void start_core1(void (*entry)() noexcept) noexcept;

}  // namespace board
