// SPDX-License-Identifier: BSL-1.0
// Context: results, errors, the bounded queue, cancellation, shutdown, pinning,
// several loops, and a stress run that would hang on a lost completion.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"
#include "support/stress.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::stress_scale;

std::size_t scaled(std::size_t n) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * stress_scale()));
}

using test_support::Gate;

/// Polls `done` between loop iterations; the loop keeps running other tasks.
template <class Pred>
al::Task<bool> eventually(Pred done) {
    for (int i = 0; i < 60'000; ++i) {
        if (done()) co_return true;
        co_await al::sleep_ms(1);
    }
    co_return done();
}

/// Blocks the calling thread until `done` (bounded); for checks outside a loop.
template <class Pred>
bool eventually_blocking(Pred done) {
    for (int i = 0; i < 60'000 && !done(); ++i) std::this_thread::sleep_for(1ms);
    return done();
}

/// Counts its live instances, to see where and whether a result is destroyed.
struct Tracked {
    static inline std::atomic<int> alive{0};
    int value;
    explicit Tracked(int v) : value(v) { alive.fetch_add(1); }
    Tracked(Tracked&& o) noexcept : value(o.value) { alive.fetch_add(1); }
    Tracked(const Tracked&) = delete;
    ~Tracked() { alive.fetch_sub(1); }
};

/// Yields a few times so that everything runnable gets a turn.
al::Task<> settle() {
    for (int i = 0; i < 5; ++i) co_await al::sleep(0);
}

}  // namespace

// ------------------------------------------------------------ results

TEST(Context, ReturnsTheResultOfTheFunctionCalledOnAWorkerThread) {
    al::Context ctx(4);
    auto main_task = [&]() -> al::Task<> {
        int sum = co_await ctx.assign([](int a, int b) { return a + b; }, 2, 3);
        EXPECT_EQ(sum, 5);
        std::thread::id worker = co_await ctx.assign([] { return std::this_thread::get_id(); });
        EXPECT_NE(worker, std::this_thread::get_id());
        std::string s = co_await ctx.assign([](std::string a) { return a + "!"; }, std::string("hi"));
        EXPECT_EQ(s, "hi!");
    };
    al::run(main_task());
}

TEST(Context, RethrowsTheJobsExceptionInTheAwaitingTask) {
    al::Context ctx(4);
    auto main_task = [&]() -> al::Task<> {
        try {
            co_await ctx.assign([]() -> int { throw std::runtime_error("disk on fire"); });
            ADD_FAILURE() << "no exception";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "disk on fire");
        }
        try {
            co_await ctx.assign([] { throw 42; });
            ADD_FAILURE() << "no exception";
        } catch (int v) {
            EXPECT_EQ(v, 42);  // not a std::exception: passed through as it is
        }
        // The Context is still usable after a failed job.
        EXPECT_EQ(co_await ctx.assign([] { return 7; }), 7);
    };
    al::run(main_task());
}

TEST(Context, VoidJobsCompleteAfterTheirSideEffect) {
    al::Context ctx(4);
    std::atomic<int> done{0};
    auto main_task = [&]() -> al::Task<> {
        for (int i = 1; i <= 3; ++i) {
            co_await ctx.assign([&done] { done.fetch_add(1); });
            EXPECT_EQ(done.load(), i);
        }
    };
    al::run(main_task());
}

TEST(Context, MoveOnlyArgumentsAndResults) {
    al::Context ctx(4);
    auto main_task = [&]() -> al::Task<> {
        auto in = std::make_unique<int>(20);
        std::unique_ptr<int> out =
            co_await ctx.assign([](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); }, std::move(in));
        EXPECT_EQ(out != nullptr ? *out : 0, 21);
        Tracked t = co_await ctx.assign([] { return Tracked(9); });
        EXPECT_EQ(t.value, 9);
    };
    al::run(main_task());
    EXPECT_EQ(Tracked::alive.load(), 0);
}

