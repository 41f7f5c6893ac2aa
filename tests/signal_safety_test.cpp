// SPDX-License-Identifier: BSL-1.0
// The signalling paths are legal in a signal handler: they allocate nothing
// and lose no wake-up.
//
// Part 1 replaces the global operator new with a counting one (under
// ThreadSanitizer, which owns operator new, it counts through the
// sanitizer's allocation hook, malloc included) and runs a
// million operations of each path (ThreadSafeFlag::set, ThreadSafeEvent::set,
// Message<POD>::set, ThreadSafeQueue::try_put/try_get, Loop::schedule,
// Shared::write) from another thread, with the loop busy and with it asleep:
// no allocation anywhere in the process, loop side included.
//
// Part 2 calls each of them from a PeriodicSignal handler at 10 kHz, on the
// loop's own thread (interrupting a busy task or the sleeping loop) and on
// another thread (so only the primitive's own wake-up can rouse the loop),
// and checks that every wake-up arrives: a fed queue delivers every accepted
// item in order, waiters catch up with the last signal, every accepted
// schedule() callback runs, and the handler itself never allocates.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <string>
#include <thread>

#include "support/bridge.hpp"
#include "support/sanitizers.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;

// ---------------------------------------------------------------- counting allocator

namespace {

std::atomic<std::uint64_t> process_allocations{0};
thread_local std::uint64_t thread_allocations = 0;

void note_allocation() noexcept {
    process_allocations.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally, read after joins
    ++thread_allocations;
}

}  // namespace

#ifdef ASYNCLINK_TEST_UNDER_TSAN
// ThreadSanitizer links its own operator new, which cannot be replaced; its
// allocator reports every allocation (operator new and malloc alike, which is
// stricter still) to a hook instead.
#include <sanitizer/allocator_interface.h>

