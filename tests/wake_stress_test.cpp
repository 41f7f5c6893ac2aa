// SPDX-License-Identifier: BSL-1.0
// Wake-ups of ThreadSafeFlag and ThreadSafeEvent are never lost under random
// interleavings of set, clear, wait and cancellation, with the setter on the
// other CPU. Both tests run in lock step with a handshake, so every set has a
// known audience and the accounting is exact: a lost wake-up stops the
// handshake and the watchdog reports which round, with which state; a
// spurious or stale wake-up shows as a wrong round number.
//
// Sizes scale with ASYNCLINK_STRESS_SCALE and each test has a time budget.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/pauses.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::scaled;
using stress_test::Watchdog;
using test_support::loop_cpu;
using test_support::other_cpu;
using test_support::Prng;
using test_support::spin;

namespace {

/// The setter's random pause before a round: none, a spin, a yield, or a sleep
/// long enough for the loop to go to sleep in the kernel.
void setter_pause(Prng& rng) {
    switch (rng() % 8) {
    case 0: std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200)); break;
    case 1: std::this_thread::yield(); break;
    case 2:
    case 3: spin(rng() % 5000); break;
    default: break;
    }
}

/// The loop's random delay before cancelling: none (the task has not even
/// started), one or two turns of the loop (parked, or woken and not yet run),
/// or a sleep (the loop sleeps, a wake-up may be in flight).
al::Task<void> loop_delay(Prng& rng) {
    switch (rng() % 6) {
    case 0: break;
    case 1: co_await al::sleep(0); break;
    case 2:
        co_await al::sleep(0);
        co_await al::sleep(0);
        break;
    case 3: co_await al::sleep(std::chrono::microseconds(rng() % 100)); break;
    default: co_await al::sleep(std::chrono::microseconds(rng() % 1000)); break;
    }
}

/// Runs `main` on a new loop on a thread pinned to `cpu`, and joins it.
void run_on_cpu(int cpu, const std::function<al::Task<void>()>& main) {
    std::thread loop_thread([&] {
        EXPECT_TRUE(al::port::pin_current_thread(cpu));
        al::run(main());
    });
    loop_thread.join();
}

/// A round number meaning "no more rounds". Stopping must change the very word
/// the other side waits on: a separate stop flag set between its check and its
/// wait would be a lost wake-up.
constexpr std::uint32_t no_more_rounds = ~std::uint32_t{0};

/// Waits (parked) until `counter` reaches `target`; returns what it holds.
std::uint32_t wait_until_at_least(const std::atomic<std::uint32_t>& counter, std::uint32_t target) {
    // acquire: pairs with the loop's release stores, so what the loop did
    // before publishing the number is visible here.
    std::uint32_t seen = counter.load(std::memory_order_acquire);
    while (seen < target) {
        counter.wait(seen, std::memory_order_acquire);
        seen = counter.load(std::memory_order_acquire);  // acquire: as above
    }
    return seen;
}

}  // namespace

