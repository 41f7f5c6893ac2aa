// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue<T, many_producers>: capacity N holds N (any N, over many
// laps), owned or user-supplied storage, the errors of each end, close() with
// producers in flight, FIFO per producer, several producers of every kind at
// once, a producer stalled between its claim and its publish (the consumer
// sleeps on the hole, a thread in the kernel and a task with its loop asleep,
// and the publish wakes it), many waiting putters (threads and tasks of two
// loops), cancellation, and the layout of the hot words.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::hang_limit;
using test_support::settle;

namespace {

template <class T>
using ManyQueue = al::ThreadSafeQueue<T, al::many_producers>;

using Item = std::unique_ptr<std::uint64_t>;
Item make_item(std::uint64_t v) { return std::make_unique<std::uint64_t>(v); }

// An item whose moves wait at a gate while it is closed: moved into a cell, a
// producer preempted between its claim and its publish; moved out, a consumer
// in the middle of its get.
struct Gate {
    std::atomic<bool> closed{false};
    std::atomic<bool> reached{false};
};
struct Stalling {
    Stalling(std::uint64_t v, Gate* g) noexcept : value(v), gate(g) {}
    Stalling(Stalling&& other) noexcept : value(other.value), gate(other.gate) {
        if (gate != nullptr) {
            gate->reached.store(true, std::memory_order_release);  // release: the test waits for it
            // acquire: pairs with the test opening the gate.
            while (gate->closed.load(std::memory_order_acquire)) std::this_thread::yield();
        }
    }
    Stalling& operator=(Stalling&&) noexcept = default;
    std::uint64_t value;
    Gate* gate;
};

void wait_until_reached(const Gate& g) {
    // acquire: pairs with the stalled move's release.
    while (!g.reached.load(std::memory_order_acquire)) std::this_thread::yield();
}

struct Counted {
    static inline std::atomic<int> live{0};
    explicit Counted(int v) : value(v) { live.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a tally
    Counted(Counted&& other) noexcept : value(other.value) { live.fetch_add(1, std::memory_order_relaxed); }
    Counted& operator=(Counted&&) noexcept = default;
    ~Counted() { live.fetch_sub(1, std::memory_order_relaxed); }
    int value;
};

// A copy that throws on demand.
struct Fragile {
    static inline bool fail_copy = false;
    explicit Fragile(int v) : value(v) {}
    Fragile(const Fragile& other) : value(other.value) {
        if (fail_copy) throw std::runtime_error("copy failed");
    }
    Fragile(Fragile&&) noexcept = default;
    int value;
};

}  // namespace

TEST(ManyProducerQueue, TheDefaultQueueIsTheSingleProducerOne) {
    static_assert(std::is_same_v<al::ThreadSafeQueue<int>, al::ThreadSafeQueue<int, al::single_producer>>);
    static_assert(!std::is_same_v<al::ThreadSafeQueue<int>, ManyQueue<int>>);
}

TEST(ManyProducerQueue, CapacityNHoldsNOverManyLaps) {
    for (std::size_t capacity : {1u, 2u, 3u, 5u, 8u, 13u}) {
        ManyQueue<std::uint64_t> q(capacity);
        std::uint64_t next_put = 0;
        std::uint64_t next_get = 0;
        for (int lap = 0; lap < 50; ++lap) {
            for (std::size_t i = 0; i < capacity; ++i) ASSERT_TRUE(q.try_put(next_put++)) << capacity;
            EXPECT_TRUE(q.full());
            EXPECT_EQ(q.qsize(), capacity);
            EXPECT_FALSE(q.try_put(999)) << "capacity " << capacity << " held more than " << capacity;
            // Take a varying number, so the ends meet at every cell.
            std::size_t take = 1 + static_cast<std::size_t>(lap) % capacity;
            for (std::size_t i = 0; i < take; ++i) ASSERT_EQ(q.try_get(), next_get++);
            EXPECT_EQ(q.qsize(), capacity - take);
            for (std::size_t i = 0; i < take; ++i) ASSERT_TRUE(q.try_put(next_put++));
            while (std::optional<std::uint64_t> v = q.try_get()) ASSERT_EQ(*v, next_get++);
            EXPECT_TRUE(q.empty());
        }
        EXPECT_EQ(next_get, next_put);
    }
}

TEST(ManyProducerQueue, UserSuppliedStorage) {
    static ManyQueue<std::uint64_t>::slot_type storage[3];
    ManyQueue<std::uint64_t> q{std::span(storage)};
    EXPECT_EQ(q.capacity(), 3u);
    for (std::uint64_t v = 0; v < 3; ++v) EXPECT_TRUE(q.try_put(v));
    EXPECT_FALSE(q.try_put(3));
    for (std::uint64_t v = 0; v < 3; ++v) EXPECT_EQ(q.try_get(), v);
}

TEST(ManyProducerQueue, BadCapacityIsAUsageError) {
    EXPECT_THROW(ManyQueue<int>(0), al::UsageError);
    EXPECT_THROW(ManyQueue<int>((std::size_t{1} << 26) + 1), al::UsageError);
}

TEST(ManyProducerQueue, EachEndsErrors) {
    ManyQueue<Item> q(1);
    EXPECT_THROW(q.get_sync(), al::QueueEmpty);
    Item first = make_item(1);
    q.put_sync(std::move(first));
    EXPECT_EQ(first, nullptr);
    Item second = make_item(2);
    EXPECT_THROW(q.put_sync(std::move(second)), al::QueueFull);
    ASSERT_NE(second, nullptr) << "a put refused with QueueFull lost the item";
    EXPECT_FALSE(q.try_put(std::move(second)));
    ASSERT_NE(second, nullptr);
    q.close();
    EXPECT_TRUE(q.closed());
    EXPECT_THROW(q.put_sync(std::move(second), true), al::QueueClosed);
    ASSERT_NE(second, nullptr) << "a put refused with QueueClosed lost the item";
    EXPECT_EQ(*q.get_sync(), 1u) << "an item put before close() is delivered";
    EXPECT_THROW(q.get_sync(), al::QueueClosed);
    EXPECT_THROW(q.get_sync(true), al::QueueClosed);
    al::run([&]() -> al::Task<void> {
        EXPECT_THROW(co_await q.put(std::ref(second)), al::QueueClosed);
        EXPECT_FALSE(co_await q.next());
        EXPECT_THROW(co_await q.get(), al::QueueClosed);
    }());
    ASSERT_NE(second, nullptr);
    q.close();  // idempotent
}

TEST(ManyProducerQueue, BlockingCallsOnALoopThreadAreUsageErrors) {
    ManyQueue<int> q(1);
    al::run([&]() -> al::Task<void> {
        EXPECT_THROW(q.put_sync(1, true), al::UsageError);
        EXPECT_THROW(q.get_sync(true), al::UsageError);
        co_return;
    }());
}

TEST(ManyProducerQueue, AThrowingCopyLeavesNoHole) {
    ManyQueue<Fragile> q(2);
    Fragile f(7);
    Fragile::fail_copy = true;
    EXPECT_THROW(q.put_sync(f), std::runtime_error);
    EXPECT_THROW(q.try_put(f), std::runtime_error);
    Fragile::fail_copy = false;
    EXPECT_TRUE(q.empty());
    EXPECT_TRUE(q.try_put(f));
    EXPECT_EQ(q.try_get()->value, 7) << "the failed copies left a cell claimed and never filled";
}

TEST(ManyProducerQueue, DestructionDestroysQueuedItems) {
    {
        ManyQueue<Counted> q(4);
        q.try_put(Counted(1));
        q.try_put(Counted(2));
        EXPECT_EQ(Counted::live.load(), 2);
    }
    EXPECT_EQ(Counted::live.load(), 0);
}

// Four threads put at once into a small queue with blocking puts; the
// consumer thread gets every item once, in each producer's order.
TEST(ManyProducerQueue, ThreadsPutAtOnceFifoPerProducer) {
    constexpr int producers = 4;
    const std::uint64_t per_producer = bridge_test::scaled(20'000, 500);
    ManyQueue<std::uint64_t> q(3);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&q, p, per_producer] {
            for (std::uint64_t i = 0; i < per_producer; ++i)
                q.put_sync((static_cast<std::uint64_t>(p) << 32) | i, true);
        });
    }
    std::vector<std::uint64_t> next(producers, 0);
    for (std::uint64_t n = 0; n < producers * per_producer; ++n) {
        std::uint64_t v = q.get_sync(true);
        auto p = static_cast<std::size_t>(v >> 32);
        ASSERT_LT(p, next.size());
        ASSERT_EQ(v & 0xffffffff, next[p]++) << "producer " << p << "'s items out of order";
    }
    for (auto& t : threads) t.join();
    EXPECT_TRUE(q.empty());
}

