// SPDX-License-Identifier: BSL-1.0
#include "fiber.hpp"

#include <boost/context/detail/fcontext.hpp>
#include <cxxabi.h>
#include <cstdlib>
#include <sys/mman.h>
#include <unistd.h>

#include "asan.hpp"

namespace asynclink::sim::detail {

namespace ctx = boost::context::detail;

namespace {

// Deep enough for a loop running coroutines under GoogleTest; ASan's frames
// are larger.
#if defined(ASYNCLINK_SIM_ASAN)
constexpr std::size_t stack_size = 1024 * 1024;
#else
constexpr std::size_t stack_size = 256 * 1024;
#endif

// Stacks are reused: mapping one per context per schedule would cost more
// than the schedule.
std::vector<void*>& free_stacks() {
    static std::vector<void*> stacks;
    return stacks;
}

std::size_t page_size() {
    static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

void* take_stack() {
    auto& stacks = free_stacks();
    if (!stacks.empty()) {
        void* s = stacks.back();
        stacks.pop_back();
        return s;
    }
    void* s = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) std::abort();
    mprotect(s, page_size(), PROT_NONE);  // the guard page: an overflow faults
    return s;
}

}  // namespace

// The C++ runtime keeps the exceptions being handled (the caught-exception
// stack and the uncaught count) per OS thread; here each fiber needs its own,
// or a context switched out inside a catch block would hand its exception to
// the next. The layout is the Itanium ABI's __cxa_eh_globals.
struct EhGlobals {
    void* caught;
    unsigned int uncaught;
};
EhGlobals* eh_globals() noexcept { return reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals()); }

struct FiberEntry {
    static void restore_exception_state(Fiber& fiber) noexcept {
        EhGlobals* g = eh_globals();
        g->caught = fiber.eh_caught_;
        g->uncaught = fiber.eh_uncaught_;
    }
    static void save_exception_state(Fiber& fiber) noexcept {
        EhGlobals* g = eh_globals();
        fiber.eh_caught_ = g->caught;
        fiber.eh_uncaught_ = g->uncaught;
    }
    static void run(ctx::transfer_t t) noexcept {
        // The first switch to a fiber passes the fiber itself, whose context_
        // then holds the starter's record (see switch_to).
        auto* self = static_cast<Fiber*>(t.data);
        auto* from = static_cast<Fiber*>(self->context_);
        from->context_ = t.fctx;
#if defined(ASYNCLINK_SIM_ASAN)
        __sanitizer_finish_switch_fiber(nullptr, &from->asan_bottom_, &from->asan_size_);
#endif
        self->entry_(self->arg_);
        std::abort();  // entry switches away for good instead of returning
    }
};

Fiber::Fiber(void (*entry)(void*), void* arg) : entry_(entry), arg_(arg) {
    stack_ = take_stack();
    stack_size_ = stack_size;
    char* usable = static_cast<char*>(stack_) + page_size();
    std::size_t usable_size = stack_size_ - page_size();
#if defined(ASYNCLINK_SIM_ASAN)
    // An abandoned fiber leaves its frames' redzones poisoned.
    __asan_unpoison_memory_region(usable, usable_size);
#endif
    asan_bottom_ = usable;
    asan_size_ = usable_size;
    context_ = ctx::make_fcontext(usable + usable_size, usable_size, &FiberEntry::run);
    started_ = false;
}

Fiber::~Fiber() {
    if (stack_ != nullptr) free_stacks().push_back(stack_);
}

void Fiber::switch_to(Fiber& from, Fiber& to, bool leaving) noexcept {
    void* target = to.context_;
    void* data = &from;
    if (!to.started_) {
        // The new fiber learns who started it from its own record.
        to.started_ = true;
        to.context_ = &from;
        data = &to;
    }
    FiberEntry::save_exception_state(from);
    FiberEntry::restore_exception_state(to);
#if defined(ASYNCLINK_SIM_ASAN)
    __sanitizer_start_switch_fiber(leaving ? nullptr : &from.asan_fake_stack_, to.asan_bottom_, to.asan_size_);
#else
    (void)leaving;
#endif
    ctx::transfer_t t = ctx::jump_fcontext(target, data);
    // Resumed: whoever switched to us passed its own record.
    static_cast<Fiber*>(t.data)->context_ = t.fctx;
#if defined(ASYNCLINK_SIM_ASAN)
    __sanitizer_finish_switch_fiber(from.asan_fake_stack_, nullptr, nullptr);
#endif
}

}  // namespace asynclink::sim::detail