namespace {
void on_malloc(const volatile void*, std::size_t) { note_allocation(); }
void on_free(const volatile void*) {}
const bool allocation_hooks_installed = __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free) != 0;
}  // namespace
#else
namespace {

const bool allocation_hooks_installed = true;

void* counted_malloc(std::size_t size) {
    note_allocation();
    return std::malloc(size == 0 ? 1 : size);
}

void* counted_aligned(std::size_t size, std::align_val_t alignment) {
    note_allocation();
    void* p = nullptr;
    std::size_t a = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
    return posix_memalign(&p, a, size == 0 ? 1 : size) == 0 ? p : nullptr;
}

void* or_throw(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

}  // namespace

void* operator new(std::size_t size) { return or_throw(counted_malloc(size)); }
void* operator new[](std::size_t size) { return or_throw(counted_malloc(size)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new(std::size_t size, std::align_val_t a) { return or_throw(counted_aligned(size, a)); }
void* operator new[](std::size_t size, std::align_val_t a) { return or_throw(counted_aligned(size, a)); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_aligned(size, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif

namespace {

// ---------------------------------------------------------------- part 1: a million operations

enum class LoopState { busy, asleep };

std::string name(LoopState s) { return s == LoopState::busy ? "loop busy" : "loop asleep"; }

// Keeps the loop awake: spins a little, yields, until told to stop. Allocates nothing.
al::Task<void> keep_busy(const std::atomic<bool>& stop) {
    // relaxed: a stop request, nothing else travels with it.
    while (!stop.load(std::memory_order_relaxed)) {
        auto until = std::chrono::steady_clock::now() + 20us;
        while (std::chrono::steady_clock::now() < until) {
        }
        co_await al::sleep(0);
    }
}

// One run of part 1: `signal(i)` on a thread for up to `count` operations
// while `consume` runs as a task (with a busy task beside it, or alone so the
// loop sleeps whenever it waits). The operations are bracketed by snapshots of
// the process-wide allocation count taken once both sides are running.
struct Measurement {
    std::uint64_t operations = 0;
    std::uint64_t process_allocations = 0;  // whole process, loop included, during the operations
    std::uint64_t signaller_allocations = 0;
};

// The loop of the measurement running now (for schedule()); published to the
// signaller by the release of consumer_running.
al::Loop* measured_loop = nullptr;

template <class Signal, class Consume, class Finish>
Measurement measure(LoopState state, std::uint64_t count, Signal signal, Consume consume, Finish finish) {
    Measurement m;
    std::atomic<bool> consumer_running{false};
    std::atomic<bool> consumer_done{false};
    std::atomic<bool> signaller_stopped{false};
    std::atomic<bool> stop_busy{false};
    std::thread signaller([&] {
        // acquire: pairs with the task's release once it is running.
        while (!consumer_running.load(std::memory_order_acquire)) std::this_thread::yield();
        bridge_test::Budget budget(count, 3s);
        std::uint64_t before_thread = thread_allocations;
        std::uint64_t before = process_allocations.load(std::memory_order_relaxed);  // relaxed: a tally
        std::uint64_t i = 0;
        for (; budget.more(i); ++i) signal(i);
        m.process_allocations = process_allocations.load(std::memory_order_relaxed) - before;
        m.signaller_allocations = thread_allocations - before_thread;
        m.operations = i;
        // Tell the consumer it is over until it says it has stopped (it may be
        // asleep waiting for a signal that the budget cut off).
        // acquire: pairs with the task's release when it ends.
        while (!consumer_done.load(std::memory_order_acquire)) {
            finish();
            std::this_thread::sleep_for(100us);
        }
        // release: the loop may end (and be destroyed) only after the last finish().
        signaller_stopped.store(true, std::memory_order_release);
    });
    al::run([&]() -> al::Task<void> {
        al::TaskHandle<void> busy;
        if (state == LoopState::busy) busy = al::create_task(keep_busy(stop_busy));
        co_await al::sleep(0);
        measured_loop = &al::Loop::current();
        // The consumer's frame is allocated here, before the signaller takes its
        // first snapshot of the allocation count (a Task starts when awaited).
        al::Task<void> consumer = consume();
        consumer_running.store(true, std::memory_order_release);  // release: the consumer starts now
        co_await std::move(consumer);
        consumer_done.store(true, std::memory_order_release);  // release: see the signaller
        // acquire: pairs with the signaller's release; finish() may still be using the loop until then.
        while (!signaller_stopped.load(std::memory_order_acquire)) co_await al::sleep(100us);
        stop_busy.store(true, std::memory_order_relaxed);  // relaxed: see keep_busy
        if (busy) co_await busy;
    }());
    signaller.join();
    return m;
}

void expect_no_allocation(const Measurement& m, const std::string& what, std::uint64_t count) {
    EXPECT_GT(m.operations, 0u) << what;
    EXPECT_EQ(m.signaller_allocations, 0u) << what << ": the signalling thread allocated";
    EXPECT_EQ(m.process_allocations, 0u) << what << ": something in the process allocated";
    std::printf("  %-44s %9llu of %llu operations, %llu allocations\n", what.c_str(),
                static_cast<unsigned long long>(m.operations), static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(m.process_allocations));
}

const std::uint64_t million = bridge_test::scaled(1'000'000);

// A ThreadSafeQueue end allocates its small wake block the first time a task
// waits at it (see the header). These make each end wait once, on a loop that
// then ends, so the measured operations start with the block there and the
// queue empty.
void wait_once_at_consumer(al::ThreadSafeQueue<std::uint64_t>& queue) {
    al::run([&]() -> al::Task<void> {
        auto getter = al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q) -> al::Task<std::uint64_t> {
            co_return co_await q.get();
        }(queue));
        co_await al::sleep(0);
        EXPECT_TRUE(queue.try_put(7));
        EXPECT_EQ(co_await getter, 7u);
    }());
}
void wait_once_at_producer(al::ThreadSafeQueue<std::uint64_t>& queue) {
    al::run([&]() -> al::Task<void> {
        while (queue.try_put(0)) {
        }
        auto putter =
            al::create_task([](al::ThreadSafeQueue<std::uint64_t>& q) -> al::Task<void> { co_await q.put(0); }(queue));
        co_await al::sleep(0);
        while (!putter.done()) {
            while (queue.try_get()) {
            }
            co_await al::sleep(0);
        }
        co_await putter;
        while (queue.try_get()) {
        }
    }());
}

}  // namespace

TEST(SignalSafety, TheCountingAllocatorCounts) {
    // A negative control: the counter must see an allocation when there is one.
    ASSERT_TRUE(allocation_hooks_installed);
    std::uint64_t before = thread_allocations;
    auto p = std::make_unique<int>(1);
    void* raw = std::malloc(16);
    // The compiler may elide an allocation nobody looks at: let it escape.
    asm volatile("" : : "r"(p.get()), "r"(raw) : "memory");
    std::free(raw);
    EXPECT_GE(thread_allocations - before, 1u);
}

TEST(SignalSafety, ConstructingThePrimitivesAllocatesNothing) {
    std::uint64_t before = thread_allocations;
    {
        al::ThreadSafeFlag flag;
        al::ThreadSafeEvent event;
        al::Message<std::array<std::uint64_t, 8>> message;
        al::Shared<std::array<std::uint64_t, 8>> shared;
        std::array<al::ThreadSafeQueue<std::uint64_t>::slot_type, 16> storage;
        al::ThreadSafeQueue<std::uint64_t> queue{std::span(storage)};
        EXPECT_TRUE(queue.try_put(1));
        EXPECT_EQ(queue.try_get(), 1u);
    }
    EXPECT_EQ(thread_allocations - before, 0u) << "user-supplied storage must mean no allocation at all";
}

class SignallingPath : public testing::TestWithParam<LoopState> {};

TEST_P(SignallingPath, ThreadSafeFlagSetAllocatesNothing) {
    al::ThreadSafeFlag flag;
    std::atomic<bool> over{false};
    std::uint64_t wakes = 0;
    auto m = measure(
        GetParam(), million, [&](std::uint64_t) { flag.set(); },
        [&]() -> al::Task<void> {
            // relaxed: `over` is published by the set() that follows it.
            while (!over.load(std::memory_order_relaxed)) {
                co_await flag.wait();
                ++wakes;
            }
        },
        [&] {
            over.store(true, std::memory_order_relaxed);
            flag.set();
        });
    expect_no_allocation(m, "ThreadSafeFlag::set, " + name(GetParam()), million);
    EXPECT_GT(wakes, 0u);
}

TEST_P(SignallingPath, ThreadSafeEventSetAndClearAllocateNothing) {
    al::ThreadSafeEvent event;
    std::atomic<bool> over{false};
    std::uint64_t wakes = 0;
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t i) {
            event.set();
            if (i % 2 == 1) event.clear();  // set+clear must still wake the waiter
        },
        [&]() -> al::Task<void> {
            while (!over.load(std::memory_order_relaxed)) {  // relaxed: as for the flag
                co_await event.wait();
                event.clear();
                ++wakes;
            }
        },
        [&] {
            over.store(true, std::memory_order_relaxed);
            event.set();
        });
    expect_no_allocation(m, "ThreadSafeEvent::set/clear, " + name(GetParam()), million);
    EXPECT_GT(wakes, 0u);
}

TEST_P(SignallingPath, MessageSetOfAPodAllocatesNothing) {
    struct Reading {
        std::uint64_t sequence;
        double values[6];
    };
    al::Message<Reading> message;
    std::uint64_t received = 0;
    std::atomic<bool> received_one{false};
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t i) {
            message.set(Reading{i + 1, {}});
        },
        [&]() -> al::Task<void> {
            // co_await + clear() rather than next(): the loop side here must not
            // allocate either, and this is the plainest allocation-free read.
            for (;;) {
                Reading r = co_await message;
                message.clear();
                if (r.sequence == 0) break;  // the finishing signal
                ++received;
                received_one.store(true, std::memory_order_relaxed);  // relaxed: only steers finish()
            }
        },
        [&] {
            // Sets coalesce: a fast signaller may finish before the task read
            // anything, so the end is signalled only once a value was read.
            // relaxed: a stale false only repeats a set, 100 us later.
            message.set(Reading{received_one.load(std::memory_order_relaxed) ? 0u : 1u, {}});
        });
    expect_no_allocation(m, "Message<POD>::set, " + name(GetParam()), million);
    EXPECT_GT(received, 0u);
}

