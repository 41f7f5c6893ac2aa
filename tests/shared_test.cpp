// SPDX-License-Identifier: BSL-1.0
// Shared<T>: one writer, readers anywhere, every snapshot consistent, the
// writer never blocked, a reader in a signal handler bounded by try_read, two
// writers at once detected.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support/bridge.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// Every word derives from the first: a snapshot mixing two writes shows.
template <std::size_t Words>
struct Reading {
    std::array<std::uint64_t, Words> words{};

    static Reading make(std::uint64_t sequence) {
        Reading r;
        for (std::size_t i = 0; i < Words; ++i) r.words[i] = sequence * 0x9E3779B97F4A7C15ull + i;
        r.words[0] = sequence;
        return r;
    }
    std::uint64_t sequence() const { return words[0]; }
    bool consistent() const {
        for (std::size_t i = 1; i < Words; ++i) {
            if (words[i] != words[0] * 0x9E3779B97F4A7C15ull + i) return false;
        }
        return true;
    }
};

struct Odd {
    char c[13];
};

// Trivially copyable, but with default member initialisers (so not trivial).
struct Settings {
    int gain = 3;
    float offset = 0.5f;
    bool enabled = true;
};

}  // namespace

TEST(Shared, HoldsTheInitialValueUntilWritten) {
    al::Shared<int> zero;
    EXPECT_EQ(zero.read(), 0);
    EXPECT_EQ(zero.version(), 0u);
    al::Shared<double> initial(2.5);
    EXPECT_EQ(initial.read(), 2.5);
}

TEST(Shared, WriteThenReadAndTryRead) {
    al::Shared<Reading<5>> s;
    s.write(Reading<5>::make(7));
    EXPECT_EQ(s.version(), 1u);
    EXPECT_EQ(s.read().sequence(), 7u);
    auto snap = s.try_read();
    ASSERT_TRUE(snap);
    EXPECT_TRUE(snap->consistent());
    EXPECT_EQ(snap->sequence(), 7u);
    s.write(Reading<5>::make(8));
    EXPECT_EQ(s.version(), 2u);
    EXPECT_EQ(s.read().sequence(), 8u);
}

TEST(Shared, TryReadWithNoAttemptsGivesNothing) {
    al::Shared<int> s(3);
    EXPECT_EQ(s.try_read(0), std::nullopt);
    EXPECT_EQ(s.try_read(1), 3);
}

TEST(Shared, ValuesWhoseSizeIsNotAWholeNumberOfWordsRoundTrip) {
    Odd value{};
    for (int i = 0; i < 13; ++i) value.c[i] = static_cast<char>('a' + i);
    al::Shared<Odd> s;
    s.write(value);
    Odd back = s.read();
    for (int i = 0; i < 13; ++i) EXPECT_EQ(back.c[i], value.c[i]);
}

TEST(Shared, TypesWithDefaultMemberInitialisersWork) {
    // This used to fail to compile with g++ -Werror (-Wclass-memaccess in try_read).
    al::Shared<Settings> s;
    EXPECT_EQ(s.read().gain, 3);
    s.write(Settings{7, 1.5f, false});
    Settings back = s.read();
    EXPECT_EQ(back.gain, 7);
    EXPECT_EQ(back.offset, 1.5f);
    EXPECT_FALSE(back.enabled);
}

