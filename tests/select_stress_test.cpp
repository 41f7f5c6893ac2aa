// SPDX-License-Identifier: BSL-1.0
// select() racing other contexts: a thread (or a signal handler) completes
// the branches while the task selects, round after round, so a branch is
// often completed at the very moment select cancels it. Whatever wins, no
// item is lost or taken twice and no set is lost: every item put is received
// exactly once and in order, and every set is seen by a select or still in
// the primitive at the end. Sized by ASYNCLINK_STRESS_SCALE, bounded in time.
//
// The pairs after the first three run through one round driver (race()):
// each awaitable kind (a queue's get, a flag's and an event's wait, a
// Message's next and wait, a TaskHandle, a stream read, sleep) races a queue
// get and another kind that is not a queue. Each round the thread completes
// both branches at once, in a random order, each directly or through a signal
// handler that interrupts the loop's thread wherever it is; then the round's
// check: at least one branch engaged, an engaged branch holds this round's
// value, and a branch that was not engaged left what completed it in place
// (the item in the queue, the set in the flag, event or message, the byte in
// the stream, the value in the task).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>

#include "support/stress.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::scaled;

/// Sleeps a random short while now and then, so the two sides meet at every
/// phase of each other's operations.
struct Jitter {
    std::minstd_rand rng{std::random_device{}()};
    void maybe_pause() {
        unsigned r = rng() % 64;
        if (r == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
        if (r < 4) std::this_thread::yield();
    }
};

constexpr auto time_budget = 20s;

// Two queues fed by one thread, read by select over both gets: each queue's
// items arrive exactly once, in order.
TEST(SelectStress, TwoQueuesRacingLoseAndDuplicateNothing) {
    const std::uint64_t items = scaled<std::uint64_t>(1'000'000, 5'000);
    std::atomic<std::uint64_t> progress{0};
    stress_test::Watchdog watchdog(progress,
                                   [&] { return "select over two queues: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> a(8), b(8);
        // Relaxed: `stop` only ends the producer early; `produced` is read
        // after the join.
        std::atomic<bool> stop{false};
        std::uint64_t produced = 0;
        std::thread producer([&] {
            Jitter jitter;
            for (; produced < items && !stop.load(std::memory_order_relaxed); ++produced) {
                a.put_sync(produced, true);
                b.put_sync(produced, true);
                jitter.maybe_pause();
            }
            a.close();
            b.close();
        });
        std::uint64_t next_a = 0, next_b = 0;
        std::uint64_t both = 0;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (next_a < items || next_b < items) {
            if (next_a < items && next_b < items) {
                auto [x, y] = co_await al::select(a.get(), b.get());
                if (x) {
                    EXPECT_EQ(*x, next_a++);
                }
                if (y) {
                    EXPECT_EQ(*y, next_b++);
                }
                both += (x && y) ? 1 : 0;
            } else if (next_a < items) {
                EXPECT_EQ(co_await a.get(), next_a++);
            } else {
                EXPECT_EQ(co_await b.get(), next_b++);
            }
            progress.fetch_add(1, std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() > deadline) {
                stop = true;  // bounded: the producer ends, and what it put is checked
                break;
            }
        }
        // Drain: everything the producer put arrives, nothing more.
        while (auto x = co_await a.next()) {
            EXPECT_EQ(*x, next_a++);
            progress.fetch_add(1, std::memory_order_relaxed);
        }
        while (auto y = co_await b.next()) {
            EXPECT_EQ(*y, next_b++);
            progress.fetch_add(1, std::memory_order_relaxed);
        }
        producer.join();
        EXPECT_EQ(next_a, produced);
        EXPECT_EQ(next_b, produced);
        std::printf("select over two queues: %llu items each, %llu rounds took both\n",
                    static_cast<unsigned long long>(produced), static_cast<unsigned long long>(both));
    }());
}

// A queue and a flag completed by one thread at the same instant: every item
// arrives once, in order; the last set is seen or still in the flag.
TEST(SelectStress, AQueueAndAFlagRacingLoseNothing) {
    const std::uint64_t items = scaled<std::uint64_t>(1'000'000, 5'000);
    std::atomic<std::uint64_t> progress{0};
    std::atomic<std::uint64_t> sets{0};
    stress_test::Watchdog watchdog(
        progress, [&] { return "select over a queue and a flag: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> q(8);
        al::ThreadSafeFlag flag;
        std::atomic<bool> stop{false};  // relaxed: only ends the producer early
        std::uint64_t produced = 0;     // read after the join
        std::thread producer([&] {
            Jitter jitter;
            for (; produced < items && !stop.load(std::memory_order_relaxed); ++produced) {
                q.put_sync(produced, true);
                sets.fetch_add(1, std::memory_order_seq_cst);
                flag.set();
                jitter.maybe_pause();
            }
            q.close();
        });
        std::uint64_t next = 0;
        std::uint64_t last_count_seen = 0;
        bool open = true;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (open) {
            auto [item, flagged] = co_await al::select(q.next(), flag.wait());
            if (item) {
                if (*item) {
                    EXPECT_EQ(**item, next++);
                } else {
                    open = false;  // closed and drained
                }
            }
            if (flagged) last_count_seen = sets.load(std::memory_order_seq_cst);
            progress.fetch_add(1, std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() > deadline) {
                stop = true;  // bounded: the producer ends, and what it put is checked
                break;
            }
        }
        while (auto x = co_await q.next()) {
            EXPECT_EQ(*x, next++);
            progress.fetch_add(1, std::memory_order_relaxed);
        }
        producer.join();
        EXPECT_EQ(next, produced);
        EXPECT_TRUE(flag.is_set() || last_count_seen == sets.load())
            << "a set was lost: last count seen " << last_count_seen << " of " << sets.load();
    }());
}

// A signal handler completes the branch: try_put from the handler races the
// select's cancel of the get; a timer is the other branch.
al::ThreadSafeQueue<std::uint64_t>* handler_queue = nullptr;
std::atomic<std::uint64_t> handler_next{0};
std::atomic<std::uint64_t> handler_refused{0};

void on_signal(int) {
    std::uint64_t v = handler_next.load(std::memory_order_relaxed);
    if (handler_queue->try_put(v)) {
        handler_next.store(v + 1, std::memory_order_relaxed);
    } else {
        handler_refused.fetch_add(1, std::memory_order_relaxed);
    }
}

TEST(SelectStress, AnItemFromASignalHandlerRacingATimerIsNeverLost) {
    const std::uint64_t signals = scaled<std::uint64_t>(200'000, 2'000);
    std::atomic<std::uint64_t> progress{0};
    stress_test::Watchdog watchdog(progress,
                                   [&] { return "select with a signal handler: " + std::to_string(progress.load()); });
    al::run([&]() -> al::Task<> {
        al::ThreadSafeQueue<std::uint64_t> q(64);
        handler_queue = &q;
        handler_next = 0;
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        EXPECT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);
        pthread_t loop_thread = pthread_self();
        std::atomic<bool> stop{false};
        std::atomic<bool> signaller_done{false};
        std::thread signaller([&] {
            Jitter jitter;
            for (std::uint64_t i = 0; i < signals && !stop.load(std::memory_order_relaxed); ++i) {
                pthread_kill(loop_thread, SIGUSR2);  // the handler runs on the loop's thread, inside anything
                jitter.maybe_pause();
            }
            signaller_done.store(true, std::memory_order_release);
        });
        std::uint64_t next = 0;
        auto deadline = std::chrono::steady_clock::now() + time_budget;
        while (std::chrono::steady_clock::now() < deadline) {
            auto [item, timed_out] = co_await al::select(q.get(), al::sleep(0));
            if (item) {
                EXPECT_EQ(*item, next++);
            }
            progress.fetch_add(1, std::memory_order_relaxed);
            // Signals sent close together merge into one: count the
            // handler's puts, not the signals. Done once the last signal is
            // sent and what its handlers put has been taken.
            if (signaller_done.load(std::memory_order_acquire) && next == handler_next.load()) break;
        }
        stop = true;
        signaller.join();
        signal(SIGUSR2, SIG_IGN);
        while (auto x = q.try_get()) EXPECT_EQ(*x, next++);
        EXPECT_EQ(next, handler_next.load()) << "items the handler put that never arrived";
        handler_queue = nullptr;
    }());
}

// ---------------------------------------------------------------- every pair, one round driver

/// One side of a race: how the other context completes it. Called from the
/// completing thread or from the signal handler on the loop's thread, so it
/// must be async-signal-safe.
struct Completion {
    virtual void complete(std::uint64_t round) noexcept = 0;

protected:
    ~Completion() = default;
};

// What the signal handler reaches: the completion the thread asks for. Each
// request has a number; the handler completes a request once, however many
// signals deliver it (see Completer::complete_one on why one may be resent).
std::atomic<Completion*> handler_target{nullptr};
std::atomic<std::uint64_t> handler_round{0};
std::atomic<std::uint64_t> handler_request{0};
std::atomic<std::uint64_t> handler_done{0};

void on_complete_signal(int) {
    int saved = errno;
    // Acquire: pairs with the thread's release store of the request, so the
    // target and round it stored before are seen.
    std::uint64_t request = handler_request.load(std::memory_order_acquire);
    // Relaxed: only this handler, on the loop's thread, writes handler_done.
    if (request != handler_done.load(std::memory_order_relaxed)) {
        handler_target.load(std::memory_order_relaxed)->complete(handler_round.load(std::memory_order_relaxed));
        // Release: the thread's acquire of it sees the completion done.
        handler_done.store(request, std::memory_order_release);
    }
    errno = saved;
}

template <class Slot>
bool engaged(const Slot& slot) {
    if constexpr (std::is_same_v<Slot, bool>) {
        return slot;
    } else {
        return slot.has_value();
    }
}

// The kinds. Each: prepare(round) on the loop before the select; branch(), the
// awaitable; complete(round) from the other context; settle(slot, round) on the
// loop once both completions are done: checks the slot or what was left in
// place, and leaves the primitive empty for the next round.

struct QueueGet final : Completion {
    static constexpr const char* name = "queue get";
    al::ThreadSafeQueue<std::uint64_t> q{4};
    void prepare(std::uint64_t) {}
    auto branch() { return q.get(); }
    void complete(std::uint64_t round) noexcept override { EXPECT_TRUE(q.try_put(round)); }
    al::Task<void> settle(const std::optional<std::uint64_t>& slot, std::uint64_t round) {
        std::optional<std::uint64_t> got = slot ? slot : q.try_get();
        EXPECT_EQ(got, std::optional<std::uint64_t>(round)) << "the round's item was lost or taken twice";
        EXPECT_TRUE(q.empty());
        co_return;
    }
};

struct FlagWait final : Completion {
    static constexpr const char* name = "flag wait";
    al::ThreadSafeFlag flag;
    void prepare(std::uint64_t) {}
    auto branch() { return flag.wait(); }
    void complete(std::uint64_t) noexcept override { flag.set(); }
    al::Task<void> settle(bool woke, std::uint64_t) {
        EXPECT_TRUE(woke || flag.is_set()) << "a set was lost";
        EXPECT_FALSE(woke && flag.is_set()) << "a wait returned without clearing the flag";
        flag.clear();
        co_return;
    }
};

struct EventWait final : Completion {
    static constexpr const char* name = "event wait";
    al::ThreadSafeEvent event;
    void prepare(std::uint64_t) {}
    auto branch() { return event.wait(); }
    void complete(std::uint64_t) noexcept override { event.set(); }
    al::Task<void> settle(bool, std::uint64_t) {
        EXPECT_TRUE(event.is_set()) << "a set was lost";
        event.clear();
        co_return;
    }
};

/// Message::next() (takes the set: what is left must still be set) or
/// co_await m (leaves it set).
template <bool Next>
struct MessageTake final : Completion {
    static constexpr const char* name = Next ? "message next" : "message wait";
    al::Message<std::uint64_t> m;
    void prepare(std::uint64_t) {}
    auto branch() {
        if constexpr (Next) {
            return m.next();
        } else {
            return m.wait();
        }
    }
    void complete(std::uint64_t round) noexcept override { m.set(round); }
    al::Task<void> settle(const std::optional<std::uint64_t>& slot, std::uint64_t round) {
        if (slot) {
            EXPECT_EQ(*slot, round);
        }
        EXPECT_EQ(m.is_set(), !(Next && slot)) << (slot ? "next() left the set" : "a set was lost");
        EXPECT_EQ(m.value(), round);
        m.clear();
        co_return;
    }
};

/// A task that returns the round once the other context opens its gate; the
/// select awaits its handle (losing only stops the wait).
struct HandleWait final : Completion {
    static constexpr const char* name = "task handle";
    al::ThreadSafeFlag gate;
    al::TaskHandle<std::uint64_t> task;
    void prepare(std::uint64_t round) {
        task = al::create_task([](al::ThreadSafeFlag& g, std::uint64_t r) -> al::Task<std::uint64_t> {
            co_await g.wait();
            co_return r;
        }(gate, round));
    }
    auto branch() { return task; }
    void complete(std::uint64_t) noexcept override { gate.set(); }
    al::Task<void> settle(const std::optional<std::uint64_t>& slot, std::uint64_t round) {
        std::uint64_t value = co_await task;  // ends once the gate opened: the round's value, left in the task
        if (slot) {
            EXPECT_EQ(*slot, round);
        }
        EXPECT_EQ(value, round);
    }
};

/// A read of one byte from a pipe the other context writes into.
struct StreamRead final : Completion {
    static constexpr const char* name = "stream read";
    int write_fd = -1;
    al::Stream stream;
    StreamRead() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        stream = al::Stream::adopt(fds[0]);
        write_fd = fds[1];
    }
    ~StreamRead() { ::close(write_fd); }
    StreamRead(const StreamRead&) = delete;
    StreamRead& operator=(const StreamRead&) = delete;
    static char byte_of(std::uint64_t round) { return static_cast<char>('a' + round % 26); }
    void prepare(std::uint64_t) {}
    auto branch() { return stream.read(1); }
    void complete(std::uint64_t round) noexcept override {
        char b = byte_of(round);
        EXPECT_EQ(::write(write_fd, &b, 1), 1);
    }
    al::Task<void> settle(const std::optional<std::string>& slot, std::uint64_t round) {
        // Not engaged: the byte is still in the stream (or the pipe); a lost
        // byte hangs this read, and the watchdog names the round.
        // (Not `slot ? *slot : co_await ...`: g++ 12 miscompiles co_await in ?:.)
        std::string got;
        if (slot) {
            got = *slot;
        } else {
            got = co_await stream.read(1);
        }
        EXPECT_EQ(got, std::string(1, byte_of(round)));
    }
};

/// A short sleep: completed by the loop's clock, not by the other context.
struct Sleep final : Completion {
    static constexpr const char* name = "sleep";
    std::minstd_rand rng{std::random_device{}()};
    std::chrono::microseconds duration{0};
    void prepare(std::uint64_t) { duration = std::chrono::microseconds(rng() % 20); }
    auto branch() { return al::sleep(duration); }
    void complete(std::uint64_t) noexcept override {}
    al::Task<void> settle(bool, std::uint64_t) { co_return; }
};

/// The other context's side of one round: waits for the select to begin,
/// then completes both branches in a random order with a random gap, each
/// directly or (one time in four) through the signal handler.
class Completer {
public:
    /// `resends` counts the signals sent again (see complete_one).
    Completer(pthread_t loop_thread, std::uint64_t& resends) : loop_thread_(loop_thread), resends_(resends) {}

