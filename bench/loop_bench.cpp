// SPDX-License-Identifier: BSL-1.0
// The event loop against Boost.Asio's C++20 coroutines, workload by workload,
// in one binary: task create+complete, a yield round trip, timer scheduling,
// and Event set -> wake. Each workload runs once on asynclink and once on an
// asio::io_context (concurrency hint 1: Asio's single-threaded best case),
// both driven from inside a coroutine so that neither side pays for entering
// and leaving its loop per iteration.
//
// Every benchmark reports items/s (one item = one task, one yield, one timer
// expiry, one set -> wake) and allocs/op: malloc and its relatives are
// interposed by counting ones (count_allocations.hpp), so a heap allocation on
// a hot path shows up as a number, not a guess. After the runs, a table gives each workload's asynclink/Asio ratio
// (> 1: asynclink is faster), computed from the medians of the repetitions.
//
//   build-bench/bench/loop_bench              the whole set, under a minute
//   build-bench/bench/loop_bench --benchmark_filter=yield
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <asynclink/asynclink.hpp>

#include "bench_common.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace al = asynclink;
namespace asio = boost::asio;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- counting allocator

// Every heap allocation of the process, counted at malloc level: Asio
// allocates its frames with aligned_alloc, below operator new.
#include "count_allocations.hpp"

namespace {

/// Counts items and heap allocations over the timed loop of one benchmark and
/// reports them as items/s and allocs/op.
class Meter {
public:
    explicit Meter(benchmark::State& state) noexcept : state_(state) {}
    std::uint64_t items = 0;

    void start() noexcept {
        items = 0;
        allocations_at_start_ = asynclink_bench::heap_allocations.load(std::memory_order_relaxed);
    }
    void stop() noexcept {
        std::uint64_t allocations =
            asynclink_bench::heap_allocations.load(std::memory_order_relaxed) - allocations_at_start_;
        state_.SetItemsProcessed(static_cast<std::int64_t>(items));
        state_.counters["allocs/op"] = items == 0 ? 0.0 : static_cast<double>(allocations) / static_cast<double>(items);
    }

private:
    benchmark::State& state_;
    std::uint64_t allocations_at_start_ = 0;
};

// ---------------------------------------------------------------- Asio scaffolding

using AsioTimer = asio::steady_timer;
using AsioChannel = asio::experimental::channel<void(boost::system::error_code)>;

/// Runs `main` on a fresh io_context until everything spawned on it is done;
/// rethrows what main threw.
void run_asio(asio::io_context& context, asio::awaitable<void> main) {
    std::exception_ptr failure;
    asio::co_spawn(context, std::move(main), [&failure](std::exception_ptr e) { failure = e; });
    context.run();
    if (failure) std::rethrow_exception(failure);
}

/// Waits on a timer used as an event (expiry: never; cancel() signals it)
/// without turning the cancellation into an exception.
asio::awaitable<void> wait_signalled(AsioTimer& timer) {
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

// ---------------------------------------------------------------- 1. task create + complete

al::Task<void> al_trivial(std::uint64_t& counter) {
    ++counter;
    co_return;
}

al::Task<void> al_spawn_main(benchmark::State& state) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    Meter meter(state);
    std::uint64_t ran = 0;
    std::vector<al::TaskHandle<void>> handles;
    handles.reserve(batch);
    meter.start();
    for (auto _ : state) {
        for (std::size_t i = 0; i < batch; ++i) handles.push_back(al::create_task(al_trivial(ran)));
        for (auto& h : handles) co_await h;
        handles.clear();
        meter.items += batch;
    }
    meter.stop();
    if (ran != meter.items) state.SkipWithError("a spawned task did not run");
}

asio::awaitable<void> asio_trivial(std::uint64_t& counter) {
    ++counter;
    co_return;
}

asio::awaitable<void> asio_spawn_main(benchmark::State& state) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    auto executor = co_await asio::this_coro::executor;
    Meter meter(state);
    std::uint64_t ran = 0;
    std::size_t remaining = 0;
    AsioTimer all_done(executor);
    auto on_done = [&remaining, &all_done](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
        if (--remaining == 0) all_done.cancel();
    };
    meter.start();
    for (auto _ : state) {
        remaining = batch;
        for (std::size_t i = 0; i < batch; ++i) asio::co_spawn(executor, asio_trivial(ran), on_done);
        // co_spawn may run a task to its end inline; wait only if some are left.
        if (remaining != 0) {
            all_done.expires_at(AsioTimer::time_point::max());
            co_await wait_signalled(all_done);
        }
        meter.items += batch;
    }
    meter.stop();
    if (ran != meter.items) state.SkipWithError("a spawned task did not run");
}