TEST_P(SignallingPath, ThreadSafeQueueTryPutAllocatesNothing) {
    // Thread -> task: try_put on the thread, the task's async get waits when empty.
    al::ThreadSafeQueue<std::uint64_t> queue(64);
    wait_once_at_consumer(queue);
    std::uint64_t next_put = 0;
    std::uint64_t received = 0;
    bool in_order = true;
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t) {
            if (queue.try_put(next_put)) ++next_put;  // a refused put counts as an operation too
        },
        [&]() -> al::Task<void> {
            while (auto v = co_await queue.next()) {
                if (*v != received) in_order = false;
                ++received;
            }
        },
        [&] { queue.close(); });
    expect_no_allocation(m, "ThreadSafeQueue::try_put, " + name(GetParam()), million);
    EXPECT_EQ(received, next_put);
    EXPECT_TRUE(in_order);
}

TEST_P(SignallingPath, ThreadSafeQueueTryGetAllocatesNothing) {
    // Task -> thread: the task's async put waits when full, try_get on the thread frees room.
    al::ThreadSafeQueue<std::uint64_t> queue(64);
    wait_once_at_producer(queue);
    std::atomic<bool> over{false};
    std::uint64_t received = 0;
    bool in_order = true;
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t) {
            if (auto v = queue.try_get()) {
                if (*v != received) in_order = false;
                ++received;
            }
        },
        [&]() -> al::Task<void> {
            for (std::uint64_t i = 0; !over.load(std::memory_order_relaxed); ++i) {  // relaxed: a stop request
                try {
                    co_await queue.put(i);
                } catch (const al::QueueClosed&) {
                    break;
                }
            }
        },
        [&] {
            over.store(true, std::memory_order_relaxed);
            queue.close();  // wakes a put waiting on a full queue
        });
    expect_no_allocation(m, "ThreadSafeQueue::try_get, " + name(GetParam()), million);
    EXPECT_GT(received, 0u);
    EXPECT_TRUE(in_order);
}

