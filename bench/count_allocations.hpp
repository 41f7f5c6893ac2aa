// SPDX-License-Identifier: BSL-1.0
// Counts every heap allocation of the process, at the C level: malloc,
// calloc, realloc, aligned_alloc, posix_memalign and memalign are interposed
// (this executable's definitions win over glibc's) and forward to glibc's
// __libc_* entry points. Counting below operator new matters: Boost.Asio
// allocates its coroutine frames and handlers with aligned_alloc directly, so
// a replaced operator new alone would see none of them.
//
// Include in exactly one translation unit of a benchmark executable.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace asynclink_bench {
// Relaxed: plain counters, read after the counted work was synchronised with
// (joined threads, or the primitive under test).
inline std::atomic<std::uint64_t> heap_allocations{0};
inline std::atomic<std::uint64_t> heap_bytes{0};
inline void count_heap(std::size_t size) noexcept {
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    heap_bytes.fetch_add(size, std::memory_order_relaxed);
}
}  // namespace asynclink_bench

extern "C" {
void* malloc(std::size_t size) {
    asynclink_bench::count_heap(size);
    return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
    asynclink_bench::count_heap(n * size);
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t size) {
    asynclink_bench::count_heap(size);
    return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
    asynclink_bench::count_heap(size);
    return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
    asynclink_bench::count_heap(size);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
    asynclink_bench::count_heap(size);
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}
}
