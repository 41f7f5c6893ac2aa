// SPDX-License-Identifier: BSL-1.0
// A signal handler on the loop's own thread wakes the loop, whatever the loop
// was doing when the signal arrived: one signal per round, each round waiting
// for the last handler's set() to wake the loop, with the signal sent at every
// phase of the loop's way from the last wake-up back to sleep. A lost wake-up
// is a round that never ends, and the watchdog names it.
//
// Under ThreadSanitizer this caught a hang of the Linux port: the loop slept
// in a raw epoll_pwait2 system call, which ThreadSanitizer does not know
// blocks, so a handler arriving just before it was deferred until something
// else woke the loop (see src/port/linux.cpp). At 100 000 rounds, 5 runs in
// 20 hung before the fix and none in 20 after.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

al::ThreadSafeFlag* handler_flag = nullptr;
std::atomic<std::uint64_t> handler_runs{0};

void on_signal(int) {
    handler_flag->set();
    // Relaxed: a count for the failure message; the wake-up is the flag's.
    handler_runs.fetch_add(1, std::memory_order_relaxed);
}

/// Busy work of `n` steps the compiler cannot drop.
void spin(unsigned n) {
    std::atomic<unsigned> count{0};
    for (unsigned i = 0; i < n; ++i) count.fetch_add(1, std::memory_order_relaxed);
}

// spin_before_sleep 0, so the loop goes straight from the wake-up to sleep
// and the signal's phase sweeps that whole way; the default spin too, where
// the signal may also land in the spin or just after it.
class SignalWake : public testing::TestWithParam<bool> {};

TEST_P(SignalWake, EveryHandlerOnTheLoopThreadWakesTheLoop) {
    const bool spin_first = GetParam();
    constexpr std::uint64_t max_rounds = 1'000'000;
    constexpr auto time_budget = 8s;
    std::atomic<std::uint64_t> woken{0};
    stress_test::Watchdog watchdog(woken, [&] {
        return "round " + std::to_string(woken.load() + 1) + ", the handler ran " +
               std::to_string(handler_runs.load()) + " times";
    });
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    handler_runs = 0;
    al::LoopOptions options;
    if (!spin_first) options.spin_before_sleep = al::Clock::duration::zero();
    std::uint64_t rounds = 0;
    std::uint64_t sent = 0;                 // written by the sender, read after its join
    std::uint64_t first_round_signals = 0;  // likewise
    al::run(
        [&]() -> al::Task<> {
            al::ThreadSafeFlag flag;
            handler_flag = &flag;
            // Acquire/release: the loop's count of wake-ups, and the sender's
            // stop, each publish nothing else; the orders only keep them
            // simple to reason about.
            std::atomic<bool> stop{false};
            std::thread sender([&, loop_thread = pthread_self()] {
                std::minstd_rand rng{std::random_device{}()};
                auto deadline = std::chrono::steady_clock::now() + time_budget;
                // The first round's signal is sent again until it has woken the
                // loop: this ThreadSanitizer loses a signal that reaches a
                // thread just after it started or created a thread (plain
                // programs show it, with no asynclink in them), which is not the
                // fault looked for here. Later rounds send once.
                do {
                    pthread_kill(loop_thread, SIGUSR1);
                    ++sent;
                    auto give_up = std::chrono::steady_clock::now() + 100ms;
                    while (woken.load(std::memory_order_acquire) < 1 && std::chrono::steady_clock::now() < give_up) {
                        std::this_thread::yield();
                    }
                } while (woken.load(std::memory_order_acquire) < 1);
                first_round_signals = sent;
                for (std::uint64_t round = 2; round <= max_rounds; ++round) {
                    // Sweep the signal's phase from "at once" to well past the
                    // loop's way to sleep, and jitter it.
                    spin(static_cast<unsigned>(round % 3000 + rng() % 16));
                    pthread_kill(loop_thread, SIGUSR1);
                    ++sent;
                    while (woken.load(std::memory_order_acquire) < round) std::this_thread::yield();
                    if (std::chrono::steady_clock::now() > deadline) break;
                }
                stop.store(true, std::memory_order_release);
                flag.set();
            });
            while (!stop.load(std::memory_order_acquire)) {
                co_await flag.wait();
                woken.fetch_add(1, std::memory_order_release);
            }
            sender.join();
            rounds = woken.load();
            handler_flag = nullptr;
        }(),
        options);
    sigaction(SIGUSR1, &previous, nullptr);
    // Every signal after the first round ran its handler once (the sender
    // waited for each round's wake-up before the next signal, so none merged),
    // and each woke the loop.
    EXPECT_LE(handler_runs.load(), sent);
    EXPECT_GE(handler_runs.load() + first_round_signals - 1, sent);
    EXPECT_GE(rounds + first_round_signals - 1, sent);
    std::printf("%llu rounds, %llu signals (%llu in the first round), the handler ran %llu times\n",
                static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(first_round_signals),
                static_cast<unsigned long long>(handler_runs.load()));
}

INSTANTIATE_TEST_SUITE_P(LoopSpin, SignalWake, testing::Bool(), [](const testing::TestParamInfo<bool>& param) {
    return param.param ? "SpinThenSleep" : "SleepAtOnce";
});

}  // namespace