TEST(Shared, ReadersOnThreadsAndATaskAlwaysSeeConsistentSnapshots) {
    // A writer at full speed; two reader threads and a task read continuously.
    // Every snapshot is whole, and each reader sees the sequence never go back.
    // The writer starts once every reader has read, and does not stop before
    // the readers have read while it wrote: a writer that ran its whole
    // budget before a reader was scheduled (seen under valgrind on a loaded
    // machine: 0 reads) would check nothing.
    constexpr int reader_count = 3;  // two threads and the task
    constexpr std::uint64_t reads_while_writing = 30;
    al::Shared<Reading<16>> s(Reading<16>::make(0));
    std::atomic<bool> stop{false};
    std::atomic<int> started{0};
    std::atomic<std::uint64_t> torn{0};
    std::atomic<std::uint64_t> went_back{0};
    std::atomic<std::uint64_t> reads{0};
    auto check = [&](const Reading<16>& r, std::uint64_t& last) {
        if (!r.consistent()) torn.fetch_add(1, std::memory_order_relaxed);  // relaxed: tallies
        if (r.sequence() < last) went_back.fetch_add(1, std::memory_order_relaxed);
        last = r.sequence();
        reads.fetch_add(1, std::memory_order_relaxed);
    };
    // A reader's first read, then it tells the writer it runs.
    auto first_read = [&](std::uint64_t& last) {
        check(s.read(), last);
        started.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally the writer polls
    };
    std::uint64_t written = 0;
    std::uint64_t reads_before = 0;
    std::thread writer([&] {
        // Bounded: readers that never start or never read fail the checks below.
        const auto limit = std::chrono::steady_clock::now() + bridge_test::hang_limit;
        auto in_time = [&] { return std::chrono::steady_clock::now() < limit; };
        while (started.load(std::memory_order_relaxed) < reader_count && in_time())  // relaxed: a tally
            std::this_thread::yield();
        reads_before = reads.load(std::memory_order_relaxed);  // relaxed: a tally
        bridge_test::Budget budget(bridge_test::scaled(2'000'000));
        // relaxed: a tally; reads counted after reads_before ran while this writes.
        for (; budget.more(written) ||
               (reads.load(std::memory_order_relaxed) < reads_before + reads_while_writing && in_time());
             ++written)
            s.write(Reading<16>::make(written + 1));
        stop.store(true, std::memory_order_relaxed);  // relaxed: readers need only see it eventually
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
        readers.emplace_back([&] {
            std::uint64_t last = 0;
            first_read(last);
            while (!stop.load(std::memory_order_relaxed)) check(s.read(), last);  // relaxed: as above
        });
    }
    al::run([&]() -> al::Task<void> {
        std::uint64_t last = 0;
        first_read(last);
        while (!stop.load(std::memory_order_relaxed)) {  // relaxed: as above
            check(s.read(), last);
            if (auto snap = s.try_read()) check(*snap, last);
            co_await al::sleep(0);
        }
    }());
    writer.join();
    for (auto& t : readers) t.join();
    EXPECT_GT(written, 0u);
    EXPECT_GE(reads.load(), reads_before + reads_while_writing);
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_EQ(went_back.load(), 0u);
    EXPECT_EQ(s.read().sequence(), written);
    EXPECT_EQ(s.version(), written);
}

namespace {
struct InterruptedWriter {
    al::Shared<Reading<64>>* shared;
    std::atomic<std::uint64_t> whole{0};
    std::atomic<std::uint64_t> gave_up{0};
    std::atomic<std::uint64_t> torn{0};
};

void read_in_handler(void* arg) noexcept {
    auto& w = *static_cast<InterruptedWriter*>(arg);
    // relaxed (all three): tallies read after the timer is gone.
    if (auto snap = w.shared->try_read(4)) {
        (snap->consistent() ? w.whole : w.torn).fetch_add(1, std::memory_order_relaxed);
    } else {
        w.gave_up.fetch_add(1, std::memory_order_relaxed);
    }
}
}  // namespace

TEST(Shared, TryReadInASignalHandlerThatInterruptsTheWriterGivesUpInsteadOfHanging) {
    // read() there would spin forever when the signal lands mid-write; try_read
    // returns a whole snapshot or nothing.
    // A consistent first value: a tick may land before the first write.
    al::Shared<Reading<64>> s(Reading<64>::make(0));
    InterruptedWriter state{&s};
    std::uint64_t ticks = 0;
    {
        al::PeriodicSignal timer(100us, &read_in_handler, &state);
        bridge_test::Budget budget(bridge_test::scaled(2'000'000));
        // Past the budget, on until a tick has come (a writer that ran its
        // budget out between two ticks would check nothing); bounded.
        const auto limit = std::chrono::steady_clock::now() + bridge_test::hang_limit;
        for (std::uint64_t i = 0; budget.more(i) || (timer.ticks() == 0 && std::chrono::steady_clock::now() < limit);
             ++i)
            s.write(Reading<64>::make(i));
        ticks = timer.ticks();
    }
    EXPECT_GT(ticks, 0u);
    EXPECT_EQ(state.torn.load(), 0u);
    EXPECT_GE(state.whole.load() + state.gave_up.load(), ticks);
}

TEST(SharedDeathTest, TwoWritersAtOnceAbortWithAMessage) {
    // write() may run in a signal handler, so a second writer cannot be told
    // with an exception: the process aborts and says why.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            alarm(30);  // if the writers never overlapped, SIGALRM ends the child and the test fails
            static al::Shared<Reading<2048>> s;
            auto write_forever = [] {
                auto value = Reading<2048>::make(1);
                for (;;) s.write(value);
            };
            std::thread a(write_forever);
            std::thread b(write_forever);
            a.join();
        },
        "Shared<T>::write called from two contexts at once; it has one writer");
}

