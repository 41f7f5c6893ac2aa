// SPDX-License-Identifier: BSL-1.0
// Context.assign: blocking work handed to another core (the seed's Context).
//
// A Context owns worker threads, here one pinned to CPU 1, fed by a bounded
// job queue. `co_await ctx.assign(fn, args...)` runs fn there and gives back
// its result, or its exception, in the awaiting task; the loop on CPU 0 keeps
// running its other tasks meanwhile.
//
//   task on CPU 0 --assign(rats, 30ms, 7)--> [job queue, 4 places] --> worker on CPU 1
//   task on CPU 0 <--------------- 49 (or the job's exception) -------------'
//
// Shown: the seed's call; CPU-bound work running on the other core while a
// ticker task runs on this one; more jobs than the queue holds (the extra
// assigns pause their tasks, nothing is dropped, results come back in order);
// an exception crossing back to the task.
//
// Usage: context_other_core [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// Arbitrary blocking function (the seed's `rats`).
int rats(std::chrono::milliseconds t, int n) {
    std::this_thread::sleep_for(t);
    return n * n;
}

struct PrimeCount {
    int cpu;  // where the count ran
    long primes;
};

// CPU-bound work: it would hold the loop for its whole duration.
PrimeCount count_primes(long limit) {
    long primes = 0;
    for (long n = 2; n < limit; ++n) {
        bool prime = true;
        for (long d = 2; d * d <= n; ++d) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        if (prime) ++primes;
    }
    return {al::port::current_cpu(), primes};
}

int read_sensor(int id) {
    if (id < 0) throw std::invalid_argument("no sensor " + std::to_string(id));
    return id * 10;
}

al::Task<void> ticker(int& ticks) {
    for (;;) {
        co_await al::sleep(1ms);
        ++ticks;
    }
}

al::Task<int> square_later(al::Context& ctx, std::chrono::milliseconds t, int n) {
    co_return co_await ctx.assign(rats, t, n);
}

al::Task<int> run_example(bool is_short) {
    int errors = 0;
    auto check = [&errors](bool ok, const char* what) {
        std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
        if (!ok) ++errors;
    };

    // One worker pinned to CPU 1, at most 4 jobs waiting to start.
    int worker_cpu = 1;
    std::unique_ptr<al::Context> ctx;
    try {
        ctx = std::make_unique<al::Context>(4, 1, std::vector<int>{worker_cpu});
    } catch (const al::UsageError& e) {
        std::printf("cannot pin to CPU 1 (%s): using an unpinned worker\n", e.what());
        worker_cpu = -1;
        ctx = std::make_unique<al::Context>(4);
    }
    std::printf("loop on CPU %d, worker pinned to CPU %d\n", al::port::current_cpu(), worker_cpu);

    std::printf("1. res = co_await ctx.assign(rats, 30ms, 7)\n");
    int res = co_await ctx->assign(rats, 30ms, 7);
    std::printf("   res = %d\n", res);
    check(res == 49, "the result of the blocking call came back to the task");

    std::printf("2. counting primes on the worker while a ticker task runs on the loop\n");
    int ticks = 0;
    auto tick = al::create_task(ticker(ticks));
    auto start = al::Clock::now();
    PrimeCount pc = co_await ctx->assign(count_primes, is_short ? 200'000L : 3'000'000L);
    double ms = std::chrono::duration<double, std::milli>(al::Clock::now() - start).count();
    tick.cancel();
    std::printf("   %ld primes, counted on CPU %d in %.0f ms; the ticker ticked %d times meanwhile\n", pc.primes,
                pc.cpu, ms, ticks);
    check(pc.primes == (is_short ? 17'984 : 216'816), "the count is right");
    if (worker_cpu >= 0) check(pc.cpu == worker_cpu, "the work ran on the worker's CPU");

    std::printf("3. ten jobs at once into a queue of four\n");
    std::vector<al::Task<int>> jobs;
    for (int n = 0; n < 10; ++n) jobs.push_back(square_later(*ctx, 5ms, n));
    std::vector<int> squares = co_await al::gather(std::move(jobs));
    bool all_right = true;
    for (int n = 0; n < 10; ++n) {
        std::printf("   %d", squares[n]);
        all_right = all_right && squares[n] == n * n;
    }
    std::printf("\n");
    check(all_right, "every job ran once and its result came back in order");

    std::printf("4. a job that throws\n");
    try {
        co_await ctx->assign(read_sensor, -1);
        check(false, "the job's exception reached the task");
    } catch (const std::invalid_argument& e) {
        std::printf("   caught: %s\n", e.what());
        check(true, "the job's exception reached the task");
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    al::port::pin_current_thread(0);
    int errors = al::run(run_example(is_short));
    std::printf(errors == 0 ? "context_other_core: all checks passed\n" : "context_other_core: FAILED\n");
    return errors == 0 ? 0 : 1;
}
