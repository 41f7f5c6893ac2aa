// SPDX-License-Identifier: BSL-1.0
// asynclink::sim: explore the schedules of code that links contexts (loops,
// threads, interrupt handlers, cores) under the sim port, where every atomic
// operation is a preemption point and time is virtual. Link asynclink::sim
// instead of asynclink::asynclink (it is the library compiled with the sim
// port). The guide with a worked example is docs/testing.md.
//
//     #include <asynclink/core.hpp>
//     #include <asynclink/sim.hpp>
//
//     TEST(Sensor, TheTaskSeesTheSample) {
//         auto result = asynclink::sim::explore({}, [] {
//             asynclink::ThreadSafeFlag ready;
//             int sample = 0;
//             asynclink::sim::Interrupt adc([&] { sample = 42; ready.set(); });
//             asynclink::Loop loop;
//             loop.run([&]() -> asynclink::Task<> {
//                 co_await ready.wait();
//                 asynclink::sim::check(sample == 42, "the sample is written before the flag");
//             }());
//         });
//         EXPECT_TRUE(result.ok()) << result;
//     }
//
// | call                         | from                                           |
// |------------------------------|------------------------------------------------|
// | explore                      | the test (not inside a schedule)               |
// | Thread, Interrupt, check,    | the body and the contexts it starts            |
// | preemption_point, yield_now, |                                                |
// | sleep_for                    |                                                |
//
// What a schedule is: the body runs as the context "main" on core 0; Thread
// starts another context (a thread, on the core it names); Interrupt is an
// interrupt source whose handler preempts the contexts of its core at a
// preemption point (the explorer picks which), runs to completion and is
// itself preempted only by a more urgent interrupt of its core. Contexts on
// other cores keep interleaving with a running handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "asynclink/port/port.hpp"

#if !defined(ASYNCLINK_PORT_SIM)
#error "<asynclink/sim.hpp> needs the sim port: link asynclink::sim (it defines ASYNCLINK_PORT_SIM)"
#endif

