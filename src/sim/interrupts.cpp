// SPDX-License-Identifier: BSL-1.0
// Interrupt sources: made pending (spontaneously, as the mode plans, or by
// pend()), fired as on a Cortex-M core (the most urgent one its core's level
// and mask allow, preempting that core), drained at the source's end.
#include "scheduler.hpp"

#include <memory>
#include <string>

namespace asynclink::sim::detail {

int Scheduler::add_source(std::function<void()> handler, const InterruptOptions& options) {
    Untracked untracked;
    if (options.core < 0 || options.core >= max_cores) fail(FailureKind::fatal, "an interrupt's core must be 0 to 7");
    if (options.priority < 1) fail(FailureKind::fatal, "an interrupt's priority must be at least 1");
    auto s = std::make_unique<Source>();
    s->name = options.name;
    s->core = options.core;
    s->priority = options.priority;
    s->handler = std::move(handler);
    s->remaining = options.fires;
    sources_.push_back(std::move(s));
    if (config_.mode == Mode::random) plan_fires(*sources_.back());
    dirty_ = true;
    return static_cast<int>(sources_.size() - 1);
}

void Scheduler::pend(int source) {
    ++sources_[static_cast<std::size_t>(source)]->pending;
    dirty_ = true;
}

void Scheduler::drain(int source) {
    Source& s = *sources_[static_cast<std::size_t>(source)];
    s.pending += s.remaining;
    s.remaining = 0;
    s.fire_steps.clear();
    dirty_ = true;
    while (s.pending > 0 || s.active >= 0) {
        current_->state = State::draining;
        current_->waits_on = &s;
        reschedule_blocked();
    }
}

void Scheduler::mask(int core, int delta) {
    masked_[core] += delta;
    dirty_ = true;
}

// Runs the most urgent pending source its core allows (there is one).
void Scheduler::fire_most_urgent() {
    Source* urgent = nullptr;
    int index = -1;
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        Source& s = *sources_[i];
        if (s.pending > 0 && can_fire(s) && (urgent == nullptr || s.priority > urgent->priority)) {
            urgent = &s;
            index = static_cast<int>(i);
        }
    }
    --urgent->pending;
    Context* cur = current_;
    int id = spawn([handler = &urgent->handler] { (*handler)(); }, urgent->name, Kind::interrupt, urgent->core,
                   urgent->priority, index);
    urgent->active = id;
    Context& isr = context(id);
    // A handler sees the loop of the context it interrupts, as a signal
    // handler sees its thread's thread_local and an ISR the one loop.
    Context* interrupted = cur->core == isr.core && cur->state != State::finished ? cur : nullptr;
    for (auto& c : contexts_) {
        if (interrupted == nullptr && c->core == isr.core && c->kind == Kind::thread && c->state != State::finished &&
            *c->loop != nullptr) {
            interrupted = c.get();
        }
    }
    if (interrupted != nullptr) isr.loop = interrupted->loop;
    if (config_.trace) outcome_.trace.push_back(Step{steps_, isr.name, "interrupt enters", nullptr, 0, 0, 0});
}

}  // namespace asynclink::sim::detail