// ---------------------------------------------------------------- 2. yield round trip

// range(0) tasks yield in turn: the benchmark's own task plus range(0) - 1
// others that yield until told to stop.
al::Task<void> al_yielder(const bool& stop, std::uint64_t& yields) {
    while (!stop) {
        co_await al::sleep(0);
        ++yields;
    }
}

al::Task<void> al_yield_main(benchmark::State& state) {
    Meter meter(state);
    bool stop = false;
    std::vector<al::TaskHandle<void>> others;
    for (std::int64_t i = 1; i < state.range(0); ++i) others.push_back(al::create_task(al_yielder(stop, meter.items)));
    meter.start();
    for (auto _ : state) {
        co_await al::sleep(0);
        ++meter.items;
    }
    meter.stop();
    stop = true;
    for (auto& h : others) co_await h;
}

asio::awaitable<void> asio_yielder(const bool& stop, std::uint64_t& yields) {
    auto executor = co_await asio::this_coro::executor;
    while (!stop) {
        co_await asio::post(executor, asio::use_awaitable);
        ++yields;
    }
}

// The shared state lives outside the coroutines: Asio's io_context finishes
// the others after main has returned.
struct AsioYieldState {
    bool stop = false;
};

asio::awaitable<void> asio_yield_main(benchmark::State& state, AsioYieldState& shared) {
    auto executor = co_await asio::this_coro::executor;
    Meter meter(state);
    for (std::int64_t i = 1; i < state.range(0); ++i) {
        asio::co_spawn(executor, asio_yielder(shared.stop, meter.items), asio::detached);
    }
    meter.start();
    for (auto _ : state) {
        co_await asio::post(executor, asio::use_awaitable);
        ++meter.items;
    }
    meter.stop();
    shared.stop = true;
}

// ---------------------------------------------------------------- 3. timers

// range(0) tasks each sleep 1 us over and over. With that many sleepers the
// loop always has due timers or ready tasks, so it never sleeps in the kernel:
// the time measured is the cost of scheduling, firing and resuming a timer.
constexpr auto short_sleep = 1us;

al::Task<void> al_sleeper(const bool& stop, std::uint64_t& sleeps) {
    while (!stop) {
        co_await al::sleep(short_sleep);
        ++sleeps;
    }
}

al::Task<void> al_timer_main(benchmark::State& state) {
    Meter meter(state);
    bool stop = false;
    std::vector<al::TaskHandle<void>> others;
    for (std::int64_t i = 1; i < state.range(0); ++i) others.push_back(al::create_task(al_sleeper(stop, meter.items)));
    meter.start();
    for (auto _ : state) {
        co_await al::sleep(short_sleep);
        ++meter.items;
    }
    meter.stop();
    stop = true;
    for (auto& h : others) co_await h;
}

asio::awaitable<void> asio_sleeper(const bool& stop, std::uint64_t& sleeps) {
    AsioTimer timer(co_await asio::this_coro::executor);
    while (!stop) {
        timer.expires_after(short_sleep);
        co_await timer.async_wait(asio::use_awaitable);
        ++sleeps;
    }
}

struct AsioTimerState {
    bool stop = false;
};

asio::awaitable<void> asio_timer_main(benchmark::State& state, AsioTimerState& shared) {
    auto executor = co_await asio::this_coro::executor;
    Meter meter(state);
    for (std::int64_t i = 1; i < state.range(0); ++i) {
        asio::co_spawn(executor, asio_sleeper(shared.stop, meter.items), asio::detached);
    }
    AsioTimer timer(executor);
    meter.start();
    for (auto _ : state) {
        timer.expires_after(short_sleep);
        co_await timer.async_wait(asio::use_awaitable);
        ++meter.items;
    }
    meter.stop();
    shared.stop = true;
}

// ---------------------------------------------------------------- 4. Event set -> wake

// Ping-pong between two tasks over two events: each round is two set -> wake
// hand-offs, each through the loop.
al::Task<void> al_event_partner(al::Event& ping, al::Event& pong, const bool& stop) {
    for (;;) {
        co_await ping.wait();
        if (stop) co_return;
        ping.clear();
        pong.set();
    }
}

al::Task<void> al_event_main(benchmark::State& state) {
    Meter meter(state);
    al::Event ping;
    al::Event pong;
    bool stop = false;
    auto partner = al::create_task(al_event_partner(ping, pong, stop));
    meter.start();
    for (auto _ : state) {
        ping.set();
        co_await pong.wait();
        pong.clear();
        meter.items += 2;
    }
    meter.stop();
    stop = true;
    ping.set();
    co_await partner;
}

