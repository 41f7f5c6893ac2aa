// SPDX-License-Identifier: BSL-1.0
// What newlib and the C++ runtime expect from a hosted environment, for a
// program that never returns to one.
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "board.hpp"

extern "C" {

extern char end;          // the first byte after .bss (linker script)
extern char _heap_limit;  // where the stack region begins

// The heap is only for what the application itself allocates (asynclink
// allocates nothing here); it ends where the stack region begins.
void* _sbrk(std::ptrdiff_t increment) {
    static char* brk = &end;
    if (increment > &_heap_limit - brk) {
        errno = ENOMEM;
        return reinterpret_cast<void*>(-1);
    }
    char* old = brk;
    brk += increment;
    return old;
}

[[noreturn]] void _exit(int status) { board::exit(status); }

// Static destructors are never run: the program ends through board::exit().
int __aeabi_atexit(void*, void (*)(void*), void*) { return 0; }
void* __dso_handle = nullptr;
}
