// SPDX-License-Identifier: BSL-1.0
// The sim port's hooks (hooks.hpp) and the API's entry points into the
// running schedule (explore.cpp): each reaches the active scheduler, and
// outside a schedule does the harmless thing.
#include "scheduler.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace asynclink::sim::detail {

namespace {
Context* running() noexcept { return active != nullptr ? active->current() : nullptr; }
}  // namespace

namespace hooks {

Nanos now() noexcept { return active != nullptr ? active->now() : start_time; }

void idle_wait(const void* idle, std::optional<Nanos> deadline) noexcept {
    if (running() != nullptr) active->idle_wait(idle, deadline);
}
void idle_wake(const void* idle) noexcept {
    if (running() != nullptr) active->idle_wake(idle);
}
void block_on_word(const port::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    if (running() != nullptr) active->block_on_word(word, expected);
}
void unblock_word(const void* word) noexcept {
    if (running() != nullptr) active->unblock_word(word);
}
bool pin(int core) noexcept {
    Context* c = running();
    if (c == nullptr || core < 0 || core >= cores || c->kind == Kind::interrupt) return false;
    c->core = core;
    return true;
}
int core() noexcept {
    Context* c = running();
    return c != nullptr ? c->core : 0;
}
int context_id() noexcept {
    Context* c = running();
    return c != nullptr ? c->id : -1;
}
void mask(int core, int delta) noexcept {
    if (running() != nullptr) active->mask(core, delta);
}
Loop*& loop_slot() noexcept {
    static Loop* outside = nullptr;
    Context* c = running();
    return c != nullptr ? *c->loop : outside;
}
void fatal(const char* message) noexcept {
    if (running() != nullptr) active->fail(FailureKind::fatal, message);
    std::fprintf(stderr, "%s\n", message);
    std::abort();
}

}  // namespace hooks

// The API's entry points into the running schedule (explore.cpp).
bool in_schedule() noexcept { return running() != nullptr; }
int api_spawn(std::function<void()> fn, std::string name, int core) {
    return active->spawn(std::move(fn), std::move(name), Kind::thread, core, 0, -1);
}
void api_join(int id) { active->join(id); }
int api_add_source(std::function<void()> handler, const InterruptOptions& options) {
    return active->add_source(std::move(handler), options);
}
void api_pend(int source) { active->pend(source); }
void api_drain(int source) { active->drain(source); }
void api_sleep_until(Nanos deadline) { active->sleep_until(deadline); }
[[noreturn]] void api_fail(FailureKind kind, std::string message) { active->fail(kind, std::move(message)); }
std::function<void()> api_take_handler(int source) { return active->take_handler(source); }

}  // namespace asynclink::sim::detail