namespace {
struct ReadInHandler {
    al::Shared<Reading<64>>* shared;
    std::atomic<std::uint64_t> whole{0};
    std::atomic<std::uint64_t> torn{0};
};

void blocking_read_in_handler(void* arg) noexcept {
    auto& r = *static_cast<ReadInHandler*>(arg);
    // relaxed (both): tallies read after the timer is gone.
    (r.shared->read().consistent() ? r.whole : r.torn).fetch_add(1, std::memory_order_relaxed);
}

// No default constructor: Shared<T> must not need one.
struct Calibrated {
    explicit Calibrated(int g) : gain(g) {}
    int gain;
};
}  // namespace

TEST(SharedDeathTest, ReadInASignalHandlerThatInterruptsTheWriterReturnsAtOnce) {
    // The handler interrupts write() at random points, often in the middle of
    // it, and calls read(): a reader that waited for the writer to finish would
    // wait forever there (the writer resumes only when the handler returns).
    // The child reports how it went; SIGALRM ends a child stuck in read().
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            alarm(20);
            // A consistent first value: a tick may land before the first write.
            al::Shared<Reading<64>> s(Reading<64>::make(0));
            ReadInHandler state{&s};
            std::uint64_t ticks = 0;
            {
                al::PeriodicSignal timer(100us, &blocking_read_in_handler, &state);
                bridge_test::Budget budget(bridge_test::scaled(2'000'000));
                // Past the budget, write on until a handler has read at least
                // once (under valgrind, which delivers signals only between
                // translated blocks, the budget can pass first); SIGALRM
                // bounds it.
                auto more = [&](std::uint64_t i) {
                    return budget.more(i) || state.whole.load(std::memory_order_relaxed) == 0;  // relaxed: a tally
                };
                for (std::uint64_t i = 0; more(i); ++i) s.write(Reading<64>::make(i));
                ticks = timer.ticks();
            }
            // Not whole == ticks: a tick may land between reading ticks() and
            // the timer's end (and under TSan a handler runs late), so the
            // counts can differ by the calls in flight. What matters: the
            // handlers ran, each read returned, none saw a torn value.
            // Distinct codes, so a failure says which: 1 no tick, 2 no whole read, 3 a torn read.
            if (ticks == 0) std::exit(1);
            if (state.whole.load() == 0) std::exit(2);
            std::exit(state.torn.load() == 0 ? 0 : 3);
        },
        testing::ExitedWithCode(0), "");
}

TEST(Shared, TypesWithoutADefaultConstructorWork) {
    al::Shared<Calibrated> s(Calibrated(2));
    EXPECT_EQ(s.read().gain, 2);
    s.write(Calibrated(5));
    EXPECT_EQ(s.read().gain, 5);
    ASSERT_TRUE(s.try_read());
    EXPECT_EQ(s.try_read()->gain, 5);
}