// A producer stalls between its claim and its publish. Another producer's
// later item is published, but the consumer does not skip the hole: try_get
// returns nothing, and a blocking get sleeps in the kernel (no spinning) until
// the stalled publish wakes it; then both come out in ticket order.
TEST(ManyProducerQueue, AThreadConsumerSleepsOnAHoleUntilItIsPublished) {
    ManyQueue<Stalling> q(4);
    Gate gate;
    gate.closed = true;
    std::thread stalled([&] { EXPECT_TRUE(q.try_put(Stalling(1, &gate))); });
    wait_until_reached(gate);
    EXPECT_TRUE(q.try_put(Stalling(2, nullptr))) << "a producer waited for the stalled one";
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_FALSE(q.try_get().has_value()) << "the consumer skipped the hole";
    std::atomic<pid_t> consumer_tid{0};
    std::vector<std::uint64_t> got;
    std::thread consumer([&] {
        consumer_tid.store(bridge_test::thread_id(), std::memory_order_release);  // release: read below
        got.push_back(q.get_sync(true).value);
        got.push_back(q.get_sync(true).value);
    });
    pid_t tid = 0;
    while ((tid = consumer_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();  // acquire: above
    EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(tid)) << "the consumer spins on the hole";
    gate.closed.store(false, std::memory_order_release);  // release: the stalled move reads it
    stalled.join();
    consumer.join();
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
}

TEST(ManyProducerQueue, ATaskConsumerParksOnAHoleWithItsLoopAsleep) {
    ManyQueue<Stalling> q(4);
    Gate gate;
    gate.closed = true;
    std::thread stalled([&] { EXPECT_TRUE(q.try_put(Stalling(1, &gate))); });
    wait_until_reached(gate);
    EXPECT_TRUE(q.try_put(Stalling(2, nullptr)));
    std::atomic<pid_t> loop_tid{0};
    std::vector<std::uint64_t> got;
    std::thread consumer([&] {
        loop_tid.store(bridge_test::thread_id(), std::memory_order_release);  // release: read below
        al::run([&]() -> al::Task<void> {
            got.push_back((co_await q.get()).value);
            got.push_back((co_await q.get()).value);
        }());
    });
    pid_t tid = 0;
    while ((tid = loop_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();  // acquire: above
    EXPECT_TRUE(bridge_test::wait_until_asleep_in_epoll(tid)) << "the loop spins on the hole";
    gate.closed.store(false, std::memory_order_release);  // release: the stalled move reads it
    stalled.join();
    consumer.join();
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
}

// close() while a producer is between its claim and its publish: that put was
// accepted, so the consumer waits for it, gets it, then the end marker.
TEST(ManyProducerQueue, CloseWithAProducerInFlightDeliversItsItem) {
    ManyQueue<Stalling> q(2);
    Gate gate;
    gate.closed = true;
    std::thread stalled([&] { EXPECT_TRUE(q.try_put(Stalling(1, &gate))); });
    wait_until_reached(gate);
    q.close();
    EXPECT_FALSE(q.try_put(Stalling(2, nullptr))) << "a put after close() was accepted";
    EXPECT_THROW(q.get_sync(), al::QueueEmpty) << "the accepted item is still being written";
    std::thread opener([&] {
        std::this_thread::sleep_for(20ms);
        gate.closed.store(false, std::memory_order_release);  // release: the stalled move reads it
    });
    std::vector<std::uint64_t> got;
    al::run([&]() -> al::Task<void> {
        while (std::optional<Stalling> s = co_await al::wait_for(q.next(), hang_limit)) got.push_back(s->value);
    }());
    opener.join();
    stalled.join();
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1}));
}

