// SPDX-License-Identifier: BSL-1.0
// The choice at each preemption point: whether to choose at all (random
// mode chooses only at PCT's change points and planned fires), and then
// which context runs, which interrupt fires or whether the clock jumps, by
// the rule of the mode: follow a recorded schedule, PCT, or depth first.
#include "scheduler.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace asynclink::sim::detail {

namespace {

constexpr Nanos relax_step = 1'000;   // cpu_relax: 1 us
constexpr Nanos yield_step = 10'000;  // yield_thread: 10 us
constexpr int spin_hand_over = 8;     // more than a SpinWait before a futex makes (7)

const char* op_name(Op op) noexcept {
    switch (op) {
    case Op::load: return "load";
    case Op::store: return "store";
    case Op::exchange: return "exchange";
    case Op::compare_exchange: return "compare_exchange";
    case Op::fetch_add: return "fetch_add";
    case Op::fetch_sub: return "fetch_sub";
    case Op::fetch_and: return "fetch_and";
    case Op::fetch_or: return "fetch_or";
    case Op::fetch_xor: return "fetch_xor";
    case Op::fence: return "fence";
    case Op::block: return "block_thread";
    case Op::unblock: return "unblock_threads";
    case Op::relax: return "cpu_relax";
    case Op::yield: return "yield_thread";
    case Op::idle: return "idle";
    case Op::wake: return "wake";
    case Op::user: return "preemption_point";
    }
    return "?";
}

}  // namespace

bool Scheduler::eligible(const Context& c) const noexcept {
    return c.state == State::runnable && c.level == core_level(c.core);
}

int Scheduler::core_level(int core) const noexcept {
    int level = 0;
    for (const auto& c : contexts_) {
        if (c->kind == Kind::interrupt && c->core == core && c->state != State::finished) {
            level = std::max(level, c->level);
        }
    }
    return level;
}

bool Scheduler::can_fire(const Source& s) const noexcept {
    return s.active < 0 && masked_[s.core] == 0 && s.priority > core_level(s.core);
}

void Scheduler::point(Op op, const void* object, Where where) {
    if (config_.trace) {
        Untracked untracked;
        outcome_.trace.push_back(
            Step{steps_ + 1, current_->name, op_name(op), where.file, where.line, bits(object), bits(object)});
        if (outcome_.trace.size() > 2 * config_.trace_steps) {
            outcome_.trace.erase(outcome_.trace.begin(),
                                 outcome_.trace.begin() + static_cast<std::ptrdiff_t>(config_.trace_steps));
        }
    }
    ++steps_;
    blocking_ = false;
    current_->pending_op = op;
    current_->pending_object = object;
    current_->pending_known = true;
    if (steps_ > config_.max_steps) {
        fail(FailureKind::livelock, "more than " + std::to_string(config_.max_steps) +
                                        " preemption points in one schedule (Options::max_steps)");
    }
    // A spin hint is an ordinary preemption point that moves the clock on; a
    // context that spins spin_hand_over times while no other one runs hands
    // over (free), as a fair OS scheduler would let the others run. So a
    // bounded spin (SpinWait) can run to its end while another context is
    // preempted, and a poll loop cannot hold the search forever.
    bool spin = false;
    if (op == Op::relax || op == Op::yield) {
        now_ += op == Op::relax ? relax_step : yield_step;
        if (auto d = next_deadline(); d && *d <= now_) advance_to(now_);
        spin = ++current_->spins >= spin_hand_over;
    }
    switch (config_.mode) {
    case Mode::random:
        if (!dirty_ && !spin && steps_ < next_event_) return;
        break;
    case Mode::follow:
        if (!dirty_ && !spin && due_event() == nullptr) return;
        break;
    case Mode::exhaustive: break;
    }
    reschedule(spin);
}

// The recorded choice to make now: one of this point (or of just after the
// context blocked at it, while blocking_), or a stale one a shrunk schedule
// left behind.
const Event* Scheduler::due_event() const noexcept {
    if (config_.follow == nullptr || follow_pos_ >= config_.follow->size()) return nullptr;
    const Event& e = (*config_.follow)[follow_pos_];
    return e.step < steps_ || (e.step == steps_ && e.after_block == blocking_) ? &e : nullptr;
}

