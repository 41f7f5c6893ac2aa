// SPDX-License-Identifier: BSL-1.0
// The context matrix: every thread-safe primitive driven from every context
// the spec names, with the loop busy and with it asleep. One named test per
// cell: <context>_<primitive>_<loop state>.
//
// Contexts (SPEC section 1):
//   SignalHandler      a handler installed here, run on the loop's thread by
//                      pthread_kill from a driver thread (the hard ISR)
//   ScheduledCallback  a Loop::schedule() callback, run by the loop between
//                      tasks (the soft ISR)
//   ThreadSameCpu      a thread pinned to the loop's CPU
//   ThreadOtherCpu     a thread pinned to the other CPU
//   OtherLoop          a task of a second loop on a thread on the other CPU
// Primitives: ThreadSafeFlag, ThreadSafeEvent, ThreadSafeQueue,
// ThreadSafeQueue<T, many_producers> (ManyProducerQueue), Message,
// Shared, Loop::schedule, Loop::call_soon_threadsafe. call_soon_threadsafe
// takes a mutex and may allocate, so it is not async-signal-safe: a handler
// that interrupted the loop while it held that mutex would deadlock. There is
// no SignalHandler cell for it.
// Loop states: LoopBusy (a task keeps computing and yielding with sleep(0), so
// the loop never sleeps) and LoopAsleep (only the waiting task; on every other
// round the context first waits until the loop thread is asleep in epoll).
//
// Each cell runs rounds in lock step. In round r the context performs a burst
// of 1..n operations (how many is a function of r that both sides compute),
// then sets `context_done`; the loop observes the round, waits for
// context_done, checks what it saw, arms the next round and publishes r + 1 in
// `ready`, which the context waits for. So every operation has a known
// audience and the counts are exact: a queue item, a schedule() or a
// call_soon_threadsafe() call is observed exactly once and in order; a flag,
// event or message round (which may coalesce) wakes the loop at least once
// and never with a stale round; a Shared snapshot is whole and the latest. A
// lost wake-up stops the lock step, and the watchdog names the cell, the
// round and the step.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/pauses.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::scaled;
using stress_test::Watchdog;

