// SPDX-License-Identifier: BSL-1.0
// No wake-up is lost while a host loop drives the asynclink loop: a thread
// posts (a queue item, a flag set) at random moments against step()/poll()
// cycles, so posts land before, during and after the loop announces its wait.
// A lost wake-up leaves the host in poll() with work queued: the watchdog
// reports it (a bound far beyond any scheduling delay) instead of a hang.
//
// Sizes scale with ASYNCLINK_STRESS_SCALE.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include <poll.h>

#include "support/pauses.hpp"
#include "support/stress.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using stress_test::Watchdog;
using test_support::Prng;
using test_support::scaled;
using test_support::spin;

namespace {

/// The host: steps until `done()`, waiting on the descriptor (and the time)
/// step() asks for, with no bound: the watchdog bounds the test.
template <class Done>
void host_loop(al::Loop& loop, Done done) {
    while (!done()) {
        std::optional<al::Clock::duration> due = loop.step();
        if ((due && due->count() == 0) || done()) continue;
        int timeout_ms = -1;
        if (due) timeout_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*due).count());
        pollfd p{loop.descriptor(), POLLIN, 0};
        ::poll(&p, 1, timeout_ms);
    }
}

void pause(Prng& rng) {
    switch (rng() % 8) {
    case 0: std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100)); break;
    case 1: std::this_thread::yield(); break;
    case 2:
    case 3: spin(rng() % 3000); break;
    default: break;
    }
}

}  // namespace

TEST(EmbedStress, PingPongThroughQueuesLosesNoWakeUp) {
    const int rounds = scaled(20000, 200);
    al::ThreadSafeQueue<int> ping(1);
    al::ThreadSafeQueue<int> pong(1);
    std::atomic<std::uint64_t> progress{0};
    al::Loop loop;
    int received = 0;
    auto echo = loop.create_task([&]() -> al::Task<void> {
        for (int i = 0; i < rounds; ++i) {
            int v = co_await ping.get();
            if (v != i) break;
            ++received;
            // Relaxed: a progress counter for the watchdog.
            progress.fetch_add(1, std::memory_order_relaxed);
            co_await pong.put(v);
        }
    });
    std::thread peer([&] {
        Prng rng(1);
        for (int i = 0; i < rounds; ++i) {
            pause(rng);
            ping.put_sync(i, true);
            if (pong.get_sync(true) != i) return;
        }
    });
    {
        Watchdog watchdog(progress, [&] { return "ping-pong, rounds done: " + std::to_string(progress.load()); });
        host_loop(loop, [&] { return echo.done(); });
    }
    peer.join();
    EXPECT_EQ(received, rounds);
}

TEST(EmbedStress, ManyFlagSetsRacingStepsLoseNoWakeUp) {
    // Sets the waiter has not consumed yet coalesce; what must hold is that
    // the last one is always seen (the waiter reaches the final count).
    const std::uint64_t sets = scaled<std::uint64_t>(100000, 1000);
    al::ThreadSafeFlag flag;
    std::atomic<std::uint64_t> published{0};
    al::Loop loop;
    std::uint64_t seen = 0;
    auto waiter = loop.create_task([&]() -> al::Task<void> {
        while (seen < sets) {
            co_await flag.wait();
            // acquire: pairs with the setter's release; a set() after this
            // load wakes the next wait().
            seen = published.load(std::memory_order_acquire);
        }
    });
    std::thread setter([&] {
        Prng rng(2);
        for (std::uint64_t i = 1; i <= sets; ++i) {
            if (rng() % 64 == 0) pause(rng);
            published.store(i, std::memory_order_release);  // release: the waiter's acquire above
            flag.set();
        }
    });
    {
        Watchdog watchdog(published, [&] { return "flag sets published: " + std::to_string(published.load()); });
        host_loop(loop, [&] { return waiter.done(); });
    }
    setter.join();
    EXPECT_EQ(seen, sets);
}
