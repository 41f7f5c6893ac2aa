// SPDX-License-Identifier: BSL-1.0
// Fault injection: each fault has a defined outcome, and no
// item is lost to it. A Context job that throws; a Context destroyed while its
// worker is blocked; the loop stopped with items in flight in every primitive
// (each item delivered, or handed back with an error); a 100 kHz signal storm
// into a ThreadSafeQueue (each item delivered or counted as refused, none
// corrupted); the port's wake-up failing (reported by run(), not swallowed).
//
// What other files already cover, and is not repeated here:
//   context_test: RethrowsTheJobsExceptionInTheAwaitingTask (one worker),
//     LoopShutdownCancelsATaskWaitingForARunningJob, DestroyingAContextRuns-
//     EveryQueuedJobAndDeliversEachResult (destroyed by the loop's own thread),
//     ShutdownFailPendingFailsEachPendingJobInItsTask;
//   misuse_test: TheLoopEndingWithTasksWaitingOnTheBridgeCancelsThemAndLosesNothing;
//   schedule_test / call_soon_threadsafe_test: a call accepted just before the
//     loop ends, or after it stopped, still runs;
//   thread_safe_queue_test / queue_stress_test: close() racing both ends.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/gate.hpp"
#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

namespace {

// --------------------------------------------------------------- test rig

/// Counts its live instances: a leak or a double destruction shows in the count.
struct Tracked {
    static inline std::atomic<int> alive{0};
    int value;
    // Relaxed: a tally read after the threads that change it are joined or
    // have handed over through a queue or a mutex.
    explicit Tracked(int v) : value(v) { alive.fetch_add(1, std::memory_order_relaxed); }
    Tracked(const Tracked& other) : value(other.value) { alive.fetch_add(1, std::memory_order_relaxed); }
    Tracked(Tracked&& other) noexcept : value(other.value) { alive.fetch_add(1, std::memory_order_relaxed); }
    Tracked& operator=(const Tracked&) = delete;
    ~Tracked() { alive.fetch_sub(1, std::memory_order_relaxed); }
};

/// A job's failure carrying a payload, so a leaked exception shows in Tracked::alive.
struct Fault : std::runtime_error {
    explicit Fault(int k) : std::runtime_error("fault " + std::to_string(k)), payload(k) {}
    Tracked payload;
};

using Item = std::unique_ptr<std::uint64_t>;
Item make_item(std::uint64_t v) { return std::make_unique<std::uint64_t>(v); }

using test_support::Gate;

/// Polls `done` between loop iterations (bounded by hang_limit).
template <class Pred>
al::Task<bool> eventually(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) co_await al::sleep_ms(1);
    co_return done();
}

/// The same for a thread that runs no loop.
template <class Pred>
bool eventually_blocking(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + hang_limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return done();
}

using test_support::settle;

/// Each item value once, and nothing else: the union of what was delivered
/// and what was handed back is exactly 0 .. attempted-1.
void expect_each_value_once(std::vector<std::uint64_t> seen, std::uint64_t attempted) {
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), attempted) << "an item was lost or duplicated";
    for (std::uint64_t i = 0; i < attempted; ++i) ASSERT_EQ(seen[i], i) << "an item was lost or duplicated";
}

}  // namespace

// ===================================================== 1. a Context job that throws

