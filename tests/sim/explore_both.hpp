// SPDX-License-Identifier: BSL-1.0
// Runs a body under both strategies: `schedules` random (PCT, depth 3)
// schedules, then every schedule with at most `bound` preemptions (within a
// budget of `exhaustive_budget` schedules), and expects all to pass.
#pragma once

#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <functional>

namespace sim_test {

/// A loop with a schedule() ring of 2: fewer cells, fewer preemption points
/// per schedule, the same protocol.
inline asynclink::LoopOptions small_loop() {
    asynclink::LoopOptions o;
    o.schedule_capacity = 2;
    return o;
}

struct Budget {
    std::size_t schedules = 2000;
    int bound = 2;
    std::size_t exhaustive_budget = 20000;
};

inline void explore_both(const std::function<void()>& body, Budget budget = {}) {
    asynclink::sim::Options random;
    random.max_schedules = budget.schedules;
    asynclink::sim::Result r = asynclink::sim::explore(random, body);
    EXPECT_TRUE(r.ok()) << r;
    if (!r.ok()) return;
    asynclink::sim::Options exhaustive;
    exhaustive.strategy = asynclink::sim::Strategy::exhaustive;
    exhaustive.preemption_bound = budget.bound;
    exhaustive.max_schedules = budget.exhaustive_budget;
    asynclink::sim::Result e = asynclink::sim::explore(exhaustive, body);
    EXPECT_TRUE(e.ok()) << e;
    ::testing::Test::RecordProperty("random", std::to_string(r.schedules) + " schedules");
    ::testing::Test::RecordProperty("exhaustive", std::to_string(e.schedules) + (e.complete ? " (complete)" : ""));
    std::printf("  random: %zu schedules, %.3f s; exhaustive (bound %d): %zu schedules%s, %.3f s; up to %zu points\n",
                r.schedules, r.seconds, budget.bound, e.schedules, e.complete ? " (all)" : "", e.seconds,
                e.max_steps > r.max_steps ? e.max_steps : r.max_steps);
}

}  // namespace sim_test