TEST(Context, ArgumentsAreCopiedUnlessPassedByStdRef) {
    al::Context ctx(4);
    int by_value = 1;
    int by_ref = 1;
    auto main_task = [&]() -> al::Task<> {
        co_await ctx.assign([](int a, int& b) { b = a + 10; }, by_value, std::ref(by_ref));
        // A reference result comes back as a copy: the referent need not outlive the job.
        static const std::string name = "worker";
        std::string copy = co_await ctx.assign([]() -> const std::string& { return name; });
        EXPECT_EQ(copy, "worker");
    };
    al::run(main_task());
    EXPECT_EQ(by_value, 1);
    EXPECT_EQ(by_ref, 11);
}

// ------------------------------------------------------------ misuse

TEST(Context, ZeroQsizeOrThreadsIsAUsageError) {
    try {
        al::Context ctx(0);
        FAIL() << "no exception";
    } catch (const al::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("qsize = 0"), std::string::npos) << e.what();
    }
    EXPECT_THROW(al::Context(1, 0), al::UsageError);
}

TEST(Context, AssignFromAThreadWithoutALoopIsAUsageErrorNamingTheAlternative) {
    al::Context ctx(4);
    try {
        auto a = ctx.assign([] { return 1; });
        FAIL() << "no exception";
    } catch (const al::UsageError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("not running a loop"), std::string::npos) << what;
        EXPECT_NE(what.find("call the function directly"), std::string::npos) << what;
        EXPECT_NE(what.find("call_soon_threadsafe"), std::string::npos) << what;
    }
    // Nor from inside a job: a worker runs no loop.
    auto main_task = [&]() -> al::Task<bool> {
        co_return co_await ctx.assign([&ctx] {
            try {
                auto inner = ctx.assign([] { return 1; });
                return false;
            } catch (const al::UsageError&) {
                return true;
            }
        });
    };
    EXPECT_TRUE(al::run(main_task()));
}

TEST(Context, PinningToACpuThatCannotBeUsedIsAUsageError) {
    try {
        al::Context ctx(1, 1, {1 << 20});
        FAIL() << "no exception";
    } catch (const al::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("CPU 1048576"), std::string::npos) << e.what();
    }
}

// ------------------------------------------------------------ the bounded queue

TEST(Context, AFullQueuePausesTheTaskButNotTheLoopAndKeepsFifoOrder) {
    al::Context ctx(1, 1);  // one running, one queued; the rest pause
    Gate gate;
    std::mutex order_mutex;
    std::vector<int> order;
    auto job = [&](int i) {
        if (i == 0) gate.pass();
        std::lock_guard lock(order_mutex);
        order.push_back(i);
        return i * 10;
    };
    int ticks = 0;
    auto main_task = [&]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks;
        for (int i = 0; i < 5; ++i) {
            tasks.push_back(al::create_task([](al::Context& c, decltype(job)& j, int n) -> al::Task<int> {
                co_return co_await c.assign(j, n);
            }(ctx, job, i)));
        }
        auto ticker = al::create_task([](int& t) -> al::Task<> {
            for (;;) {
                ++t;
                co_await al::sleep(0);
            }
        }(ticks));
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx.waiting() == 3; }));
        EXPECT_EQ(ctx.qsize(), 1u);
        // Three tasks are paused on the full queue; the loop still runs the others.
        int before = ticks;
        co_await settle();
        EXPECT_GT(ticks, before);
        EXPECT_EQ(ctx.waiting(), 3u);
        ticker.cancel();
        gate.open();
        for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await tasks[i], i * 10);
        EXPECT_EQ(ctx.qsize(), 0u);
        EXPECT_EQ(ctx.waiting(), 0u);
    };
    al::run(main_task());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Context, JobsStartInAssignOrder) {
    al::Context ctx(4, 1);
    Gate gate;
    std::mutex order_mutex;
    std::vector<int> order;
    const int n = 40;
    auto main_task = [&]() -> al::Task<> {
        std::vector<al::TaskHandle<>> tasks;
        tasks.push_back(al::create_task(
            [](al::Context& c, Gate& g) -> al::Task<> { co_await c.assign([&g] { g.pass(); }); }(ctx, gate)));
        for (int i = 0; i < n; ++i) {
            tasks.push_back(
                al::create_task([](al::Context& c, std::mutex& m, std::vector<int>& o, int k) -> al::Task<> {
                    co_await c.assign([&m, &o, k] {
                        std::lock_guard lock(m);
                        o.push_back(k);
                    });
                }(ctx, order_mutex, order, i)));
        }
        EXPECT_TRUE(co_await eventually([&] { return ctx.waiting() == static_cast<std::size_t>(n) - 4; }));
        gate.open();
        for (auto& t : tasks) co_await t;
    };
    al::run(main_task());
    std::vector<int> expected(n);
    for (int i = 0; i < n; ++i) expected[i] = i;
    EXPECT_EQ(order, expected);
}