TEST(FaultContextJobThrows, EachFailureReachesOnlyItsOwnTaskAndEveryWorkerStaysUsable) {
    constexpr int jobs = 24;
    {
        al::Context ctx(jobs, 2);
        std::vector<std::string> outcome(jobs);
        al::run([&]() -> al::Task<void> {
            std::vector<al::TaskHandle<void>> tasks;
            for (int j = 0; j < jobs; ++j) {
                tasks.push_back(al::create_task([](al::Context& c, std::string& out, int k) -> al::Task<void> {
                    try {
                        int v = co_await c.assign([k] {
                            if (k % 2 == 0) throw Fault(k);
                            return k;
                        });
                        out = "value " + std::to_string(v);
                    } catch (const Fault& f) {
                        out = std::string(f.what()) + " payload " + std::to_string(f.payload.value);
                    }
                }(ctx, outcome[static_cast<std::size_t>(j)], j)));
            }
            for (auto& t : tasks) co_await t;
            // Both workers survived their jobs' exceptions: two jobs that can
            // finish only together (each waits, bounded, for the other) both see
            // the other arrive, which needs two live workers at once.
            std::mutex m;
            std::condition_variable cv;
            int met = 0;
            auto meet = [&] {
                std::unique_lock lock(m);
                ++met;
                cv.notify_all();
                return cv.wait_for(lock, hang_limit, [&] { return met == 2; });
            };
            auto a = al::create_task([](al::Context& c, decltype(meet)& f) -> al::Task<bool> {
                co_return co_await c.assign(std::ref(f));
            }(ctx, meet));
            auto b = al::create_task([](al::Context& c, decltype(meet)& f) -> al::Task<bool> {
                co_return co_await c.assign(std::ref(f));
            }(ctx, meet));
            EXPECT_TRUE(co_await a) << "a worker did not survive a job's exception";
            EXPECT_TRUE(co_await b) << "a worker did not survive a job's exception";
        }());
        for (int k = 0; k < jobs; ++k) {
            std::string expected = k % 2 == 0 ? "fault " + std::to_string(k) + " payload " + std::to_string(k)
                                              : "value " + std::to_string(k);
            EXPECT_EQ(outcome[static_cast<std::size_t>(k)], expected) << "job " << k;
        }
    }
    EXPECT_EQ(Tracked::alive.load(), 0) << "a job's exception leaked";
}

TEST(FaultContextJobThrows, AfterItsTaskWasCancelledTheErrorIsDroppedOnTheWorkerAndTheWorkerGoesOn) {
    al::Context ctx(4, 1);
    Gate gate;
    al::run([&]() -> al::Task<void> {
        auto doomed = al::create_task([](al::Context& c, Gate& g) -> al::Task<void> {
            co_await c.assign([&g] {
                g.pass();
                throw Fault(1);
            });
        }(ctx, gate));
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1; }));
        doomed.cancel();
        EXPECT_THROW(co_await doomed, al::CancelledError);
        gate.open();
        // One worker: this job runs after the abandoned one has ended and its
        // error (and the Fault's payload) has been destroyed on the worker.
        EXPECT_EQ(co_await ctx.assign([] { return Tracked::alive.load(); }), 0) << "the dropped error leaked";
        EXPECT_EQ(co_await ctx.assign([] { return 7; }), 7);
    }());
}

// ============================================ 2. a worker blocked when the Context goes

TEST(FaultContextDestroyed, FromAnotherThreadWhileItsWorkerIsBlockedItWaitsForTheJobAndDeliversEveryResult) {
    constexpr int jobs = 5;
    Gate gate;
    auto ctx = std::make_unique<al::Context>(2, 1);
    std::vector<int> results;
    std::atomic<bool> assigned{false};
    // The loop runs on its own thread; this thread destroys the Context.
    std::thread loop_thread([&] {
        al::run([&]() -> al::Task<void> {
            std::vector<al::TaskHandle<int>> tasks;
            for (int j = 0; j < jobs; ++j) {
                tasks.push_back(al::create_task([](al::Context& c, Gate& g, int k) -> al::Task<int> {
                    co_return co_await c.assign(
                        [&g, k](const Tracked& t) {
                            if (k == 0) g.pass();
                            return t.value + 100;
                        },
                        Tracked(k));
                }(*ctx, gate, j)));
            }
            // Job 0 holds the worker, 1 and 2 are queued, 3 and 4 paused.
            EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx->waiting() == 2; }));
            assigned.store(true);
            for (auto& t : tasks) results.push_back(co_await al::wait_for(t, hang_limit));
        }());
    });
    ASSERT_TRUE(eventually_blocking([&] { return assigned.load(); }));
    std::atomic<bool> destroyed{false};
    bool destroyed_before_the_job_returned = true;
    std::thread opener([&] {
        // The pause only makes it likely that ~Context is already waiting; the
        // outcome must be the same if it is not.
        std::this_thread::sleep_for(20ms);
        destroyed_before_the_job_returned = destroyed.load();
        gate.open();
    });
    ctx.reset();  // blocks until the blocked job and every pending one have run
    destroyed.store(true);
    opener.join();
    loop_thread.join();
    EXPECT_FALSE(destroyed_before_the_job_returned) << "~Context returned while its worker was still in a job";
    EXPECT_EQ(results, (std::vector<int>{100, 101, 102, 103, 104}));
    EXPECT_EQ(Tracked::alive.load(), 0) << "a job's arguments leaked";
}

