// SPDX-License-Identifier: BSL-1.0
// PeriodicSignal: the Linux stand-in for a hardware timer interrupt. The
// callback runs inside a signal handler on the creating thread, ticks are
// counted, merged expirations are reported, the destructor stops it.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <thread>

#include <pthread.h>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

namespace {

// What the callback saw; everything it does is async-signal-safe.
struct Probe {
    std::atomic<std::uint64_t> calls{0};
    std::atomic<pid_t> last_tid{0};
    std::atomic<std::uint64_t> outside_handler{0};  // calls that did not find their signal blocked
    al::ThreadSafeFlag* flag = nullptr;
};

void probe(void* arg) noexcept {
    auto& p = *static_cast<Probe*>(arg);
    // While a handler runs, its signal is blocked (no SA_NODEFER): finding it
    // blocked shows this call comes from inside the handler.
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    // relaxed (all): tallies read by the creating thread after the handler returned.
    if (sigismember(&mask, al::PeriodicSignal::signal_number()) != 1) {
        p.outside_handler.fetch_add(1, std::memory_order_relaxed);
    }
    p.last_tid.store(bridge_test::thread_id(), std::memory_order_relaxed);
    p.calls.fetch_add(1, std::memory_order_relaxed);
    if (p.flag != nullptr) p.flag->set();
}

// Waits (bounded) until `p` has seen `count` calls.
bool wait_for_calls(const Probe& p, std::uint64_t count) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    while (p.calls.load(std::memory_order_relaxed) < count) {  // relaxed: a tally
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

void set_signal_blocked(bool blocked) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, al::PeriodicSignal::signal_number());
    pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

}  // namespace

TEST(PeriodicSignal, TheCallbackRunsInASignalHandlerOnTheCreatingThread) {
    Probe p;
    std::uint64_t ticks = 0;
    {
        al::PeriodicSignal timer(200us, &probe, &p);
        // The thread sleeps in the kernel: the callbacks interrupt it there.
        EXPECT_TRUE(wait_for_calls(p, 20));
        ticks = timer.ticks();
    }
    EXPECT_GE(ticks, 20u);
    EXPECT_EQ(p.last_tid.load(), bridge_test::thread_id());
    EXPECT_EQ(p.outside_handler.load(), 0u);
}

TEST(PeriodicSignal, OnAnotherThreadTheCallbackRunsThere) {
    Probe p;
    pid_t worker_tid = 0;
    std::thread worker([&] {
        worker_tid = bridge_test::thread_id();
        al::PeriodicSignal timer(200us, &probe, &p);
        EXPECT_TRUE(wait_for_calls(p, 10));
    });
    worker.join();
    EXPECT_EQ(p.last_tid.load(), worker_tid);
    EXPECT_NE(p.last_tid.load(), bridge_test::thread_id());
}

TEST(PeriodicSignal, TicksCountTheCallbacks) {
    Probe p;
    al::PeriodicSignal timer(100us, &probe, &p);
    EXPECT_TRUE(wait_for_calls(p, 50));
    // Read with the signal blocked, so no callback runs between the two loads.
    set_signal_blocked(true);
    std::uint64_t ticks = timer.ticks();
    std::uint64_t calls = p.calls.load();
    set_signal_blocked(false);
    EXPECT_EQ(ticks, calls);
}

TEST(PeriodicSignal, BlockingTheSignalPausesCallbacksAndReportsMergedExpirations) {
    Probe p;
    al::PeriodicSignal timer(1ms, &probe, &p);
    EXPECT_TRUE(wait_for_calls(p, 2));
    set_signal_blocked(true);
    std::uint64_t before = p.calls.load();
    std::this_thread::sleep_for(50ms);  // about 50 expirations, one pending signal
    EXPECT_EQ(p.calls.load(), before) << "a callback ran while its signal was blocked on the creating thread";
    set_signal_blocked(false);  // the pending signal is delivered before this returns
    EXPECT_TRUE(wait_for_calls(p, before + 1));
    EXPECT_GT(timer.overruns(), 0u) << "the expirations merged while blocked were not reported";
}

TEST(PeriodicSignal, ThePeriodIsAtLeastTenMicroseconds) {
    // Asked for 1 ns. The signal stays blocked, so no handler storm (which a
    // loaded or sanitized build could not keep up with): the expirations merge
    // into one pending signal, taken with sigtimedwait, whose overrun count
    // says how often the timer expired.
    Probe p;
    set_signal_blocked(true);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, al::PeriodicSignal::signal_number());
    siginfo_t info{};
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration elapsed{};
    int taken = -1;
    {
        al::PeriodicSignal timer(1ns, &probe, &p);
        std::this_thread::sleep_for(20ms);
        timespec forever{60, 0};
        taken = sigtimedwait(&set, &info, &forever);
        elapsed = std::chrono::steady_clock::now() - start;
    }
    // Nothing may stay pending once the handler is gone: unblocking would kill the process.
    timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) > 0) {
    }
    set_signal_blocked(false);
    ASSERT_EQ(taken, al::PeriodicSignal::signal_number());
    std::uint64_t expirations = static_cast<std::uint64_t>(info.si_overrun) + 1;
    EXPECT_EQ(p.calls.load(), 0u) << "a callback ran while its signal was blocked";
    EXPECT_GT(expirations, 100u) << "20 ms of a 10 us timer";
    // The kernel cannot expire a 10 us timer more often than every 10 us.
    EXPECT_LE(expirations, static_cast<std::uint64_t>(elapsed / 10us) + 1);
}

TEST(PeriodicSignal, TheDestructorStopsIt) {
    Probe p;
    {
        al::PeriodicSignal timer(100us, &probe, &p);
        EXPECT_TRUE(wait_for_calls(p, 10));
    }
    std::uint64_t after_destruction = p.calls.load();
    std::this_thread::sleep_for(20ms);  // 200 periods
    EXPECT_EQ(p.calls.load(), after_destruction) << "a callback ran after the destructor returned";
}

TEST(PeriodicSignal, TwoTimersOnOneThreadEachCallTheirOwnCallback) {
    Probe a, b;
    {
        al::PeriodicSignal first(100us, &probe, &a);
        {
            al::PeriodicSignal second(150us, &probe, &b);
            EXPECT_TRUE(wait_for_calls(a, 10));
            EXPECT_TRUE(wait_for_calls(b, 10));
        }
        // The handler stays installed for the first while it lives.
        std::uint64_t now = a.calls.load();
        EXPECT_TRUE(wait_for_calls(a, now + 10));
    }
    EXPECT_EQ(a.outside_handler.load() + b.outside_handler.load(), 0u);
}

TEST(PeriodicSignal, ACallbackSettingAThreadSafeFlagWakesATaskEveryTime) {
    // The intended use: an "interrupt" feeding a loop that sleeps between ticks.
    al::ThreadSafeFlag flag;
    Probe p;
    p.flag = &flag;
    int wakes = 0;
    al::run([&]() -> al::Task<void> {
        al::PeriodicSignal timer(500us, &probe, &p);
        for (; wakes < 100; ++wakes) co_await al::wait_for(flag.wait(), hang_limit);
    }());
    EXPECT_EQ(wakes, 100);
    EXPECT_GE(p.calls.load(), 100u);
}
