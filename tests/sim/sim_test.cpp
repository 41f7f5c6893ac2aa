// SPDX-License-Identifier: BSL-1.0
// The sim itself: a user's bug is found and replays from its seed and from
// its schedule; the correct code passes; virtual time makes a long sleep
// instant; interrupts preempt their core only and nest by priority; a
// deadlock, a lost wake-up and a leak are reported.
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;

namespace {

// A thread hands a sample to a task with a flag. `bug`: the flag is set
// before the sample is written.
void sample_handover(bool bug) {
    al::ThreadSafeFlag ready;
    int sample = 0;
    sim::Thread producer([&] {
        if (bug) {
            ready.set();
            sample = 42;
        } else {
            sample = 42;
            ready.set();
        }
    });
    al::run([&]() -> al::Task<> {
        co_await ready.wait();
        sim::check(sample == 42, "the task sees the sample the flag announces");
    }());
}

int* volatile escaped = nullptr;  // keeps the compiler from eliding the leaking new

sim::Options random_options(std::size_t schedules) {
    sim::Options o;
    o.max_schedules = schedules;
    return o;
}

}  // namespace

TEST(Sim, FindsAFlagSetBeforeItsDataAndReplaysIt) {
    sim::Result found = sim::explore(random_options(2000), [] { sample_handover(true); });
    ASSERT_FALSE(found.ok()) << found;
    const sim::Failure& f = *found.failure;
    EXPECT_EQ(f.kind, sim::FailureKind::check) << found;
    ASSERT_TRUE(f.seed.has_value()) << found;
    EXPECT_FALSE(f.trace.empty());

    sim::Options by_seed;
    by_seed.replay_seed = f.seed;
    by_seed.shrink = false;
    sim::Result again = sim::explore(by_seed, [] { sample_handover(true); });
    ASSERT_FALSE(again.ok()) << "the seed must replay the failure";
    EXPECT_EQ(again.failure->kind, f.kind);
    EXPECT_EQ(again.failure->preemptions_before_shrinking, f.preemptions_before_shrinking);

    sim::Options by_schedule;
    by_schedule.replay = f.schedule;
    sim::Result exact = sim::explore(by_schedule, [] { sample_handover(true); });
    ASSERT_FALSE(exact.ok()) << "the schedule must replay the failure";
    EXPECT_EQ(exact.failure->steps, f.steps);
    EXPECT_EQ(exact.failure->message, f.message);
}

TEST(Sim, FindsTheSameBugExhaustively) {
    sim::Options o;
    o.strategy = sim::Strategy::exhaustive;
    o.preemption_bound = 1;
    sim::Result r = sim::explore(o, [] { sample_handover(true); });
    ASSERT_FALSE(r.ok()) << r;
    EXPECT_EQ(r.failure->kind, sim::FailureKind::check);
}

TEST(Sim, TheCorrectHandoverPassesEverySchedule) {
    sim::Result r = sim::explore(random_options(2000), [] { sample_handover(false); });
    EXPECT_TRUE(r.ok()) << r;
    EXPECT_EQ(r.schedules, 2000u);

    sim::Options o;
    o.strategy = sim::Strategy::exhaustive;
    o.preemption_bound = 2;
    sim::Result all = sim::explore(o, [] { sample_handover(false); });
    EXPECT_TRUE(all.ok()) << all;
    EXPECT_TRUE(all.complete) << all;
}

TEST(Sim, SleepSetsRunFewerSchedulesAndStillFindTheBug) {
    sim::Options o;
    o.strategy = sim::Strategy::exhaustive;
    o.preemption_bound = 2;
    sim::Result all = sim::explore(o, [] { sample_handover(false); });
    o.reduce = true;
    sim::Result reduced = sim::explore(o, [] { sample_handover(false); });
    EXPECT_TRUE(reduced.ok()) << reduced;
    EXPECT_TRUE(reduced.complete) << reduced;
    EXPECT_LT(reduced.schedules, all.schedules);

    sim::Result found = sim::explore(o, [] { sample_handover(true); });
    ASSERT_FALSE(found.ok()) << found;
    EXPECT_EQ(found.failure->kind, sim::FailureKind::check);
}