TEST(FaultContextDestroyed, AfterItsLoopEndedWhileItsWorkerIsBlockedNoWithdrawnJobRunsAndNothingLeaks) {
    constexpr int jobs = 5;
    Gate gate;
    auto ctx = std::make_unique<al::Context>(2, 1);
    std::atomic<int> ran{0};
    std::vector<std::string> outcome(jobs);
    al::run([&]() -> al::Task<void> {
        for (int j = 0; j < jobs; ++j) {
            al::create_task(
                [](al::Context& c, Gate& g, std::atomic<int>& r, std::string& out, int k) -> al::Task<void> {
                    try {
                        co_await c.assign(
                            [&g, &r, k](const Tracked&) {
                                if (k == 0) g.pass();
                                r.fetch_add(1);
                                return Tracked(k);  // a result nobody will take
                            },
                            Tracked(k));
                        out = "returned";
                    } catch (const al::CancelledError&) {
                        out = "cancelled";
                        throw;
                    }
                }(*ctx, gate, ran, outcome[static_cast<std::size_t>(j)], j));
        }
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx->waiting() == 2; }));
        // main ends: the loop cancels the five waiting tasks and stops.
    }());
    EXPECT_EQ(outcome, std::vector<std::string>(jobs, "cancelled"));
    std::thread opener([&] {
        std::this_thread::sleep_for(20ms);
        gate.open();
    });
    ctx.reset();  // waits for the blocked job; its result is dropped on the worker
    opener.join();
    EXPECT_EQ(ran.load(), 1) << "a job withdrawn by its cancelled task ran anyway";
    EXPECT_EQ(Tracked::alive.load(), 0) << "a withdrawn job's arguments or the dropped result leaked";
}

// ====================================== 3. the loop stopped with items in flight

// ThreadSafeQueue, thread -> loop. The loop's consumer stops; the producer is
// blocked in put_sync on the full queue. This thread takes over the consumer
// end, then closes: the producer's put fails with QueueClosed and its item is
// handed back; everything queued before close() is still delivered.
TEST(FaultLoopStopped, ThreadSafeQueueFromAThreadDeliversOrHandsBackEveryItem) {
    al::ThreadSafeQueue<Item> q(4);
    constexpr std::uint64_t limit = 100'000;
    std::uint64_t attempted = 0;
    std::vector<std::uint64_t> handed_back;
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < limit; ++i) {
            Item item = make_item(i);
            ++attempted;
            try {
                q.put_sync(std::move(item), true);
            } catch (const al::QueueClosed&) {
                // The failed put leaves the item with us: hand it back.
                if (item) handed_back.push_back(*item);
                return;
            }
        }
    });
    std::vector<std::uint64_t> delivered;
    al::run([&]() -> al::Task<void> {
        for (int i = 0; i < 100; ++i) delivered.push_back(*co_await al::wait_for(q.get(), hang_limit));
        // main ends with items queued and the producer blocked on the full queue.
    }());
    for (int i = 0; i < 2; ++i) delivered.push_back(*q.get_sync(true));
    q.close();
    try {
        for (;;) delivered.push_back(*q.get_sync(true));
    } catch (const al::QueueClosed&) {
    }
    producer.join();
    ASSERT_LT(attempted, limit) << "the producer was never blocked";
    EXPECT_EQ(handed_back.size(), 1u) << "the put that failed with QueueClosed lost its item";
    for (std::size_t i = 0; i < delivered.size(); ++i) ASSERT_EQ(delivered[i], i) << "out of order";
    std::vector<std::uint64_t> seen = delivered;
    seen.insert(seen.end(), handed_back.begin(), handed_back.end());
    expect_each_value_once(seen, attempted);
}

