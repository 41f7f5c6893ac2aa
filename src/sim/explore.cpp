// SPDX-License-Identifier: BSL-1.0
// asynclink::sim's API: explore() drives schedule after schedule (the
// strategies, shrinking and tracing a failure), and the calls a body makes.
// See include/asynclink/sim.hpp.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "asynclink/sim.hpp"
#include "scheduler.hpp"

namespace asynclink::sim {

using namespace detail;

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// The depth-first search's next path: the deepest choice with an untried
// option within the preemption bound. False when every path was run.
bool next_path(std::vector<Node>& nodes, int bound) {
    while (!nodes.empty()) {
        Node& n = nodes.back();
        if (!n.dead && n.preemptions_before + (n.current_first ? 1 : 0) <= bound) {
            // Options in the sleep set are covered by schedules already run.
            while (n.chosen + 1 < n.options) {
                ++n.chosen;
                if (n.chosen >= 64 || (n.asleep & (std::uint64_t{1} << n.chosen)) == 0) return true;
            }
        }
        nodes.pop_back();
    }
    return false;
}

const char* short_path(const char* file) {
    if (file == nullptr) return "?";
    for (const char* marker : {"include/asynclink/", "/src/", "/tests/", "/examples/", "/bench/"}) {
        if (const char* p = std::strstr(file, marker)) return marker[0] == '/' ? p + 1 : p + 8;
    }
    const char* slash = std::strrchr(file, '/');
    return slash != nullptr ? slash + 1 : file;
}

class Explorer {
public:
    Explorer(const Options& options, std::function<void()> body)
        : options_(options), body_(std::move(body)), start_(std::chrono::steady_clock::now()) {}

    Result run();

private:
    RunConfig config(Mode mode) const {
        RunConfig c;
        c.mode = mode;
        c.depth = options_.depth < 1 ? 1 : options_.depth;
        c.preemption_bound = options_.preemption_bound;
        c.reduce = options_.reduce;
        c.max_steps = options_.max_steps;
        c.check_leaks = options_.check_leaks;
        c.trace_steps = options_.trace_steps;
        c.expected_steps = expected_steps_;
        return c;
    }
    Outcome once(RunConfig c) {
        c.index = result_.schedules + 1;
        Outcome out = run_schedule(c, body_);
        ++result_.schedules;
        result_.total_steps += out.steps;
        if (out.steps > result_.max_steps) result_.max_steps = out.steps;
        return out;
    }
    Outcome follow(const std::vector<Event>& events, bool trace = false) {
        RunConfig c = config(Mode::follow);
        c.follow = &events;
        c.trace = trace;
        return once(c);
    }
    bool out_of_budget() const {
        return result_.schedules >= options_.max_schedules ||
               std::chrono::steady_clock::now() - start_ >= options_.time_budget;
    }
    void report(Outcome out, std::optional<std::uint64_t> seed);

    Options options_;
    std::function<void()> body_;
    std::chrono::steady_clock::time_point start_;
    std::size_t expected_steps_ = 100;
    Result result_;
};

void Explorer::report(Outcome out, std::optional<std::uint64_t> seed) {
    Failure f;
    f.kind = *out.kind;
    f.seed = seed;
    f.preemptions_before_shrinking = out.preemptions;
    std::vector<Event> best = out.events;
    std::size_t best_preemptions = out.preemptions;
    if (options_.shrink) {
        // Drop one choice at a time while the schedule still fails the same
        // way with no more preemptions; a few hundred replays at most.
        std::size_t replays = 0;
        bool improved = true;
        while (improved && replays < 400) {
            improved = false;
            for (std::size_t i = 0; i < best.size() && replays < 400; ++i) {
                std::vector<Event> candidate = best;
                candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(i));
                Outcome o = follow(candidate);
                ++replays;
                if (o.kind == f.kind && o.preemptions <= best_preemptions && o.events.size() < best.size()) {
                    best = std::move(o.events);
                    best_preemptions = o.preemptions;
                    improved = true;
                    break;
                }
            }
        }
    }
    Outcome traced = follow(best, true);
    if (!traced.kind) traced = follow(out.events, true);  // shrinking never leaves a passing schedule, but be safe
    f.kind = traced.kind.value_or(f.kind);
    f.message = traced.kind ? traced.message : out.message;
    f.schedule = format_schedule(best);
    f.preemptions = traced.preemptions;
    f.steps = traced.steps;
    f.contexts = traced.contexts;
    std::size_t keep = options_.trace_steps;
    std::size_t first = traced.trace.size() > keep ? traced.trace.size() - keep : 0;
    f.trace.assign(traced.trace.begin() + static_cast<std::ptrdiff_t>(first), traced.trace.end());
    result_.failure = std::move(f);
}

