// SPDX-License-Identifier: BSL-1.0
// One schedule from its start to its end: the run of the body's contexts as
// fibers and the checks at the end (leaks, what each context was doing). The
// rest of the scheduler is in the files listed in scheduler.hpp.
#include "scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>

#include "asynclink/loop.hpp"
#include "asynclink/port/sim.hpp"

namespace asynclink::sim::detail {

bool tracing = false;
Scheduler* active = nullptr;

namespace {

// A wake core whose last reference a borrower dropped (in an ISR, say) is
// retired and freed when the next loop is created, by design. One loop's life
// frees them: at a schedule's end, so they are not counted as a leak, and
// before the next schedule when a failed one was abandoned, so a replay does
// the same steps as the run it replays. Run with no current context: no
// preemption points.
void reclaim_retired_cores() { Loop reclaim; }

#if defined(ASYNCLINK_SIM_ASAN)
// A sanitizer's report ends the process in the middle of a schedule: say
// which one, so it can be replayed under a debugger.
void on_sanitizer_death() {
    if (active != nullptr) active->report_death();
}
#endif

}  // namespace

#if defined(ASYNCLINK_SIM_ASAN)
void Scheduler::report_death() const noexcept {
    std::string schedule = format_schedule(outcome_.events);
    std::fprintf(stderr, "asynclink::sim: the sanitizer stopped schedule %zu at step %zu", config_.index, steps_);
    if (config_.mode == Mode::random) {
        std::fprintf(stderr, " (seed %llu: Options::replay_seed)", static_cast<unsigned long long>(config_.seed));
    }
    std::fprintf(stderr, "; its choices so far (Options::replay): \"%s\"\n", schedule.c_str());
}
#endif

// ---------------------------------------------------------------- the run

Outcome Scheduler::run(const std::function<void()>& body) {
    static bool last_abandoned = false;  // the last schedule failed: its cores may be retired, not freed
    if (last_abandoned) reclaim_retired_cores();
    rng_.seed(config_.seed);
    if (config_.mode == Mode::random) {
        // PCT: depth - 1 points where the running context drops below every
        // other one; priorities 1..depth-1 are below every initial one.
        for (int i = 0; i < config_.depth - 1; ++i) change_points_.push_back(1 + rng_() % config_.expected_steps);
        std::sort(change_points_.begin(), change_points_.end(), std::greater<>());
    }
    update_next_event();
    tracing = config_.trace;
    active = this;
    int main_id = spawn(body, "main", Kind::thread, 0, 0, -1);
    current_ = &context(main_id);
#if defined(ASYNCLINK_SIM_ASAN)
    __sanitizer_set_death_callback(&on_sanitizer_death);
    __lsan_disable();  // an abandoned schedule's memory is not a leak of the program
#endif
    if (config_.check_leaks) Allocations::start();
    Untracked::exchange_depth(0);
    Fiber::switch_to(main_, *current_->fiber);
    Untracked::exchange_depth(0);
    Allocations::stop();
#if defined(ASYNCLINK_SIM_ASAN)
    __lsan_enable();
#endif
    active = nullptr;
    tracing = false;
    outcome_.steps = steps_;
    if (!outcome_.kind && config_.check_leaks) {
        std::vector<std::size_t> sizes = Allocations::live();
        if (!sizes.empty()) {
            std::sort(sizes.begin(), sizes.end(), std::greater<>());
            std::size_t bytes = 0;
            std::string list;
            for (std::size_t n : sizes) {
                bytes += n;
                if (list.size() < 60) list += (list.empty() ? "" : ", ") + std::to_string(n);
            }
            outcome_.kind = FailureKind::leak;
            outcome_.message = std::to_string(sizes.size()) + " block(s), " + std::to_string(bytes) +
                               " bytes, allocated during the schedule are still allocated at its end (sizes " + list +
                               ")";
        }
    }
    Allocations::clear();
    last_abandoned = outcome_.kind.has_value();
    if (outcome_.kind) outcome_.contexts = describe_contexts();
    return std::move(outcome_);
}

void Scheduler::entry(void* arg) {
    auto& c = *static_cast<Context*>(arg);
    Scheduler& s = *active;
    std::string error;
    bool threw = false;
    try {
        c.fn();
    } catch (const std::exception& e) {
        threw = true;
        error = std::string("an exception left context '") + c.name + "': " + e.what();
    } catch (...) {
        threw = true;
        error = "an exception left context '" + c.name + "'";
    }
    if (threw) s.fail(FailureKind::exception, std::move(error));
    c.fn = nullptr;  // the body's captures end here, in the schedule
    s.finish(c);
}

void Scheduler::finish(Context& c) {
    Untracked untracked;
    c.state = State::finished;
    dirty_ = true;
    wake_waiters(State::joining, &c);
    if (c.kind == Kind::interrupt) {
        if (config_.trace) outcome_.trace.push_back(Step{steps_, c.name, "interrupt returns", nullptr, 0, 0, 0});
        Source& s = *sources_[static_cast<std::size_t>(c.source)];
        s.active = -1;
        wake_waiters(State::draining, &s);
    }
    reschedule_blocked();  // never returns: a finished context is not chosen
    std::abort();
}

void Scheduler::end_schedule() {
    Context* cur = current_;
    current_ = nullptr;
    reclaim_retired_cores();
    Fiber::switch_to(*cur->fiber, main_, true);
    std::abort();
}

void Scheduler::fail(FailureKind kind, std::string message) {
    {
        Untracked untracked;
        if (!outcome_.kind) {
            outcome_.kind = kind;
            outcome_.message = std::move(message);
        }
    }
    Context* cur = current_;
    current_ = nullptr;
    if (cur == nullptr) std::abort();
    Fiber::switch_to(*cur->fiber, main_, true);
    std::abort();
}

std::string Scheduler::describe_contexts() const {
    std::ostringstream out;
    for (const auto& c : contexts_) {
        out << "  " << c->name << " (" << (c->kind == Kind::thread ? "thread" : "interrupt") << ", core " << c->core;
        if (c->kind == Kind::interrupt) out << ", priority " << c->level;
        out << "): ";
        switch (c->state) {
        case State::runnable: out << "runnable"; break;
        case State::blocked:
            out << "blocked in block_thread on " << c->waits_on << " (holds " << c->word->peek() << ", blocked on "
                << c->expected << ")";
            break;
        case State::idle: out << "loop idle" << (c->deadline ? " until a timer" : " with no timer"); break;
        case State::joining: out << "joining another context"; break;
        case State::draining: out << "waiting for an interrupt source to finish"; break;
        case State::sleeping: out << "sleeping"; break;
        case State::finished: out << "finished"; break;
        }
        out << '\n';
    }
    return out.str();
}

Outcome run_schedule(const RunConfig& config, const std::function<void()>& body) {
    Scheduler s(config);
    return s.run(body);
}

}  // namespace asynclink::sim::detail
