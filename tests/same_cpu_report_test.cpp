// SPDX-License-Identifier: BSL-1.0
// A report, not a check: how long the loop's readers stall when the context
// that sets or writes shares the loop's CPU.
// Both threads are pinned to CPU 0, so a setter preempted in the middle of
// set() or write() stays off the CPU until the scheduler gives it back.
//
//   - Message against ThreadSafeFlag: a thread sets once every 2 ms, 400
//     times; a task awaits each one. Printed: wake-ups slower than 500 µs
//     (from the set() call to the task running), the slowest, and the loop
//     thread's CPU time per wake-up.
//   - Shared<T>: a thread writes a 4 KiB value without pause; a task reads
//     it for a second. Printed: reads over 500 µs, the slowest read() in wall
//     time and in the reader's own CPU time.
//
// Nothing about the figures is asserted (they depend on the machine); the
// tests only check that every wake-up arrived and every read was whole.
// Run build/tests/same_cpu_report_test to see them.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int shared_cpu = 0;
constexpr auto slow = 500us;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct WakeReport {
    std::uint64_t wakes = 0;
    std::uint64_t slow_wakes = 0;
    std::chrono::nanoseconds slowest{0};
    std::chrono::nanoseconds loop_cpu{0};

    void print(const char* what) const {
        std::printf("  %-16s %llu wake-ups, %llu over 500 us, slowest %.3f ms, loop CPU %.1f us per wake-up\n", what,
                    static_cast<unsigned long long>(wakes), static_cast<unsigned long long>(slow_wakes),
                    static_cast<double>(slowest.count()) / 1e6,
                    wakes == 0 ? 0.0 : static_cast<double>(loop_cpu.count()) / 1e3 / static_cast<double>(wakes));
    }
};

// `set(i)` from a thread on the loop's CPU every 2 ms; `await_one()` returns
// the number it was woken for (the task compares it with the last one sent).
template <class SetFn, class AwaitFn>
WakeReport measure_wake_ups(std::uint64_t count, SetFn set, AwaitFn await_one) {
    WakeReport report;
    std::atomic<std::int64_t> set_at{0};
    std::atomic<bool> stop{false};
    std::thread setter([&] {
        EXPECT_TRUE(al::port::pin_current_thread(shared_cpu));
        for (std::uint64_t i = 1; i <= count && !stop.load(std::memory_order_relaxed); ++i) {  // relaxed: a stop hint
            std::this_thread::sleep_for(2ms);
            set_at.store(now_ns(), std::memory_order_relaxed);  // relaxed: published by set()'s release
            set(i);
        }
    });
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(al::port::pin_current_thread(shared_cpu));
        auto cpu_before = bridge_test::thread_cpu_time();
        for (std::uint64_t received = 0; received < count;) {
            received = co_await al::wait_for(await_one(), hang_limit);
            auto latency = std::chrono::nanoseconds(now_ns() - set_at.load(std::memory_order_relaxed));
            ++report.wakes;
            if (latency > slow) ++report.slow_wakes;
            report.slowest = std::max(report.slowest, latency);
        }
        report.loop_cpu = bridge_test::thread_cpu_time() - cpu_before;
    }());
    stop.store(true, std::memory_order_relaxed);
    setter.join();
    return report;
}

struct Page {
    std::array<std::uint64_t, 512> words;
    static Page of(std::uint64_t n) {
        Page p;
        p.words.fill(n);
        return p;
    }
    bool whole() const {
        return std::all_of(words.begin(), words.end(), [&](auto w) { return w == words[0]; });
    }
};

}  // namespace

TEST(SameCpuReport, MessageAgainstThreadSafeFlag) {
    const std::uint64_t count = bridge_test::scaled(400, 20);
    al::Message<std::uint64_t> message;
    WakeReport m = measure_wake_ups(
        count, [&](std::uint64_t i) { message.set(i); }, [&] { return message.next(); });
    al::ThreadSafeFlag flag;
    std::atomic<std::uint64_t> sent{0};
    WakeReport f = measure_wake_ups(
        count,
        [&](std::uint64_t i) {
            sent.store(i, std::memory_order_release);  // release: the woken task reads it
            flag.set();
        },
        [&]() -> al::Task<std::uint64_t> {
            co_await flag.wait();
            co_return sent.load(std::memory_order_acquire);  // acquire: pairs with the setter's release
        });
    std::printf("setter on the loop's CPU, one set every 2 ms:\n");
    m.print("Message");
    f.print("ThreadSafeFlag");
    EXPECT_GT(m.wakes, 0u);
    EXPECT_GT(f.wakes, 0u);
}

TEST(SameCpuReport, SharedReadWithTheWriterOnTheLoopsCpu) {
    al::Shared<Page> shared(Page::of(0));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        EXPECT_TRUE(al::port::pin_current_thread(shared_cpu));
        for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i)
            shared.write(Page::of(i));  // relaxed: a stop hint
    });
    std::uint64_t reads = 0;
    std::uint64_t slow_reads = 0;
    std::uint64_t torn = 0;
    std::chrono::nanoseconds slowest{0};
    std::chrono::nanoseconds most_cpu{0};
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(al::port::pin_current_thread(shared_cpu));
        auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(1s * bridge_test::stress_scale());
        while (Clock::now() < end) {
            auto before = Clock::now();
            auto cpu_before = bridge_test::thread_cpu_time();
            Page p = shared.read();
            auto cpu = bridge_test::thread_cpu_time() - cpu_before;
            auto took = Clock::now() - before;
            if (!p.whole()) ++torn;
            ++reads;
            if (took > slow) ++slow_reads;
            slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::nanoseconds>(took));
            most_cpu = std::max(most_cpu, cpu);
            if (reads % 64 == 0) co_await al::sleep(0);
        }
    }());
    stop.store(true, std::memory_order_relaxed);
    writer.join();
    // Wall time includes the slices the scheduler gives the writer while the
    // reader is preempted; CPU time is what read() itself spent (spinning).
    std::printf(
        "writer on the loop's CPU, writing without pause: %llu reads, %llu over 500 us, slowest %.3f ms "
        "(wall), most CPU in one read() %.3f ms\n",
        static_cast<unsigned long long>(reads), static_cast<unsigned long long>(slow_reads),
        static_cast<double>(slowest.count()) / 1e6, static_cast<double>(most_cpu.count()) / 1e6);
    EXPECT_GT(reads, 0u);
    EXPECT_EQ(torn, 0u);
}
