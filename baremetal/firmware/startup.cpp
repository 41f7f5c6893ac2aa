// SPDX-License-Identifier: BSL-1.0
// Start-up for the mps2 test boards: the vector tables, the reset handler
// (copy .data, zero .bss, run constructors, call firmware_main, exit with its
// status; main() itself may not be called in C++),
// fault handlers that report and exit (a fault must not hang QEMU), and one
// dispatcher for every device interrupt, which calls the handler
// board::attach_irq() registered.
#include <cstdint>

#include "board.hpp"

extern "C" {
extern std::uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _stack_top, _core1_stack_top;
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
int firmware_main();
void SysTick_Handler();
void Reset_Handler();
void Core1_Reset_Handler();
}

namespace board {
extern void (*irq_handlers[irq_count])() noexcept;
#if defined(BOARD_AN521)
extern void (*core1_entry)() noexcept;
#endif
}  // namespace board

namespace {

[[noreturn]] void fault(const char* what) {
    board::print("FAULT: ");
    board::print(what);
    board::print("\n");
    board::exit(3);
}

void nmi_handler() { fault("NMI"); }
void hard_fault_handler() { fault("HardFault"); }
void mem_manage_handler() { fault("MemManage"); }
void bus_fault_handler() { fault("BusFault"); }
void usage_fault_handler() { fault("UsageFault"); }
void secure_fault_handler() { fault("SecureFault"); }
void unexpected_handler() { fault("unexpected exception"); }

void irq_dispatch() {
    std::uint32_t ipsr;
    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    std::uint32_t irq = ipsr - 16;
    if (irq >= board::irq_count || board::irq_handlers[irq] == nullptr) fault("interrupt without a handler");
    board::irq_handlers[irq]();
}

using Vector = void (*)();
constexpr unsigned vector_count = 16 + board::irq_count;

struct VectorTable {
    const void* stack_top;
    Vector entries[vector_count - 1];
};

constexpr VectorTable make_table(const void* stack_top, Vector reset) {
    VectorTable t{stack_top, {}};
    Vector system[15] = {reset,
                         nmi_handler,
                         hard_fault_handler,
                         mem_manage_handler,
                         bus_fault_handler,
                         usage_fault_handler,
                         secure_fault_handler,
                         nullptr,
                         nullptr,
                         nullptr,
                         unexpected_handler,  // SVCall
                         unexpected_handler,  // DebugMonitor
                         nullptr,
                         unexpected_handler,  // PendSV
                         SysTick_Handler};
    for (unsigned i = 0; i < 15; ++i) t.entries[i] = system[i];
    for (unsigned i = 15; i < vector_count - 1; ++i) t.entries[i] = irq_dispatch;
    return t;
}

}  // namespace

// VTOR needs the table aligned to its size rounded up to a power of two.
__attribute__((section(".vectors"), used, aligned(512))) constinit const VectorTable vectors =
    make_table(&_stack_top, Reset_Handler);

extern "C" void Reset_Handler() {
    for (std::uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (std::uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FEATURE_CMSE) || defined(BOARD_AN521)
    // Fault exceptions on their own handlers rather than all as HardFault.
    *reinterpret_cast<volatile std::uint32_t*>(0xE000ED24) |= 0xF0000;  // SHCSR: Mem/Bus/Usage/Secure fault enable
#else
    *reinterpret_cast<volatile std::uint32_t*>(0xE000ED24) |= 0x70000;
#endif
    for (auto* f = __init_array_start; f != __init_array_end; ++f) (*f)();
    board::exit(firmware_main());
}

#if defined(BOARD_AN521)
__attribute__((section(".vectors_core1"), used, aligned(512))) constinit const VectorTable core1_vectors_table =
    make_table(&_core1_stack_top, Core1_Reset_Handler);
namespace board {
const void* core1_vector_table() noexcept { return &core1_vectors_table; }
}  // namespace board

extern "C" void Core1_Reset_Handler() {
    board::core1_entry();
    for (;;) __asm__ __volatile__("wfe");
}
#endif
