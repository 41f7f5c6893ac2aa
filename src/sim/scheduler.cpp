// SPDX-License-Identifier: BSL-1.0
// One schedule: contexts as fibers, the choice at each preemption point, the
// virtual clock, interrupts and the checks at the end. See scheduler.hpp.
#include "scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>

#include "asynclink/loop.hpp"
#include "asynclink/port/sim.hpp"

#include "asan.hpp"

namespace asynclink::sim::detail {

bool tracing = false;

namespace {

constexpr int max_cores = hooks::cores;
constexpr Nanos start_time = 1'000'000'000;
constexpr Nanos relax_step = 1'000;   // cpu_relax: 1 us
constexpr Nanos yield_step = 10'000;  // yield_thread: 10 us
constexpr int spin_hand_over = 8;     // more than a SpinWait before a futex makes (7)

enum class Kind : std::uint8_t { thread, interrupt };
enum class State : std::uint8_t { runnable, blocked, idle, joining, draining, sleeping, finished };

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

struct Context {
    int id;
    std::string name;
    Kind kind;
    int core;
    int level;  // 0 for a thread, the priority for an interrupt handler
    State state = State::runnable;
    const void* waits_on = nullptr;
    const port::atomic<std::uint32_t>* word = nullptr;
    std::uint32_t expected = 0;
    std::optional<Nanos> deadline;
    std::function<void()> fn;
    std::unique_ptr<Fiber> fiber;
    Loop* own_loop = nullptr;
    Loop** loop = &own_loop;  // a handler sees the loop of the context it interrupted
    std::int64_t priority = 0;
    int source = -1;
    int spins = 0;  // spin hints since it last started running
};

struct Source {
    std::string name;
    int core;
    int priority;
    std::function<void()> handler;
    int remaining;  // spontaneous fires still to come
    int pending = 0;
    int active = -1;                      // the handler's context while it runs
    std::vector<std::size_t> fire_steps;  // random: when the spontaneous fires come
};

class Scheduler {
public:
    Scheduler(const RunConfig& config) : config_(config) {}

    Outcome run(const std::function<void()>& body);

    // The port and the API.
    void point(Op op, const void* object, Where where);
    void block_on_word(const port::atomic<std::uint32_t>& word, std::uint32_t expected);
    void unblock_word(const void* word);
    void idle_wait(const void* idle, std::optional<Nanos> deadline);
    void idle_wake(const void* idle);
    void sleep_until(Nanos deadline);
    int spawn(std::function<void()> fn, std::string name, Kind kind, int core, int level, int source);
    void join(int id);
    int add_source(std::function<void()> handler, const InterruptOptions& options);
    void pend(int source);
    void drain(int source);
    void mask(int core, int delta);
    std::function<void()> take_handler(int source) {
        return std::move(sources_[static_cast<std::size_t>(source)]->handler);
    }
    [[noreturn]] void fail(FailureKind kind, std::string message);
#if defined(ASYNCLINK_SIM_ASAN)
    void report_death() const noexcept;
#endif
    void trace_values(std::uint64_t before, std::uint64_t after);

    Nanos now() const noexcept { return now_; }
    Context* current() noexcept { return current_; }
    Context& context(int id) noexcept { return *contexts_[static_cast<std::size_t>(id)]; }

private:
    static void entry(void* arg);
    void finish(Context& c);
    void reschedule(bool spin);
    void reschedule_blocked() {
        blocking_ = true;
        reschedule(false);
    }
    bool eligible(const Context& c) const noexcept;
    int core_level(int core) const noexcept;
    bool can_fire(const Source& s) const noexcept;
    void fire_most_urgent();
    std::optional<Nanos> next_deadline() const noexcept;
    void advance_to(Nanos t);
    void wake_waiters(State state, const void* on);
    const Event* due_event() const noexcept;
    int choose_exhaustive(int options, bool current_first);
    void switch_to(Context* next);
    void end_schedule();
    std::string describe_contexts() const;
    std::int64_t random_priority() { return static_cast<std::int64_t>(rng_() >> 2) + config_.depth + 1; }
    void plan_fires(Source& s);
    void update_next_event() noexcept;

    RunConfig config_;
    Outcome outcome_;
    std::vector<std::unique_ptr<Context>> contexts_;
    std::vector<std::unique_ptr<Source>> sources_;
    Context* current_ = nullptr;
    Fiber main_;
    Nanos now_ = start_time;
    std::size_t steps_ = 0;
    bool dirty_ = true;
    int masked_[max_cores] = {};
    std::size_t follow_pos_ = 0;
    std::mt19937_64 rng_;
    std::vector<std::size_t> change_points_;  // random: descending, popped from the back
    std::size_t next_event_ = ~std::size_t{0};
    std::int64_t yield_floor_ = 0;
    std::size_t depth_ = 0;  // exhaustive: choice points passed
    bool blocking_ = false;  // in reschedule() because the context blocked or ended
};

Scheduler* active = nullptr;

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

// ---------------------------------------------------------------- choosing

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

int Scheduler::choose_exhaustive(int options, bool current_first) {
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
    } else {
        nodes.push_back(Node{options, 0, current_first, static_cast<int>(outcome_.preemptions)});
    }
    ++depth_;
    return chosen;
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
                case Mode::exhaustive: choice = choose_exhaustive(options, false); break;
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
            int choice = options > 1 ? choose_exhaustive(options, current_first) : 0;
            if (choice >= static_cast<int>(order.size())) {
                int n = spontaneous[static_cast<std::size_t>(choice) - order.size()];
                Source& s = *sources_[static_cast<std::size_t>(n)];
                --s.remaining;
                ++s.pending;
                outcome_.events.push_back(Event{steps_, Event::fire(n), blocking_});
                continue;
            }
            next = order[static_cast<std::size_t>(choice)];
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

void Scheduler::wake_waiters(State state, const void* on) {
    for (auto& c : contexts_) {
        if (c->state == state && c->waits_on == on) {
            c->state = State::runnable;
            c->deadline.reset();
            dirty_ = true;
        }
    }
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

void Scheduler::trace_values(std::uint64_t before, std::uint64_t after) {
    if (outcome_.trace.empty()) return;
    outcome_.trace.back().before = before;
    outcome_.trace.back().after = after;
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

// ---------------------------------------------------------------- hooks

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

void point(Op op, const void* object, Where where) noexcept {
    if (active != nullptr && active->current() != nullptr) active->point(op, object, where);
}

void trace_values(std::uint64_t before, std::uint64_t after) noexcept {
    if (active != nullptr) active->trace_values(before, after);
}

}  // namespace asynclink::sim::detail