// ThreadSafeQueue, loop -> thread, the loop stopping at a random point while
// the consumer thread takes items at its own pace: the producer task's
// put(std::ref(item)) either enqueued the item or, cancelled by the loop's
// end, still holds it; the thread receives every enqueued item after close().
TEST(FaultLoopStopped, ThreadSafeQueueToAThreadDeliversOrHandsBackEveryItem) {
    std::mt19937 rng(6);
    const int rounds = static_cast<int>(bridge_test::scaled(40, 10));
    for (int round = 0; round < rounds; ++round) {
        al::ThreadSafeQueue<Item> q(1 + round % 4);
        std::vector<std::uint64_t> delivered;
        std::thread consumer([&] {
            std::mt19937 pause(static_cast<unsigned>(round));
            try {
                for (;;) {
                    delivered.push_back(*q.get_sync(true));
                    if (pause() % 8 == 0) std::this_thread::yield();
                }
            } catch (const al::QueueClosed&) {
            }
        });
        std::uint64_t attempted = 0;
        std::vector<std::uint64_t> handed_back;
        const int stop_after = static_cast<int>(rng() % 200);
        al::run([&]() -> al::Task<void> {
            al::create_task([](al::ThreadSafeQueue<Item>& queue, std::uint64_t& n,
                               std::vector<std::uint64_t>& back) -> al::Task<void> {
                for (;; ++n) {
                    Item item = make_item(n);
                    try {
                        co_await queue.put(std::ref(item));
                    } catch (const al::CancelledError&) {
                        EXPECT_NE(item, nullptr) << "a cancelled put lost its item";
                        if (item) back.push_back(*item);
                        ++n;
                        throw;
                    }
                    EXPECT_EQ(item, nullptr) << "an enqueued item was not moved in";
                }
            }(q, attempted, handed_back));
            for (int i = 0; i < stop_after; ++i) co_await al::sleep(0);
        }());
        q.close();
        consumer.join();
        EXPECT_LE(handed_back.size(), 1u);
        for (std::size_t i = 0; i < delivered.size(); ++i) ASSERT_EQ(delivered[i], i) << "out of order";
        std::vector<std::uint64_t> seen = delivered;
        seen.insert(seen.end(), handed_back.begin(), handed_back.end());
        expect_each_value_once(seen, attempted);
    }
}

// Queue (loop only): the loop stops with items queued and a putter waiting.
// The cancelled consumer's clean-up takes what is left; the cancelled
// putter's put(std::ref(item)) hands its item back.
TEST(FaultLoopStopped, QueueDeliversOrHandsBackEveryItem) {
    std::mt19937 rng(8);
    for (int round = 0; round < 20; ++round) {
        std::uint64_t attempted = 0;
        std::vector<std::uint64_t> delivered;
        std::vector<std::uint64_t> handed_back;
        const int stop_after = static_cast<int>(rng() % 50);
        al::run([&]() -> al::Task<void> {
            auto q = std::make_shared<al::Queue<Item>>(2);
            al::create_task([](std::shared_ptr<al::Queue<Item>> queue, std::uint64_t& n,
                               std::vector<std::uint64_t>& back) -> al::Task<void> {
                for (;; ++n) {
                    Item item = make_item(n);
                    try {
                        co_await queue->put(std::ref(item));
                    } catch (const al::CancelledError&) {
                        EXPECT_NE(item, nullptr) << "a cancelled put lost its item";
                        if (item) back.push_back(*item);
                        ++n;
                        throw;
                    }
                }
            }(q, attempted, handed_back));
            al::create_task([](std::shared_ptr<al::Queue<Item>> queue, std::vector<std::uint64_t>& out,
                               unsigned seed) -> al::Task<void> {
                std::mt19937 pace(seed);
                try {
                    for (;;) {
                        out.push_back(*co_await queue->get());
                        if (pace() % 2 == 0) co_await al::sleep(0);
                    }
                } catch (const al::CancelledError&) {
                    while (!queue->empty()) out.push_back(*queue->get_nowait());  // what is left is taken
                    throw;
                }
            }(q, delivered, static_cast<unsigned>(round)));
            for (int i = 0; i < stop_after; ++i) co_await al::sleep(0);
        }());
        std::vector<std::uint64_t> seen = delivered;
        seen.insert(seen.end(), handed_back.begin(), handed_back.end());
        expect_each_value_once(seen, attempted);
    }
}