void Scheduler::update_next_event() noexcept {
    next_event_ = ~std::size_t{0};
    if (!change_points_.empty()) next_event_ = change_points_.back();
    for (const auto& s : sources_) {
        if (!s->fire_steps.empty()) next_event_ = std::min(next_event_, s->fire_steps.back());
    }
}

void Scheduler::plan_fires(Source& s) {
    for (int i = 0; i < s.remaining; ++i) {
        std::size_t k = std::max(config_.expected_steps, steps_ + 1);
        s.fire_steps.push_back(steps_ + 1 + rng_() % (k - steps_));
    }
    std::sort(s.fire_steps.begin(), s.fire_steps.end(), std::greater<>());
    update_next_event();
}

bool independent(const Transition& a, const Transition& b) noexcept {
    auto memory = [](Op op) noexcept {
        switch (op) {
        case Op::load:
        case Op::store:
        case Op::exchange:
        case Op::compare_exchange:
        case Op::fetch_add:
        case Op::fetch_sub:
        case Op::fetch_and:
        case Op::fetch_or:
        case Op::fetch_xor:
        case Op::fence: return true;
        default: return false;  // the scheduler's own state: blocking, waking, the clock
        }
    };
    if (a.context == b.context) return false;
    // A context that starts, or goes on after it blocked, runs plain code up
    // to its next point: without a data race, that commutes with anything.
    if (!a.known || !b.known) return true;
    if (!memory(a.op) || !memory(b.op)) return false;
    if (a.op == Op::fence || b.op == Op::fence) return true;
    return a.object != b.object || (a.op == Op::load && b.op == Op::load);
}

int Scheduler::choose_exhaustive(int options, bool current_first, const std::vector<Transition>* transitions) {
    auto& nodes = *config_.nodes;
    int chosen = 0;
    if (depth_ < nodes.size()) {
        const Node& n = nodes[depth_];
        if (n.options != options || n.current_first != current_first) {
            fail(FailureKind::nondeterminism,
                 "the body did not make the same choices when run again (a schedule must depend only on "
                 "the scheduler: no real time, randomness or addresses)");
        }
        chosen = n.chosen;
        pruned_ = pruned_ || n.dead;
    } else {
        Node n{options, 0, current_first, static_cast<int>(outcome_.preemptions)};
        if (config_.reduce && transitions != nullptr && !pruned_) {
            for (std::size_t i = 0; i < transitions->size() && i < 64; ++i) {
                int id = (*transitions)[i].context;
                if (std::any_of(sleep_.begin(), sleep_.end(), [id](const Transition& t) { return t.context == id; })) {
                    n.asleep |= std::uint64_t{1} << i;
                }
            }
            // The first option awake; none (or one only a preemption over
            // the bound away): every schedule from here is covered.
            while (chosen < options && chosen < 64 && (n.asleep & (std::uint64_t{1} << chosen)) != 0) ++chosen;
            if (chosen > 0 && current_first && n.preemptions_before + 1 > config_.preemption_bound) chosen = options;
            if (chosen >= options || chosen >= 64) {
                chosen = 0;
                pruned_ = true;
            }
            n.chosen = chosen;
        }
        n.dead = pruned_;
        nodes.push_back(n);
    }
    ++depth_;
    return chosen;
}

// The sleep set after `choice` ran: what was asleep, and the options run
// before it at this point, minus whatever does not commute with it.
void Scheduler::after_choice(const std::vector<Transition>& transitions, int choice, const Node* node) {
    const Transition& ran = transitions[static_cast<std::size_t>(choice)];
    if (node != nullptr && !node->dead) {
        for (int i = 0; i < choice && i < 64; ++i) {
            if ((node->asleep & (std::uint64_t{1} << i)) == 0)
                sleep_.push_back(transitions[static_cast<std::size_t>(i)]);
        }
    }
    sleep_.erase(
        std::remove_if(sleep_.begin(), sleep_.end(), [&ran](const Transition& t) { return !independent(t, ran); }),
        sleep_.end());
}