namespace {

enum class Source { signal_handler, scheduled_callback, thread_same_cpu, thread_other_cpu, other_loop };
enum class Primitive { flag, event, queue, many_producer_queue, message, shared, schedule, call_soon_threadsafe };
enum class LoopState { busy, asleep };

struct Cell {
    Source source;
    Primitive primitive;
    LoopState state;
};

const char* name_of(Source s) {
    switch (s) {
    case Source::signal_handler: return "SignalHandler";
    case Source::scheduled_callback: return "ScheduledCallback";
    case Source::thread_same_cpu: return "ThreadSameCpu";
    case Source::thread_other_cpu: return "ThreadOtherCpu";
    case Source::other_loop: return "OtherLoop";
    }
    return "?";
}

const char* name_of(Primitive p) {
    switch (p) {
    case Primitive::flag: return "ThreadSafeFlag";
    case Primitive::event: return "ThreadSafeEvent";
    case Primitive::queue: return "ThreadSafeQueue";
    case Primitive::many_producer_queue: return "ManyProducerQueue";
    case Primitive::message: return "Message";
    case Primitive::shared: return "Shared";
    case Primitive::schedule: return "Schedule";
    case Primitive::call_soon_threadsafe: return "CallSoonThreadsafe";
    }
    return "?";
}

const char* name_of(LoopState s) { return s == LoopState::busy ? "LoopBusy" : "LoopAsleep"; }

std::string name_of(const Cell& c) {
    return std::string(name_of(c.source)) + "_" + name_of(c.primitive) + "_" + name_of(c.state);
}

std::vector<Cell> every_cell() {
    std::vector<Cell> cells;
    for (Source s : {Source::signal_handler, Source::scheduled_callback, Source::thread_same_cpu,
                     Source::thread_other_cpu, Source::other_loop}) {
        for (Primitive p :
             {Primitive::flag, Primitive::event, Primitive::queue, Primitive::many_producer_queue, Primitive::message,
              Primitive::shared, Primitive::schedule, Primitive::call_soon_threadsafe}) {
            // Not async-signal-safe (see the top of the file): no such cell.
            if (s == Source::signal_handler && p == Primitive::call_soon_threadsafe) continue;
            for (LoopState state : {LoopState::busy, LoopState::asleep}) cells.push_back({s, p, state});
        }
    }
    return cells;
}

using test_support::loop_cpu;
using test_support::other_cpu;
using test_support::Prng;
using test_support::spin;

/// Shared's payload: consistent exactly when its four fields are equal.
struct Snapshot {
    std::array<std::uint64_t, 4> fields;
    static Snapshot of(std::uint64_t v) noexcept {
        Snapshot s;
        s.fields.fill(v);
        return s;
    }
    bool consistent() const noexcept {
        return fields[0] == fields[1] && fields[1] == fields[2] && fields[2] == fields[3];
    }
};

/// A round number meaning "no more rounds". It goes into the very word the
/// context waits on: a separate stop flag could be set between its check and
/// its wait, and that wake-up would be lost.
constexpr std::uint32_t no_more_rounds = ~std::uint32_t{0};

/// Waits (parked) until `counter` reaches `target`; returns what it holds.
std::uint32_t wait_until_at_least(const std::atomic<std::uint32_t>& counter, std::uint32_t target) {
    // acquire: pairs with the loop's release of the round number, so what the
    // loop did before (armed waiters, emptied queue) is visible.
    std::uint32_t seen = counter.load(std::memory_order_acquire);
    while (seen < target) {
        counter.wait(seen, std::memory_order_acquire);
        seen = counter.load(std::memory_order_acquire);  // acquire: as above
    }
    return seen;
}

int signal_number() { return SIGRTMIN + 5; }

class Rig;
/// The cell whose rounds the signal handler performs.
std::atomic<Rig*> signalled_rig{nullptr};

extern "C" void on_matrix_signal(int);

void install_signal_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = &on_matrix_signal;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        if (sigaction(signal_number(), &action, nullptr) != 0) std::abort();
    });
}

/// One cell: the primitives, the context that signals, the loop that observes.
class Rig {
public:
    explicit Rig(const Cell& cell, std::uint64_t seed)
        : cell_(cell),
          seed_(seed),
          max_rounds_(static_cast<std::uint32_t>(scaled(300, 20))),
          deadline_(std::chrono::steady_clock::now() + 2s) {
        for (Token& token : tokens_) token.rig = this;
    }

    void run() {
        Watchdog watchdog(progress_, [this] { return describe(); });
        if (cell_.source == Source::signal_handler) {
            install_signal_handler();
            signalled_rig.store(this, std::memory_order_release);  // release: the handler sees a built rig
        }
        std::thread loop_thread([this] {
            EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
            al::run(consume());
        });
        loop_handle_ = loop_thread.native_handle();
        std::thread context_thread([this] {
            if (cell_.source == Source::other_loop) {
                EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
                al::run(drive_from_other_loop());
            } else {
                drive_from_thread();
            }
        });
        context_thread.join();
        loop_thread.join();
        signalled_rig.store(nullptr, std::memory_order_release);  // release: as above
        expect_counts();
    }

    /// The SignalHandler context: the round the driver asked for.
    /// A round runs once: a resent signal (see drive_from_thread) whose first
    /// copy did arrive finds its round handled. Only this handler writes
    /// handled_round_, and it does not interrupt itself.
    void run_signalled_round() noexcept {
        // acquire: pairs with the driver's release of the round number.
        std::uint32_t round = pending_round_.load(std::memory_order_acquire);
        if (handled_round_.load(std::memory_order_relaxed) == round) return;
        signal_round(round);
        // release: the driver that sees it sees the round's operations done.
        handled_round_.store(round, std::memory_order_release);
    }

private:
    static constexpr std::size_t queue_capacity = 4;
    static constexpr std::size_t event_waiters = 3;

    enum class Step : int { starting, observing, awaiting_context_done, checking, arming, finished };

    // ------------------------------------------------------------ rounds