TEST(Sim, VirtualTimeMakesALongSleepInstant) {
    auto start = std::chrono::steady_clock::now();
    al::Clock::duration slept{};
    sim::Result r = sim::explore(random_options(20), [&] {
        auto before = al::Clock::now();
        al::run([]() -> al::Task<> { co_await al::sleep(10s); }());
        slept = al::Clock::now() - before;
    });
    EXPECT_TRUE(r.ok()) << r;
    EXPECT_GE(slept, 10s);
    EXPECT_LT(slept, 11s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Sim, AThreadSleepsInVirtualTimeToo) {
    sim::Result r = sim::explore(random_options(50), [] {
        al::ThreadSafeFlag ready;
        sim::Thread late([&] {
            sim::sleep_for(1h);
            ready.set();
        });
        al::run([&]() -> al::Task<> {
            auto before = al::Clock::now();
            co_await ready.wait();
            sim::check(al::Clock::now() - before >= 1h, "the flag comes an hour later");
        }());
    });
    EXPECT_TRUE(r.ok()) << r;
}

TEST(Sim, AnInterruptStopsEveryThreadOfItsCoreButNotOfAnother) {
    auto body = [](int observer_core) {
        bool in_handler = false;
        sim::Interrupt irq(
            [&] {
                in_handler = true;
                sim::preemption_point();
                sim::preemption_point();
                in_handler = false;
            },
            {.name = "irq", .core = 0, .priority = 1, .fires = 1});
        sim::Thread observer(
            [&] {
                for (int i = 0; i < 4; ++i) {
                    sim::preemption_point();
                    sim::check(!in_handler, "no thread of the handler's core runs while it does");
                }
            },
            {.name = "observer", .core = observer_core});
    };
    sim::Options o;
    o.strategy = sim::Strategy::exhaustive;
    o.preemption_bound = 2;
    sim::Result same_core = sim::explore(o, [&] { body(0); });
    EXPECT_TRUE(same_core.ok()) << same_core;
    EXPECT_TRUE(same_core.complete);
    sim::Result other_core = sim::explore(o, [&] { body(1); });
    ASSERT_FALSE(other_core.ok()) << "a thread of another core interleaves with the handler";
    EXPECT_EQ(other_core.failure->kind, sim::FailureKind::check);
}

TEST(Sim, InterruptsNestByPriority) {
    auto body = [](bool forbid_nesting) {
        bool in_low = false;
        bool in_high = false;
        sim::Interrupt low(
            [&] {
                sim::check(!in_high, "a less urgent handler never preempts a more urgent one");
                in_low = true;
                sim::preemption_point();
                in_low = false;
            },
            {.name = "low", .core = 0, .priority = 1, .fires = 1});
        sim::Interrupt high(
            [&] {
                if (forbid_nesting) sim::check(!in_low, "high ran inside low");
                in_high = true;
                sim::preemption_point();
                in_high = false;
            },
            {.name = "high", .core = 0, .priority = 2, .fires = 1});
        sim::preemption_point();
    };
    sim::Options o;
    o.strategy = sim::Strategy::exhaustive;
    o.preemption_bound = 2;
    sim::Result allowed = sim::explore(o, [&] { body(false); });
    EXPECT_TRUE(allowed.ok()) << allowed;
    EXPECT_TRUE(allowed.complete);
    sim::Result nesting = sim::explore(o, [&] { body(true); });
    ASSERT_FALSE(nesting.ok()) << "some schedule runs high inside low";
    EXPECT_EQ(nesting.failure->kind, sim::FailureKind::check) << nesting;
}

TEST(Sim, ReportsADeadlock) {
    sim::Result r = sim::explore(random_options(10), [] {
        al::ThreadSafeFlag never;
        al::run([&]() -> al::Task<> { co_await never.wait(); }());
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::deadlock) << r;
}

TEST(Sim, ReportsALostWakeUp) {
    sim::Result r = sim::explore(random_options(10), [] {
        al::port::atomic<std::uint32_t> word{0};
        sim::Thread waiter([&] {
            while (word.load() == 0) al::port::block_thread(word, 0);
        });
        word.store(1);  // and no unblock_threads
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::lost_wakeup) << r;
}

TEST(Sim, ReportsMemoryLeftAllocated) {
    sim::Result r = sim::explore(random_options(5), [] { escaped = new int(7); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::leak) << r;
    sim::Result clean = sim::explore(random_options(5), [] { auto p = std::make_unique<int>(7); });
    EXPECT_TRUE(clean.ok()) << clean;
}

TEST(Sim, ReportsAnExceptionLeavingAContext) {
    sim::Result r = sim::explore(random_options(5), [] { sim::Thread t([] { throw std::runtime_error("boom"); }); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure->kind, sim::FailureKind::exception) << r;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SIM_TEST_ASAN 1
#endif

TEST(SimDeathTest, AnAsanReportInsideAScheduleSaysWhichScheduleToReplay) {
#if defined(SIM_TEST_ASAN)
    auto body = [] {
        auto* sample = new int(0);
        sim::Thread reader([&] {
            sim::preemption_point();
            escaped = sample;
            sim::check(*escaped >= 0, "reads the sample");  // after the free in some schedules
        });
        sim::preemption_point();
        delete sample;
    };
    EXPECT_DEATH(sim::explore(random_options(1000), body), "the sanitizer stopped schedule [0-9]+ at step [0-9]+");
#else
    GTEST_SKIP() << "needs AddressSanitizer";
#endif
}