    void complete_both(Completion& a, Completion& b, std::uint64_t round) {
        spin(static_cast<unsigned>(rng_() % 8000));
        bool a_first = (rng_() & 1) != 0;
        complete_one(a_first ? a : b, round);
        spin(static_cast<unsigned>(rng_() % 1000));
        complete_one(a_first ? b : a, round);
    }

private:
    void complete_one(Completion& c, std::uint64_t round) {
        if (rng_() % 4 != 0) {
            c.complete(round);
            return;
        }
        // Only this thread writes the request number.
        std::uint64_t request = handler_request.load(std::memory_order_relaxed) + 1;
        handler_target.store(&c, std::memory_order_relaxed);
        handler_round.store(round, std::memory_order_relaxed);
        handler_request.store(request, std::memory_order_release);  // see the handler's acquire
        // Acquire: pairs with the handler's release, so its completion is done.
        // A signal this clang's ThreadSanitizer dropped (it loses one that
        // reaches a thread shortly after a thread was created: a plain program
        // with no asynclink shows it) is sent again after a second; the
        // handler completes each request once, so a resend never completes
        // twice. This only retries the delivery of the signal: a completion
        // whose wake-up the library lost still hangs the round.
        for (;;) {
            pthread_kill(loop_thread_, SIGUSR1);
            auto resend_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            while (handler_done.load(std::memory_order_acquire) != request &&
                   std::chrono::steady_clock::now() < resend_at) {
                std::this_thread::yield();
            }
            if (handler_done.load(std::memory_order_acquire) == request) break;
            ++resends_;
        }
    }
    static void spin(unsigned n) {
        std::atomic<unsigned> count{0};  // a plain loop would be optimised away
        for (unsigned i = 0; i < n; ++i) count.fetch_add(1, std::memory_order_relaxed);
    }

