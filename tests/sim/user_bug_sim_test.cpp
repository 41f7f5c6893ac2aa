// SPDX-License-Identifier: BSL-1.0
// The examples of docs/testing.md: a user's interrupt + task code with two
// classic bugs, each found, shrunk and replayed by the sim, and fixed.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

namespace al = asynclink;
namespace sim = asynclink::sim;

namespace {

// --- 1. A flag set before the data it announces ------------------------------

struct Sensor {
    al::ThreadSafeFlag ready;
    int sample = 0;  // written by the interrupt, read by the task

    void on_dma_complete_buggy(int value) {
        ready.set();  // BUG: announces the sample before it is written
        sample = value;
    }
    void on_dma_complete(int value) {
        sample = value;
        ready.set();
    }
};

void dma_body(bool fixed) {
    Sensor sensor;
    // The DMA-complete interrupt is served by the second core.
    sim::Interrupt dma([&] { fixed ? sensor.on_dma_complete(42) : sensor.on_dma_complete_buggy(42); },
                       {.name = "dma", .core = 1});
    al::run([&]() -> al::Task<> {
        co_await sensor.ready.wait();
        sim::check(sensor.sample == 42, "the task reads the sample the flag announced");
    }());
}

// --- 2. A check-then-wait on a plain variable ---------------------------------

struct Button {
    bool pressed = false;        // plain: set by the interrupt
    al::ThreadSafeFlag changed;  // set when `pressed` changes
    bool task_waiting = false;   // BUG: a plain "is anyone waiting?" to save a set()

    void on_press_buggy() {
        pressed = true;
        if (task_waiting) changed.set();  // nobody waits: skip the set
    }
    void on_press() {
        pressed = true;
        changed.set();
    }
};

void button_body(bool fixed) {
    Button button;
    sim::Interrupt press([&] { fixed ? button.on_press() : button.on_press_buggy(); }, {.name = "button", .core = 0});
    al::run([&]() -> al::Task<> {
        while (!button.pressed) {
            sim::preemption_point();  // plain variables: tell the sim the interrupt may come here
            button.task_waiting = true;
            co_await button.changed.wait();
            button.task_waiting = false;
        }
    }());
}

}  // namespace

TEST(UserBugSim, TheFlagSetBeforeItsDataIsFoundShrunkAndReplayed) {
    sim::Result r = sim::explore({}, [] { dma_body(false); });
    ASSERT_FALSE(r.ok());
    std::printf("%s", (std::ostringstream() << r).str().c_str());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::check);

    sim::Options replay;
    replay.replay = r.failure->schedule;
    sim::Result again = sim::explore(replay, [] { dma_body(false); });
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.failure->message, r.failure->message);
    EXPECT_EQ(again.failure->steps, r.failure->steps);

    sim::Result fixed = sim::explore({.max_schedules = 5000}, [] { dma_body(true); });
    EXPECT_TRUE(fixed.ok()) << fixed;
}

TEST(UserBugSim, TheCheckThenWaitOnAPlainVariableIsFound) {
    sim::Options exhaustive;
    exhaustive.strategy = sim::Strategy::exhaustive;
    exhaustive.preemption_bound = 2;
    sim::Result r = sim::explore(exhaustive, [] { button_body(false); });
    ASSERT_FALSE(r.ok());
    std::printf("%s", (std::ostringstream() << r).str().c_str());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::deadlock);

    sim::Result fixed = sim::explore(exhaustive, [] { button_body(true); });
    EXPECT_TRUE(fixed.ok()) << fixed;
    EXPECT_TRUE(fixed.complete);
}
