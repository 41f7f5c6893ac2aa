// SPDX-License-Identifier: BSL-1.0
// The body's contexts: how they start, block (on a word, in a loop's idle,
// in a sleep, joining another) and are made runnable again, and the virtual
// clock that wakes the idle and sleeping ones.
#include "scheduler.hpp"

#include <algorithm>
#include <memory>
#include <string>

namespace asynclink::sim::detail {

int Scheduler::spawn(std::function<void()> fn, std::string name, Kind kind, int core, int level, int source) {
    Untracked untracked;
    if (core < 0 || core >= max_cores) fail(FailureKind::fatal, "a context's core must be 0 to 7");
    auto c = std::make_unique<Context>();
    c->id = static_cast<int>(contexts_.size());
    c->name = std::move(name);
    c->kind = kind;
    c->core = core;
    c->level = level;
    c->fn = std::move(fn);
    c->source = source;
    c->priority = random_priority();
    c->fiber = std::make_unique<Fiber>(&Scheduler::entry, c.get());
    contexts_.push_back(std::move(c));
    dirty_ = true;
    return contexts_.back()->id;
}

void Scheduler::join(int id) {
    Context& target = context(id);
    if (target.state == State::finished) return;
    current_->state = State::joining;
    current_->waits_on = &target;
    dirty_ = true;
    reschedule_blocked();
}

// ---------------------------------------------------------------- blocking

void Scheduler::block_on_word(const port::atomic<std::uint32_t>& word, std::uint32_t expected) {
    Context* cur = current_;
    if (cur->kind == Kind::interrupt) {
        fail(FailureKind::fatal, "interrupt handler '" + cur->name +
                                     "' blocked (block_thread): handlers run to "
                                     "completion");
    }
    if (word.peek() != expected) return;
    cur->state = State::blocked;
    cur->waits_on = &word;
    cur->word = &word;
    cur->expected = expected;
    dirty_ = true;
    reschedule_blocked();
}

void Scheduler::unblock_word(const void* word) { wake_waiters(State::blocked, word); }

void Scheduler::idle_wait(const void* idle, std::optional<Nanos> deadline) {
    Context* cur = current_;
    if (cur->kind == Kind::interrupt) {
        fail(FailureKind::fatal, "interrupt handler '" + cur->name + "' waited in Idle: handlers run to completion");
    }
    cur->state = State::idle;
    cur->waits_on = idle;
    cur->deadline = deadline;
    dirty_ = true;
    reschedule_blocked();
}

void Scheduler::idle_wake(const void* idle) { wake_waiters(State::idle, idle); }

void Scheduler::sleep_until(Nanos deadline) {
    Context* cur = current_;
    if (cur->kind == Kind::interrupt) fail(FailureKind::fatal, "interrupt handler '" + cur->name + "' slept");
    cur->state = State::sleeping;
    cur->waits_on = nullptr;
    cur->deadline = deadline;
    dirty_ = true;
    reschedule_blocked();
}

void Scheduler::wake_waiters(State state, const void* on) {
    for (auto& c : contexts_) {
        if (c->state == state && c->waits_on == on) {
            c->state = State::runnable;
            c->deadline.reset();
            dirty_ = true;
        }
    }
}

// ---------------------------------------------------------------- the clock

std::optional<Nanos> Scheduler::next_deadline() const noexcept {
    std::optional<Nanos> d;
    for (const auto& c : contexts_) {
        if ((c->state == State::idle || c->state == State::sleeping) && c->deadline && (!d || *c->deadline < *d)) {
            d = c->deadline;
        }
    }
    return d;
}

void Scheduler::advance_to(Nanos t) {
    now_ = std::max(now_, t);
    for (auto& c : contexts_) {
        if ((c->state == State::idle || c->state == State::sleeping) && c->deadline && *c->deadline <= now_) {
            c->state = State::runnable;
            c->deadline.reset();
            dirty_ = true;
        }
    }
}

}  // namespace asynclink::sim::detail