    pthread_t loop_thread_;
    std::uint64_t& resends_;
    std::minstd_rand rng_{std::random_device{}()};
};

constexpr auto pair_time_budget = 10s;

/// Races branch kinds A and B, round after round (see the file comment).
template <class A, class B>
void race() {
    const std::uint64_t rounds = scaled<std::uint64_t>(100'000, 1'000);
    std::atomic<std::uint64_t> progress{0};
    const std::string pair = std::string(A::name) + " vs " + B::name;
    stress_test::Watchdog watchdog(progress,
                                   [&] { return "select " + pair + ": round " + std::to_string(progress.load()); });
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = &on_complete_signal;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    std::uint64_t a_won = 0, b_won = 0, both = 0, done_rounds = 0;
    std::uint64_t resends = 0;  // written by the completing thread, read after its join
    al::run([&]() -> al::Task<> {
        A a;
        B b;
        std::atomic<std::uint64_t> started{0};
        std::atomic<std::uint64_t> completed{0};
        al::ThreadSafeFlag round_done;
        std::thread other([&, loop_thread = pthread_self()] {
            Completer completer(loop_thread, resends);
            for (std::uint64_t round = 1; round <= rounds; ++round) {
                // Acquire: pairs with the loop's release, so prepare() is seen.
                while (started.load(std::memory_order_acquire) < round) {
                    if (started.load(std::memory_order_relaxed) == 0 && round > 1) return;  // the loop gave up
                    std::this_thread::yield();
                }
                completer.complete_both(a, b, round);
                completed.store(round, std::memory_order_release);  // see the loop's acquire
                round_done.set();
            }
        });
        auto deadline = std::chrono::steady_clock::now() + pair_time_budget;
        for (std::uint64_t round = 1; round <= rounds; ++round) {
            a.prepare(round);
            b.prepare(round);
            started.store(round, std::memory_order_release);
            auto [x, y] = co_await al::select(a.branch(), b.branch());
            EXPECT_TRUE(engaged(x) || engaged(y)) << "round " << round << ": select returned with no branch";
            a_won += engaged(x) ? 1 : 0;
            b_won += engaged(y) ? 1 : 0;
            both += engaged(x) && engaged(y) ? 1 : 0;
            while (completed.load(std::memory_order_acquire) < round) co_await round_done.wait();
            co_await a.settle(x, round);
            co_await b.settle(y, round);
            done_rounds = round;
            progress.fetch_add(1, std::memory_order_relaxed);
            if (std::chrono::steady_clock::now() > deadline) {
                started.store(0, std::memory_order_relaxed);  // bounded: tell the thread to stop
                break;
            }
        }
        other.join();
    }());
    sigaction(SIGUSR1, &previous, nullptr);
    std::printf("select %s: %llu rounds, first won %llu, second won %llu, both %llu, signals resent %llu\n",
                pair.c_str(), static_cast<unsigned long long>(done_rounds), static_cast<unsigned long long>(a_won),
                static_cast<unsigned long long>(b_won), static_cast<unsigned long long>(both),
                static_cast<unsigned long long>(resends));
}

// Every kind against a queue get...
TEST(SelectRace, QueueGetAndFlagWait) { race<QueueGet, FlagWait>(); }
TEST(SelectRace, QueueGetAndEventWait) { race<QueueGet, EventWait>(); }
TEST(SelectRace, QueueGetAndMessageNext) { race<QueueGet, MessageTake<true>>(); }
TEST(SelectRace, QueueGetAndMessageWait) { race<QueueGet, MessageTake<false>>(); }
TEST(SelectRace, QueueGetAndTaskHandle) { race<QueueGet, HandleWait>(); }
TEST(SelectRace, QueueGetAndStreamRead) { race<QueueGet, StreamRead>(); }
TEST(SelectRace, QueueGetAndSleep) { race<QueueGet, Sleep>(); }
// ... and against another kind that is not a queue.
TEST(SelectRace, FlagWaitAndEventWait) { race<FlagWait, EventWait>(); }
TEST(SelectRace, MessageNextAndTaskHandle) { race<MessageTake<true>, HandleWait>(); }
TEST(SelectRace, MessageWaitAndStreamRead) { race<MessageTake<false>, StreamRead>(); }
TEST(SelectRace, StreamReadAndSleep) { race<StreamRead, Sleep>(); }
TEST(SelectRace, TaskHandleAndFlagWait) { race<HandleWait, FlagWait>(); }

}  // namespace
