// SPDX-License-Identifier: BSL-1.0
// sleep(duration), sleep_ms(n), and sleep(0) as a yield: ordering and fairness.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

al::Task<void> yield_and_log(Log& log, std::string name, int rounds) {
    for (int i = 0; i < rounds; ++i) {
        log.push_back(name);
        co_await al::sleep(0);
    }
}

al::Task<void> sleep_and_log(Log& log, std::string name, al::Clock::duration d) {
    co_await al::sleep(d);
    log.push_back(name);
}

}  // namespace

TEST(Sleep, LastsAtLeastTheDuration) {
    al::run([]() -> al::Task<void> {
        auto start = al::Clock::now();
        co_await al::sleep(15ms);
        EXPECT_GE(al::Clock::now() - start, 15ms);
        start = al::Clock::now();
        co_await al::sleep_ms(15);
        EXPECT_GE(al::Clock::now() - start, 15ms);
        start = al::Clock::now();
        co_await al::sleep(std::chrono::duration<double, std::milli>(15.0));
        EXPECT_GE(al::Clock::now() - start, 15ms);
    }());
}

TEST(Sleep, WholeSecondsOverload) {
    al::run([]() -> al::Task<void> {
        auto start = al::Clock::now();
        co_await al::sleep(1);
        EXPECT_GE(al::Clock::now() - start, 1s);
    }());
}

TEST(Sleep, TheEarlierDeadlineWakesFirstWhateverTheOrderOfSleeping) {
    Log log;
    al::Clock::time_point long_armed_before{};
    al::Clock::time_point short_armed_after{};
    al::run([&]() -> al::Task<void> {
        long_armed_before = al::Clock::now();
        auto long_sleep = al::create_task(sleep_and_log(log, "long", 60ms));
        co_await al::sleep(0);  // the long sleep is armed first
        auto short_sleep = al::create_task(sleep_and_log(log, "short", 1ms));
        auto mid_sleep = al::create_task(sleep_and_log(log, "mid", 30ms));
        co_await al::sleep(0);
        short_armed_after = al::Clock::now();
        co_await long_sleep;
        co_await short_sleep;
        co_await mid_sleep;
    }());
    // The order is only defined if the machine did not stall between arming
    // the timers for longer than the gaps between their durations.
    if (short_armed_after - long_armed_before >= 29ms) GTEST_SKIP() << "the machine stalled while arming";
    EXPECT_EQ(log, (Log{"short", "mid", "long"}));
}

TEST(Sleep, ZeroYieldsToEveryOtherReadyTaskRoundRobin) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto a = al::create_task(yield_and_log(log, "a", 3));
        auto b = al::create_task(yield_and_log(log, "b", 3));
        auto c = al::create_task(yield_and_log(log, "c", 3));
        co_await a;
        co_await b;
        co_await c;
    }());
    EXPECT_EQ(log, (Log{"a", "b", "c", "a", "b", "c", "a", "b", "c"}));
}

TEST(Sleep, ZeroPutsTheTaskBehindTasksThatBecameReadyMeanwhile) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Event e;
        auto waiter = al::create_task([](Log& l, al::Event& ev) -> al::Task<void> {
            co_await ev.wait();
            l.push_back("waiter");
        }(log, e));
        co_await al::sleep(0);  // the waiter is parked
        e.set();                // ready now, ahead of our yield
        co_await al::sleep(0);
        log.push_back("yielder");
        co_await waiter;
    }());
    EXPECT_EQ(log, (Log{"waiter", "yielder"}));
}

TEST(Sleep, NegativeDurationYieldsToo) {
    Log log;
    al::run([&]() -> al::Task<void> {
        auto other = al::create_task(yield_and_log(log, "other", 1));
        co_await al::sleep(-5ms);
        log.push_back("self");
        co_await other;
    }());
    EXPECT_EQ(log, (Log{"other", "self"}));
}

TEST(Sleep, AYieldingLoopDoesNotStarveTimers) {
    // A task that only ever yields keeps the ready queue non-empty; the timer
    // of a sleeping task must still fire.
    int spins = 0;
    al::run([&]() -> al::Task<void> {
        bool woke = false;
        auto sleeper = al::create_task([](bool& w) -> al::Task<void> {
            co_await al::sleep(2ms);
            w = true;
        }(woke));
        while (!woke && spins < 100'000'000) {
            ++spins;
            co_await al::sleep(0);
        }
        EXPECT_TRUE(woke);
        co_await sleeper;
    }());
    EXPECT_LT(spins, 100'000'000);
}