void Scheduler::reschedule(bool spin) {
    Untracked untracked;
    Context* cur = current_;

    for (;;) {
        dirty_ = false;
        if (config_.mode == Mode::random) {
            bool changed = false;
            while (!change_points_.empty() && change_points_.back() <= steps_) {
                if (cur->state != State::finished) cur->priority = static_cast<std::int64_t>(change_points_.size());
                change_points_.pop_back();
                changed = true;
            }
            for (std::size_t i = 0; i < sources_.size(); ++i) {
                Source& s = *sources_[i];
                while (!s.fire_steps.empty() && s.fire_steps.back() <= steps_ && s.remaining > 0) {
                    s.fire_steps.pop_back();
                    --s.remaining;
                    ++s.pending;
                    outcome_.events.push_back(Event{steps_, Event::fire(static_cast<int>(i)), blocking_});
                    changed = true;
                }
            }
            if (changed) update_next_event();
        } else if (config_.mode == Mode::follow) {
            while (const Event* e = due_event()) {
                if (e->target >= Event::advance) break;
                // A shrunk schedule may name a source that does not exist yet.
                auto n = static_cast<std::size_t>(Event::fire(0) - e->target);
                if (n >= sources_.size()) {
                    ++follow_pos_;
                    continue;
                }
                Source& s = *sources_[n];
                if (s.remaining > 0) {
                    --s.remaining;
                    ++s.pending;
                    outcome_.events.push_back(Event{steps_, e->target, blocking_});
                }
                ++follow_pos_;
            }
        }
        // The hardware's rule, the same in every mode: a pending interrupt its
        // core allows runs now, the most urgent first.
        Source* urgent = nullptr;
        for (auto& s : sources_) {
            if (s->pending > 0 && can_fire(*s) && (urgent == nullptr || s->priority > urgent->priority)) {
                urgent = s.get();
            }
        }
        if (urgent != nullptr) {
            if (cur->state == State::runnable && cur->core == urgent->core) ++outcome_.preemptions;
            fire_most_urgent();
            sleep_.clear();
            continue;
        }
        std::vector<Context*> ready;
        for (auto& c : contexts_) {
            if (eligible(*c)) ready.push_back(c.get());
        }
        std::vector<int> spontaneous;
        for (std::size_t i = 0; i < sources_.size(); ++i) {
            if (sources_[i]->remaining > 0 && can_fire(*sources_[i])) spontaneous.push_back(static_cast<int>(i));
        }
        if (ready.empty()) {
            auto deadline = next_deadline();
            if (!deadline && spontaneous.empty()) {
                bool all_done = std::all_of(contexts_.begin(), contexts_.end(),
                                            [](const auto& c) { return c->state == State::finished; });
                if (all_done) end_schedule();
                bool lost = false;
                std::string message;
                for (auto& c : contexts_) {
                    if (c->state == State::blocked && c->word->peek() != c->expected) {
                        lost = true;
                        message = "context '" + c->name + "' is blocked on a word that holds " +
                                  std::to_string(c->word->peek()) + ", no longer the " + std::to_string(c->expected) +
                                  " it blocked on, and nobody will unblock it";
                    }
                }
                if (lost) fail(FailureKind::lost_wakeup, message);
                fail(FailureKind::deadlock, "every context is blocked and no timer is due");
            }
            // A choice between an interrupt and the clock's jump.
            int options = static_cast<int>(spontaneous.size()) + (deadline ? 1 : 0);
            int choice = 0;
            if (options > 1) {
                switch (config_.mode) {
                case Mode::random: choice = static_cast<int>(rng_() % static_cast<std::uint64_t>(options)); break;
                case Mode::exhaustive: choice = choose_exhaustive(options, false, nullptr); break;
                case Mode::follow: {
                    const Event* e = due_event();
                    choice = static_cast<int>(spontaneous.size());  // the clock by default
                    if (e != nullptr && e->target <= Event::fire(0)) {
                        auto it = std::find(spontaneous.begin(), spontaneous.end(), Event::fire(0) - e->target);
                        if (it != spontaneous.end()) choice = static_cast<int>(it - spontaneous.begin());
                    }
                    if (e != nullptr) ++follow_pos_;
                    if (!deadline && choice >= options) choice = 0;
                    break;
                }
                }
            } else if (config_.mode == Mode::follow && due_event() != nullptr) {
                ++follow_pos_;
            }
            if (choice < static_cast<int>(spontaneous.size())) {
                Source& s = *sources_[static_cast<std::size_t>(spontaneous[static_cast<std::size_t>(choice)])];
                --s.remaining;
                ++s.pending;
                if (!s.fire_steps.empty()) s.fire_steps.pop_back();
                outcome_.events.push_back(
                    Event{steps_, Event::fire(spontaneous[static_cast<std::size_t>(choice)]), blocking_});
            } else {
                outcome_.events.push_back(Event{steps_, Event::advance, blocking_});
                advance_to(*deadline);
            }
            sleep_.clear();  // a fire or the clock's jump: not an operation the sleep set can reorder
            continue;
        }
        bool cur_ready = std::find(ready.begin(), ready.end(), cur) != ready.end();
        Context* next = nullptr;
        switch (config_.mode) {
        case Mode::random: {
            if (spin && cur_ready && ready.size() > 1) cur->priority = --yield_floor_;
            for (Context* c : ready) {
                if (next == nullptr || c->priority > next->priority) next = c;
            }
            break;
        }
        case Mode::follow: {
            const Event* e = due_event();
            if (e != nullptr && e->target >= 0) {
                ++follow_pos_;
                for (Context* c : ready) {
                    if (c->id == e->target) next = c;
                }
            } else if (e != nullptr && e->target == Event::advance) {
                ++follow_pos_;  // a jump that is not needed any more
            }
            if (next == nullptr && cur_ready && !(spin && ready.size() > 1)) next = cur;
            if (next == nullptr) {
                // A spin hands over to the next context by id, round robin.
                next = ready.front();
                for (Context* c : ready) {
                    if (c->id > cur->id) {
                        next = c;
                        break;
                    }
                }
            }
            break;
        }
        case Mode::exhaustive: {
            // Option 0 continues the running context (unless it spins, which
            // hands over for free), then the others by id, then interrupts.
            bool current_first = cur_ready && !(spin && ready.size() > 1);
            std::vector<Context*> order;
            if (current_first) order.push_back(cur);
            for (Context* c : ready) {
                if (c != cur) order.push_back(c);
            }
            int options = static_cast<int>(order.size() + spontaneous.size());
            std::vector<Transition> transitions;
            if (config_.reduce && !pruned_) {
                for (Context* c : order) {
                    transitions.push_back(Transition{c->id, c->pending_op, c->pending_object, c->pending_known});
                }
                // Every context that may run is asleep: whatever runs next,
                // the schedules from here were run already. This one goes on
                // (option 0 at each point) but branches no more.
                bool all_asleep = spontaneous.empty() && std::all_of(order.begin(), order.end(), [this](Context* c) {
                                      return std::any_of(sleep_.begin(), sleep_.end(),
                                                         [c](const Transition& t) { return t.context == c->id; });
                                  });
                if (all_asleep) {
                    pruned_ = true;
                    sleep_.clear();
                    transitions.clear();
                }
            }
            int choice = 0;
            const Node* node = nullptr;
            if (options > 1) {
                choice = choose_exhaustive(options, current_first, &transitions);
                node = &(*config_.nodes)[depth_ - 1];
            }
            if (choice >= static_cast<int>(order.size())) {
                int n = spontaneous[static_cast<std::size_t>(choice) - order.size()];
                Source& s = *sources_[static_cast<std::size_t>(n)];
                --s.remaining;
                ++s.pending;
                outcome_.events.push_back(Event{steps_, Event::fire(n), blocking_});
                sleep_.clear();  // an interrupt changes what every context of its core may do
                continue;
            }
            next = order[static_cast<std::size_t>(choice)];
            if (!transitions.empty()) after_choice(transitions, choice, node);
            break;
        }
        }
        if (next != cur) {
            if (cur_ready) ++outcome_.preemptions;
            outcome_.events.push_back(Event{steps_, next->id, blocking_});
            switch_to(next);
        }
        return;
    }
}

void Scheduler::switch_to(Context* next) {
    Context* cur = current_;
    current_ = next;
    next->spins = 0;
    int depth = Untracked::exchange_depth(0);
    Fiber::switch_to(*cur->fiber, *next->fiber, cur->state == State::finished);
    Untracked::exchange_depth(depth);
}

// The port's preemption point (include/asynclink/sim/point.hpp), here with
// Scheduler::point so the hot path stays in one file.
void point(Op op, const void* object, Where where) noexcept {
    if (active != nullptr && active->current() != nullptr) active->point(op, object, where);
}

void Scheduler::trace_values(std::uint64_t before, std::uint64_t after) {
    if (outcome_.trace.empty()) return;
    outcome_.trace.back().before = before;
    outcome_.trace.back().after = after;
}

void trace_values(std::uint64_t before, std::uint64_t after) noexcept {
    if (active != nullptr) active->trace_values(before, after);
}

}  // namespace asynclink::sim::detail