// ------------------------------------------------------------ cancellation

TEST(Context, CancellingBeforeTheJobStartsWithdrawsItAndAdmitsTheNextPausedJob) {
    al::Context ctx(1, 1);
    Gate gate;
    std::atomic<int> ran[4] = {};
    auto main_task = [&]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks;
        for (int i = 0; i < 4; ++i) {
            tasks.push_back(al::create_task([](al::Context& c, Gate& g, std::atomic<int>& r, int k) -> al::Task<int> {
                co_return co_await c.assign([&g, &r, k] {
                    if (k == 0) g.pass();
                    r.fetch_add(1);
                    return k;
                });
            }(ctx, gate, ran[i], i)));
        }
        // 0 runs, 1 is queued, 2 and 3 are paused.
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx.waiting() == 2; }));
        tasks[1].cancel();  // queued: withdrawn, and 2 takes its slot
        co_await settle();
        EXPECT_TRUE(tasks[1].done());
        EXPECT_TRUE(tasks[1].cancelled());
        EXPECT_EQ(ctx.qsize(), 1u);
        EXPECT_EQ(ctx.waiting(), 1u);
        tasks[3].cancel();  // paused: withdrawn
        co_await settle();
        EXPECT_TRUE(tasks[3].cancelled());
        EXPECT_EQ(ctx.waiting(), 0u);
        gate.open();
        EXPECT_EQ(co_await tasks[0], 0);
        EXPECT_EQ(co_await tasks[2], 2);
    };
    al::run(main_task());
    EXPECT_EQ(ran[0].load(), 1);
    EXPECT_EQ(ran[1].load(), 0);
    EXPECT_EQ(ran[2].load(), 1);
    EXPECT_EQ(ran[3].load(), 0);
}

TEST(Context, ACancelRequestedBeforeTheAwaitMeansTheJobIsNeverQueued) {
    al::Context ctx(4);
    std::atomic<int> ran{0};
    al::Event go;
    auto main_task = [&]() -> al::Task<> {
        auto t = al::create_task([](al::Context& c, al::Event& e, std::atomic<int>& r) -> al::Task<> {
            co_await e.wait();
            co_await c.assign([&r] { r.fetch_add(1); });  // the pending cancel fires here
        }(ctx, go, ran));
        co_await al::sleep(0);
        go.set();    // t's wait is satisfied...
        t.cancel();  // ...so the cancel waits for its next suspension point: the assign
        try {
            co_await t;
            ADD_FAILURE() << "not cancelled";
        } catch (const al::CancelledError&) {
        }
        EXPECT_EQ(ctx.qsize(), 0u);
    };
    al::run(main_task());
    EXPECT_EQ(ran.load(), 0);
}

