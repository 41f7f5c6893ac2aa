// SPDX-License-Identifier: BSL-1.0
// Fibers for the sim's contexts: Boost.Context's fcontext switch on stacks of
// our own (mapped once with a guard page, then reused from schedule to
// schedule), annotated for AddressSanitizer so it follows each switch. A
// fiber that is abandoned (its schedule failed) is never unwound: its stack
// is simply reused.
#pragma once

#include <cstddef>
#include <vector>

namespace asynclink::sim::detail {

class Fiber {
public:
    /// The fiber of the calling OS thread's own stack.
    Fiber() noexcept = default;
    /// A fiber that will run entry(arg) on a stack of its own. entry must
    /// never return: it switches away for good (switch_to with `leaving`).
    Fiber(void (*entry)(void*), void* arg);
    ~Fiber();
    Fiber(const Fiber&) = delete;
    Fiber& operator=(const Fiber&) = delete;

    /// Suspends `from` (the running fiber) and runs `to`. `leaving`: from
    /// never runs again.
    static void switch_to(Fiber& from, Fiber& to, bool leaving = false) noexcept;

private:
    friend struct FiberEntry;

    void* context_ = nullptr;  // fcontext_t while suspended
    void* stack_ = nullptr;    // mapping (guard page first); null for the thread's own stack
    std::size_t stack_size_ = 0;
    const void* asan_bottom_ = nullptr;  // the stack ASan is told about
    std::size_t asan_size_ = 0;
    void* asan_fake_stack_ = nullptr;
    void (*entry_)(void*) = nullptr;
    void* arg_ = nullptr;
    void* eh_caught_ = nullptr;  // the fiber's exceptions in flight (fiber.cpp)
    unsigned int eh_uncaught_ = 0;
    bool started_ = true;  // the thread's own stack is running already
};

}  // namespace asynclink::sim::detail
