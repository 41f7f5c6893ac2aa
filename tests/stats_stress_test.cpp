// SPDX-License-Identifier: BSL-1.0
// The counters add up exactly while threads and a signal handler interrupting
// one of them count at once: every set() is counted, each set() that found the
// flag clear is consumed by exactly one wait() or is still in the flag, and a
// queue's puts are its gets plus what is left in it.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <thread>

#include "support/bridge.hpp"

namespace al = asynclink;
using bridge_test::scaled;

#if ASYNCLINK_COUNTERS

namespace {

using Queue = al::ThreadSafeQueue<std::uint32_t, al::many_producers>;

// What the handler touches: set before the handler is installed.
al::ThreadSafeFlag* handler_flag = nullptr;
Queue* handler_queue = nullptr;
al::Message<std::uint32_t>* handler_message = nullptr;
std::atomic<std::uint64_t> handler_runs{0};
std::atomic<std::uint64_t> handler_puts{0};

extern "C" void count_from_handler(int) {
    if (handler_flag != nullptr) handler_flag->set();
    if (handler_message != nullptr) handler_message->set(7u);
    if (handler_queue != nullptr && handler_queue->try_put(7u)) handler_puts.fetch_add(1, std::memory_order_relaxed);
    handler_runs.fetch_add(1, std::memory_order_relaxed);
}

class SignalHandler {
public:
    SignalHandler() {
        handler_runs = 0;
        handler_puts = 0;
        struct sigaction action {};
        action.sa_handler = &count_from_handler;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGUSR2, &action, &previous_) != 0) std::abort();
    }
    ~SignalHandler() {
        sigaction(SIGUSR2, &previous_, nullptr);
        handler_flag = nullptr;
        handler_queue = nullptr;
        handler_message = nullptr;
    }
    SignalHandler(const SignalHandler&) = delete;
    SignalHandler& operator=(const SignalHandler&) = delete;

private:
    struct sigaction previous_ {};
};

// At least `n` rounds, and on until the handler has run `runs` times or 2 s
// have passed (the signals may come late on a loaded machine).
bool more_rounds(std::uint64_t done, std::uint64_t n, std::chrono::steady_clock::time_point give_up) {
    constexpr std::uint64_t runs = 200;
    return done < n ||
           (handler_runs.load(std::memory_order_relaxed) < runs && std::chrono::steady_clock::now() < give_up);
}

// Interrupts `target` with SIGUSR2 until `done`.
void interrupt_until(std::thread& target, const std::atomic<bool>& done) {
    pthread_t handle = target.native_handle();
    while (!done.load()) {
        pthread_kill(handle, SIGUSR2);
        std::this_thread::yield();
    }
}

}  // namespace

TEST(StatsStress, EverySetOfAThreadAndItsSignalHandlerIsCountedAndConsumedOnce) {
    al::ThreadSafeFlag flag;
    SignalHandler installed;
    handler_flag = &flag;
    std::atomic<bool> stop{false};
    std::uint64_t completions = 0;
    std::thread consumer([&] {
        al::run([&]() -> al::Task<void> {
            while (!stop.load()) {
                co_await flag.wait();
                ++completions;
            }
        }());
    });
    const std::uint64_t rounds = scaled(200'000, 2'000);
    std::uint64_t sets = 0;
    std::atomic<bool> written{false};
    std::thread writer([&] {
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (; more_rounds(sets, rounds, give_up); ++sets) flag.set();
        written = true;
    });
    interrupt_until(writer, written);
    writer.join();
    handler_flag = nullptr;  // no set() from a late signal from here on
    stop = true;
    flag.set();  // the last: wakes the consumer to see stop
    consumer.join();

    al::SignalStats s = flag.stats();
    EXPECT_EQ(s.sets, sets + handler_runs.load() + 1);
    EXPECT_LE(s.wakeups, completions);
    EXPECT_EQ(completions + (flag.is_set() ? 1 : 0), s.sets - s.coalesced)
        << "each set() that found the flag clear is consumed by one wait(), or is still in it";
}

// A Message's set()s are not counted one by one: each is derived from what
// lowered the message later (a next() took it, a clear() withdrew it), what
// replaced it untaken, or the message still up. With a thread and its signal
// handler setting, a task taking with next() and another thread clearing, all
// at once, the derived count is every set() made, exactly.
TEST(StatsStress, EverySetOfAMessageIsCountedOnceWhileReadersAndClearsRace) {
    al::Message<std::uint32_t> message;
    SignalHandler installed;
    handler_message = &message;
    std::atomic<bool> stop{false};
    std::uint64_t taken = 0;
    std::thread consumer([&] {
        al::run([&]() -> al::Task<void> {
            while (!stop.load()) {
                co_await message.next();
                ++taken;
            }
        }());
    });
    const std::uint64_t rounds = scaled(200'000, 2'000);
    std::uint64_t sets = 0;
    std::atomic<bool> written{false};
    std::thread writer([&] {
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (; more_rounds(sets, rounds, give_up); ++sets) message.set(static_cast<std::uint32_t>(sets));
        written = true;
    });
    std::thread clearer([&] {
        while (!written.load()) {
            message.clear();
            std::this_thread::yield();
        }
    });
    interrupt_until(writer, written);
    writer.join();
    clearer.join();
    handler_message = nullptr;  // no set() from a late signal from here on
    stop = true;
    message.set(0);  // the last: wakes the consumer to see stop
    consumer.join();

    al::SignalStats s = message.stats();
    EXPECT_EQ(s.sets, sets + handler_runs.load() + 1);
    EXPECT_LE(taken, s.sets - s.coalesced);
    EXPECT_GT(s.coalesced + taken, 0u);
}

TEST(StatsStress, AManyProducerQueuesPutsAreItsGetsPlusWhatIsLeft) {
    Queue q(64);
    SignalHandler installed;
    handler_queue = &q;
    const std::uint64_t rounds = scaled(200'000, 2'000);
    std::atomic<std::uint64_t> attempts{0};
    std::atomic<int> producing{2};
    std::atomic<bool> first_done{false};
    std::atomic<std::uint64_t> accepted{0};
    std::uint64_t got = 0;
    std::thread consumer([&] {
        al::run([&]() -> al::Task<void> {
            // Stops as soon as the producers have: what is queued then stays.
            while (producing.load() != 0) {
                if (q.try_get()) {
                    ++got;
                } else {
                    co_await al::sleep(0);
                }
            }
        }());
    });
    auto produce = [&](std::atomic<bool>* done) {
        std::uint64_t ok = 0;
        std::uint64_t i = 0;
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        for (; more_rounds(i, rounds, give_up); ++i) ok += q.try_put(static_cast<std::uint32_t>(i)) ? 1 : 0;
        accepted += ok;
        attempts += i;
        if (done != nullptr) *done = true;
    };
    std::thread first(produce, &first_done);
    std::thread second(produce, nullptr);
    interrupt_until(first, first_done);
    first.join();
    second.join();
    handler_queue = nullptr;
    producing = 0;
    consumer.join();

    al::QueueStats s = q.stats();
    EXPECT_EQ(s.puts, accepted.load() + handler_puts.load());
    EXPECT_EQ(s.puts + s.refused_full, attempts.load() + handler_runs.load());
    EXPECT_EQ(s.gets, got);
    EXPECT_EQ(s.puts, s.gets + q.qsize());
    EXPECT_LE(s.high_water, s.capacity);
}

#else

TEST(StatsStress, CountersCompiledOut) { GTEST_SKIP() << "built with ASYNCLINK_COUNTERS=0"; }

#endif