TEST_P(SignallingPath, LoopScheduleAllocatesNothing) {
    struct Counter {
        std::uint64_t runs = 0;  // loop thread only
        al::ThreadSafeFlag ran;  // set by every callback; the consumer waits on it
    } counter;
    auto run_one = [](void* arg) {
        auto& c = *static_cast<Counter*>(arg);
        ++c.runs;
        c.ran.set();
    };
    std::atomic<bool> over{false};
    std::atomic<std::uint64_t> accepted{0};
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t) {
            // relaxed: written by this thread only, published by the release of `over`.
            if (measured_loop->schedule(run_one, &counter)) accepted.fetch_add(1, std::memory_order_relaxed);
        },
        [&]() -> al::Task<void> {
            // Until every accepted callback has run (extra ones from the finisher may add to runs).
            // acquire: pairs with the finisher's release; then `accepted` is final.
            while (!over.load(std::memory_order_acquire) || counter.runs < accepted.load(std::memory_order_relaxed)) {
                co_await counter.ran.wait();
            }
        },
        [&] {
            over.store(true, std::memory_order_release);  // release: see the consumer
            measured_loop->schedule(run_one, &counter);   // wakes the consumer to look
        });
    expect_no_allocation(m, "Loop::schedule, " + name(GetParam()), million);
    EXPECT_GT(accepted.load(), 0u);
    EXPECT_GE(counter.runs, accepted.load()) << "an accepted callback did not run";
}

TEST_P(SignallingPath, SharedWriteAllocatesNothing) {
    struct Snapshot {
        std::uint64_t sequence;
        std::uint64_t check;
        double values[6];
    };
    al::Shared<Snapshot> shared(Snapshot{0, ~std::uint64_t{0}, {}});
    al::ThreadSafeFlag over;
    std::atomic<bool> finished{false};
    std::uint64_t reads = 0;
    bool consistent = true;
    auto m = measure(
        GetParam(), million,
        [&](std::uint64_t i) {
            shared.write(Snapshot{i, ~i, {}});
        },
        [&]() -> al::Task<void> {
            if (GetParam() == LoopState::asleep) {
                co_await over.wait();  // the loop sleeps through the writes
            } else {
                while (!finished.load(std::memory_order_relaxed)) {  // relaxed: a stop request
                    Snapshot s = shared.read();
                    if (s.check != ~s.sequence) consistent = false;
                    ++reads;
                    co_await al::sleep(0);
                }
            }
        },
        [&] {
            finished.store(true, std::memory_order_relaxed);
            over.set();
        });
    expect_no_allocation(m, "Shared::write, " + name(GetParam()), million);
    EXPECT_TRUE(consistent);
}