TEST(Sleep, AYieldingLoopDoesNotStarveCallbacks) {
    bool ran = false;
    al::run([&]() -> al::Task<void> {
        al::Loop::current().call_soon([&ran] { ran = true; });
        for (int i = 0; i < 3 && !ran; ++i) co_await al::sleep(0);
        EXPECT_TRUE(ran);
    }());
}

TEST(Sleep, ManySleepersAllWake) {
    int woken = 0;
    al::run([&]() -> al::Task<void> {
        std::vector<al::TaskHandle<void>> sleepers;
        for (int i = 0; i < 1000; ++i) {
            sleepers.push_back(al::create_task([](int& w, int ms) -> al::Task<void> {
                co_await al::sleep_ms(ms);
                ++w;
            }(woken, i % 7)));
        }
        for (auto& s : sleepers) co_await s;
    }());
    EXPECT_EQ(woken, 1000);
}

// A duration too long for the clock saturates (the deadline
// becomes "never") instead of overflowing into an instant wake-up.
namespace {

// Starts a task that awaits `sleeper`, lets the loop run a few iterations and
// checks the sleep is still pending; then cancels it.
template <class Aw>
al::Task<void> expect_still_sleeping(Aw sleeper, const char* what) {
    bool woke = false;
    auto h = al::create_task([](Aw s, bool& w) -> al::Task<void> {
        co_await std::move(s);
        w = true;
    }(std::move(sleeper), woke));
    for (int i = 0; i < 5; ++i) co_await al::sleep(0);
    co_await al::sleep(1ms);
    EXPECT_FALSE(woke) << what << " returned at once";
    h.cancel();
    EXPECT_THROW(co_await h, al::CancelledError);
}

}  // namespace

TEST(SleepSaturates, DurationsBeyondTheClocksRangeSleepForever) {
    al::run([]() -> al::Task<void> {
        co_await expect_still_sleeping(al::sleep(std::chrono::hours::max()), "sleep(hours::max())");
        co_await expect_still_sleeping(al::sleep(std::chrono::seconds::max()), "sleep(seconds::max())");
        co_await expect_still_sleeping(al::sleep(std::chrono::milliseconds::max()), "sleep(milliseconds::max())");
        co_await expect_still_sleeping(al::sleep(std::chrono::nanoseconds::max()), "sleep(nanoseconds::max())");
        co_await expect_still_sleeping(al::sleep(std::chrono::duration<double>(1e30)), "sleep(1e30 s)");
        co_await expect_still_sleeping(al::sleep_ms(std::numeric_limits<std::int64_t>::max()), "sleep_ms(INT64_MAX)");
    }());
}

TEST(SleepSaturates, HugeNegativeAndNanDurationsYield) {
    al::run([]() -> al::Task<void> {
        co_await al::sleep(std::chrono::hours::min());
        co_await al::sleep(std::chrono::duration<double>(-1e30));
        co_await al::sleep(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN()));
        co_await al::sleep_ms(std::numeric_limits<std::int64_t>::min());
    }());
}

TEST(SleepSaturates, TheConversionSaturatesAndOtherwiseTruncatesAsDurationCast) {
    using std::chrono::nanoseconds;
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::hours::max()), nanoseconds::max());
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::hours::min()), nanoseconds::min());
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::seconds(9'223'372'036)),
              nanoseconds(9'223'372'036'000'000'000));
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::seconds(9'223'372'037)), nanoseconds::max());
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<double>(1e30)), nanoseconds::max());
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<double>(-1e30)), nanoseconds::min());
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<double, std::milli>(1.5)), nanoseconds(1'500'000));
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<long long, std::pico>(2'999)), nanoseconds(2));
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<unsigned long long, std::pico>(~0ull)),
              nanoseconds(~0ull / 1000));
    EXPECT_EQ(al::detail::saturating_duration(std::chrono::duration<long long, std::ratio<1, 3>>(30'000'000'000)),
              nanoseconds::max());
}