Result Explorer::run() {
    if (!options_.replay.empty()) {
        std::vector<Event> events;
        if (!parse_schedule(options_.replay, events)) throw std::invalid_argument("sim: Options::replay is malformed");
        Outcome out = follow(events);
        if (out.kind) report(std::move(out), std::nullopt);
    } else if (options_.strategy == Strategy::exhaustive) {
        std::vector<Node> nodes;
        RunConfig c = config(Mode::exhaustive);
        c.nodes = &nodes;
        for (;;) {
            Outcome out = once(c);
            if (out.kind) {
                report(std::move(out), std::nullopt);
                break;
            }
            if (!next_path(nodes, options_.preemption_bound)) {
                result_.complete = true;
                break;
            }
            if (out_of_budget()) break;
        }
    } else {
        // The schedule without preemptions first: it must pass, and its
        // length is PCT's k (so a seed alone replays a schedule).
        Outcome calibration = follow({});
        if (calibration.kind) {
            report(std::move(calibration), std::nullopt);
        } else {
            expected_steps_ = calibration.steps < 16 ? 16 : calibration.steps;
            RunConfig c = config(Mode::random);
            for (std::uint64_t i = 0; !out_of_budget(); ++i) {
                c.seed = options_.replay_seed ? *options_.replay_seed : mix(options_.seed + i);
                Outcome out = once(c);
                if (out.kind) {
                    report(std::move(out), c.seed);
                    break;
                }
                if (options_.replay_seed) break;
            }
        }
    }
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return std::move(result_);
}

void print_step(std::ostream& out, const Step& s) {
    char line[256];
    if (s.file == nullptr) {
        std::snprintf(line, sizeof line, "  %6zu  %-12s %s\n", s.index, s.context.c_str(), s.operation);
        out << line;
        return;
    }
    std::snprintf(line, sizeof line, "  %6zu  %-12s %-17s %s:%u", s.index, s.context.c_str(), s.operation,
                  short_path(s.file), s.line);
    out << line;
    auto value = [&](std::uint64_t v) {
        if (v > 0xffff) {
            out << "0x" << std::hex << v << std::dec;
        } else {
            out << v;
        }
    };
    const char* op = s.operation;
    if (std::strcmp(op, "load") == 0) {
        out << "  -> ";
        value(s.after);
    } else if (std::strcmp(op, "store") == 0) {
        out << "  = ";
        value(s.after);
    } else if (std::strncmp(op, "fetch_", 6) == 0 || std::strcmp(op, "exchange") == 0 ||
               std::strcmp(op, "compare_exchange") == 0) {
        out << "  ";
        value(s.before);
        out << " -> ";
        value(s.after);
        if (std::strcmp(op, "compare_exchange") == 0 && s.before == s.after) out << " (no change)";
    } else if (std::strcmp(op, "block_thread") == 0 || std::strcmp(op, "unblock_threads") == 0) {
        out << "  word ";
        value(s.after);
    }
    out << '\n';
}

}  // namespace