INSTANTIATE_TEST_SUITE_P(LoopBusyAndAsleep, SignallingPath, testing::Values(LoopState::busy, LoopState::asleep),
                         [](const testing::TestParamInfo<LoopState>& param_info) {
                             return param_info.param == LoopState::busy ? std::string("LoopBusy")
                                                                        : std::string("LoopAsleep");
                         });

// ---------------------------------------------------------------- part 2: from signal handlers at 10 kHz

namespace {

enum class HandlerOn { loop_thread, other_thread };

struct Scenario {
    LoopState loop;
    HandlerOn handler;
};

std::string describe(const Scenario& s) {
    return name(s.loop) +
           (s.handler == HandlerOn::loop_thread ? ", handler on the loop thread" : ", handler on another thread");
}

const Scenario scenarios[] = {
    {LoopState::busy, HandlerOn::loop_thread},
    {LoopState::asleep, HandlerOn::loop_thread},
    {LoopState::busy, HandlerOn::other_thread},
    {LoopState::asleep, HandlerOn::other_thread},
};

// What every signal-driven target shares. A target adds:
//   bool act(std::uint64_t n) noexcept   the handler's n-th call (n from 1); true once it is done
//   void after_done() noexcept           in the handler, after `finished` is published
//   al::Task<void> consume()             the loop side; returns once it has seen everything
//   void check()                         assertions once both sides are over
struct TargetBase {
    static constexpr std::uint64_t ticks_default = 500;
    std::uint64_t target = bridge_test::scaled(ticks_default, 50);
    LoopState loop_state = LoopState::asleep;
    al::Loop* loop = nullptr;
    std::atomic<std::uint64_t> calls{0};
    std::atomic<bool> finished{false};
    std::atomic<std::uint64_t> handler_allocations{0};
    al::ThreadSafeFlag handler_done;
    void after_done() noexcept {}
    al::Task<void> pause() {
        if (loop_state == LoopState::asleep) {
            co_await al::sleep(200us);
        } else {
            co_await al::sleep(0);
        }
    }
};

template <class Target>
void on_tick(void* arg) noexcept {
    auto& t = *static_cast<Target*>(arg);
    // relaxed (all): the handler runs on one thread; the flag set below publishes the rest.
    if (t.finished.load(std::memory_order_relaxed)) return;
    std::uint64_t n = t.calls.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint64_t allocations_before = thread_allocations;
    bool done = t.act(n);
    if (thread_allocations != allocations_before) t.handler_allocations.fetch_add(1, std::memory_order_relaxed);
    if (done) {
        t.finished.store(true, std::memory_order_release);  // release: for the thread that owns the timer
        t.after_done();
        t.handler_done.set();
    }
}

template <class Target>
void drive_from_signal_handler(const Scenario& scenario) {
    SCOPED_TRACE(describe(scenario));
    Target t;
    t.loop_state = scenario.loop;
    std::uint64_t ticks = 0;
    std::uint64_t overruns = 0;  // expirations the kernel merged: a loaded machine delivers fewer than 10 kHz
    auto start = std::chrono::steady_clock::now();
    al::run([&]() -> al::Task<void> {
        t.loop = &al::Loop::current();
        std::atomic<bool> stop_busy{false};
        al::TaskHandle<void> busy;
        if (scenario.loop == LoopState::busy) busy = al::create_task(keep_busy(stop_busy));
        auto consumer = al::create_task(t.consume());
        co_await al::sleep(0);
        if (scenario.handler == HandlerOn::loop_thread) {
            al::PeriodicSignal timer(100us, &on_tick<Target>, &t);
            co_await al::wait_for(t.handler_done.wait(), hang_limit);
            ticks = timer.ticks();
            overruns = timer.overruns();
        } else {
            std::thread other([&] {
                al::PeriodicSignal timer(100us, &on_tick<Target>, &t);
                // acquire: pairs with the handler's release.
                while (!t.finished.load(std::memory_order_acquire)) std::this_thread::sleep_for(1ms);
                ticks = timer.ticks();
                overruns = timer.overruns();
            });
            co_await al::wait_for(t.handler_done.wait(), hang_limit);
            other.join();
        }
        co_await al::wait_for(consumer, hang_limit);
        stop_busy.store(true, std::memory_order_relaxed);  // relaxed: see keep_busy
        if (busy) co_await busy;
    }());
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("  %-50s %5llu handler calls in %.3f s (%llu expirations merged)\n", describe(scenario).c_str(),
                static_cast<unsigned long long>(t.calls.load()), elapsed, static_cast<unsigned long long>(overruns));
    EXPECT_GE(ticks, t.calls.load());
    EXPECT_EQ(t.handler_allocations.load(), 0u) << "the signal handler allocated";
    t.check();
}

// The handler sets a flag after publishing a number; the task catches up with the last one.
struct FlagTarget : TargetBase {
    al::ThreadSafeFlag flag;
    std::atomic<std::uint64_t> sequence{0};
    std::uint64_t wakes = 0;
    bool act(std::uint64_t n) noexcept {
        sequence.store(n, std::memory_order_release);  // release: the task that wakes sees it
        flag.set();
        return n == target;
    }
    al::Task<void> consume() {
        // acquire: pairs with the handler's release.
        for (std::uint64_t seen = 0; seen != target; seen = sequence.load(std::memory_order_acquire)) {
            co_await flag.wait();
            ++wakes;
        }
    }
    void check() { EXPECT_GT(wakes, 0u); }
};

// The same through an event the task clears before it looks at the number.
struct EventTarget : TargetBase {
    al::ThreadSafeEvent event;
    std::atomic<std::uint64_t> sequence{0};
    std::uint64_t wakes = 0;
    bool act(std::uint64_t n) noexcept {
        sequence.store(n, std::memory_order_release);  // release: as above
        event.set();
        return n == target;
    }
    al::Task<void> consume() {
        std::uint64_t seen = 0;
        while (seen != target) {
            co_await event.wait();
            event.clear();
            seen = sequence.load(std::memory_order_acquire);  // acquire: as above
            ++wakes;
        }
    }
    void check() { EXPECT_GT(wakes, 0u); }
};

// The number travels as a Message payload with a check word.
struct MessageTarget : TargetBase {
    struct Stamp {
        std::uint64_t sequence;
        std::uint64_t check;
    };
    al::Message<Stamp> message;
    std::uint64_t wakes = 0;
    std::uint64_t bad = 0;
    bool act(std::uint64_t n) noexcept {
        message.set(Stamp{n, ~n});
        return n == target;
    }
    al::Task<void> consume() {
        std::uint64_t seen = 0;
        while (seen != target) {
            Stamp s = co_await message.next();
            if (s.check != ~s.sequence || s.sequence < seen) ++bad;
            seen = s.sequence;
            ++wakes;
        }
    }
    void check() {
        EXPECT_GT(wakes, 0u);
        EXPECT_EQ(bad, 0u) << "torn or out-of-order payloads";
    }
};

// Handler -> task: try_put every number (or count the refusal), close at the end.
struct QueueFromHandlerTarget : TargetBase {
    al::ThreadSafeQueue<std::uint64_t> queue{64};
    std::atomic<std::uint64_t> refused{0};
    std::uint64_t received = 0;
    std::uint64_t out_of_order = 0;
    bool act(std::uint64_t n) noexcept {
        if (!queue.try_put(n)) refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the end
        if (n != target) return false;
        queue.close();
        return true;
    }
    al::Task<void> consume() {
        std::uint64_t last = 0;
        while (auto v = co_await queue.next()) {
            if (*v <= last) ++out_of_order;
            last = *v;
            ++received;
        }
    }
    void check() {
        EXPECT_GT(received, 0u);
        EXPECT_EQ(out_of_order, 0u);
        EXPECT_EQ(received + refused.load(), target) << "an item try_put accepted was lost";
    }
};

// Task -> handler: the task puts numbered items (waiting when full), the
// handler takes one per tick with try_get, which must wake the waiting put.
struct QueueToHandlerTarget : TargetBase {
    al::ThreadSafeQueue<std::uint64_t> queue{8};
    std::uint64_t received = 0;  // handler only until it is done
    std::uint64_t out_of_order = 0;
    bool act(std::uint64_t) noexcept {
        std::optional<std::uint64_t> v = queue.try_get();
        if (!v && queue.closed()) v = queue.try_get();  // one put just before close()
        if (!v) return queue.closed();
        if (*v != received) ++out_of_order;
        ++received;
        return false;
    }
    al::Task<void> consume() {
        for (std::uint64_t i = 0; i < target; ++i) co_await queue.put(i);
        queue.close();
    }
    void check() {
        EXPECT_EQ(received, target) << "items were lost between the task and the handler";
        EXPECT_EQ(out_of_order, 0u);
    }
};

// Handler -> loop: schedule() a callback per tick; every accepted one runs.
struct ScheduleTarget : TargetBase {
    std::atomic<std::uint64_t> refused{0};
    std::uint64_t ran = 0;  // loop thread only
    al::ThreadSafeFlag progress;
    static void callback(void* arg) {
        auto& t = *static_cast<ScheduleTarget*>(arg);
        ++t.ran;
        t.progress.set();
    }
    bool act(std::uint64_t n) noexcept {
        if (!loop->schedule(&callback, this)) refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
        return n == target;
    }
    void after_done() noexcept { progress.set(); }  // `finished` is published: let the task look
    al::Task<void> consume() {
        // acquire: pairs with the handler's release of `finished`, after which `refused` is final.
        while (!finished.load(std::memory_order_acquire) || ran != target - refused.load(std::memory_order_relaxed)) {
            co_await progress.wait();
        }
    }
    void check() {
        EXPECT_GT(ran, 0u);
        EXPECT_EQ(ran + refused.load(), target);
    }
};

// Handler writes, the task reads: every snapshot whole, never going back.
struct SharedTarget : TargetBase {
    struct Stamp {
        std::uint64_t sequence;
        std::uint64_t check;
        std::uint64_t more[6];
    };
    al::Shared<Stamp> shared{Stamp{0, ~std::uint64_t{0}, {}}};
    std::uint64_t reads = 0;
    std::uint64_t bad = 0;
    bool act(std::uint64_t n) noexcept {
        shared.write(Stamp{n, ~n, {n, n, n, n, n, n}});
        return n == target;
    }
    al::Task<void> consume() {
        std::uint64_t seen = 0;
        while (seen != target) {
            Stamp s = shared.read();
            if (s.check != ~s.sequence || s.sequence < seen || (s.sequence != 0 && s.more[5] != s.sequence)) ++bad;
            seen = s.sequence;
            ++reads;
            co_await pause();
        }
    }
    void check() {
        EXPECT_GT(reads, 0u);
        EXPECT_EQ(bad, 0u);
    }
};

}  // namespace

template <class Target>
class FromASignalHandler : public testing::Test {};

using Targets = testing::Types<FlagTarget, EventTarget, MessageTarget, QueueFromHandlerTarget, QueueToHandlerTarget,
                               ScheduleTarget, SharedTarget>;

class TargetNames {
public:
    template <class T>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<T, FlagTarget>) return "ThreadSafeFlagSet";
        if constexpr (std::is_same_v<T, EventTarget>) return "ThreadSafeEventSet";
        if constexpr (std::is_same_v<T, MessageTarget>) return "MessageSet";
        if constexpr (std::is_same_v<T, QueueFromHandlerTarget>) return "ThreadSafeQueueTryPut";
        if constexpr (std::is_same_v<T, QueueToHandlerTarget>) return "ThreadSafeQueueTryGet";
        if constexpr (std::is_same_v<T, ScheduleTarget>) return "LoopSchedule";
        return "SharedWrite";
    }
};

TYPED_TEST_SUITE(FromASignalHandler, Targets, TargetNames);

TYPED_TEST(FromASignalHandler, EveryWakeUpArrivesWithTheLoopBusyOrAsleep) {
    for (const Scenario& scenario : scenarios) drive_from_signal_handler<TypeParam>(scenario);
}
