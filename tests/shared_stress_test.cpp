// SPDX-License-Identifier: BSL-1.0
// Shared<T> snapshots are always consistent. A 64-byte value whose eight
// fields all hold the same counter is written at full speed and read by the
// loop and by another thread: every snapshot must have all fields equal (a
// snapshot mixed from two writes has not), and each reader's counter must
// never go down. First with the writer on a thread on the other core, then
// with the writer in a periodic signal handler on the loop's own thread, which
// interrupts the reading task in the middle of its copy (the seed's pool
// updated by an interrupt, section 2.1).
//
// Writing runs for a time budget scaled by ASYNCLINK_STRESS_SCALE.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "support/bridge.hpp"
#include "support/pauses.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::scaled;
using stress_test::Watchdog;
using test_support::loop_cpu;
using test_support::other_cpu;

namespace {

/// Eight copies of one counter: consistent exactly when all are equal.
struct Reading {
    std::array<std::uint64_t, 8> fields;

    static Reading of(std::uint64_t counter) noexcept {
        Reading r;
        r.fields.fill(counter);
        return r;
    }
    bool consistent() const noexcept {
        for (std::uint64_t f : fields) {
            if (f != fields[0]) return false;
        }
        return true;
    }
    std::uint64_t counter() const noexcept { return fields[0]; }
};
static_assert(sizeof(Reading) == 64);

/// Writing goes on past its time budget until each reader has seen this many
/// distinct values, so the readers really did overlap the writer.
constexpr std::uint64_t enough_changes = 100;

/// One reader's account: snapshots taken, torn ones, and steps backwards.
struct Account {
    std::uint64_t reads = 0;
    std::uint64_t torn = 0;
    std::uint64_t went_back = 0;
    std::uint64_t changes = 0;
    std::uint64_t last = 0;
    std::atomic<bool> seen_enough{false};

    void check(const Reading& r) noexcept {
        ++reads;
        if (!r.consistent()) {
            ++torn;
            return;
        }
        if (r.counter() < last) ++went_back;
        if (r.counter() != last && ++changes == enough_changes) {
            seen_enough.store(true, std::memory_order_relaxed);  // relaxed: a hint for the writer's stop condition
        }
        last = r.counter();
    }
    bool enough() const noexcept { return seen_enough.load(std::memory_order_relaxed); }  // relaxed: as above
    void expect_clean(const char* who) const {
        EXPECT_GT(reads, 0u) << who;
        EXPECT_EQ(torn, 0u) << who << ": torn snapshots in " << reads << " reads";
        EXPECT_EQ(went_back, 0u) << who << ": the counter went backwards";
        EXPECT_GE(changes, enough_changes) << who;
        std::printf("%s: %llu reads, %llu distinct values\n", who, static_cast<unsigned long long>(reads),
                    static_cast<unsigned long long>(changes));
    }
};

/// The loop's reader: read() and try_read() as fast as it can, yielding to the
/// loop now and then, until `stop`.
al::Task<void> read_on_loop(const al::Shared<Reading>& shared, const std::atomic<bool>& stop, Account& account,
                            std::atomic<std::uint64_t>& progress) {
    for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {  // relaxed: seen eventually
        if ((i & 3) == 0) {
            if (std::optional<Reading> r = shared.try_read()) account.check(*r);
        } else {
            account.check(shared.read());
        }
        if ((i & 255) == 0) {
            progress.fetch_add(1, std::memory_order_relaxed);  // relaxed: watchdog only
            co_await al::sleep(0);
        }
    }
}

/// The other thread's reader.
void read_on_thread(const al::Shared<Reading>& shared, const std::atomic<bool>& stop, Account& account) {
    while (!stop.load(std::memory_order_relaxed)) account.check(shared.read());  // relaxed: seen eventually
}

/// The signal handler's writer: its counter is touched only by the handler,
/// which runs on the loop's thread one invocation at a time.
struct HandlerWriter {
    al::Shared<Reading>* shared;
    std::uint64_t counter = 0;
    static void write(void* self) noexcept {
        auto& w = *static_cast<HandlerWriter*>(self);
        w.shared->write(Reading::of(++w.counter));
    }
};

}  // namespace

TEST(SharedStress, WriterOnTheOtherCoreLoopAndThreadReadersSeeOnlyWholeSnapshots) {
    al::Shared<Reading> shared(Reading::of(0));
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> progress{0};
    Account loop_account;
    Account thread_account;
    std::uint64_t written = 0;
    Watchdog watchdog(progress, [] { return "the Shared writer or the loop's reader made no progress"; });

    std::thread writer([&] {
        EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
        bridge_test::Budget budget(scaled(50'000'000), std::chrono::milliseconds(scaled(2000, 200)));
        for (; budget.more(written) || !loop_account.enough() || !thread_account.enough(); ++written) {
            shared.write(Reading::of(written + 1));
            if ((written & 1023) == 0) progress.fetch_add(1, std::memory_order_relaxed);  // relaxed: watchdog only
        }
        stop.store(true, std::memory_order_relaxed);  // relaxed: readers need only see it eventually
    });
    std::thread reader([&] { read_on_thread(shared, stop, thread_account); });
    std::thread loop_thread([&] {
        EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
        al::run(read_on_loop(shared, stop, loop_account, progress));
    });
    writer.join();
    reader.join();
    loop_thread.join();

    loop_account.expect_clean("loop");
    thread_account.expect_clean("thread");
    EXPECT_GT(written, 0u);
    std::printf("writer: %llu writes\n", static_cast<unsigned long long>(written));
    EXPECT_LE(loop_account.last, written) << "a snapshot of a value never written";
    EXPECT_LE(thread_account.last, written) << "a snapshot of a value never written";
    EXPECT_EQ(shared.read().counter(), written);
    EXPECT_EQ(shared.version(), written);
}

TEST(SharedStress, SignalHandlerWriterInterruptingTheReadingTaskNeverTearsASnapshot) {
    al::Shared<Reading> shared(Reading::of(0));
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> progress{0};
    Account loop_account;
    Account thread_account;
    HandlerWriter handler_writer{&shared};
    std::uint64_t ticks = 0;
    Watchdog watchdog(progress, [] { return "the loop's Shared reader made no progress"; });

    std::thread reader([&] {
        EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
        read_on_thread(shared, stop, thread_account);
    });
    std::thread loop_thread([&] {
        EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
        al::run([&]() -> al::Task<void> {
            al::PeriodicSignal timer(20us, &HandlerWriter::write, &handler_writer);
            auto reading = al::create_task(read_on_loop(shared, stop, loop_account, progress));
            co_await al::sleep(std::chrono::milliseconds(scaled(2000, 200)));
            while (!loop_account.enough() || !thread_account.enough()) co_await al::sleep(1ms);
            stop.store(true, std::memory_order_relaxed);  // relaxed: the readers need only see it eventually
            co_await reading;
            ticks = timer.ticks();
        }());
    });
    loop_thread.join();
    reader.join();

    loop_account.expect_clean("loop");
    thread_account.expect_clean("thread");
    EXPECT_GT(ticks, 0u);
    EXPECT_GE(handler_writer.counter, ticks);
    std::printf("signal handler: %llu writes\n", static_cast<unsigned long long>(handler_writer.counter));
    EXPECT_LE(loop_account.last, handler_writer.counter) << "a snapshot of a value never written";
    EXPECT_LE(thread_account.last, handler_writer.counter) << "a snapshot of a value never written";
    EXPECT_EQ(shared.read().counter(), handler_writer.counter);
}
