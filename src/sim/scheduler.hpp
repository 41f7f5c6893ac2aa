// SPDX-License-Identifier: BSL-1.0
// The sim's scheduler: runs one schedule of a body, one context at a time,
// choosing at each preemption point which context runs next, by one of three
// rules (follow a recorded schedule; PCT; depth-first over the choices), and
// keeps the virtual clock. explore.cpp drives it schedule after schedule.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "asynclink/sim.hpp"
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
};

enum class Mode { follow, random, exhaustive };

struct RunConfig {
    Mode mode = Mode::follow;
    std::uint64_t seed = 0;
    int depth = 3;
    std::size_t expected_steps = 100;  // PCT's k
    int preemption_bound = 2;
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