// Asio has no event; its two usual stand-ins are a timer that never expires,
// cancelled to signal (clearing re-arms it, which is legal only while no one
// waits), and a channel of capacity one (try_send sets, receive waits and clears).
struct AsioTimerEvents {
    explicit AsioTimerEvents(asio::io_context& context) : ping(context), pong(context) {
        ping.expires_at(AsioTimer::time_point::max());
        pong.expires_at(AsioTimer::time_point::max());
    }
    AsioTimer ping;
    AsioTimer pong;
    bool stop = false;
};

asio::awaitable<void> asio_timer_event_partner(AsioTimerEvents& events) {
    for (;;) {
        co_await wait_signalled(events.ping);
        if (events.stop) co_return;
        events.ping.expires_at(AsioTimer::time_point::max());
        events.pong.cancel();
    }
}

asio::awaitable<void> asio_timer_event_main(benchmark::State& state, AsioTimerEvents& events) {
    Meter meter(state);
    // Spawned first so that it waits before the first signal: a timer's
    // cancel() is not remembered the way Event::set() is.
    asio::co_spawn(co_await asio::this_coro::executor, asio_timer_event_partner(events), asio::detached);
    meter.start();
    for (auto _ : state) {
        events.ping.cancel();
        co_await wait_signalled(events.pong);
        events.pong.expires_at(AsioTimer::time_point::max());
        meter.items += 2;
    }
    meter.stop();
    events.stop = true;
    events.ping.cancel();
}

struct AsioChannelEvents {
    explicit AsioChannelEvents(asio::io_context& context) : ping(context, 1), pong(context, 1) {}
    AsioChannel ping;
    AsioChannel pong;
    bool stop = false;
};

asio::awaitable<void> asio_channel_event_partner(AsioChannelEvents& events) {
    for (;;) {
        co_await events.ping.async_receive(asio::use_awaitable);
        if (events.stop) co_return;
        events.pong.try_send(boost::system::error_code{});
    }
}

asio::awaitable<void> asio_channel_event_main(benchmark::State& state, AsioChannelEvents& events) {
    Meter meter(state);
    asio::co_spawn(co_await asio::this_coro::executor, asio_channel_event_partner(events), asio::detached);
    meter.start();
    for (auto _ : state) {
        events.ping.try_send(boost::system::error_code{});
        co_await events.pong.async_receive(asio::use_awaitable);
        meter.items += 2;
    }
    meter.stop();
    events.stop = true;
    events.ping.try_send(boost::system::error_code{});
}

// ---------------------------------------------------------------- registration

void asynclink_spawn(benchmark::State& state) { al::run(al_spawn_main(state)); }
void asio_spawn(benchmark::State& state) {
    asio::io_context context(1);
    run_asio(context, asio_spawn_main(state));
}
void asynclink_yield(benchmark::State& state) { al::run(al_yield_main(state)); }
void asio_yield(benchmark::State& state) {
    asio::io_context context(1);
    AsioYieldState shared;
    run_asio(context, asio_yield_main(state, shared));
}
void asynclink_timer(benchmark::State& state) { al::run(al_timer_main(state)); }
void asio_timer(benchmark::State& state) {
    asio::io_context context(1);
    AsioTimerState shared;
    run_asio(context, asio_timer_main(state, shared));
}
void asynclink_event(benchmark::State& state) { al::run(al_event_main(state)); }

// ---------------------------------------------------------------- 5. select against a plain get

// One round: an item is put, then taken, either by `co_await q.get()` or by
// `co_await select(q.get(), sleep(1s))` (the get wins; the timer branch is
// cancelled). The difference is what select costs per round: a task per
// branch, the first-completed wait and the cancel of the loser.
al::Task<void> al_get_main(benchmark::State& state, bool through_select) {
    Meter meter(state);
    al::Queue<int> q;
    std::int64_t sum = 0;
    meter.start();
    for (auto _ : state) {
        q.put_nowait(1);
        if (through_select) {
            auto [item, timed_out] = co_await al::select(q.get(), al::sleep(std::chrono::seconds(1)));
            sum += item.value_or(0);
        } else {
            sum += co_await q.get();
        }
        ++meter.items;
    }
    meter.stop();
    benchmark::DoNotOptimize(sum);
}
void asynclink_get(benchmark::State& state) { al::run(al_get_main(state, false)); }
void asynclink_select_get(benchmark::State& state) { al::run(al_get_main(state, true)); }
void asio_timer_event(benchmark::State& state) {
    asio::io_context context(1);
    AsioTimerEvents events(context);
    run_asio(context, asio_timer_event_main(state, events));
}
void asio_channel_event(benchmark::State& state) {
    asio::io_context context(1);
    AsioChannelEvents events(context);
    run_asio(context, asio_channel_event_main(state, events));
}