    /// How many operations round `round` performs: 1..max, the same on both sides.
    std::uint32_t burst(std::uint32_t round) const noexcept {
        std::uint32_t max = 3;
        if (cell_.primitive == Primitive::schedule || cell_.primitive == Primitive::call_soon_threadsafe) max = 8;
        if (is_queue()) {
            // Contexts that can wait for room may overfill the queue; a signal
            // handler or a scheduled callback cannot wait, so its burst fits.
            bool can_wait = cell_.source != Source::signal_handler && cell_.source != Source::scheduled_callback;
            max = can_wait ? 2 * queue_capacity - 1 : queue_capacity;
        }
        return 1 + (round * 2654435761u >> 7) % max;
    }
    bool is_queue() const noexcept {
        return cell_.primitive == Primitive::queue || cell_.primitive == Primitive::many_producer_queue;
    }
    static std::uint64_t first_value(std::uint32_t round) noexcept { return std::uint64_t{round} * 16; }

    // ------------------------------------------------------------ the context

    void drive_from_thread() {
        int cpu = cell_.source == Source::thread_same_cpu ? loop_cpu : other_cpu();
        EXPECT_TRUE(al::port::pin_current_thread(cpu));
        Prng rng(seed_);
        for (std::uint32_t round = 1;; ++round) {
            if (wait_until_at_least(ready_, round) == no_more_rounds) return;
            before_signal(rng, round);
            switch (cell_.source) {
            case Source::signal_handler:
                // release: the handler reads the round after the signal.
                pending_round_.store(round, std::memory_order_release);
                pthread_kill(loop_handle_, signal_number());
                // clang-14's ThreadSanitizer can lose a signal that reaches a
                // thread shortly after a thread was created (a plain program
                // lost 48 of 200; see signal_wake_test): resend it if the
                // handler has not run within a second. This retries only the
                // delivery; a wake-up the library lost still stops the round.
                for (int waited_ms = 0;
                     handled_round_.load(std::memory_order_acquire) < round;) {  // acquire: as the handler's release
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    if (++waited_ms == 1000) {
                        waited_ms = 0;
                        signals_resent_.fetch_add(1, std::memory_order_relaxed);
                        pthread_kill(loop_handle_, signal_number());
                    }
                }
                break;
            case Source::scheduled_callback:
                pending_round_.store(round, std::memory_order_release);  // release: as above
                if (!loop_->schedule(&on_scheduled_round, this)) context_error();
                break;
            default: signal_round(round); break;
            }
        }
    }

    al::Task<void> drive_from_other_loop() {
        Prng rng(seed_);
        for (std::uint32_t round = 1;; ++round) {
            std::uint32_t ready;
            // acquire: pairs with the loop's release of the round number.
            while ((ready = ready_.load(std::memory_order_acquire)) < round) co_await ack_flag_.wait();
            if (ready == no_more_rounds) co_return;
            if (cell_.state == LoopState::asleep && round % 2 == 0) {
                wait_until_loop_asleep();  // blocks this loop's thread, which has nothing else to do
            } else if (rng() % 2 == 0) {
                co_await al::sleep(std::chrono::microseconds(rng() % 100));
            }
            co_await signal_round_async(round);
        }
    }

