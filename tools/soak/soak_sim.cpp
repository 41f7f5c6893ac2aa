// SPDX-License-Identifier: BSL-1.0
// The soak's sim mode (soak --sim SECONDS, or this program directly): the
// soak's channels, small, in one body run under the sim's random search (PCT)
// with a new seed per schedule for the given time: about 20,000 schedules a
// second, so millions in a long run. Exits non-zero with the sim's report
// (seed, schedule, trace) at the first failure.
//
//   soak_sim [seconds] [first seed]
//
// Channels, at once, each checked for loss, duplication and order:
//   thread -> task           ThreadSafeQueue, put_sync(block)
//   task -> thread           ThreadSafeQueue, get_sync(block)
//   interrupt (core 0) -> task   try_put (refusals counted) and a flag
//   interrupt (core 1) -> task   Message, counting up
//   thread -> loop           Loop::schedule through a Handle, racing the loop's end
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

namespace al = asynclink;
namespace sim = asynclink::sim;

namespace {

constexpr int items = 3;

void count_call(void* arg) { ++*static_cast<int*>(arg); }

void everything_at_once() {
    al::ThreadSafeQueue<int> to_task(2);
    al::ThreadSafeQueue<int> to_thread(2);
    al::ThreadSafeQueue<int> samples(2);
    al::ThreadSafeFlag sampled;
    al::Message<int, 1> message;
    int next_sample = 0;
    int refused = 0;
    int calls = 0;
    int accepted = 0;
    std::optional<al::Loop::Handle> handle;

    sim::Thread producer([&] {
        for (int i = 0; i < items; ++i) to_task.put_sync(i, true);
        to_task.close();
    });
    sim::Thread consumer(
        [&] {
            int expected = 0;
            try {
                for (;;) sim::check(to_thread.get_sync(true) == expected++, "task -> thread in order");
            } catch (const al::QueueClosed&) {
            }
            sim::check(expected == items, "task -> thread: every item");
        },
        {.name = "consumer", .core = 1});
    sim::Thread poster([&] {
        while (!handle) sim::yield_now();
        for (int i = 0; i < 2; ++i) accepted += handle->schedule(&count_call, &calls) ? 1 : 0;
    });
    sim::Interrupt adc(
        [&] {
            if (samples.try_put(next_sample)) {
                ++next_sample;
            } else {
                ++refused;
            }
            sampled.set();
        },
        {.name = "adc", .core = 0, .priority = 1, .fires = 2});
    sim::Interrupt setter([&] { message.set(1); }, {.name = "setter", .core = 1, .priority = 2, .fires = 1});
    {
        al::LoopOptions o;
        o.schedule_capacity = 2;
        al::Loop loop(o);
        handle.emplace(loop.handle());
        loop.run_until_complete([&]() -> al::Task<> {
            auto from_thread = al::create_task([&]() -> al::Task<> {
                int expected = 0;
                while (auto v = co_await to_task.next()) sim::check(*v == expected++, "thread -> task in order");
                sim::check(expected == items, "thread -> task: every item");
            });
            auto to_other = al::create_task([&]() -> al::Task<> {
                for (int i = 0; i < items; ++i) co_await to_thread.put(i);
                to_thread.close();
            });
            auto from_isr = al::create_task([&]() -> al::Task<> {
                int expected = 0;
                while (expected + refused < 2) {
                    while (auto v = samples.try_get()) sim::check(*v == expected++, "samples in order");
                    if (expected + refused < 2) co_await sampled.wait();
                }
            });
            auto from_core1 = al::create_task([&]() -> al::Task<> {
                int v = co_await message.next();
                sim::check(v == 1, "the message's value");
            });
            co_await from_thread;
            co_await to_other;
            co_await from_isr;
            co_await from_core1;
        }());
    }  // ~Loop runs the accepted calls, then refuses
    poster.join();
    handle.reset();
    sim::check(calls == accepted, "every accepted schedule() call ran once");
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 10.0;
    std::uint64_t seed = argc > 2
                             ? std::strtoull(argv[2], nullptr, 10)
                             : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    sim::Options o;
    o.seed = seed;
    o.max_schedules = ~std::size_t{0};
    o.time_budget = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    std::printf("soak --sim: %.0f s of random schedules from seed %llu\n", seconds,
                static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    sim::Result r = sim::explore(o, everything_at_once);
    std::cout << r;
    if (!r.ok()) {
        std::printf("soak --sim: FAILED\n");
        return 1;
    }
    std::printf("soak --sim: %zu schedules (%.0f/s), %zu preemption points, 0 failures: all checks passed\n",
                r.schedules, static_cast<double>(r.schedules) / r.seconds, r.total_steps);
    return 0;
}
