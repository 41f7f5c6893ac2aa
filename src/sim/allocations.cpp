// SPDX-License-Identifier: BSL-1.0
// The leak check: the global operator new and delete, replaced for programs
// that link the sim, note each block a schedule's contexts allocate and
// forget it when freed; what is left at the schedule's end is a leak (a task
// frame, a node, a buffer). Outside a schedule they only allocate.
#include <cstdlib>
#include <new>
#include <unordered_map>

#include "scheduler.hpp"

namespace asynclink::sim::detail {

namespace {

bool tracking = false;
int untracked = 0;     // > 0 while the scheduler allocates: not noted
bool in_hook = false;  // this file's own map allocating

std::unordered_map<void*, std::size_t>& live_blocks() {
    static auto* blocks = new std::unordered_map<void*, std::size_t>();  // never destroyed: used up to exit
    return *blocks;
}

void note(void* p, std::size_t size) {
    if (!tracking || untracked > 0 || in_hook || p == nullptr) return;
    in_hook = true;
    live_blocks().emplace(p, size);
    in_hook = false;
}

// Also under Untracked: the scheduler may free what a context allocated.
void forget(void* p) {
    if (!tracking || in_hook || p == nullptr) return;
    in_hook = true;
    live_blocks().erase(p);
    in_hook = false;
}

void* allocate(std::size_t size) {
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) throw std::bad_alloc();
    note(p, size);
    return p;
}

void* allocate_aligned(std::size_t size, std::align_val_t align) {
    auto a = static_cast<std::size_t>(align);
    void* p = std::aligned_alloc(a, (size + a - 1) / a * a);
    if (p == nullptr) throw std::bad_alloc();
    note(p, size);
    return p;
}

void release(void* p) noexcept {
    forget(p);
    std::free(p);
}

}  // namespace

void Allocations::start() noexcept { tracking = true; }
void Allocations::stop() noexcept { tracking = false; }
std::vector<std::size_t> Allocations::live() {
    std::vector<std::size_t> sizes;
    for (const auto& [p, size] : live_blocks()) sizes.push_back(size);
    return sizes;
}
void Allocations::clear() noexcept {
    in_hook = true;
    live_blocks().clear();
    in_hook = false;
}

Untracked::Untracked() noexcept { ++untracked; }
Untracked::~Untracked() { --untracked; }
int Untracked::exchange_depth(int depth) noexcept {
    int old = untracked;
    untracked = depth;
    return old;
}

}  // namespace asynclink::sim::detail

namespace sd = asynclink::sim::detail;

void* operator new(std::size_t size) { return sd::allocate(size); }
void* operator new[](std::size_t size) { return sd::allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return sd::allocate(size);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void* operator new(std::size_t size, std::align_val_t align) { return sd::allocate_aligned(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return sd::allocate_aligned(size, align); }
void operator delete(void* p) noexcept { sd::release(p); }
void operator delete[](void* p) noexcept { sd::release(p); }
void operator delete(void* p, std::size_t) noexcept { sd::release(p); }
void operator delete[](void* p, std::size_t) noexcept { sd::release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { sd::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { sd::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { sd::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { sd::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { sd::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { sd::release(p); }
