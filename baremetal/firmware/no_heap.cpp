// SPDX-License-Identifier: BSL-1.0
// For firmware without a heap: operator new and delete that no allocator
// stands behind, so none is linked. asynclink allocates nothing on the Cortex-M
// port (frames come from the frame pool, the loop's arrays are fixed, a
// ThreadSafeQueue can be given its storage), yet a ThreadSafeQueue's
// destructor still names delete[] for storage it could have allocated itself.
// Any actual allocation is a bug here, and stops the program.
#include <cstddef>
#include <new>

#include "asynclink/port/port.hpp"

void* operator new(std::size_t) { asynclink::port::fatal("no heap in this firmware"); }
void* operator new[](std::size_t) { asynclink::port::fatal("no heap in this firmware"); }
void operator delete(void* p) noexcept {
    if (p != nullptr) asynclink::port::fatal("no heap in this firmware");
}
void operator delete[](void* p) noexcept {
    if (p != nullptr) asynclink::port::fatal("no heap in this firmware");
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete[](p); }