TEST(Context, CancellingWhileTheJobRunsResumesAtOnceAndDropsTheResultOnTheWorker) {
    al::Context ctx(4, 1);
    Gate gate;
    std::atomic<bool> result_seen{false};
    std::thread::id destroyed_on;
    std::mutex destroyed_mutex;
    struct Noisy {
        std::thread::id* where;
        std::mutex* m;
        bool live = true;
        Noisy(std::thread::id* w, std::mutex* mm) : where(w), m(mm) {}
        Noisy(Noisy&& o) noexcept : where(o.where), m(o.m) { o.live = false; }
        ~Noisy() {
            if (!live) return;
            std::lock_guard lock(*m);
            *where = std::this_thread::get_id();
        }
    };
    std::thread::id worker_id;
    auto main_task = [&]() -> al::Task<> {
        auto t = al::create_task([](al::Context& c, Gate& g, std::thread::id& w, std::thread::id* where, std::mutex* m,
                                    std::atomic<bool>& seen) -> al::Task<> {
            Noisy n = co_await c.assign([&g, &w, where, m] {
                w = std::this_thread::get_id();
                g.pass();
                return Noisy(where, m);
            });
            seen = true;
        }(ctx, gate, worker_id, &destroyed_on, &destroyed_mutex, result_seen));
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1; }));
        t.cancel();
        co_await settle();
        // The job is still inside the closed gate, yet the task has ended.
        EXPECT_TRUE(t.done());
        EXPECT_TRUE(t.cancelled());
        gate.open();
    };
    al::run(main_task());
    EXPECT_TRUE(eventually_blocking([&] {
        std::lock_guard lock(destroyed_mutex);
        return destroyed_on != std::thread::id();
    }));
    EXPECT_FALSE(result_seen.load());
    std::lock_guard lock(destroyed_mutex);
    EXPECT_EQ(destroyed_on, worker_id);
}

// Run under ASan: the cancelled task's frame, its loop and the Assignment are
// all gone while the job still runs; the worker then finishes it and must
// touch none of them.
TEST(Context, ACancelledTaskAndItsLoopMayBeGoneBeforeTheJobEnds) {
    al::Context ctx(4, 1);
    Gate gate;
    std::atomic<bool> finished{false};
    {
        auto main_task = [&]() -> al::Task<> {
            auto t = al::create_task([](al::Context& c, Gate& g, std::atomic<bool>& f) -> al::Task<std::size_t> {
                std::vector<int> frame_local(1000, 7);
                auto v = co_await c.assign([&g, &f] {
                    g.pass();
                    std::vector<int> big(100'000, 1);
                    f = true;
                    return big;
                });
                co_return v.size() + frame_local.size();
            }(ctx, gate, finished));
            EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1; }));
            t.cancel();
            try {
                co_await t;
                ADD_FAILURE() << "not cancelled";
            } catch (const al::CancelledError&) {
            }
        };
        al::run(main_task());  // the loop and every frame are destroyed here
    }
    EXPECT_FALSE(finished.load());
    gate.open();
    EXPECT_TRUE(eventually_blocking([&] { return finished.load(); }));
    // ~Context joins the worker after it dropped the result.
}

TEST(Context, LoopShutdownCancelsATaskWaitingForARunningJob) {
    al::Context ctx(4, 1);
    Gate gate;
    std::atomic<bool> finished{false};
    bool task_saw_cancel = false;
    auto main_task = [&]() -> al::Task<> {
        // Never awaited: run() cancels it when main returns.
        al::create_task([](al::Context& c, Gate& g, std::atomic<bool>& f, bool& saw) -> al::Task<> {
            try {
                co_await c.assign([&g, &f] {
                    g.pass();
                    f = true;
                });
            } catch (const al::CancelledError&) {
                saw = true;
                throw;
            }
        }(ctx, gate, finished, task_saw_cancel));
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1; }));
    };
    al::run(main_task());  // returns while the job is still held at the gate
    EXPECT_TRUE(task_saw_cancel);
    EXPECT_FALSE(finished.load());
    gate.open();
}

