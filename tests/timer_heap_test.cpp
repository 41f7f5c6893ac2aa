// SPDX-License-Identifier: BSL-1.0
// The loop's timer heap under churn: thousands of sleeps of random lengths,
// armed in waves while earlier ones fire and random ones are cancelled (which
// takes them out of the middle of the heap). Every sleep must end exactly once
// (woken or cancelled), and wake-ups must come in deadline order.
//
// No timing assumption: a sleep's deadline is only known to lie between two
// clock readings (before it was armed, after its wave was armed), and order is
// only checked between sleeps whose deadline intervals do not overlap.
// Scaled by ASYNCLINK_STRESS_SCALE (1 in Release, 0.05 under the sanitizers).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include "support/stress.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::stress_scale;

int scaled(int n, int floor) {
    auto v = static_cast<int>(static_cast<double>(n) * stress_scale());
    return v > floor ? v : floor;
}

struct Sleep {
    al::Clock::duration length{};
    al::Clock::time_point earliest_deadline{};  ///< clock before arming + length
    al::Clock::time_point latest_deadline{};    ///< clock after the wave was armed + length
    int woke = 0;
    int cancelled = 0;
};

al::Task<void> sleeper(Sleep& s, int id, std::vector<int>& wake_order) {
    s.earliest_deadline = al::Clock::now() + s.length;
    try {
        co_await al::sleep(s.length);
    } catch (const al::CancelledError&) {
        ++s.cancelled;
        co_return;
    }
    ++s.woke;
    wake_order.push_back(id);
}

}  // namespace

TEST(TimerHeap, SleepsWakeOnceAndInDeadlineOrderWhileOthersAreCancelled) {
    const int waves = scaled(40, 4);
    const int per_wave = 100;
    std::mt19937 rng(20261125);  // fixed: a failure reproduces
    std::uniform_int_distribution<int> length_us(1, 20'000);
    std::uniform_int_distribution<int> coin(0, 3);

    std::vector<Sleep> sleeps(static_cast<std::size_t>(waves * per_wave));
    std::vector<int> wake_order;
    wake_order.reserve(sleeps.size());
    int cancel_calls = 0;

    al::run([&]() -> al::Task<void> {
        std::vector<al::TaskHandle<void>> handles;
        for (int wave = 0; wave < waves; ++wave) {
            int first = wave * per_wave;
            for (int id = first; id < first + per_wave; ++id) {
                sleeps[static_cast<std::size_t>(id)].length = std::chrono::microseconds(length_us(rng));
                handles.push_back(al::create_task(sleeper(sleeps[static_cast<std::size_t>(id)], id, wake_order)));
            }
            // Behind every sleeper of this wave in the ready queue: when this
            // task runs again, each of them has armed its timer.
            co_await al::sleep(0);
            al::Clock::time_point armed = al::Clock::now();
            for (int id = first; id < first + per_wave; ++id) {
                Sleep& s = sleeps[static_cast<std::size_t>(id)];
                s.latest_deadline = armed + s.length;
            }
            // Cancel about a quarter of everything still pending, anywhere in the heap.
            for (auto& h : handles) {
                if (!h.done() && coin(rng) == 0) {
                    h.cancel();
                    ++cancel_calls;
                }
            }
            co_await al::sleep(200us);
        }
        for (auto& h : handles) co_await h;
    }());

    int woke = 0;
    int cancelled = 0;
    for (const Sleep& s : sleeps) {
        ASSERT_EQ(s.woke + s.cancelled, 1) << "a sleep ended twice or never";
        woke += s.woke;
        cancelled += s.cancelled;
    }
    EXPECT_EQ(static_cast<std::size_t>(woke), wake_order.size());
    EXPECT_LE(cancelled, cancel_calls);

    // A sleep must not wake after one whose deadline was certainly later.
    // Walk the wake order backwards, keeping the earliest latest-deadline seen.
    int violations = 0;
    int ordered_pairs = 0;  // adjacent wake-ups whose order the intervals prove: the check is not vacuous
    al::Clock::time_point min_latest_after = al::Clock::time_point::max();
    for (std::size_t k = wake_order.size(); k-- > 0;) {
        const Sleep& s = sleeps[static_cast<std::size_t>(wake_order[k])];
        if (min_latest_after < s.earliest_deadline) ++violations;
        if (k + 1 < wake_order.size() &&
            s.latest_deadline < sleeps[static_cast<std::size_t>(wake_order[k + 1])].earliest_deadline) {
            ++ordered_pairs;
        }
        if (s.latest_deadline < min_latest_after) min_latest_after = s.latest_deadline;
    }
    EXPECT_EQ(violations, 0) << "wake-ups out of deadline order";
    // Only a machine stalled for most of the run leaves nothing to compare.
    if (ordered_pairs == 0 || cancelled == 0) GTEST_SKIP() << "the machine stalled: order or removal went unchecked";
}

TEST(TimerHeap, EqualLengthSleepsWakeInTheOrderTheyWereArmed) {
    // Equal deadlines are possible (a coarse clock, or the same instant): the
    // heap breaks ties by arming order, and with equal lengths armed one after
    // the other, deadlines never decrease, so the wake order is exact.
    const int n = scaled(2000, 100);
    std::vector<Sleep> sleeps(static_cast<std::size_t>(n));
    std::vector<int> wake_order;
    al::run([&]() -> al::Task<void> {
        std::vector<al::TaskHandle<void>> handles;
        for (int id = 0; id < n; ++id) {
            sleeps[static_cast<std::size_t>(id)].length = 2ms;
            handles.push_back(al::create_task(sleeper(sleeps[static_cast<std::size_t>(id)], id, wake_order)));
        }
        // Cancel every third one once all are armed: holes all over the heap.
        co_await al::sleep(0);
        for (std::size_t i = 0; i < handles.size(); i += 3) handles[i].cancel();
        for (auto& h : handles) co_await h;
    }());
    // Those that woke (a cancel that came after its timer fired is too late)
    // woke in arming order, which is their id order.
    std::vector<int> expected;
    int cancelled = 0;
    for (int id = 0; id < n; ++id) {
        const Sleep& s = sleeps[static_cast<std::size_t>(id)];
        ASSERT_EQ(s.woke + s.cancelled, 1) << "sleep " << id << " ended twice or never";
        if (s.woke != 0) expected.push_back(id);
        cancelled += s.cancelled;
    }
    EXPECT_EQ(wake_order, expected);
    if (cancelled == 0) GTEST_SKIP() << "the machine stalled: every timer fired before its cancel";
}