struct Workload {
    const char* name;
    const char* arg_name;
    std::vector<std::int64_t> args;
    std::vector<std::pair<const char*, void (*)(benchmark::State&)>> sides;
};

void register_all() {
    const std::vector<Workload> workloads = {
        {"spawn_complete", "batch", {1, 1000}, {{"asynclink", asynclink_spawn}, {"asio", asio_spawn}}},
        {"yield", "tasks", {1, 100}, {{"asynclink", asynclink_yield}, {"asio", asio_yield}}},
        {"timer_1us", "tasks", {100, 1000}, {{"asynclink", asynclink_timer}, {"asio", asio_timer}}},
        {"event_set_wake",
         "",
         {},
         {{"asynclink", asynclink_event}, {"asio_timer", asio_timer_event}, {"asio_channel", asio_channel_event}}},
        // Not a peer comparison: the ratio is a plain get against select(get, timer).
        {"queue_get", "", {}, {{"asynclink", asynclink_get}, {"select_get_timer", asynclink_select_get}}},
    };
    for (const Workload& w : workloads) {
        for (const auto& [side, fn] : w.sides) {
            auto* b = benchmark::RegisterBenchmark((std::string(w.name) + "/" + side).c_str(), fn);
            if (!w.args.empty()) b->ArgName(w.arg_name);
            for (std::int64_t a : w.args) b->Arg(a);
            // Wall time: a loop that slept when it should not have must show.
            // Medians of a few short repetitions: the machine is shared and noisy.
            asynclink_bench::repeated(b->UseRealTime(), 0.1);
        }
    }
}

// ---------------------------------------------------------------- the ratio table

/// Prints what the console reporter prints, then one line per workload: the
/// median items/s of asynclink and of the fastest Asio variant, and their ratio.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    // Plain text: the output is meant to be kept in logs and commit messages.
    RatioReporter() : ConsoleReporter(OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            // The median of the repetitions when there are several, else the one run.
            bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (!median && run.run_type == Run::RT_Aggregate) continue;
            // function_name is "<workload>/<side>"; args follow in their own field.
            const std::string& function = run.run_name.function_name;
            std::size_t slash = function.find('/');
            std::string workload = function.substr(0, slash);
            if (!run.run_name.args.empty()) workload += "/" + run.run_name.args;
            std::string side = function.substr(slash + 1);
            Result result;
            result.items_per_second = counter(run, "items_per_second");
            result.allocations = counter(run, "allocs/op");
            auto [slot, added] = rows_[workload].try_emplace(side, result);
            if (!added && median) slot->second = result;
            if (std::find(order_.begin(), order_.end(), workload) == order_.end()) order_.push_back(workload);
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::FILE* out = stdout;
        std::fflush(out);
        std::fprintf(out, "\n%-26s %14s %14s %-13s %8s %12s %12s\n", "workload", "asynclink/s", "asio/s", "(asio side)",
                     "ratio", "al allocs/op", "asio allocs/op");
        for (const std::string& workload : order_) {
            const auto& sides = rows_[workload];
            auto ours = sides.find("asynclink");
            if (ours == sides.end()) continue;
            const std::pair<const std::string, Result>* best = nullptr;
            for (const auto& entry : sides) {
                if (entry.first == "asynclink") continue;
                if (best == nullptr || entry.second.items_per_second > best->second.items_per_second) best = &entry;
            }
            if (best == nullptr) continue;
            std::fprintf(out, "%-26s %14.4g %14.4g %-13s %7.2f %13.3g %14.3g\n", workload.c_str(),
                         ours->second.items_per_second, best->second.items_per_second, best->first.c_str(),
                         ours->second.items_per_second / best->second.items_per_second, ours->second.allocations,
                         best->second.allocations);
        }
        std::fprintf(out, "ratio = asynclink items/s / fastest Asio variant's items/s (> 1: asynclink is faster)\n");
    }

private:
    struct Result {
        double items_per_second = 0;
        double allocations = 0;
    };
    static double counter(const Run& run, const char* name) {
        auto it = run.counters.find(name);
        return it == run.counters.end() ? 0.0 : it->second.value;
    }
    std::map<std::string, std::map<std::string, Result>> rows_;
    std::vector<std::string> order_;
};

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