TEST(Context, ACancelArrivingAfterTheJobFinishedStillDeliversTheResult) {
    al::Context ctx(4, 1);  // one worker: job 2 starting proves job 1's completion was posted
    std::atomic<bool> second_started{false};
    int got = 0;
    bool ran_past_next_suspension = false;
    auto main_task = [&]() -> al::Task<> {
        auto first = al::create_task([](al::Context& c, int& g, bool& past) -> al::Task<> {
            g = co_await c.assign([] { return 7; });
            co_await al::sleep(0);  // the cancel fires here
            past = true;
        }(ctx, got, ran_past_next_suspension));
        auto second = al::create_task([](al::Context& c, std::atomic<bool>& s) -> al::Task<> {
            co_await c.assign([&s] { s = true; });
        }(ctx, second_started));
        co_await al::sleep(0);  // both tasks have assigned
        // Block the loop on purpose until the completion of job 1 is posted
        // but cannot have been run.
        EXPECT_TRUE(eventually_blocking([&] { return second_started.load(); }));
        first.cancel();
        try {
            co_await first;
        } catch (const al::CancelledError&) {
        }
        co_await second;
    };
    al::run(main_task());
    EXPECT_EQ(got, 7);
    EXPECT_FALSE(ran_past_next_suspension);
}

TEST(Context, WaitForTimesOutARunningJob) {
    al::Context ctx(4, 1);
    Gate gate;
    auto main_task = [&]() -> al::Task<> {
        auto held_at_gate = [&gate] {
            gate.pass();
            return 1;
        };
        EXPECT_THROW(co_await al::wait_for(ctx.assign(held_at_gate), 10ms), al::TimeoutError);
        gate.open();
        EXPECT_EQ(co_await ctx.assign([] { return 2; }), 2);
    };
    al::run(main_task());
}

// ------------------------------------------------------------ shutdown

TEST(Context, ShutdownRunsEveryPendingJobAndRefusesNewOnes) {
    al::Context ctx(2, 1);
    Gate gate;
    std::atomic<int> ran{0};
    auto main_task = [&]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks;
        for (int i = 0; i < 4; ++i) {
            tasks.push_back(al::create_task([](al::Context& c, Gate& g, std::atomic<int>& r, int k) -> al::Task<int> {
                co_return co_await c.assign([&g, &r, k] {
                    if (k == 0) g.pass();
                    r.fetch_add(1);
                    return k;
                });
            }(ctx, gate, ran, i)));
        }
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx.waiting() == 1; }));
        ctx.shutdown();
        EXPECT_TRUE(ctx.closed());
        try {
            co_await ctx.assign([] { return 0; });
            ADD_FAILURE() << "assign after shutdown succeeded";
        } catch (const al::ContextClosed& e) {
            EXPECT_STREQ(e.what(), "asynclink: Context shut down before the job ran");
        }
        gate.open();
        for (int i = 0; i < 4; ++i) EXPECT_EQ(co_await tasks[i], i);
    };
    al::run(main_task());
    EXPECT_EQ(ran.load(), 4);
}

TEST(Context, ShutdownFailPendingFailsEachPendingJobInItsTask) {
    al::Context ctx(2, 1);
    Gate gate;
    std::atomic<int> ran{0};
    auto main_task = [&]() -> al::Task<> {
        std::vector<al::TaskHandle<int>> tasks;
        for (int i = 0; i < 4; ++i) {
            tasks.push_back(al::create_task([](al::Context& c, Gate& g, std::atomic<int>& r, int k) -> al::Task<int> {
                co_return co_await c.assign([&g, &r, k] {
                    if (k == 0) g.pass();
                    r.fetch_add(1);
                    return k;
                });
            }(ctx, gate, ran, i)));
        }
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx.waiting() == 1; }));
        ctx.shutdown(al::ContextShutdown::fail_pending);
        for (int i = 1; i < 4; ++i) EXPECT_THROW(co_await tasks[i], al::ContextClosed);
        gate.open();
        EXPECT_EQ(co_await tasks[0], 0);  // it was running: it finishes
    };
    al::run(main_task());
    EXPECT_EQ(ran.load(), 1);
}