// ThreadSafeFlag, ThreadSafeEvent and Message set by another thread after
// their waiters were cancelled by the loop's end and the loop stopped: the set
// stays visible, and the primitives, which outlive the loop here, do not call
// into it when they are destroyed. (ThreadSafeEvent and Message used to keep
// their "a task waits" bit after a cancelled waiter, so this set() posted a
// wake-up that ~Loop left linked, and their destructors drained it through the
// dead loop: a heap-use-after-free under AddressSanitizer. ~Loop now takes such
// wake-ups, which a set() racing the loop's end can still post, and the last
// cancelled waiter withdraws the bit.)
TEST(FaultLoopStopped, ASetAfterTheLoopStoppedStaysVisibleAndTheLoopLeavesNoWakeUpBehind) {
    al::ThreadSafeFlag flag;
    al::ThreadSafeEvent event;
    al::Message<int> message;
    std::vector<std::string> log;
    auto loop = std::make_unique<al::Loop>();
    loop->run_until_complete([&]() -> al::Task<void> {
        auto wait = [](std::vector<std::string>& l, std::string name, auto aw) -> al::Task<void> {
            try {
                co_await std::move(aw);
                l.push_back(name + " woken");
            } catch (const al::CancelledError&) {
                l.push_back(name + " cancelled");
                throw;
            }
        };
        al::create_task(wait(log, "flag", flag.wait()));
        al::create_task(wait(log, "event", event.wait()));
        al::create_task(wait(log, "message", message.wait()));
        co_await settle(5);
    }());
    std::sort(log.begin(), log.end());
    EXPECT_EQ(log, (std::vector<std::string>{"event cancelled", "flag cancelled", "message cancelled"}));
    std::thread([&] {
        flag.set();
        event.set();
        message.set(42);
    }).join();
    loop.reset();
    EXPECT_TRUE(flag.is_set()) << "a set() after the loop stopped was lost";
    EXPECT_TRUE(event.is_set()) << "a set() after the loop stopped was lost";
    EXPECT_TRUE(message.is_set()) << "a set() after the loop stopped was lost";
    // The primitives are destroyed now, after their loop.
}

// A set() from another context after the loop is gone: a signal handler or a
// thread setting a ThreadSafeEvent or Message whose waiters were cancelled
// when their loop ended. Nothing waits, so nothing may be posted to the dead
// loop (a heap-use-after-free under AddressSanitizer if it were).
TEST(FaultLoopStopped, ASetAfterTheLoopIsGoneTouchesNoDeadLoop) {
    al::ThreadSafeFlag flag;
    al::ThreadSafeEvent event;
    al::Message<int> message;
    auto loop = std::make_unique<al::Loop>();
    loop->run_until_complete([&]() -> al::Task<void> {
        al::create_task([](al::ThreadSafeFlag& f) -> al::Task<void> { co_await f.wait(); }(flag));
        al::create_task([](al::ThreadSafeEvent& e) -> al::Task<void> { co_await e.wait(); }(event));
        al::create_task([](al::Message<int>& m) -> al::Task<void> { co_await m.wait(); }(message));
        co_await settle(5);
    }());
    loop.reset();
    std::thread([&] {
        flag.set();
        event.set();
        message.set(7);
    }).join();
    EXPECT_TRUE(flag.is_set());
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(message.is_set());
}

// The same race in flight: a thread sets while the loop's main task ends at a
// random point. Each set either woke its waiter or is still visible.
TEST(FaultLoopStopped, ASetRacingTheLoopsEndWakesTheWaiterOrStaysSet) {
    std::mt19937 rng(10);
    const int rounds = static_cast<int>(bridge_test::scaled(200, 20));
    for (int round = 0; round < rounds; ++round) {
        al::ThreadSafeFlag flag;
        al::ThreadSafeEvent event;
        bool flag_woke = false;
        bool event_woke = false;
        std::atomic<bool> waiting{false};
        const int stop_after = static_cast<int>(rng() % 8);
        std::thread setter;
        {
            al::Loop loop;
            loop.run_until_complete([&]() -> al::Task<void> {
                al::create_task([](al::ThreadSafeFlag& f, bool& woke) -> al::Task<void> {
                    co_await f.wait();
                    woke = true;
                }(flag, flag_woke));
                al::create_task([](al::ThreadSafeEvent& e, bool& woke) -> al::Task<void> {
                    co_await e.wait();
                    woke = true;
                }(event, event_woke));
                co_await al::sleep(0);
                waiting.store(true);
                setter = std::thread([&] {
                    flag.set();
                    event.set();
                });
                for (int i = 0; i < stop_after; ++i) co_await al::sleep(0);
            }());
            setter.join();  // the setter finishes before the loop is destroyed
        }
        EXPECT_TRUE(flag_woke || flag.is_set()) << "round " << round << ": the flag's set() was lost";
        EXPECT_TRUE(event_woke || event.is_set()) << "round " << round << ": the event's set() was lost";
        EXPECT_TRUE(waiting.load());
    }
}