// Putters of two loops and two threads all wait on a full queue; a consumer
// thread drains it: every item arrives once, in each producer's order.
TEST(ManyProducerQueue, PuttersOfTwoLoopsAndThreadsWaitOnAFullQueue) {
    const std::uint64_t per_producer = bridge_test::scaled(5'000, 300);
    constexpr int tasks_per_loop = 3;
    ManyQueue<std::uint64_t> q(2);
    auto put_all = [&q, per_producer](std::uint64_t id) -> al::Task<void> {
        for (std::uint64_t i = 0; i < per_producer; ++i) co_await q.put((id << 32) | i);
    };
    std::vector<std::thread> producers;
    for (std::uint64_t loop = 0; loop < 2; ++loop) {
        producers.emplace_back([&, loop] {
            al::run([&, loop]() -> al::Task<void> {
                std::vector<al::TaskHandle<void>> tasks;
                for (std::uint64_t t = 0; t < tasks_per_loop; ++t) {
                    tasks.push_back(al::create_task(put_all(loop * tasks_per_loop + t)));
                }
                for (auto& t : tasks) co_await t;
            }());
        });
    }
    for (std::uint64_t t = 0; t < 2; ++t) {
        producers.emplace_back([&, t] {
            for (std::uint64_t i = 0; i < per_producer; ++i) q.put_sync(((2 * tasks_per_loop + t) << 32) | i, true);
        });
    }
    const std::size_t total = 2 * tasks_per_loop + 2;
    std::vector<std::uint64_t> next(total, 0);
    for (std::uint64_t n = 0; n < total * per_producer; ++n) {
        std::uint64_t v = q.get_sync(true);
        auto p = static_cast<std::size_t>(v >> 32);
        ASSERT_LT(p, total);
        ASSERT_EQ(v & 0xffffffff, next[p]++) << "producer " << p;
    }
    for (auto& t : producers) t.join();
    EXPECT_TRUE(q.empty());
}

// Tasks of one loop waiting to put are served in the order they began to wait.
TEST(ManyProducerQueue, TasksOfOneLoopPutInTheOrderTheyWaited) {
    ManyQueue<int> q(1);
    std::vector<int> got;
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(q.try_put(0));
        std::vector<al::TaskHandle<void>> putters;
        for (int i = 1; i <= 4; ++i) {
            putters.push_back(
                al::create_task([](ManyQueue<int>& queue, int v) -> al::Task<void> { co_await queue.put(v); }(q, i)));
            co_await settle();
        }
        for (int i = 0; i <= 4; ++i) got.push_back(co_await al::wait_for(q.get(), hang_limit));
        for (auto& p : putters) co_await p;
    }());
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(ManyProducerQueue, CancelledPutEnqueuesNothingAndKeepsTheItem) {
    ManyQueue<Item> q(1);
    Item kept = make_item(2);
    al::run([&]() -> al::Task<void> {
        EXPECT_TRUE(q.try_put(make_item(0)));
        auto put_ref = [](ManyQueue<Item>& queue, Item& item) -> al::Task<void> { co_await queue.put(std::ref(item)); };
        // Cancelled while parked on a full queue.
        auto putter = al::create_task(put_ref(q, kept));
        co_await settle();
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
        EXPECT_NE(kept, nullptr);
        // Cancelled after room appeared and its loop was posted, before the loop ran it.
        putter = al::create_task(put_ref(q, kept));
        co_await settle();
        EXPECT_EQ(**q.try_get(), 0u);
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
        co_await settle();
        EXPECT_TRUE(q.empty()) << "a cancelled put enqueued its item";
        EXPECT_NE(kept, nullptr) << "a cancelled put(std::ref(item)) lost the item";
        if (kept == nullptr) co_return;
        co_await al::wait_for(q.put(std::ref(kept)), hang_limit);
        EXPECT_EQ(kept, nullptr);
        EXPECT_EQ(**q.try_get(), 2u);
    }());
}