    /// A random pause, or (every other round with the loop asleep) waiting
    /// until the loop thread is asleep in the kernel, so both "falling asleep"
    /// and "deep asleep" are hit.
    void before_signal(Prng& rng, std::uint32_t round) {
        if (cell_.state == LoopState::asleep && round % 2 == 0) {
            wait_until_loop_asleep();
            return;
        }
        switch (rng() % 4) {
        case 0: break;
        case 1: std::this_thread::yield(); break;
        case 2: spin(rng() % 20'000); break;
        default: std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100)); break;
        }
    }

    void wait_until_loop_asleep() {
        // relaxed: published with the first round number (acquired already).
        if (!bridge_test::wait_until_asleep_in_epoll(loop_tid_.load(std::memory_order_relaxed))) ++loop_never_slept_;
    }

    static void on_scheduled_round(void* self) noexcept {
        auto& rig = *static_cast<Rig*>(self);
        // acquire: pairs with the driver's release of the round number.
        rig.signal_round(rig.pending_round_.load(std::memory_order_acquire));
    }

    /// The round's operations, from any context but OtherLoop; then context_done.
    void signal_round(std::uint32_t round) noexcept {
        std::uint32_t n = burst(round);
        switch (cell_.primitive) {
        case Primitive::flag:
            // release: the woken task reads the round.
            sent_.store(round, std::memory_order_release);
            for (std::uint32_t i = 0; i < n; ++i) flag_.set();
            break;
        case Primitive::event:
            stamp_.store(round, std::memory_order_release);  // release: as for the flag
            for (std::uint32_t i = 0; i < n; ++i) event_.set();
            // Set then clear at once: every waiter of the set must still wake.
            if (round % 3 == 0) event_.clear();
            break;
        case Primitive::queue:
        case Primitive::many_producer_queue:
            for (std::uint32_t i = 0; i < n; ++i) put_item(next_item_++);
            break;
        case Primitive::message:
            for (std::uint32_t i = 0; i < n; ++i) message_.set(first_value(round) + i);
            break;
        case Primitive::shared:
            for (std::uint32_t i = 0; i < n; ++i) shared_.write(Snapshot::of(first_value(round) + i));
            break;
        case Primitive::schedule:
            for (std::uint32_t i = 0; i < n; ++i) {
                Token& token = tokens_[next_item_ % tokens_.size()];
                token.seq = next_item_++;
                if (!loop_->schedule(&on_scheduled_item, &token)) context_error();
            }
            break;
        case Primitive::call_soon_threadsafe:
            for (std::uint32_t i = 0; i < n; ++i) {
                try {
                    loop_->call_soon_threadsafe([this, seq = next_item_++] { on_loop_call(seq); });
                } catch (...) {
                    context_error();
                }
            }
            break;
        }
        operations_ += n;
        context_done_.set();
    }

    /// The OtherLoop context: as signal_round, but the queue's put is awaited.
    al::Task<void> signal_round_async(std::uint32_t round) {
        if (!is_queue()) {
            signal_round(round);
            co_return;
        }
        std::uint32_t n = burst(round);
        for (std::uint32_t i = 0; i < n; ++i) {
            if (cell_.primitive == Primitive::queue) {
                co_await queue_.put(next_item_++);
            } else {
                co_await many_queue_.put(next_item_++);
            }
        }
        operations_ += n;
        context_done_.set();
    }

    void put_item(std::uint64_t v) noexcept {
        if (cell_.primitive == Primitive::queue) {
            put_item_on(queue_, v);
        } else {
            put_item_on(many_queue_, v);
        }
    }
    template <class Queue>
    void put_item_on(Queue& queue, std::uint64_t v) noexcept {
        if (cell_.source == Source::signal_handler || cell_.source == Source::scheduled_callback) {
            if (!queue.try_put(v)) context_error();  // cannot wait here; the burst fits
            return;
        }
        try {
            queue.put_sync(v, true);  // a thread: parks while the queue is full
        } catch (...) {
            context_error();
        }
    }

    /// Async-signal-safe: a count, reported at the end.
    void context_error() noexcept { context_errors_.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a tally

    // ------------------------------------------------------------ the loop

    al::Task<void> consume() {
        loop_ = &al::Loop::current();
        // relaxed: published by the release of the first round number below.
        loop_tid_.store(bridge_test::thread_id(), std::memory_order_relaxed);
        al::TaskHandle<void> busy;
        if (cell_.state == LoopState::busy) busy = al::create_task(keep_busy());
        co_await arm();
        publish_ready(1);
        for (std::uint32_t round = 1;; ++round) {
            round_.store(round, std::memory_order_relaxed);  // relaxed (all steps): the watchdog's report
            step_.store(Step::observing, std::memory_order_relaxed);
            co_await observe(round);
            step_.store(Step::awaiting_context_done, std::memory_order_relaxed);
            co_await context_done_.wait();
            step_.store(Step::checking, std::memory_order_relaxed);
            co_await finish_round(round);
            rounds_ = round;
            progress_.fetch_add(1, std::memory_order_relaxed);  // relaxed: watchdog only
            bool more = round < max_rounds_ && (round < min_rounds || std::chrono::steady_clock::now() < deadline_) &&
                        failures_ == 0;
            if (!more) break;
            step_.store(Step::arming, std::memory_order_relaxed);
            co_await arm();
            publish_ready(round + 1);
        }
        step_.store(Step::finished, std::memory_order_relaxed);
        publish_ready(no_more_rounds);
        if (busy) {
            stop_busy_ = true;
            co_await busy;
        }
    }

    void publish_ready(std::uint32_t round) {
        // release: the context sees the armed waiters and the emptied queue.
        ready_.store(round, std::memory_order_release);
        ready_.notify_all();
        ack_flag_.set();  // for the OtherLoop context, which waits as a task
    }

    /// Computes and yields, never letting the loop sleep. For Shared it also
    /// reads snapshots while the context writes.
    al::Task<void> keep_busy() {
        std::uint64_t x = seed_;
        std::uint64_t last = 0;
        while (!stop_busy_) {
            for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005u + 1442695040888963407u;
            busy_sink_ = x;
            if (cell_.primitive == Primitive::shared) {
                Snapshot s = shared_.read();
                check(s.consistent(), "a torn Shared snapshot while the loop was busy");
                check(s.fields[0] >= last, "a Shared snapshot older than the one before");
                last = s.fields[0];
            }
            co_await al::sleep(0);
        }
    }

    /// Readies the next round: the event's waiters parked (the event is clear).
    al::Task<void> arm() {
        if (cell_.primitive != Primitive::event) co_return;
        event_handles_.clear();
        parked_ = 0;
        for (std::size_t i = 0; i < event_waiters; ++i) event_handles_.push_back(al::create_task(event_waiter()));
        co_await al::sleep(0);  // each new task runs to its wait and parks
        check(parked_ == event_waiters, "the event's waiters did not all park");
    }

    al::Task<std::uint32_t> event_waiter() {
        ++parked_;
        co_await event_.wait();
        // acquire: pairs with the context's release of the round.
        co_return stamp_.load(std::memory_order_acquire);
    }

    al::Task<void> observe(std::uint32_t round) {
        std::uint32_t n = burst(round);
        switch (cell_.primitive) {
        case Primitive::flag: {
            co_await flag_.wait();
            ++flag_wakes_;
            // acquire: pairs with the context's release of the round.
            check(sent_.load(std::memory_order_acquire) == round, "the flag woke the task for an older round");
            break;
        }
        case Primitive::event:
            for (auto& h : event_handles_) {
                check(co_await h == round, "an event waiter woke for another round");
                ++event_wakes_;
            }
            break;
        case Primitive::queue:
            for (std::uint32_t i = 0; i < n; ++i) {
                check(co_await queue_.get() == observed_items_, "a queue item lost, duplicated or out of order");
                ++observed_items_;
            }
            break;
        case Primitive::many_producer_queue:
            for (std::uint32_t i = 0; i < n; ++i) {
                check(co_await many_queue_.get() == observed_items_, "a queue item lost, duplicated or out of order");
                ++observed_items_;
            }
            break;
        case Primitive::message: {
            std::uint64_t last = first_value(round) + n - 1;
            // Even rounds start with wait() (the message stays set), odd ones
            // with next() (clears); later reads use next(), which never spins.
            std::uint64_t v = round % 2 == 0 ? co_await message_.wait() : co_await message_.next();
            std::uint64_t previous = first_value(round);
            for (;;) {
                ++message_reads_;
                if (v < previous || v > last) {
                    fail("Message value " + std::to_string(v) + " outside [" + std::to_string(previous) + ", " +
                         std::to_string(last) + "]: from another round, or going backwards");
                }
                previous = v;
                if (v >= last) break;
                v = co_await message_.next();
            }
            break;
        }
        case Primitive::shared: break;  // nothing to wait for: the snapshot is checked after context_done
        case Primitive::schedule:
        case Primitive::call_soon_threadsafe:
            expected_items_ += n;
            while (observed_items_ < expected_items_) {
                co_await loop_event_.wait();
                loop_event_.clear();
            }
            break;
        }
    }

    /// After context_done: nothing left over, and the state reset for the next round.
    al::Task<void> finish_round(std::uint32_t round) {
        std::uint32_t n = burst(round);
        switch (cell_.primitive) {
        case Primitive::flag: {
            // Sets after the task consumed the first may have left the flag
            // set: take them, so each round starts clear. At most one wake per set.
            std::uint32_t wakes = 1;
            while (flag_.is_set()) {
                co_await flag_.wait();
                ++wakes;
                ++flag_wakes_;
            }
            check(wakes <= n, "more flag wake-ups than sets");
            break;
        }
        case Primitive::event: event_.clear(); break;
        case Primitive::queue: check(queue_.empty(), "items beyond the round's burst"); break;
        case Primitive::many_producer_queue: check(many_queue_.empty(), "items beyond the round's burst"); break;
        case Primitive::message:
            check(message_.value() == first_value(round) + n - 1, "Message::value is not the round's last value");
            message_.clear();
            break;
        case Primitive::shared: {
            Snapshot s = shared_.read();
            check(s.consistent(), "a torn Shared snapshot");
            check(s.fields[0] == first_value(round) + n - 1, "Shared is not the round's last write");
            ++shared_reads_;
            break;
        }
        case Primitive::schedule:
        case Primitive::call_soon_threadsafe:
            co_await al::sleep(0);  // one more turn: a surplus callback would run now
            check(observed_items_ == expected_items_, "more callbacks than calls");
            break;
        }
    }

    struct Token {
        Rig* rig;
        std::uint64_t seq;
    };

    static void on_scheduled_item(void* token) noexcept {
        auto& t = *static_cast<Token*>(token);
        t.rig->on_loop_call(t.seq);
    }

    void on_loop_call(std::uint64_t seq) {
        check(seq == observed_items_, "a callback lost, duplicated or out of order");
        ++observed_items_;
        loop_event_.set();
    }

    void check(bool ok, const char* what) {
        if (!ok) fail(what);
    }
    void fail(const std::string& what) {
        ++failures_;
        // relaxed: the loop's own store.
        ADD_FAILURE() << name_of(cell_) << ", round " << round_.load(std::memory_order_relaxed) << ": " << what;
    }

    // ------------------------------------------------------------ the end

    void expect_counts() {
        EXPECT_EQ(failures_, 0u);
        // relaxed: read after both threads were joined.
        EXPECT_EQ(context_errors_.load(std::memory_order_relaxed), 0u) << "an operation failed in the context";
        EXPECT_EQ(loop_never_slept_, 0u) << "the loop never slept in the kernel while waiting";
        EXPECT_GT(rounds_, 0u);
        std::uint64_t n = 0;
        for (std::uint32_t r = 1; r <= rounds_; ++r) n += burst(r);
        EXPECT_EQ(operations_, n) << "the context performed a different number of operations";
        switch (cell_.primitive) {
        case Primitive::flag:
            EXPECT_GE(flag_wakes_, rounds_) << "a round without a wake-up";
            EXPECT_LE(flag_wakes_, operations_) << "more wake-ups than sets";
            break;
        case Primitive::event: EXPECT_EQ(event_wakes_, rounds_ * event_waiters); break;
        case Primitive::queue:
        case Primitive::many_producer_queue:
        case Primitive::schedule:
        case Primitive::call_soon_threadsafe: EXPECT_EQ(observed_items_, operations_); break;
        case Primitive::message: EXPECT_GE(message_reads_, rounds_); break;
        case Primitive::shared: EXPECT_EQ(shared_reads_, rounds_); break;
        }
        std::printf("%s: %u rounds, %llu operations\n", name_of(cell_).c_str(), rounds_,
                    static_cast<unsigned long long>(operations_));
    }

    std::string describe() const {
        static const char* const steps[] = {"starting", "observing", "awaiting context_done",
                                            "checking", "arming",    "finished"};
        // Relaxed: a diagnostic snapshot of a stuck test.
        return name_of(cell_) + ": round " + std::to_string(round_.load(std::memory_order_relaxed)) + ", loop " +
               steps[static_cast<int>(step_.load(std::memory_order_relaxed))] + ", ready " +
               std::to_string(ready_.load(std::memory_order_relaxed)) + "; flag " + (flag_.is_set() ? "set" : "clear") +
               ", event " + (event_.is_set() ? "set" : "clear") + ", queue " + std::to_string(queue_.qsize()) +
               " items, message " + (message_.is_set() ? "set" : "clear") + ", context_done " +
               (context_done_.is_set() ? "set" : "clear") + ", context errors " +
               std::to_string(context_errors_.load(std::memory_order_relaxed));
    }

    const Cell cell_;
    const std::uint64_t seed_;
    const std::uint32_t max_rounds_;
    static constexpr std::uint32_t min_rounds = 10;
    const std::chrono::steady_clock::time_point deadline_;

    // The primitives under test, and the lock step's own.
    al::ThreadSafeFlag flag_;
    al::ThreadSafeEvent event_;
    al::ThreadSafeQueue<std::uint64_t> queue_{queue_capacity};
    al::ThreadSafeQueue<std::uint64_t, al::many_producers> many_queue_{queue_capacity};
    al::Message<std::uint64_t> message_;
    al::Shared<Snapshot> shared_{Snapshot::of(0)};
    al::ThreadSafeFlag context_done_;
    al::ThreadSafeFlag ack_flag_;
    al::Event loop_event_;
    std::atomic<std::uint32_t> ready_{0};
    std::atomic<std::uint32_t> pending_round_{0};
    std::atomic<std::uint32_t> handled_round_{0};   ///< the last round the signal handler ran
    std::atomic<std::uint32_t> signals_resent_{0};  ///< deliveries retried (see drive_from_thread)
    std::atomic<std::uint32_t> sent_{0};
    std::atomic<std::uint32_t> stamp_{0};

    // Context side (one context per cell; read at the end, after join).
    std::uint64_t next_item_ = 0;
    std::uint64_t operations_ = 0;
    std::array<Token, 16> tokens_{};
    std::atomic<std::uint64_t> context_errors_{0};
    std::uint64_t loop_never_slept_ = 0;

    // Loop side.
    al::Loop* loop_ = nullptr;  // published with the first round number
    pthread_t loop_handle_{};
    std::atomic<pid_t> loop_tid_{0};
    std::vector<al::TaskHandle<std::uint32_t>> event_handles_;
    std::size_t parked_ = 0;
    bool stop_busy_ = false;
    std::uint64_t busy_sink_ = 0;
    std::uint32_t rounds_ = 0;
    std::uint64_t flag_wakes_ = 0;
    std::uint64_t event_wakes_ = 0;
    std::uint64_t observed_items_ = 0;
    std::uint64_t expected_items_ = 0;
    std::uint64_t message_reads_ = 0;
    std::uint64_t shared_reads_ = 0;
    std::uint64_t failures_ = 0;

    // For the watchdog.
    std::atomic<std::uint64_t> progress_{0};
    std::atomic<std::uint32_t> round_{0};
    std::atomic<Step> step_{Step::starting};
};

extern "C" void on_matrix_signal(int) {
    int saved_errno = errno;
    // acquire: pairs with the test's release, so the rig is fully built.
    if (Rig* rig = signalled_rig.load(std::memory_order_acquire)) rig->run_signalled_round();
    errno = saved_errno;
}

class ContextMatrix : public testing::TestWithParam<Cell> {};

}  // namespace

TEST_P(ContextMatrix, EverySignalIsObserved) {
    const Cell& cell = GetParam();
    auto seed = static_cast<std::uint64_t>(cell.source) * 100 + static_cast<std::uint64_t>(cell.primitive) * 10 +
                static_cast<std::uint64_t>(cell.state);
    Rig rig(cell, seed);
    rig.run();
}

INSTANTIATE_TEST_SUITE_P(Cells, ContextMatrix, testing::ValuesIn(every_cell()),
                         [](const testing::TestParamInfo<Cell>& param_info) { return name_of(param_info.param); });