const char* to_string(FailureKind kind) noexcept {
    switch (kind) {
    case FailureKind::check: return "check failed";
    case FailureKind::exception: return "exception";
    case FailureKind::fatal: return "fatal";
    case FailureKind::deadlock: return "deadlock";
    case FailureKind::lost_wakeup: return "lost wake-up";
    case FailureKind::leak: return "leak";
    case FailureKind::livelock: return "livelock";
    case FailureKind::nondeterminism: return "nondeterminism";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& out, const Result& r) {
    out << "sim: " << r.schedules << " schedule(s)" << (r.complete ? " (all within the bound)" : "") << ", up to "
        << r.max_steps << " preemption points each, " << r.seconds << " s";
    if (r.ok()) return out << ": ok\n";
    const Failure& f = *r.failure;
    out << ": FAILED\n  " << to_string(f.kind) << ": " << f.message << '\n';
    if (f.seed) out << "  seed: " << *f.seed << "  (Options::replay_seed)\n";
    out << "  schedule: \"" << f.schedule << "\"  (Options::replay)\n";
    out << "  preemptions: " << f.preemptions;
    if (f.preemptions_before_shrinking != f.preemptions)
        out << " (" << f.preemptions_before_shrinking << " before shrinking)";
    out << ", steps: " << f.steps << "\n  contexts at the end:\n" << f.contexts;
    if (!f.trace.empty()) {
        out << "  the last " << f.trace.size() << " steps (step, context, operation, source, value):\n";
        std::string last;
        for (std::size_t i = 0; i < f.trace.size(); ++i) {
            const Step& s = f.trace[i];
            if (s.context != last && !last.empty()) out << "  ------  switch to " << s.context << '\n';
            last = s.context;
            print_step(out, s);
            // A run of the same operation at the same line (a loop filling an
            // array, a spin) is one line and a count.
            std::size_t same = 0;
            while (i + same + 1 < f.trace.size()) {
                const Step& n = f.trace[i + same + 1];
                if (n.context != s.context || n.line != s.line || n.operation != s.operation || n.file != s.file) break;
                ++same;
            }
            if (same > 2) {
                out << "          ... " << same << " more " << s.operation << " at the same line\n";
                i += same;
            }
        }
    }
    return out;
}

void PrintTo(const Result& result, std::ostream* out) { *out << result; }

Result explore(const Options& options, std::function<void()> body) {
    if (in_schedule()) throw std::logic_error("sim::explore called inside a schedule");
    Explorer explorer(options, std::move(body));
    return explorer.run();
}

void check(bool condition, const char* what, const char* file, unsigned line) noexcept {
    if (condition) return;
    std::string message = std::string(what) + " (" + short_path(file) + ":" + std::to_string(line) + ")";
    if (!in_schedule()) {
        std::fprintf(stderr, "sim::check failed outside a schedule: %s\n", message.c_str());
        std::abort();
    }
    api_fail(FailureKind::check, std::move(message));
}

void preemption_point(const char* file, unsigned line) noexcept { point(Op::user, nullptr, Where{file, line}); }

void yield_now() noexcept { port::yield_thread(); }

void sleep_for(Clock::duration duration) noexcept {
    if (in_schedule()) api_sleep_until(hooks::now() + duration.count());
}

Thread::Thread(std::function<void()> fn, ThreadOptions options) {
    if (!in_schedule()) throw std::logic_error("sim::Thread outside a schedule");
    id_ = api_spawn(std::move(fn), std::move(options.name), options.core);
    point(Op::user, nullptr, Where{__FILE__, __LINE__});
}

Thread::~Thread() { join(); }

void Thread::join() noexcept {
    if (joined_) return;
    joined_ = true;
    api_join(id_);
}

Interrupt::Interrupt(std::function<void()> handler, InterruptOptions options) {
    if (!in_schedule()) throw std::logic_error("sim::Interrupt outside a schedule");
    id_ = api_add_source(std::move(handler), options);
    point(Op::user, nullptr, Where{__FILE__, __LINE__});
}

Interrupt::~Interrupt() {
    api_drain(id_);
    std::function<void()> handler = api_take_handler(id_);  // freed here, in the schedule that made it
}

void Interrupt::pend() noexcept {
    api_pend(id_);
    point(Op::user, nullptr, Where{__FILE__, __LINE__});
}

namespace detail {

std::string format_schedule(const std::vector<Event>& events) {
    std::string out;
    for (const Event& e : events) {
        if (!out.empty()) out += ' ';
        out += std::to_string(e.step) + (e.after_block ? '/' : ':');
        if (e.target >= 0) {
            out += 'c' + std::to_string(e.target);
        } else if (e.target == Event::advance) {
            out += 't';
        } else {
            out += 'i' + std::to_string(Event::fire(0) - e.target);
        }
    }
    return out;
}

bool parse_schedule(const std::string& text, std::vector<Event>& events) {
    std::istringstream in(text);
    std::string token;
    while (in >> token) {
        auto colon = token.find_first_of(":/");
        if (colon == std::string::npos || colon == 0 || colon + 1 >= token.size()) return false;
        Event e{std::stoul(token.substr(0, colon)), 0, token[colon] == '/'};
        char kind = token[colon + 1];
        std::string rest = token.substr(colon + 2);
        if (kind == 'c') {
            e.target = std::stoi(rest);
        } else if (kind == 't') {
            e.target = Event::advance;
        } else if (kind == 'i') {
            e.target = Event::fire(std::stoi(rest));
        } else {
            return false;
        }
        events.push_back(e);
    }
    return true;
}

}  // namespace detail

}  // namespace asynclink::sim