namespace asynclink::sim {

/// How schedules are chosen.
enum class Strategy {
    /// Probabilistic concurrency testing (PCT): random priorities, `depth` - 1
    /// random priority changes per schedule. Finds a bug of depth d with a
    /// probability of at least 1/(n k^(d-1)) per schedule (n contexts, k steps).
    random,
    /// Every schedule with at most `preemption_bound` preemptions (iterative
    /// context bounding, as CHESS), until done or out of budget.
    exhaustive,
};

struct Options {
    Strategy strategy = Strategy::random;
    /// The first schedule's seed (random); each schedule's own seed is reported.
    std::uint64_t seed = 1;
    /// Runs exactly the schedule with this seed, as a failure reported it.
    std::optional<std::uint64_t> replay_seed{};
    /// Runs exactly the schedule a failure reported as `schedule`.
    std::string replay{};
    std::size_t max_schedules = 1000;
    std::chrono::milliseconds time_budget{20000};
    /// random: the bug depth looked for (preemptions that matter).
    int depth = 3;
    /// exhaustive: the most preemptions in one schedule.
    int preemption_bound = 2;
    /// exhaustive: skip a schedule that differs from one already run only
    /// in the order of independent operations (sleep sets: two atomic
    /// operations of different contexts on different objects, or two loads).
    /// Fewer schedules for the same interleavings; but with a preemption
    /// bound, the schedule kept for a skipped one may need more preemptions
    /// than the bound, so "every schedule within the bound" becomes "every
    /// schedule within the bound, up to reordering". Off by default.
    bool reduce = false;
    /// A schedule longer than this many preemption points fails as a livelock.
    std::size_t max_steps = 200000;
    /// Fails a schedule that ends with memory allocated in it still allocated
    /// (a task, a node, a frame): count and bytes.
    bool check_leaks = true;
    /// Makes a failing schedule's preemptions fewer before it is reported.
    bool shrink = true;
    /// How many of the failing schedule's last steps the report shows.
    std::size_t trace_steps = 120;
};

enum class FailureKind {
    check,           ///< sim::check was false
    exception,       ///< an exception left a context
    fatal,           ///< asynclink called port::fatal (misuse)
    deadlock,        ///< every context blocked, nothing due
    lost_wakeup,     ///< a thread blocked forever on a word that changed after it blocked
    leak,            ///< memory allocated in the schedule outlived it
    livelock,        ///< more than max_steps preemption points
    nondeterminism,  ///< the body did not do the same when replayed
};
const char* to_string(FailureKind kind) noexcept;

/// One preemption point of the traced schedule.
struct Step {
    std::size_t index;
    std::string context;
    const char* operation;
    const char* file;
    unsigned line;
    std::uint64_t before;
    std::uint64_t after;
};

struct Failure {
    FailureKind kind;
    std::string message;
    /// The failing schedule's seed (random strategy): Options::replay_seed.
    std::optional<std::uint64_t> seed;
    /// The failing schedule: Options::replay runs it again.
    std::string schedule;
    std::size_t preemptions = 0;
    std::size_t preemptions_before_shrinking = 0;
    std::size_t steps = 0;
    std::vector<Step> trace;  ///< the last Options::trace_steps steps
    std::string contexts;     ///< each context's state at the end
};

struct Result {
    std::size_t schedules = 0;
    /// exhaustive: every schedule within the bound was run.
    bool complete = false;
    std::size_t max_steps = 0;
    std::size_t total_steps = 0;
    double seconds = 0;
    std::optional<Failure> failure;
    bool ok() const noexcept { return !failure.has_value(); }
};
std::ostream& operator<<(std::ostream& out, const Result& result);
/// GoogleTest's printer.
void PrintTo(const Result& result, std::ostream* out);

/// Runs `body` under many schedules; stops at the first failure.
Result explore(const Options& options, std::function<void()> body);

/// Fails the schedule (with a trace) unless `condition` holds.
void check(bool condition, const char* what, const char* file = __builtin_FILE(),
           unsigned line = __builtin_LINE()) noexcept;

/// A preemption point in the caller's own code, e.g. around a plain variable
/// shared between contexts, so the sim can show the race.
void preemption_point(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) noexcept;

/// What a thread that polls calls between polls (port::yield_thread): a
/// preemption point where the clock moves on by 10 us; after 8 of them while
/// no other context ran, another one runs (so a poll loop always ends).
void yield_now() noexcept;

/// Blocks the calling context for a virtual `duration` (a thread's sleep).
void sleep_for(Clock::duration duration) noexcept;

struct ThreadOptions {
    std::string name = "thread";
    int core = 0;
};

/// Another context running `fn`; the destructor joins it.
class Thread {
public:
    explicit Thread(std::function<void()> fn, ThreadOptions options = {});
    ~Thread();
    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;
    void join() noexcept;

private:
    int id_;
    bool joined_ = false;
};

struct InterruptOptions {
    std::string name = "irq";
    int core = 0;
    /// Larger preempts smaller (NVIC urgency, not its priority number);
    /// every interrupt preempts every thread of its core.
    int priority = 1;
    /// How many times the handler runs, at moments the explorer picks, while
    /// the source exists; its destructor runs the rest.
    int fires = 1;
};

/// An interrupt source. Its handler runs on `core`, to completion: it may
/// not block (a handler that blocks fails the schedule).
class Interrupt {
public:
    explicit Interrupt(std::function<void()> handler, InterruptOptions options = {});
    /// Runs the fires left and waits until the handler is not running.
    ~Interrupt();
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;
    /// Makes the interrupt pending (NVIC set-pending): it runs as soon as its
    /// core lets it, preempting the caller if the caller is on that core.
    void pend() noexcept;

private:
    int id_;
};

}  // namespace asynclink::sim