TEST(Context, DestroyingAContextRunsEveryQueuedJobAndDeliversEachResult) {
    Gate gate;
    std::atomic<bool> destroying{false};
    // Opens the gate once the loop thread is about to block in ~Context; the
    // pause only makes it likely that the destructor, not the gate, starts
    // first; the outcome must be the same either way.
    std::thread opener([&] {
        eventually_blocking([&] { return destroying.load(); });
        std::this_thread::sleep_for(20ms);
        gate.open();
    });
    std::vector<int> results;
    auto main_task = [&]() -> al::Task<> {
        auto ctx = std::make_unique<al::Context>(2, 1);
        std::vector<al::TaskHandle<int>> tasks;
        for (int i = 0; i < 5; ++i) {
            tasks.push_back(al::create_task([](al::Context& c, Gate& g, int k) -> al::Task<int> {
                co_return co_await c.assign([&g, k] {
                    if (k == 0) g.pass();
                    return k + 100;
                });
            }(*ctx, gate, i)));
        }
        // Job 0 holds the worker, 1 and 2 are queued, 3 and 4 paused.
        EXPECT_TRUE(co_await eventually([&] { return gate.arrived() == 1 && ctx->waiting() == 2; }));
        destroying = true;
        ctx.reset();  // runs every pending job, then joins; the completions wait for the loop
        for (auto& t : tasks) results.push_back(co_await t);
    };
    al::run(main_task());
    opener.join();
    EXPECT_EQ(results, (std::vector<int>{100, 101, 102, 103, 104}));
}

TEST(Context, AnAssignmentAwaitedAfterItsContextIsGoneFailsWithContextClosed) {
    std::atomic<int> ran{0};
    auto main_task = [&]() -> al::Task<> {
        auto ctx = std::make_unique<al::Context>(1);
        auto late = ctx->assign([&ran] { ran.fetch_add(1); });
        ctx.reset();
        EXPECT_THROW(co_await std::move(late), al::ContextClosed);
    };
    al::run(main_task());
    EXPECT_EQ(ran.load(), 0);
}

// ------------------------------------------------------------ workers