TEST(ManyProducerQueue, CancelledGetTakesNothing) {
    ManyQueue<int> q(2);
    al::run([&]() -> al::Task<void> {
        auto get_one = [](ManyQueue<int>& queue) -> al::Task<int> { co_return co_await queue.get(); };
        auto getter = al::create_task(get_one(q));
        co_await settle();
        getter.cancel();
        EXPECT_THROW(co_await getter, al::CancelledError);
        getter = al::create_task(get_one(q));
        co_await settle();
        EXPECT_TRUE(q.try_put(1));
        getter.cancel();
        EXPECT_THROW(co_await getter, al::CancelledError);
        EXPECT_EQ(q.qsize(), 1u) << "a cancelled get took an item";
        EXPECT_EQ(co_await al::wait_for(get_one(q), hang_limit), 1);
    }());
}

// Threads blocked in put_sync on a full queue all get QueueClosed when the
// consumer closes it, and keep their items.
TEST(ManyProducerQueue, CloseReleasesEveryBlockedProducer) {
    ManyQueue<Item> q(1);
    q.try_put(make_item(0));
    constexpr int producers = 3;
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&q, &refused, p] {
            Item item = make_item(static_cast<std::uint64_t>(p) + 1);
            try {
                q.put_sync(std::move(item), true);
            } catch (const al::QueueClosed&) {
                if (item != nullptr) refused.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after join
            }
        });
    }
    std::this_thread::sleep_for(20ms);
    q.close();
    for (auto& t : threads) t.join();
    EXPECT_EQ(refused.load(), producers) << "a producer stayed blocked, or lost its item";
    EXPECT_EQ(*q.get_sync(), 0u);
    EXPECT_THROW(q.get_sync(), al::QueueClosed);
}