// A thread on the other CPU sets the flag once per round (sometimes twice) and
// waits for the task's acknowledgement. On the loop, the waiting task is
// cancelled at random moments and replaced: before it ran, while parked, while
// its wake-up is posted but not yet processed, after it was woken but before
// it ran. A set that races a cancellation must stay in the flag for the next
// waiter, so every round is acknowledged; a round never seen twice unless it
// was set twice, and never out of order.
TEST(WakeStress, FlagSetIsNeverLostWhenWaitersAreCancelledAtRandom) {
    al::ThreadSafeFlag flag;
    std::atomic<std::uint32_t> sent{0};   // the round being set
    std::atomic<std::uint32_t> acked{0};  // the last round a waiter saw
    std::atomic<bool> finished{false};
    std::atomic<std::uint64_t> progress{0};
    std::uint64_t rounds = 0;
    std::uint64_t double_sets = 0;
    std::uint64_t wakes = 0;
    std::uint64_t repeats = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t cancelled = 0;
    std::uint32_t last_seen = 0;

    Watchdog watchdog(progress, [&] {
        // Relaxed: a diagnostic snapshot of a stuck test.
        return "flag round " + std::to_string(sent.load(std::memory_order_relaxed)) + " set, last acknowledged " +
               std::to_string(acked.load(std::memory_order_relaxed)) +
               (flag.is_set() ? ", flag still set (the set is there, its wake-up was lost)"
                              : ", flag clear (consumed without acknowledgement, or never set)");
    });

    std::thread setter([&] {
        EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
        Prng rng(1);
        bridge_test::Budget budget(scaled(100'000), 3s);
        for (std::uint32_t round = 1; budget.more(round - 1); ++round) {
            setter_pause(rng);
            // release: the waiter that wakes for this set reads the round.
            sent.store(round, std::memory_order_release);
            flag.set();
            if (rng() % 8 == 0) {
                flag.set();  // coalesces, or leaves one set for the next wait
                ++double_sets;
            }
            wait_until_at_least(acked, round);
            rounds = round;
        }
        finished.store(true, std::memory_order_release);  // release: the waiter then stops
        flag.set();
    });

    auto wait_and_acknowledge = [&]() -> al::Task<void> {
        for (;;) {
            co_await flag.wait();
            // acquire: pairs with the setter's release of the round (the wait
            // itself also acquires what set() released).
            std::uint32_t round = sent.load(std::memory_order_acquire);
            ++wakes;
            if (round < last_seen) ++out_of_order;
            if (round == last_seen) ++repeats;
            last_seen = round > last_seen ? round : last_seen;
            // release: the setter may start the next round once it sees this.
            acked.store(last_seen, std::memory_order_release);
            acked.notify_one();
            progress.fetch_add(1, std::memory_order_relaxed);         // relaxed: watchdog only
            if (finished.load(std::memory_order_acquire)) co_return;  // acquire: pairs with the setter's release
        }
    };

    run_on_cpu(loop_cpu, [&]() -> al::Task<void> {
        Prng rng(2);
        // acquire: pairs with the setter's release.
        while (!finished.load(std::memory_order_acquire)) {
            auto waiter = al::create_task(wait_and_acknowledge());
            co_await loop_delay(rng);
            waiter.cancel();
            try {
                co_await waiter;
            } catch (const al::CancelledError&) {
                ++cancelled;
            }
        }
    });
    setter.join();

    EXPECT_GT(rounds, 0u);
    EXPECT_GT(cancelled, 0u);
    EXPECT_EQ(out_of_order, 0u);
    // Every round was acknowledged (the setter waited for each); a round seen
    // twice needs a second set to explain it.
    EXPECT_LE(repeats, double_sets + 1) << "wake-ups without a set (the + 1 is the final set)";
    EXPECT_LE(wakes, rounds + double_sets + 1);
    std::printf("flag: %llu rounds, %llu wake-ups, %llu waiters cancelled, %llu double sets\n",
                static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(wakes),
                static_cast<unsigned long long>(cancelled), static_cast<unsigned long long>(double_sets));
}

// Rounds of one to five waiters. A thread on the other CPU sets the event once
// they are parked — sometimes setting twice, sometimes clearing at once, which
// must still wake everyone who was waiting. The loop cancels a random subset at
// random moments, before or after the set. Every waiter not cancelled wakes,
// and wakes for this round's set; a cancelled one either throws CancelledError
// or had already been woken by this round's set.
TEST(WakeStress, EventWakesEveryWaiterNotCancelledInEveryRound) {
    al::ThreadSafeEvent event;
    al::ThreadSafeFlag setter_done;       // the setter's calls for the round have returned
    std::atomic<std::uint32_t> armed{0};  // the round whose waiters are parked, or no_more_rounds
    std::atomic<std::uint32_t> stamp{0};  // the round the setter set
    std::atomic<std::uint64_t> progress{0};
    std::uint64_t rounds = 0;
    std::uint64_t woken = 0;
    std::uint64_t cancelled = 0;
    std::uint64_t woken_before_cancel = 0;
    std::uint64_t set_then_clear = 0;

    Watchdog watchdog(progress, [&] {
        // Relaxed: a diagnostic snapshot of a stuck test.
        return "event round " + std::to_string(armed.load(std::memory_order_relaxed)) + " armed, setter at round " +
               std::to_string(stamp.load(std::memory_order_relaxed)) +
               (event.is_set() ? ", event set" : ", event clear") +
               (setter_done.is_set() ? ", setter_done set" : ", setter_done clear");
    });

    std::thread setter([&] {
        EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
        Prng rng(3);
        for (std::uint32_t round = 1;; ++round) {
            if (wait_until_at_least(armed, round) == no_more_rounds) return;
            setter_pause(rng);
            // release: a woken waiter reads the round.
            stamp.store(round, std::memory_order_release);
            event.set();
            switch (rng() % 4) {
            case 0: event.set(); break;
            case 1:
                event.clear();  // set then clear at once: every waiter of the set still wakes
                ++set_then_clear;
                break;
            case 2:
                event.clear();
                event.set();
                break;
            default: break;
            }
            setter_done.set();
        }
    });

    auto waiter = [&](std::uint32_t& parked) -> al::Task<std::uint32_t> {
        ++parked;
        co_await event.wait();
        // acquire: pairs with the setter's release of the round.
        co_return stamp.load(std::memory_order_acquire);
    };

    run_on_cpu(loop_cpu, [&]() -> al::Task<void> {
        Prng rng(4);
        bridge_test::Budget budget(scaled(30'000), 3s);
        for (std::uint32_t round = 1; budget.more(round - 1) && !testing::Test::HasFailure(); ++round) {
            std::size_t count = 1 + rng() % 5;
            std::uint32_t parked = 0;
            std::vector<al::TaskHandle<std::uint32_t>> waiters;
            std::vector<bool> victim(count);
            for (std::size_t i = 0; i < count; ++i) {
                waiters.push_back(al::create_task(waiter(parked)));
                victim[i] = rng() % 3 == 0;
            }
            co_await al::sleep(0);  // each new task runs to its wait and parks (the event is clear)
            EXPECT_EQ(parked, count);
            bool cancel_before_set = rng() % 2 == 0;
            if (cancel_before_set) {
                for (std::size_t i = 0; i < count; ++i) {
                    if (victim[i]) waiters[i].cancel();
                }
            }
            // release: the waiters are parked; the setter may set.
            armed.store(round, std::memory_order_release);
            armed.notify_one();
            if (!cancel_before_set) {
                for (std::size_t i = 0; i < count; ++i) {
                    if (!victim[i]) continue;
                    co_await loop_delay(rng);
                    waiters[i].cancel();
                }
            }
            for (std::size_t i = 0; i < count; ++i) {
                try {
                    std::uint32_t seen = co_await waiters[i];
                    EXPECT_EQ(seen, round) << "waiter " << i << " woke for another round's set";
                    EXPECT_FALSE(victim[i] && cancel_before_set) << "a waiter cancelled before the set woke";
                    ++(victim[i] ? woken_before_cancel : woken);
                } catch (const al::CancelledError&) {
                    EXPECT_TRUE(victim[i]) << "round " << round << ": waiter " << i << " was never cancelled";
                    ++cancelled;
                }
            }
            co_await setter_done.wait();
            event.clear();  // the next round's waiters must park
            rounds = round;
            progress.fetch_add(1, std::memory_order_relaxed);  // relaxed: watchdog only
        }
        armed.store(no_more_rounds, std::memory_order_release);  // release: as for a round
        armed.notify_one();
    });
    setter.join();

    EXPECT_GT(rounds, 0u);
    EXPECT_GT(woken, 0u);
    EXPECT_GT(cancelled, 0u);
    std::printf(
        "event: %llu rounds, %llu waiters woken, %llu cancelled, %llu woken before their cancel, %llu "
        "set-then-clear\n",
        static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(woken),
        static_cast<unsigned long long>(cancelled), static_cast<unsigned long long>(woken_before_cancel),
        static_cast<unsigned long long>(set_then_clear));
}
