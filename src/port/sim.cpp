// SPDX-License-Identifier: BSL-1.0
// The sim port's functions: each hands over to the scheduler
// (src/sim/hooks.cpp). See include/asynclink/port/sim.hpp.
#include "asynclink/port/sim.hpp"

#include <cstdio>
#include <cstdlib>

#include "../sim/hooks.hpp"
#include "../sim/scheduler.hpp"
#include "asynclink/sim/threads.hpp"

namespace asynclink::port {

namespace sd = sim::detail;

Clock::time_point Clock::now() noexcept { return time_point(duration(sd::hooks::now())); }

void Idle::wait(std::optional<Clock::duration> timeout) noexcept {
    sd::point(sd::Op::idle, this, {__FILE__, __LINE__});
    if (!woken_ && !(timeout && timeout->count() <= 0)) {
        std::optional<sd::Nanos> deadline;
        if (timeout) deadline = sd::hooks::now() + timeout->count();
        sd::hooks::idle_wait(this, deadline);
    }
    woken_ = false;
}

bool Idle::wake() noexcept {
    sd::point(sd::Op::wake, this, {__FILE__, __LINE__});
    woken_ = true;
    sd::hooks::idle_wake(this);
    return true;
}

void block_thread(const atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    sd::point(sd::Op::block, &word, {__FILE__, __LINE__});
    sd::hooks::block_on_word(word, expected);
}

void unblock_threads(const atomic<std::uint32_t>& word) noexcept {
    sd::point(sd::Op::unblock, &word, {__FILE__, __LINE__});
    sd::hooks::unblock_word(&word);
}

void cpu_relax() noexcept { sd::point(sd::Op::relax, nullptr, {__FILE__, __LINE__}); }
void yield_thread() noexcept { sd::point(sd::Op::yield, nullptr, {__FILE__, __LINE__}); }

bool pin_current_thread(int cpu) noexcept { return sd::hooks::pin(cpu); }
int current_cpu() noexcept { return sd::hooks::core(); }
int cpu_count() noexcept { return sd::hooks::cores; }

CriticalSection::CriticalSection() noexcept : core_(sd::hooks::core()) { sd::hooks::mask(core_, 1); }
CriticalSection::~CriticalSection() { sd::hooks::mask(core_, -1); }

Loop*& current_loop() noexcept { return sd::hooks::loop_slot(); }

void fatal(const char* message) noexcept { sd::hooks::fatal(message); }

Thread::Thread(std::function<void()> fn) {
    if (!sd::in_schedule()) fatal("asynclink sim: a Thread (a Context's worker) made outside a schedule");
    id_ = sd::api_spawn(std::move(fn), "worker", sd::hooks::core());
}

void Thread::join() noexcept {
    sd::api_join(id_);
    id_ = -1;
}

Thread::id this_thread_id() noexcept { return sd::hooks::context_id(); }

}  // namespace asynclink::port