// A loop whose tasks waited to put ends; a later loop's tasks take its entry
// over (a global queue serving successive run() calls).
TEST(ManyProducerQueue, SuccessiveLoopsWaitToPut) {
    ManyQueue<int> q(1);
    for (int round = 0; round < 3; ++round) {
        EXPECT_TRUE(q.try_put(-1));
        std::thread consumer([&] {
            std::this_thread::sleep_for(5ms);
            EXPECT_EQ(q.get_sync(true), -1);
            EXPECT_EQ(q.get_sync(true), round);
        });
        al::run([&]() -> al::Task<void> { co_await al::wait_for(q.put(round), hang_limit); }());
        consumer.join();
    }
}

namespace asynclink::detail {
template <class Queue>
struct QueueLayoutProbe {
    static std::uintptr_t at(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
    static std::uintptr_t claim(const Queue& q) { return at(&q.claim_); }
    static std::uintptr_t head(const Queue& q) { return at(&q.head_); }
    static std::uintptr_t head_ticket(const Queue& q) { return at(&q.head_ticket_); }
    static std::uintptr_t capacity(const Queue& q) { return at(&q.capacity_); }
    static std::uintptr_t first_entry(const Queue& q) { return at(&q.first_entry_); }
};
}  // namespace asynclink::detail

// The producers' claim word alone on its line; the consumer's words on
// another; the read-mostly words and the waiting putters on neither.
TEST(ManyProducerQueueLayout, TheClaimWordAndTheConsumersWordsShareNoLine) {
    using Queue = ManyQueue<std::uint64_t>;
    using Probe = al::detail::QueueLayoutProbe<Queue>;
    constexpr std::uintptr_t line = al::port::cache_line;
    static_assert(alignof(Queue) >= line);
    Queue q(8);
    auto line_of = [&](std::uintptr_t a) { return a / line; };
    EXPECT_EQ(Probe::claim(q) % line, 0u);
    EXPECT_EQ(Probe::head(q) % line, 0u);
    EXPECT_EQ(line_of(Probe::head_ticket(q)), line_of(Probe::head(q)));
    EXPECT_EQ(Probe::head(q) - Probe::claim(q), line) << "nothing shares the claim word's line";
    EXPECT_NE(line_of(Probe::capacity(q)), line_of(Probe::claim(q)));
    EXPECT_NE(line_of(Probe::first_entry(q)), line_of(Probe::head(q)));
}
