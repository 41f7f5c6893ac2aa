// SPDX-License-Identifier: BSL-1.0
// The sim's scheduler: runs one schedule of a body, one context at a time,
// choosing at each preemption point which context runs next, by one of three
// rules (follow a recorded schedule; PCT; depth-first over the choices), and
// keeps the virtual clock. explore.cpp drives it schedule after schedule.
// Internal to src/sim: the Scheduler class is at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "asynclink/sim.hpp"
#include "asan.hpp"
#include "fiber.hpp"
#include "hooks.hpp"

namespace asynclink::sim::detail {

/// One choice of a schedule: at preemption point `step` (or just after,
/// when the context blocked there), `target` ran next
/// (>= 0, a context), the clock jumped to the next deadline (advance), or
/// interrupt source n fired (fire(n)).
struct Event {
    std::size_t step;
    int target;
    /// The choice came after the context blocked or ended at that point,
    /// rather than at the point itself.
    bool after_block = false;
    static constexpr int advance = -1;
    static constexpr int fire(int source) noexcept { return -2 - source; }
};
std::string format_schedule(const std::vector<Event>& events);
bool parse_schedule(const std::string& text, std::vector<Event>& events);

/// A choice point of the depth-first search and what was chosen there.
struct Node {
    int options;
    int chosen;
    bool current_first;  // option 0 continues the running context: others preempt it
    int preemptions_before;
    /// reduce: the options whose context is in the sleep set here (bit i: option i).
    std::uint64_t asleep = 0;
    /// reduce: every option here is covered by schedules already run; the
    /// schedule went on with option 0 and no choice from here on is tried.
    bool dead = false;
};

enum class Mode { follow, random, exhaustive };

struct RunConfig {
    Mode mode = Mode::follow;
    std::uint64_t seed = 0;
    int depth = 3;
    std::size_t expected_steps = 100;  // PCT's k
    int preemption_bound = 2;
    bool reduce = false;  // exhaustive: sleep sets
    const std::vector<Event>* follow = nullptr;
    std::vector<Node>* nodes = nullptr;  // exhaustive: the path, reused and extended
    std::size_t max_steps = 200000;
    bool trace = false;
    std::size_t trace_steps = 120;
    bool check_leaks = true;
    std::size_t index = 0;  // which schedule of the exploration, for a sanitizer's report
};

struct Outcome {
    std::optional<FailureKind> kind;
    std::string message;
    std::size_t steps = 0;
    std::size_t preemptions = 0;
    std::vector<Event> events;
    std::vector<Step> trace;
    std::string contexts;
};

Outcome run_schedule(const RunConfig& config, const std::function<void()>& body);

/// Memory allocated by contexts (operator new) while a schedule runs, for
/// the leak check; the scheduler's own allocations are left out.
struct Allocations {
    static void start() noexcept;
    static void stop() noexcept;
    /// The sizes of the blocks allocated since start() and not freed.
    static std::vector<std::size_t> live();
    static void clear() noexcept;
};
/// Leaves the scheduler's own allocations out of the count while it lives.
class Untracked {
public:
    Untracked() noexcept;
    ~Untracked();
    Untracked(const Untracked&) = delete;
    Untracked& operator=(const Untracked&) = delete;
    /// The nesting is the running context's: a switch saves the leaving
    /// one's and gives the next its own.
    static int exchange_depth(int depth) noexcept;
};

}  // namespace asynclink::sim::detail

namespace asynclink::sim::detail {

// The running schedule, for the API (explore.cpp); only inside a schedule.
bool in_schedule() noexcept;
int api_spawn(std::function<void()> fn, std::string name, int core);
void api_join(int id);
int api_add_source(std::function<void()> handler, const InterruptOptions& options);
void api_pend(int source);
void api_drain(int source);
void api_sleep_until(Nanos deadline);
[[noreturn]] void api_fail(FailureKind kind, std::string message);
std::function<void()> api_take_handler(int source);

}  // namespace asynclink::sim::detail

namespace asynclink::sim::detail {

// ---------------------------------------------------------------- one schedule
// What follows is the scheduler itself, shared by its files:
//   scheduler.cpp   a schedule from start to end, and the checks at its end
//   choice.cpp      the choice at each preemption point (the three modes)
//   contexts.cpp    contexts, blocking and the virtual clock
//   interrupts.cpp  interrupt sources: pending, firing, nesting, masking
//   hooks.cpp       the port's hooks and the API's entry points

inline constexpr int max_cores = hooks::cores;
inline constexpr Nanos start_time = 1'000'000'000;

enum class Kind : std::uint8_t { thread, interrupt };
enum class State : std::uint8_t { runnable, blocked, idle, joining, draining, sleeping, finished };

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
    // The operation it stopped before, at its last preemption point (for
    // the sleep sets); unknown once it blocked, or before it first ran.
    Op pending_op = Op::user;
    const void* pending_object = nullptr;
    bool pending_known = false;
};

/// What a context does when it runs next: the operation at which it stopped.
struct Transition {
    int context;
    Op op;
    const void* object;
    bool known;
};
/// Whether two transitions give the same result in either order (sequential
/// consistency, and no data race on plain memory): atomic operations of two
/// contexts on two objects, two loads, or a fence (a no-op here).
bool independent(const Transition& a, const Transition& b) noexcept;

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
    explicit Scheduler(const RunConfig& config) : config_(config) {}

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
        current_->pending_known = false;  // it goes on from the block, not from an operation
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
    int choose_exhaustive(int options, bool current_first, const std::vector<Transition>* transitions);
    void after_choice(const std::vector<Transition>& transitions, int choice, const Node* node);
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
    // reduce: the transitions whose schedules from here were all run already
    // (one per context at most), and whether this schedule stopped branching.
    std::vector<Transition> sleep_;
    bool pruned_ = false;
};

/// The scheduler running a schedule now (none between schedules).
extern Scheduler* active;

}  // namespace asynclink::sim::detail
