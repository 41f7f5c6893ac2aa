// SPDX-License-Identifier: BSL-1.0
// Board support for the QEMU mps2 machines. See board.hpp.
#include "board.hpp"

#include <atomic>

#include "asynclink/port/port.hpp"

namespace board {

namespace {

volatile std::uint32_t& reg(std::uintptr_t address) { return *reinterpret_cast<volatile std::uint32_t*>(address); }

#if defined(BOARD_AN521)
constexpr std::uintptr_t uart0 = 0x50200000;
constexpr std::uintptr_t timer0 = 0x50000000;
constexpr std::uintptr_t cpu_identity = 0x4001F000;
constexpr std::uintptr_t initsvtor1 = 0x50021114;
constexpr std::uintptr_t cpuwait = 0x50021118;
#else
constexpr std::uintptr_t uart0 = 0x40004000;
constexpr std::uintptr_t timer0 = 0x40000000;
#endif
// CMSDK APB UART and timer registers.
constexpr std::uintptr_t uart_data = 0x0, uart_state = 0x4, uart_ctrl = 0x8, uart_bauddiv = 0x10;
constexpr std::uintptr_t timer_ctrl = 0x0, timer_value = 0x4, timer_reload = 0x8, timer_intclear = 0xC;
// NVIC.
constexpr std::uintptr_t nvic_iser = 0xE000E100, nvic_icer = 0xE000E180, nvic_stir = 0xE000EF00;
constexpr std::uintptr_t nvic_ipr = 0xE000E400;  // a byte per interrupt; ARMv6-M allows only word access

void on_fatal(const char* message) noexcept {
    print("FATAL: ");
    print(message);
    print("\n");
    exit(2);
}

int semihost(int operation, void* argument) noexcept {
    register int r0 __asm__("r0") = operation;
    register void* r1 __asm__("r1") = argument;
    __asm__ __volatile__("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

}  // namespace

void (*irq_handlers[irq_count])() noexcept = {};

void init() noexcept {
    reg(uart0 + uart_bauddiv) = 16;
    reg(uart0 + uart_ctrl) = 1;  // transmitter on
    asynclink::port::set_fatal_handler(&on_fatal);
    asynclink::port::start_clock(core_hz);
}

void print(const char* text) noexcept {
    // No lock: characters from two cores would interleave (the tests print from core 0 only).
    for (; *text != '\0'; ++text) {
        while ((reg(uart0 + uart_state) & 1) != 0) {
        }
        reg(uart0 + uart_data) = static_cast<std::uint8_t>(*text);
    }
}

void print_number(std::uint32_t value) noexcept {
    char digits[11];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    char text[12];
    for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
    text[n] = '\0';
    print(text);
}

void exit(int code) noexcept {
    std::uint32_t block[2] = {0x20026, static_cast<std::uint32_t>(code)};  // ADP_Stopped_ApplicationExit
    for (;;) semihost(0x20, block);                                        // SYS_EXIT_EXTENDED
}

void check(bool ok, const char* what) noexcept {
    if (ok) return;
    print("FAIL: ");
    print(what);
    print("\n");
    exit(1);
}

void pass() noexcept {
    print("PASS\n");
    exit(0);
}

void attach_irq(unsigned irq, void (*handler)() noexcept) noexcept {
    irq_handlers[irq] = handler;
    reg(nvic_iser + 4 * (irq / 32)) = 1u << (irq % 32);
}

void detach_irq(unsigned irq) noexcept {
    reg(nvic_icer + 4 * (irq / 32)) = 1u << (irq % 32);
    __asm__ __volatile__("dsb\n isb" : : : "memory");
    irq_handlers[irq] = nullptr;
}

void trigger_irq(unsigned irq) noexcept { reg(nvic_stir) = irq; }

void set_irq_priority(unsigned irq, std::uint8_t priority) noexcept {
    volatile std::uint32_t& word = reg(nvic_ipr + 4 * (irq / 4));
    unsigned shift = 8 * (irq % 4);
    word = (word & ~(0xffu << shift)) | (std::uint32_t{priority} << shift);
}

void timer0_start(std::uint32_t rate_hz) noexcept {
    std::uint32_t reload = core_hz / rate_hz - 1;
    reg(timer0 + timer_ctrl) = 0;
    reg(timer0 + timer_reload) = reload;
    reg(timer0 + timer_value) = reload;
    reg(timer0 + timer_intclear) = 1;
    reg(timer0 + timer_ctrl) = 1 | 8;  // enabled, interrupt enabled
}

void timer0_acknowledge() noexcept { reg(timer0 + timer_intclear) = 1; }

void timer0_stop() noexcept {
    reg(timer0 + timer_ctrl) = 0;
    reg(timer0 + timer_intclear) = 1;
}

#if defined(BOARD_AN521)
unsigned core_id() noexcept { return reg(cpu_identity) & 1; }

const void* core1_vector_table() noexcept;  // startup.cpp
void (*core1_entry)() noexcept = nullptr;

void start_core1(void (*entry)() noexcept) noexcept {
    core1_entry = entry;
    __asm__ __volatile__("dsb" : : : "memory");
    reg(initsvtor1) = reinterpret_cast<std::uintptr_t>(core1_vector_table());
    reg(cpuwait) = 0;
}
#else
unsigned core_id() noexcept { return 0; }
void start_core1(void (*)() noexcept) noexcept { check(false, "mps2-an385 has one core"); }
#endif

}  // namespace board