TEST(Context, AnIdleWorkerSleepsInsteadOfSpinning) {
    al::Context ctx(4, 1);
    auto main_task = [&]() -> al::Task<clockid_t> {
        co_return co_await ctx.assign([] {
            clockid_t id{};
            EXPECT_EQ(pthread_getcpuclockid(pthread_self(), &id), 0);
            return id;
        });
    };
    clockid_t worker_clock = al::run(main_task());
    auto cpu_time = [&] {
        timespec ts{};
        clock_gettime(worker_clock, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    };
    auto before = cpu_time();
    std::this_thread::sleep_for(1s);
    auto used = cpu_time() - before;
    // A spinning worker would use about a second; a sleeping one, nothing.
    EXPECT_LT(used, 50ms) << std::chrono::duration_cast<std::chrono::microseconds>(used).count() << " us";
}

TEST(Context, PinsItsWorkerToCpu1) {
    if (al::port::cpu_count() < 2) GTEST_SKIP() << "needs two CPUs";
    al::Context ctx(4, 1, {1});
    auto main_task = [&]() -> al::Task<> {
        for (int i = 0; i < 20; ++i) EXPECT_EQ(co_await ctx.assign([] { return al::port::current_cpu(); }), 1);
    };
    al::run(main_task());
}

TEST(Context, SeveralLoopsOnSeveralThreadsShareOneContext) {
    al::Context ctx(8, 2);
    const int loops = 4;
    const int jobs = static_cast<int>(scaled(2000));
    std::vector<long> sums(loops);
    std::vector<std::thread> threads;
    for (int l = 0; l < loops; ++l) {
        threads.emplace_back([&, l] {
            auto main_task = [&]() -> al::Task<long> {
                auto one = [](al::Context& c, int base, int count) -> al::Task<long> {
                    long sum = 0;
                    for (int k = 0; k < count; ++k) {
                        int r = co_await c.assign([](int v) { return v; }, base + k);
                        EXPECT_EQ(r, base + k);
                        sum += r;
                    }
                    co_return sum;
                };
                auto [a, b] = co_await al::gather(one(ctx, l * 1'000'000, jobs / 2),
                                                  one(ctx, l * 1'000'000 + 500'000, jobs - jobs / 2));
                co_return a + b;
            };
            sums[l] = al::run(main_task());
        });
    }
    for (auto& t : threads) t.join();
    for (int l = 0; l < loops; ++l) {
        long expected = 0;
        for (int k = 0; k < jobs / 2; ++k) expected += l * 1'000'000 + k;
        for (int k = 0; k < jobs - jobs / 2; ++k) expected += l * 1'000'000 + 500'000 + k;
        EXPECT_EQ(sums[l], expected) << "loop " << l;
    }
}

// ------------------------------------------------------------ stress

// 100k jobs from 32 tasks through a small queue: a lost completion would
// leave a task parked forever, which wait_for turns into a failure.
TEST(Context, StressNoCompletionIsLost) {
    al::Context ctx(16, 2);
    const std::size_t total = scaled(100'000);
    const std::size_t tasks = 32;
    auto main_task = [&]() -> al::Task<std::size_t> {
        std::vector<al::TaskHandle<std::size_t>> workers;
        for (std::size_t t = 0; t < tasks; ++t) {
            std::size_t count = total / tasks + (t < total % tasks ? 1 : 0);
            workers.push_back(al::create_task([](al::Context& c, std::size_t n) -> al::Task<std::size_t> {
                std::size_t done = 0;
                for (std::size_t k = 0; k < n; ++k) done += co_await c.assign([](std::size_t v) { return v; }, 1);
                co_return done;
            }(ctx, count)));
        }
        std::size_t sum = 0;
        for (auto& w : workers) sum += co_await w;
        co_return sum;
    };
    auto bounded = [&]() -> al::Task<std::size_t> { co_return co_await al::wait_for(main_task(), 300s); };
    EXPECT_EQ(al::run(bounded()), total);
}

// Cancellations racing with starts and completions: every task ends with its
// own result or CancelledError, and every job record is freed (ASan's leak
// check; the counter below for the functions).
TEST(Context, StressCancellationRacingWithCompletion) {
    static std::atomic<int> live_functions{0};
    struct Fn {
        int v;
        explicit Fn(int x) : v(x) { live_functions.fetch_add(1); }
        Fn(const Fn& o) : v(o.v) { live_functions.fetch_add(1); }
        Fn(Fn&& o) noexcept : v(o.v) { live_functions.fetch_add(1); }
        ~Fn() { live_functions.fetch_sub(1); }
        int operator()() const {
            if (v % 3 == 0) std::this_thread::yield();
            return v;
        }
    };
    const int rounds = static_cast<int>(scaled(200));
    const int per_round = 50;
    int completed = 0;
    int cancelled = 0;
    {
        al::Context ctx(8, 2);
        auto main_task = [&]() -> al::Task<> {
            std::mt19937 rng(12345);
            for (int r = 0; r < rounds; ++r) {
                std::vector<al::TaskHandle<int>> tasks;
                for (int i = 0; i < per_round; ++i) {
                    tasks.push_back(al::create_task([](al::Context& c, int v) -> al::Task<int> {
                        co_return co_await c.assign(Fn(v));
                    }(ctx, r * per_round + i)));
                }
                for (int y = static_cast<int>(rng() % 4); y > 0; --y) co_await al::sleep(0);
                for (int i = 0; i < per_round; ++i) {
                    if (rng() % 2 == 0) tasks[i].cancel();
                }
                for (int i = 0; i < per_round; ++i) {
                    try {
                        EXPECT_EQ(co_await tasks[i], r * per_round + i);
                        ++completed;
                    } catch (const al::CancelledError&) {
                        ++cancelled;
                    }
                }
            }
        };
        auto bounded = [&]() -> al::Task<> { co_await al::wait_for(main_task(), 300s); };
        al::run(bounded());
    }
    EXPECT_EQ(completed + cancelled, rounds * per_round);
    EXPECT_GT(cancelled, 0);
    EXPECT_EQ(live_functions.load(), 0);
}