// schedule() and call_soon_threadsafe() from two threads while the loop's
// main task ends and after the loop stopped: every accepted call runs exactly
// once (in the loop or in ~Loop); schedule() refuses calls it cannot queue by
// returning false, so the caller knows.
TEST(FaultLoopStopped, EveryScheduledOrPostedCallIsRunOnceOrRefused) {
    constexpr int threads = 2;
    const std::uint64_t per_thread = bridge_test::scaled(20'000);
    auto loop = std::make_unique<al::Loop>();
    std::uint64_t schedule_runs = 0;  // loop thread (this one) only
    std::uint64_t call_runs = 0;
    std::atomic<bool> stopped{false};
    std::vector<std::uint64_t> accepted(threads), refused(threads), posted(threads), after_stop(threads);
    auto count_run = [](void* counter) { ++*static_cast<std::uint64_t*>(counter); };
    std::vector<std::thread> posters;
    for (int p = 0; p < threads; ++p) {
        posters.emplace_back([&, p] {
            for (std::uint64_t i = 0; i < per_thread; ++i) {
                (loop->schedule(count_run, &schedule_runs) ? accepted : refused)[p]++;
                loop->call_soon_threadsafe([&call_runs] { ++call_runs; });
                ++posted[p];
                // Keep going for a while after the loop stopped, then stop.
                if (stopped.load() && ++after_stop[p] == 200) break;
            }
        });
    }
    loop->run_until_complete([&]() -> al::Task<void> {
        EXPECT_TRUE(co_await eventually([&] { return schedule_runs > 0 && call_runs > 0; }));
    }());
    stopped.store(true);
    for (auto& t : posters) t.join();
    loop.reset();
    std::uint64_t total_accepted = 0;
    std::uint64_t total_posted = 0;
    for (int p = 0; p < threads; ++p) {
        total_accepted += accepted[p];
        total_posted += posted[p];
        EXPECT_EQ(accepted[p] + refused[p], posted[p]);
    }
    EXPECT_EQ(schedule_runs, total_accepted) << "an accepted schedule() call was lost or run twice";
    EXPECT_EQ(call_runs, total_posted) << "a call_soon_threadsafe() call was lost or run twice";
}

// Context jobs in flight when the loop stops, at a random point: each task
// either got its job's result, or was cancelled and its job was withdrawn
// (never ran) or abandoned (ran, result dropped on the worker).
TEST(FaultLoopStopped, ContextJobsAreDeliveredWithdrawnOrAbandonedNeverLost) {
    std::mt19937 rng(12);
    const int rounds = static_cast<int>(bridge_test::scaled(100, 10));
    al::Context ctx(2, 2);
    for (int round = 0; round < rounds; ++round) {
        constexpr int jobs = 8;
        std::atomic<int> ran{0};
        int assigned = 0;
        int delivered = 0;
        int cancelled = 0;
        const int stop_after = static_cast<int>(rng() % 20);
        al::run([&]() -> al::Task<void> {
            for (int j = 0; j < jobs; ++j) {
                al::create_task(
                    [](al::Context& c, std::atomic<int>& r, int& a, int& d, int& x, int k) -> al::Task<void> {
                        ++a;  // a task cancelled before it started assigns nothing
                        try {
                            int v = co_await c.assign(
                                [&r, k](const Tracked& t) {
                                    r.fetch_add(1);
                                    return t.value + k;
                                },
                                Tracked(k));
                            EXPECT_EQ(v, 2 * k);
                            ++d;
                        } catch (const al::CancelledError&) {
                            ++x;
                            throw;
                        }
                    }(ctx, ran, assigned, delivered, cancelled, j));
            }
            for (int i = 0; i < stop_after; ++i) co_await al::sleep(0);
        }());
        EXPECT_EQ(delivered + cancelled, assigned) << "round " << round;
        // Wait for abandoned jobs to end (bounded): ran counts every job that ran.
        EXPECT_TRUE(eventually_blocking([&] { return ctx.qsize() == 0; }));
        EXPECT_GE(ran.load(), delivered) << "round " << round << ": a result arrived from a job that never ran";
    }
}

// ============================================= 4. a 100 kHz signal storm

namespace {

struct Sample {
    std::uint64_t sequence;
    std::uint64_t payload[6];
    std::uint64_t checksum;
};

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

std::uint64_t checksum_of(const Sample& s) {
    std::uint64_t sum = mix(s.sequence);
    for (std::uint64_t w : s.payload) sum = mix(sum ^ w);
    return sum;
}

// Written by the handler on the signalled thread, read after that thread is
// joined. Lock-free atomics are async-signal-safe. Relaxed throughout: each
// counter is a tally; the join orders the final values for the reader.
al::ThreadSafeQueue<Sample>* storm_queue = nullptr;
std::atomic<std::uint64_t> storm_handled{0};
std::atomic<std::uint64_t> storm_refused{0};

void on_storm_signal(int) {
    std::uint64_t n = storm_handled.load(std::memory_order_relaxed);
    Sample s{};
    s.sequence = n;
    for (std::size_t i = 0; i < 6; ++i) s.payload[i] = mix(n * 7 + i);
    s.checksum = checksum_of(s);
    if (!storm_queue->try_put(s))
        storm_refused.store(storm_refused.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    storm_handled.store(n + 1, std::memory_order_relaxed);
}

}  // namespace

// A thread sends a real-time signal to a "device" thread at up to 100 kHz
// (paced by the clock, never faster); the handler, on that thread, try_puts a
// checksummed sample. A task drains the queue. Real-time signals queue rather
// than coalesce (a send the kernel cannot queue fails with EAGAIN and is not
// counted); what the test counts is handler runs: every run's sample is
// delivered once, in order, intact, or was refused (queue full) and counted.
TEST(FaultSignalStorm, EverySampleIsDeliveredIntactOrCountedAsRefused) {
    al::ThreadSafeQueue<Sample> queue(64);
    storm_queue = &queue;
    storm_handled = 0;
    storm_refused = 0;
    struct sigaction action {};
    action.sa_handler = &on_storm_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    const int storm_signal = SIGRTMIN + 6;
    ASSERT_EQ(sigaction(storm_signal, &action, &previous), 0);

    // The device thread only sleeps: the handler runs there (and, under
    // ThreadSanitizer, a signal is delivered at an intercepted call such as nanosleep).
    std::atomic<bool> device_stop{false};
    std::atomic<bool> device_ready{false};
    std::atomic<std::uint64_t> queued_in_all{0};
    std::thread device([&] {
        device_ready.store(true);
        auto nap = [] {
            timespec ts{0, 200'000};
            nanosleep(&ts, nullptr);
        };
        while (!device_stop.load()) nap();
        // Let the signals still pending run their handler before the thread
        // ends (bounded: ThreadSanitizer may merge pending signals of one number).
        auto until = std::chrono::steady_clock::now() + 1s;
        while (storm_handled.load() < queued_in_all.load() && std::chrono::steady_clock::now() < until) nap();
    });
    while (!device_ready.load()) std::this_thread::yield();
    const pthread_t device_handle = device.native_handle();

    const std::uint64_t signals = bridge_test::scaled(100'000, 2'000);  // one second at 100 kHz
    std::uint64_t sent = 0;
    std::uint64_t queued = 0;
    std::chrono::steady_clock::duration storm_time{};
    std::thread signaller([&] {
        auto start = std::chrono::steady_clock::now();
        auto next = start;
        const auto end_by = start + 2 * bridge_test::stress_budget;  // a slow machine sends fewer
        for (; sent < signals && std::chrono::steady_clock::now() < end_by; ++sent) {
            next += 10us;  // 100 kHz at most
            while (std::chrono::steady_clock::now() < next) {
            }
            if (pthread_kill(device_handle, storm_signal) == 0) ++queued;
        }
        storm_time = std::chrono::steady_clock::now() - start;
        queued_in_all.store(queued);
        device_stop.store(true);
        device.join();  // no handler runs after this: the stream is complete
        queue.close();
    });

    std::uint64_t delivered = 0;
    std::uint64_t corrupted = 0;
    std::uint64_t out_of_order = 0;
    al::run([&]() -> al::Task<void> {
        std::uint64_t next_at_least = 0;
        while (auto s = co_await al::wait_for(queue.next(), hang_limit)) {
            if (checksum_of(*s) != s->checksum) ++corrupted;
            if (s->sequence < next_at_least) ++out_of_order;
            next_at_least = s->sequence + 1;
            ++delivered;
        }
    }());
    signaller.join();
    sigaction(storm_signal, &previous, nullptr);
    storm_queue = nullptr;

    const std::uint64_t handled = storm_handled.load();
    const std::uint64_t refused = storm_refused.load();
    double seconds = std::chrono::duration<double>(storm_time).count();
    std::printf(
        "signal storm: %llu signals sent in %.3f s (%.0f kHz), %llu queued by the kernel, %llu handler "
        "runs, %llu delivered, %llu refused (queue full)\n",
        static_cast<unsigned long long>(sent), seconds, seconds > 0 ? static_cast<double>(sent) / seconds / 1e3 : 0.0,
        static_cast<unsigned long long>(queued), static_cast<unsigned long long>(handled),
        static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(refused));
    EXPECT_GT(handled, 0u);
    EXPECT_LE(handled, queued) << "more handler runs than signals";
    EXPECT_EQ(corrupted, 0u) << "a sample arrived torn";
    EXPECT_EQ(out_of_order, 0u) << "a sample arrived twice or out of order";
    EXPECT_EQ(delivered + refused, handled) << "a sample was neither delivered nor counted as refused";
}

// ============================================= 5. the port's wake-up failing

// The eventfd write of a wake-up fails (injected): the next time the loop
// would sleep it throws std::system_error with the error, and run() passes it
// on to the caller instead of swallowing it.
TEST(FaultWakeFailure, AFailedWakeUpIsReportedByRunNotSwallowed) {
    al::Loop loop;
    al::detail::LoopAccess::idle(loop).inject_wake_failure(EIO);
    al::detail::LoopAccess::idle(loop).wake();  // fails as if the kernel had refused the write
    try {
        loop.run_until_complete([]() -> al::Task<void> {
            // The loop must sleep, and the failure surfaces there. Not a
            // short sleep: one due before the loop first went idle (a slow
            // or loaded machine, valgrind) would let the task end unreported.
            co_await al::sleep(hang_limit);
        }());
        ADD_FAILURE() << "run() returned normally after a failed wake-up";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EIO) << e.what();
        EXPECT_NE(std::string(e.what()).find("waking the loop failed"), std::string::npos) << e.what();
    }
}

// The same reached through a primitive: a thread's ThreadSafeFlag::set()
// finds the loop asleep and its wake-up fails. The loop, woken later by a
// timer, must report the failure from run() (where a real failure would have
// cost a wake-up) rather than carry on as if nothing had happened.
TEST(FaultWakeFailure, AThreadsSetWhoseWakeUpFailsIsReportedByRun) {
    al::ThreadSafeFlag flag;  // outlives the loop, whose destructor ends the task waiting on it
    al::Loop loop(al::LoopOptions{.spin_before_sleep = al::Clock::duration::zero()});
    al::detail::LoopAccess::idle(loop).inject_wake_failure(
        EBADF);  // consumed by the first wake-up that writes the eventfd
    std::atomic<pid_t> loop_tid{0};
    std::atomic<bool> stop{false};
    std::atomic<int> sets{0};
    // Sets the flag whenever the loop thread is asleep (so the set must wake
    // it), until the loop has reported the failure.
    std::thread setter([&] {
        while (loop_tid.load() == 0) std::this_thread::yield();
        const auto give_up = std::chrono::steady_clock::now() + hang_limit;
        while (!stop.load() && std::chrono::steady_clock::now() < give_up) {
            std::string where = bridge_test::kernel_wait_channel(loop_tid.load());
            if (where == "S" || where.find("epoll") != std::string::npos) {
                flag.set();
                sets.fetch_add(1);
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    std::string reported;
    try {
        loop.run_until_complete([&]() -> al::Task<void> {
            loop_tid.store(bridge_test::thread_id());
            // Woken by the timer if the set's wake-up was lost; bounded.
            for (int i = 0; i < 10'000; ++i) {
                try {
                    co_await al::wait_for(flag.wait(), 20ms);
                } catch (const al::TimeoutError&) {
                }
            }
        }());
        reported = "nothing";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
        reported = "system_error";
    }
    stop.store(true);
    setter.join();
    EXPECT_EQ(reported, "system_error") << "the failed wake-up was swallowed (" << sets.load() << " sets)";
}
