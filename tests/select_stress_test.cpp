// SPDX-License-Identifier: BSL-1.0
// select() racing other contexts: a thread (or a signal handler) completes
// the branches while the task selects, round after round, so a branch is
// often completed at the very moment select cancels it. Whatever wins, no
// item is lost or taken twice and no set is lost: every item put is received
// exactly once and in order, and every set is seen by a select or still in
// the primitive at the end. Sized by ASYNCLINK_STRESS_SCALE, bounded in time.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <pthread.h>
#include <string>
#include <random>
#include <thread>

#include "support/stress.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::scaled;

/// Sleeps a random short while now and then, so the two sides meet at every
/// phase of each other's operations.
struct Jitter {
    std::minstd_rand rng{std::random_device{}()};
    void maybe_pause() {
        unsigned r = rng() % 64;
        if (r == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
        if (r < 4) std::this_thread::yield();
    }
};

constexpr auto time_budget = 20s;

// Two queues fed by one thread, read by select over both gets: each queue's
// items arrive exactly once, in order.
TEST(SelectStress, TwoQueuesRacingLoseAndDuplicateNothing) {
    const std::uint64_t items = scaled<std::uint64_t>(1'000'000, 5'000);
    std::atomic<std::uint64_t> progress{0};
    stress_test::Watchdog watchdog(progress,
                                   [&] { return "select over two queues: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> a(8), b(8);
        std::thread producer([&] {
            Jitter jitter;
            for (std::uint64_t i = 0; i < items; ++i) {
                a.put_sync(i, true);
                b.put_sync(i, true);
                jitter.maybe_pause();
            }
            a.close();
            b.close();
        });
        std::uint64_t next_a = 0, next_b = 0;
        std::uint64_t both = 0;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (next_a < items || next_b < items) {
            if (next_a < items && next_b < items) {
                auto [x, y] = co_await al::select(a.get(), b.get());
                if (x) {
                    EXPECT_EQ(*x, next_a++);
                }
                if (y) {
                    EXPECT_EQ(*y, next_b++);
                }
                both += (x && y) ? 1 : 0;
            } else if (next_a < items) {
                EXPECT_EQ(co_await a.get(), next_a++);
            } else {
                EXPECT_EQ(co_await b.get(), next_b++);
            }
            progress.fetch_add(1, std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() > deadline) break;  // bounded: check what arrived so far
        }
        // Drain: everything the producer put arrives, nothing more.
        while (auto x = co_await a.next()) EXPECT_EQ(*x, next_a++);
        while (auto y = co_await b.next()) EXPECT_EQ(*y, next_b++);
        producer.join();
        EXPECT_EQ(next_a, items);
        EXPECT_EQ(next_b, items);
        std::printf("select over two queues: %llu items each, %llu rounds took both\n",
                    static_cast<unsigned long long>(items), static_cast<unsigned long long>(both));
    }());
}

// A queue and a flag completed by one thread at the same instant: every item
// arrives once, in order; the last set is seen or still in the flag.
TEST(SelectStress, AQueueAndAFlagRacingLoseNothing) {
    const std::uint64_t items = scaled<std::uint64_t>(1'000'000, 5'000);
    std::atomic<std::uint64_t> progress{0};
    std::atomic<std::uint64_t> sets{0};
    stress_test::Watchdog watchdog(
        progress, [&] { return "select over a queue and a flag: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> q(8);
        al::ThreadSafeFlag flag;
        std::thread producer([&] {
            Jitter jitter;
            for (std::uint64_t i = 0; i < items; ++i) {
                q.put_sync(i, true);
                sets.fetch_add(1, std::memory_order_seq_cst);
                flag.set();
                jitter.maybe_pause();
            }
            q.close();
        });
        std::uint64_t next = 0;
        std::uint64_t last_count_seen = 0;
        bool open = true;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (open) {
            auto [item, flagged] = co_await al::select(q.next(), flag.wait());
            if (item) {
                if (*item) {
                    EXPECT_EQ(**item, next++);
                } else {
                    open = false;  // closed and drained
                }
            }
            if (flagged) last_count_seen = sets.load(std::memory_order_seq_cst);
            progress.fetch_add(1, std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() > deadline) break;
        }
        while (auto x = co_await q.next()) EXPECT_EQ(*x, next++);
        producer.join();
        EXPECT_EQ(next, items);
        EXPECT_TRUE(flag.is_set() || last_count_seen == sets.load())
            << "a set was lost: last count seen " << last_count_seen << " of " << sets.load();
    }());
}

// A signal handler completes the branch: try_put from the handler races the
// select's cancel of the get; a timer is the other branch.
al::ThreadSafeQueue<std::uint64_t>* handler_queue = nullptr;
std::atomic<std::uint64_t> handler_next{0};
std::atomic<std::uint64_t> handler_refused{0};

void on_signal(int) {
    std::uint64_t v = handler_next.load(std::memory_order_relaxed);
    if (handler_queue->try_put(v)) {
        handler_next.store(v + 1, std::memory_order_relaxed);
    } else {
        handler_refused.fetch_add(1, std::memory_order_relaxed);
    }
}

TEST(SelectStress, AnItemFromASignalHandlerRacingATimerIsNeverLost) {
    const std::uint64_t signals = scaled<std::uint64_t>(200'000, 2'000);
    std::atomic<std::uint64_t> progress{0};
    stress_test::Watchdog watchdog(progress,
                                   [&] { return "select with a signal handler: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> q(64);
        handler_queue = &q;
        handler_next = 0;
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        EXPECT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);
        pthread_t loop_thread = pthread_self();
        std::atomic<bool> stop{false};
        std::atomic<bool> signaller_done{false};
        std::thread signaller([&] {
            Jitter jitter;
            for (std::uint64_t i = 0; i < signals && !stop.load(std::memory_order_relaxed); ++i) {
                pthread_kill(loop_thread, SIGUSR2);  // the handler runs on the loop's thread, inside anything
                jitter.maybe_pause();
            }
            signaller_done.store(true, std::memory_order_release);
        });
        std::uint64_t next = 0;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (std::chrono::steady_clock::now() < deadline) {
            auto [item, timed_out] = co_await al::select(q.get(), al::sleep(0));
            if (item) {
                EXPECT_EQ(*item, next++);
            }
            progress.fetch_add(1, std::memory_order_relaxed);
            // Signals sent close together merge into one: count the
            // handler's puts, not the signals. Done once the last signal is
            // sent and what its handlers put has been taken.
            if (signaller_done.load(std::memory_order_acquire) && next == handler_next.load()) break;
        }
        stop = true;
        signaller.join();
        signal(SIGUSR2, SIG_IGN);
        while (auto x = q.try_get()) EXPECT_EQ(*x, next++);
        EXPECT_EQ(next, handler_next.load()) << "items the handler put that never arrived";
        handler_queue = nullptr;
    }());
}

}  // namespace
