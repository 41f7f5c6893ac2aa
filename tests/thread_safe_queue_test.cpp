// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue<T>: capacity N holds N, owned or user-supplied storage, the
// non-blocking and blocking synchronous ends, the async ends on one or two
// loops, close() delivering everything put before it, move-only items,
// cancellation that takes or enqueues nothing, blocked threads costing no CPU.
// Concurrent use of one end (a debug-build abort) is in queue_misuse_test.cpp.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <random>
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

namespace {

using Item = std::unique_ptr<std::uint64_t>;

Item make_item(std::uint64_t v) { return std::make_unique<std::uint64_t>(v); }

using test_support::settle;

// Counts live instances, so a test can see that queued items are destroyed.
struct Counted {
    static inline std::atomic<int> live{0};
    explicit Counted(int v) : value(v) { live.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a tally
    Counted(Counted&& other) noexcept : value(other.value) { live.fetch_add(1, std::memory_order_relaxed); }
    Counted(const Counted&) = delete;
    Counted& operator=(Counted&&) noexcept = default;
    ~Counted() { live.fetch_sub(1, std::memory_order_relaxed); }
    int value;
};

// Puts 0, 1, 2, ... until the budget is spent, then closes; returns how many.
al::Task<std::uint64_t> produce_async(al::ThreadSafeQueue<Item>& q, bridge_test::Budget budget) {
    std::uint64_t i = 0;
    for (; budget.more(i); ++i) co_await al::wait_for(q.put(make_item(i)), hang_limit);
    q.close();
    co_return i;
}

// The same from a thread, blocking.
std::uint64_t produce_sync(al::ThreadSafeQueue<Item>& q, bridge_test::Budget budget, bool pause_at_random = false) {
    std::mt19937 rng(4);
    std::uint64_t i = 0;
    for (; budget.more(i); ++i) {
        q.put_sync(make_item(i), true);
        if (pause_at_random && rng() % 1024 == 0) std::this_thread::sleep_for(50us);  // let the consumer sleep
    }
    q.close();
    return i;
}

// Consumes until the end marker; returns how many arrived, all in order.
al::Task<std::uint64_t> consume_async(al::ThreadSafeQueue<Item>& q) {
    std::uint64_t expected = 0;
    while (auto item = co_await al::wait_for(q.next(), hang_limit)) {
        EXPECT_EQ(**item, expected);
        if (**item != expected) break;
        ++expected;
    }
    co_return expected;
}

}  // namespace

TEST(ThreadSafeQueue, CapacityNHoldsNItems) {
    for (std::size_t capacity : {1u, 2u, 5u, 16u}) {
        al::ThreadSafeQueue<int> q(capacity);
        EXPECT_EQ(q.capacity(), capacity);
        EXPECT_TRUE(q.empty());
        for (std::size_t i = 0; i < capacity; ++i) {
            EXPECT_FALSE(q.full());
            EXPECT_TRUE(q.try_put(static_cast<int>(i))) << "capacity " << capacity << " refused item " << i;
            EXPECT_EQ(q.qsize(), i + 1);
        }
        EXPECT_TRUE(q.full());
        EXPECT_FALSE(q.try_put(99)) << "capacity " << capacity << " took one item too many";
        for (std::size_t i = 0; i < capacity; ++i) EXPECT_EQ(q.try_get(), static_cast<int>(i));
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.try_get(), std::nullopt);
    }
}

// The ends check for room and for items against the other end's index as they
// last read it (the producer: the tail that fills the queue); over many laps
// of the indices, in any order of puts and gets, a put is refused exactly
// when the queue holds `capacity` items and a get finds nothing exactly when
// it holds none, in FIFO order.
TEST(ThreadSafeQueue, PutsAreRefusedExactlyWhenFullOverManyLaps) {
    std::mt19937 random(7);
    for (std::size_t capacity : {1u, 2u, 3u, 5u, 8u}) {
        al::ThreadSafeQueue<int> q(capacity);
        std::deque<int> model;
        int next = 0;
        for (int step = 0; step < 4000; ++step) {
            if (random() % 2 == 0) {
                bool accepted = q.try_put(next);
                ASSERT_EQ(accepted, model.size() < capacity) << "capacity " << capacity << ", step " << step;
                if (accepted) model.push_back(next++);
            } else {
                std::optional<int> got = q.try_get();
                ASSERT_EQ(got.has_value(), !model.empty()) << "capacity " << capacity << ", step " << step;
                if (got) {
                    ASSERT_EQ(*got, model.front());
                    model.pop_front();
                }
            }
            ASSERT_EQ(q.qsize(), model.size());
        }
        EXPECT_GT(next, static_cast<int>(4 * capacity)) << "the indices wrapped several times";
    }
}

// Each end finds its slot from the base of the half of the ring its index is
// in and moves to the other half after that half's last index: with the ends
// at any index of either half, the items come out in order, a put refused on
// the closed queue (also at a half's last index) builds nothing, and the
// queue's destructor destroys exactly the items left in it.
TEST(ThreadSafeQueue, EndsAtAnyIndexOfEitherHalfKeepOrderAndDestroyWhatIsLeft) {
    for (std::size_t capacity : {1u, 2u, 3u, 5u, 8u}) {
        for (std::size_t start = 0; start < 2 * capacity; ++start) {
            for (std::size_t left = 0; left <= capacity; ++left) {
                std::string where = "capacity " + std::to_string(capacity) + ", start " + std::to_string(start) +
                                    ", left " + std::to_string(left);
                {
                    al::ThreadSafeQueue<Counted> q(capacity);
                    for (std::size_t i = 0; i < start; ++i) {
                        ASSERT_TRUE(q.try_put(Counted(static_cast<int>(i))));
                        ASSERT_EQ(q.try_get()->value, static_cast<int>(i));
                    }
                    for (std::size_t i = 0; i < left; ++i) ASSERT_TRUE(q.try_put(Counted(static_cast<int>(i))));
                    q.close();
                    EXPECT_FALSE(q.try_put(Counted(-1))) << "the closed queue took an item; " << where;
                    if (left > 0) {
                        ASSERT_EQ(q.try_get()->value, 0) << where;
                        EXPECT_FALSE(q.try_put(Counted(-1))) << where;
                    }
                    ASSERT_EQ(q.qsize(), left == 0 ? 0 : left - 1) << where;
                    ASSERT_EQ(Counted::live.load(), static_cast<int>(q.qsize())) << where;
                }
                ASSERT_EQ(Counted::live.load(), 0) << "the destructor left items alive; " << where;
            }
        }
    }
}

// A blocked put_sync waits for a batch of room only while its spin pauses:
// one freed slot still lets it return, and no other slot ever frees here.
TEST(ThreadSafeQueue, ABlockedPutSyncReturnsOnceOneSlotIsFree) {
    for (std::size_t capacity : {4u, 256u, 1024u}) {  // batches of 1, 64, 64
        al::ThreadSafeQueue<int> q(capacity);
        for (std::size_t i = 0; i < capacity; ++i) ASSERT_TRUE(q.try_put(static_cast<int>(i)));
        std::promise<void> put;
        std::future<void> done = put.get_future();
        std::thread producer([&] {
            try {
                q.put_sync(-1, true);
            } catch (const al::QueueClosed&) {  // closed by the test on a failure
            }
            put.set_value();
        });
        // The producer finds the queue full; then one slot frees.
        EXPECT_EQ(done.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
        EXPECT_EQ(q.get_sync(), 0);
        bool returned = done.wait_for(hang_limit) == std::future_status::ready;
        if (!returned) q.close();  // let the producer end, or join() would hang too
        producer.join();
        ASSERT_TRUE(returned) << "capacity " << capacity << ": put_sync kept waiting with a slot free";
        EXPECT_EQ(q.qsize(), capacity);
    }
}

TEST(ThreadSafeQueue, ZeroCapacityIsAUsageError) {
    try {
        al::ThreadSafeQueue<int> q(0);
        ADD_FAILURE() << "a queue of capacity 0 was built";
    } catch (const al::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("capacity must be at least 1"), std::string::npos) << e.what();
    }
    std::span<al::ThreadSafeQueue<int>::slot_type> no_storage;
    EXPECT_THROW(al::ThreadSafeQueue<int>{no_storage}, al::UsageError);
}

TEST(ThreadSafeQueue, AbsurdCapacityIsAUsageErrorNotAnAllocationFailure) {
    // The capacity must be checked before the storage is allocated: otherwise
    // this throws std::bad_array_new_length (or, under ASan, aborts).
    EXPECT_THROW(al::ThreadSafeQueue<std::uint64_t>{std::numeric_limits<std::size_t>::max()}, al::UsageError);
}

TEST(ThreadSafeQueue, UserSuppliedStorageHoldsExactlyItsSize) {
    std::array<al::ThreadSafeQueue<Item>::slot_type, 3> storage;
    {
        al::ThreadSafeQueue<Item> q{std::span(storage)};
        EXPECT_EQ(q.capacity(), 3u);
        // Many laps round the storage: indices run over twice the capacity.
        std::uint64_t next_in = 0;
        std::uint64_t next_out = 0;
        for (int lap = 0; lap < 50; ++lap) {
            while (q.try_put(make_item(next_in))) ++next_in;
            EXPECT_EQ(q.qsize(), 3u);
            for (int k = 0; k < lap % 3 + 1; ++k) {
                auto item = q.try_get();
                ASSERT_TRUE(item);
                EXPECT_EQ(**item, next_out++);
            }
        }
        // Items still queued are destroyed with the queue (ASan: no leak).
        EXPECT_FALSE(q.empty());
    }
}

TEST(ThreadSafeQueue, QueuedItemsAreDestroyedWithTheQueue) {
    {
        al::ThreadSafeQueue<Counted> q(4);
        EXPECT_TRUE(q.try_put(Counted(1)));
        EXPECT_TRUE(q.try_put(Counted(2)));
        EXPECT_TRUE(q.try_put(Counted(3)));
        EXPECT_EQ(q.try_get()->value, 1);
        EXPECT_EQ(Counted::live.load(), 2);
    }
    EXPECT_EQ(Counted::live.load(), 0);
}

TEST(ThreadSafeQueue, TryPutLeavesTheItemWithTheCallerWhenFull) {
    al::ThreadSafeQueue<Item> q(1);
    Item first = make_item(1);
    EXPECT_TRUE(q.try_put(std::move(first)));
    EXPECT_EQ(first, nullptr) << "an accepted item is moved in";
    Item second = make_item(2);
    EXPECT_FALSE(q.try_put(std::move(second)));
    ASSERT_NE(second, nullptr) << "a refused item must stay with the caller";
    EXPECT_EQ(*second, 2u);
}

TEST(ThreadSafeQueue, NonBlockingSyncEndsThrowQueueFullAndQueueEmpty) {
    al::ThreadSafeQueue<int> q(2);
    EXPECT_THROW(q.get_sync(), al::QueueEmpty);
    EXPECT_THROW(q.get_sync(false), al::QueueEmpty);
    q.put_sync(1);
    q.put_sync(2, false);
    EXPECT_THROW(q.put_sync(3), al::QueueFull);
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get_sync(), 1);
    EXPECT_EQ(q.get_sync(false), 2);
    EXPECT_THROW(q.get_sync(), al::QueueEmpty);
}

TEST(ThreadSafeQueue, BlockingSyncEndsPassEveryItemInOrderBetweenThreads) {
    al::ThreadSafeQueue<Item> q(4);
    std::uint64_t sent = 0;
    std::thread producer([&] { sent = produce_sync(q, bridge_test::Budget(bridge_test::scaled(100'000))); });
    std::uint64_t received = 0;
    try {
        for (;; ++received) {
            Item item = q.get_sync(true);
            ASSERT_EQ(*item, received);
        }
    } catch (const al::QueueClosed&) {
    }
    producer.join();
    EXPECT_GT(sent, 0u);
    EXPECT_EQ(received, sent);
}

TEST(ThreadSafeQueue, CloseDeliversEveryItemPutBeforeItThenTheEndMarker) {
    al::ThreadSafeQueue<Item> q(8);
    for (std::uint64_t i = 0; i < 5; ++i) q.put_sync(make_item(i));
    q.close();
    q.close();  // idempotent
    EXPECT_TRUE(q.closed());
    al::run([&]() -> al::Task<void> {
        EXPECT_EQ(*co_await q.get(), 0u);
        EXPECT_EQ(**co_await q.next(), 1u);
        co_return;
    }());
    EXPECT_EQ(*q.get_sync(), 2u);
    EXPECT_EQ(*q.get_sync(true), 3u);
    EXPECT_EQ(**q.try_get(), 4u);
    // Drained: each API gives its own form of the end marker.
    EXPECT_EQ(q.try_get(), std::nullopt);
    EXPECT_THROW(q.get_sync(), al::QueueClosed);
    EXPECT_THROW(q.get_sync(true), al::QueueClosed);
    al::run([&]() -> al::Task<void> {
        EXPECT_EQ(co_await q.next(), std::nullopt);
        EXPECT_EQ(co_await q.next(), std::nullopt);
        EXPECT_THROW(co_await q.get(), al::QueueClosed);
    }());
}

TEST(ThreadSafeQueue, PutOnAClosedQueueFailsAndLeavesTheItemWithTheCaller) {
    al::ThreadSafeQueue<Item> q(4);
    q.close();
    Item item = make_item(7);
    EXPECT_FALSE(q.try_put(std::move(item)));
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(*item, 7u);
    EXPECT_THROW(q.put_sync(make_item(8)), al::QueueClosed);
    EXPECT_THROW(q.put_sync(make_item(9), true), al::QueueClosed);
    al::run([&]() -> al::Task<void> { EXPECT_THROW(co_await q.put(make_item(10)), al::QueueClosed); }());
    EXPECT_TRUE(q.empty());
}

TEST(ThreadSafeQueue, AFailedPutSyncOrPutOfAReferenceLeavesTheItemWithTheCaller) {
    al::ThreadSafeQueue<Item> q(1);
    Item first = make_item(1);
    q.put_sync(std::move(first));
    EXPECT_EQ(first, nullptr) << "an accepted item is moved in";
    Item second = make_item(2);
    EXPECT_THROW(q.put_sync(std::move(second)), al::QueueFull);
    ASSERT_NE(second, nullptr) << "put_sync lost the item it refused with QueueFull";
    // A put of a reference that waits on the full queue and is cancelled.
    al::run([&]() -> al::Task<void> {
        auto putter = al::create_task([](al::ThreadSafeQueue<Item>& queue, Item& item) -> al::Task<void> {
            co_await queue.put(std::ref(item));
        }(q, second));
        co_await settle();
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
    }());
    ASSERT_NE(second, nullptr) << "a cancelled put(std::ref(item)) lost the item";
    q.close();
    EXPECT_THROW(q.put_sync(std::move(second), true), al::QueueClosed);
    ASSERT_NE(second, nullptr) << "put_sync lost the item it refused with QueueClosed";
    al::run([&]() -> al::Task<void> { EXPECT_THROW(co_await q.put(std::ref(second)), al::QueueClosed); }());
    ASSERT_NE(second, nullptr) << "put(std::ref(item)) lost the item it refused with QueueClosed";
    EXPECT_EQ(*second, 2u);
    EXPECT_EQ(*q.get_sync(), 1u);
    // A copyable item is copied, as before.
    al::ThreadSafeQueue<std::string> strings(1);
    std::string text = "kept";
    strings.put_sync(text);
    EXPECT_THROW(strings.put_sync(text), al::QueueFull);
    EXPECT_EQ(text, "kept");
    EXPECT_EQ(strings.get_sync(), "kept");
}

namespace {
/// An item whose copy throws while `fail` is set (its move does not: a
/// ThreadSafeQueue needs that).
struct CopyMayThrow {
    static inline bool fail = false;
    explicit CopyMayThrow(int v) : value(v) {}
    CopyMayThrow(const CopyMayThrow& other) : value(other.value) {
        if (fail) throw std::runtime_error("copy failed");
    }
    CopyMayThrow(CopyMayThrow&&) noexcept = default;
    CopyMayThrow& operator=(const CopyMayThrow&) = default;
    int value;
};
}  // namespace

// A put whose copy throws leaves nothing behind: the exception reaches the
// caller, and the queue is as before. The put used to mark its tail busy
// (the mark a consumer of a closed queue waits to see cleared) before the
// copy, and the throw left the mark set: after close() the consumer never saw
// the end (get_sync(false) threw QueueEmpty, get_sync(true) waited forever).
TEST(ThreadSafeQueue, APutWhoseCopyThrowsLeavesTheQueueAsItWas) {
    al::ThreadSafeQueue<CopyMayThrow> q(2);
    const CopyMayThrow one(1);
    const CopyMayThrow two(2);
    ASSERT_TRUE(q.try_put(one));
    CopyMayThrow::fail = true;
    EXPECT_THROW(q.try_put(two), std::runtime_error);
    EXPECT_THROW(q.put_sync(two), std::runtime_error);
    EXPECT_THROW(q.put_sync(two, true), std::runtime_error);
    al::run([&]() -> al::Task<void> { EXPECT_THROW(co_await q.put(std::cref(two)), std::runtime_error); }());
    CopyMayThrow::fail = false;
    EXPECT_EQ(q.qsize(), 1u);
    q.close();
    EXPECT_EQ(q.get_sync().value, 1);
    // Not get_sync(true): with the mark left set it would wait forever.
    EXPECT_THROW((void)q.get_sync(false), al::QueueClosed) << "a failed copy left the tail marked busy";
}

TEST(ThreadSafeQueue, IterationYieldsEveryItemThenEnds) {
    al::ThreadSafeQueue<Item> q(3);
    std::uint64_t received = 0;
    al::run([&]() -> al::Task<void> {
        auto consumer = al::create_task(consume_async(q));
        EXPECT_EQ(co_await produce_async(q, bridge_test::Budget(100)), 100u);
        received = co_await al::wait_for(consumer, hang_limit);
    }());
    EXPECT_EQ(received, 100u);
}

TEST(ThreadSafeQueue, MoveOnlyItemsTravelThroughEveryApi) {
    // Item is a unique_ptr: this compiles only if the queue never copies.
    al::ThreadSafeQueue<Item> q(8);
    Item a = make_item(1);
    EXPECT_TRUE(q.try_put(std::move(a)));
    q.put_sync(make_item(2));
    q.put_sync(make_item(3), true);
    std::uint64_t* raw = nullptr;
    al::run([&]() -> al::Task<void> {
        Item d = make_item(4);
        raw = d.get();
        co_await q.put(std::move(d));
        EXPECT_EQ(*co_await q.get(), 1u);
        EXPECT_EQ(**co_await q.next(), 2u);
    }());
    EXPECT_EQ(*q.get_sync(), 3u);
    Item last = q.get_sync(true);
    EXPECT_EQ(last.get(), raw) << "the very object put must come out: ownership moves, nothing is copied";
}

TEST(ThreadSafeQueue, ThreadToTask) {
    al::ThreadSafeQueue<Item> q(16);
    std::uint64_t sent = 0;
    std::thread producer([&] { sent = produce_sync(q, bridge_test::Budget(bridge_test::scaled(100'000)), true); });
    std::uint64_t received = al::run(consume_async(q));
    producer.join();
    EXPECT_GT(sent, 0u);
    EXPECT_EQ(received, sent);
}

TEST(ThreadSafeQueue, TaskToThread) {
    al::ThreadSafeQueue<Item> q(16);
    std::uint64_t received = 0;
    std::thread consumer([&] {
        std::mt19937 rng(5);
        try {
            for (;; ++received) {
                Item item = q.get_sync(true);
                ASSERT_EQ(*item, received);
                if (rng() % 1024 == 0) std::this_thread::sleep_for(50us);  // let the producer task wait
            }
        } catch (const al::QueueClosed&) {
        }
    });
    std::uint64_t sent = al::run(produce_async(q, bridge_test::Budget(bridge_test::scaled(100'000))));
    consumer.join();
    EXPECT_GT(sent, 0u);
    EXPECT_EQ(received, sent);
}

// A queue whose consumer waits after every burst of fewer than 256 items
// switches, after 64 such waits, from the asymmetric fences (a membarrier per
// wait) to a full fence on both sides; bursts of 256 or more keep the
// asymmetric pair. One loop, so every count is exact. Where the port uses
// the fallback fences the queue has a full fence on both sides from the start.
TEST(ThreadSafeQueue, EndsThatWaitEveryFewItemsSwitchToFullFences) {
    for (std::uint32_t burst : {1u, 3u, 255u, 256u, 700u}) {
        al::ThreadSafeQueue<std::uint32_t> q(1024);
        constexpr std::uint32_t bursts = 100;
        std::vector<bool> switched_after;  // after each burst, seen by the producer
        auto consume = [&]() -> al::Task<void> {
            for (std::uint32_t i = 0; i < burst * bursts; ++i) EXPECT_EQ(co_await q.get(), i);
        };
        auto produce = [&]() -> al::Task<void> {
            std::uint32_t v = 0;
            for (std::uint32_t b = 0; b < bursts; ++b) {
                for (std::uint32_t i = 0; i < burst; ++i) co_await q.put(v++);
                // The consumer takes them all and waits again.
                while (q.qsize() != 0) co_await al::sleep(0);
                co_await al::sleep(0);
                switched_after.push_back(q.uses_full_fences());
            }
        };
        al::run([&]() -> al::Task<void> { co_await al::gather(consume(), produce()); }());
        bool frequent = burst < 256 || !al::port::asymmetric_fences_in_use();  // the fallback: from the start
        ASSERT_EQ(switched_after.size(), bursts);
        if (al::port::asymmetric_fences_in_use()) {
            EXPECT_FALSE(switched_after[60]) << "burst " << burst << ": switched before 64 waits";
        }
        EXPECT_EQ(switched_after.back(), frequent) << "burst " << burst;
        EXPECT_EQ(q.uses_full_fences(), frequent) << "burst " << burst;
    }
}

TEST(ThreadSafeQueue, BothEndsAsyncOnTwoLoopsOnTwoThreads) {
    for (std::size_t capacity : {1u, 7u, 64u}) {
        al::ThreadSafeQueue<Item> q(capacity);
        std::uint64_t sent = 0;
        std::thread producer_loop(
            [&] { sent = al::run(produce_async(q, bridge_test::Budget(bridge_test::scaled(50'000), 1s))); });
        std::uint64_t received = al::run(consume_async(q));
        producer_loop.join();
        EXPECT_GT(sent, 0u);
        EXPECT_EQ(received, sent) << "capacity " << capacity;
    }
}

TEST(ThreadSafeQueue, CloseFromAnotherThreadWakesAnAsyncGetterAndAnAsyncPutter) {
    al::ThreadSafeQueue<Item> in(1);
    al::ThreadSafeQueue<Item> out(1);
    out.put_sync(make_item(0));  // full: the put below waits
    std::atomic<bool> parked{false};
    std::thread closer([&] {
        // acquire: pairs with the loop's release once both tasks are parked.
        while (!parked.load(std::memory_order_acquire)) std::this_thread::yield();
        in.close();
        out.close();
    });
    al::run([&]() -> al::Task<void> {
        auto getter = al::create_task(
            [](al::ThreadSafeQueue<Item>& q) -> al::Task<bool> { co_return !(co_await q.next()).has_value(); }(in));
        auto putter = al::create_task([](al::ThreadSafeQueue<Item>& q) -> al::Task<bool> {
            try {
                co_await q.put(make_item(1));
            } catch (const al::QueueClosed&) {
                co_return true;
            }
            co_return false;
        }(out));
        co_await settle();
        parked.store(true, std::memory_order_release);  // release: see above
        EXPECT_TRUE(co_await al::wait_for(getter, hang_limit)) << "the getter did not get the end marker";
        EXPECT_TRUE(co_await al::wait_for(putter, hang_limit)) << "the putter did not get QueueClosed";
    }());
    closer.join();
    EXPECT_EQ(*out.get_sync(), 0u);
    EXPECT_THROW(out.get_sync(), al::QueueClosed);
}

TEST(ThreadSafeQueue, CloseWakesThreadsBlockedInGetSyncAndPutSync) {
    al::ThreadSafeQueue<Item> empty_q(2);
    al::ThreadSafeQueue<Item> full_q(1);
    full_q.put_sync(make_item(0));
    std::atomic<pid_t> getter_tid{0}, putter_tid{0};
    bool getter_closed = false, putter_closed = false;
    std::thread getter([&] {
        getter_tid.store(bridge_test::thread_id(), std::memory_order_relaxed);  // relaxed: only an id to probe
        try {
            empty_q.get_sync(true);
        } catch (const al::QueueClosed&) {
            getter_closed = true;
        }
    });
    std::thread putter([&] {
        putter_tid.store(bridge_test::thread_id(), std::memory_order_relaxed);  // relaxed: as above
        try {
            full_q.put_sync(make_item(1), true);
        } catch (const al::QueueClosed&) {
            putter_closed = true;
        }
    });
    while (getter_tid.load() == 0 || putter_tid.load() == 0) std::this_thread::yield();
    EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(getter_tid.load()));
    EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(putter_tid.load()));
    empty_q.close();
    full_q.close();
    getter.join();
    putter.join();
    EXPECT_TRUE(getter_closed);
    EXPECT_TRUE(putter_closed);
    EXPECT_EQ(*full_q.get_sync(), 0u) << "the item put before close() is still delivered";
}

TEST(ThreadSafeQueue, CloseRacingTheProducerLosesNothingAndDuplicatesNothing) {
    // A third thread closes while a producer thread puts as fast as it can and
    // a task consumes. Every item try_put accepted is delivered, in order, then
    // the end marker; the one it refused for being closed stays with the producer.
    bridge_test::Budget budget(bridge_test::scaled(100, 10));
    std::mt19937 rng(6);
    for (std::uint64_t round = 0; budget.more(round); ++round) {
        al::ThreadSafeQueue<Item> q(1 + rng() % 8);
        std::atomic<std::uint64_t> accepted{0};
        std::uint64_t close_after = rng() % 2000;
        Item refused;
        std::thread producer([&] {
            for (std::uint64_t i = 0;; ++i) {
                Item item = make_item(i);
                while (!q.try_put(std::move(item))) {
                    if (q.closed()) {
                        refused = std::move(item);
                        return;
                    }
                    std::this_thread::yield();
                }
                accepted.store(i + 1, std::memory_order_relaxed);  // relaxed: only paces the closer
            }
        });
        std::thread closer([&] {
            while (accepted.load(std::memory_order_relaxed) < close_after) std::this_thread::yield();
            q.close();
        });
        std::uint64_t received = al::run(consume_async(q));
        producer.join();
        closer.join();
        EXPECT_EQ(received, accepted.load());
        ASSERT_NE(refused, nullptr) << "the refused item was not left with the producer";
        EXPECT_EQ(*refused, received);
    }
}

TEST(ThreadSafeQueue, CancelledGetTakesNothing) {
    al::ThreadSafeQueue<Item> q(4);
    al::run([&]() -> al::Task<void> {
        auto get_one = [](al::ThreadSafeQueue<Item>& queue) -> al::Task<std::uint64_t> {
            co_return *co_await queue.get();
        };
        // Cancelled while parked on an empty queue.
        auto getter = al::create_task(get_one(q));
        co_await settle();
        getter.cancel();
        EXPECT_THROW(co_await getter, al::CancelledError);
        // Cancelled after an item arrived and posted its wake-up, before the loop ran it.
        getter = al::create_task(get_one(q));
        co_await settle();
        EXPECT_TRUE(q.try_put(make_item(1)));
        getter.cancel();
        EXPECT_THROW(co_await getter, al::CancelledError);
        EXPECT_EQ(q.qsize(), 1u) << "a cancelled get took an item";
        // The item is still there for the next get.
        EXPECT_EQ(co_await al::wait_for(get_one(q), hang_limit), 1u);
    }());
}

TEST(ThreadSafeQueue, CancelledPutEnqueuesNothing) {
    al::ThreadSafeQueue<Item> q(1);
    al::run([&]() -> al::Task<void> {
        auto put_one = [](al::ThreadSafeQueue<Item>& queue, std::uint64_t v) -> al::Task<void> {
            co_await queue.put(make_item(v));
        };
        EXPECT_TRUE(q.try_put(make_item(0)));
        // Cancelled while parked on a full queue.
        auto putter = al::create_task(put_one(q, 1));
        co_await settle();
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
        // Cancelled after room appeared and posted its wake-up, before the loop ran it.
        putter = al::create_task(put_one(q, 2));
        co_await settle();
        EXPECT_EQ(**q.try_get(), 0u);
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
        co_await settle();
        EXPECT_TRUE(q.empty()) << "a cancelled put enqueued its item";
        // The room is there for the next put.
        co_await al::wait_for(put_one(q, 3), hang_limit);
        EXPECT_EQ(**q.try_get(), 3u);
    }());
}

TEST(ThreadSafeQueue, RandomCancellationOfGetsLosesAndDuplicatesNothing) {
    // A thread produces a numbered stream; the task takes it with gets it
    // cancels at random. Every number arrives exactly once, in order.
    al::ThreadSafeQueue<Item> q(4);
    std::uint64_t sent = 0;
    std::thread producer([&] { sent = produce_sync(q, bridge_test::Budget(bridge_test::scaled(50'000))); });
    std::uint64_t expected = 0;
    std::uint64_t cancelled = 0;
    al::run([&]() -> al::Task<void> {
        std::mt19937 rng(7);
        for (;;) {
            auto getter = al::create_task([](al::ThreadSafeQueue<Item>& queue) -> al::Task<std::optional<Item>> {
                co_return co_await queue.next();
            }(q));
            if (rng() % 3 == 0) {
                if (rng() % 2 == 0) co_await al::sleep(0);
                getter.cancel();
            }
            try {
                std::optional<Item> item = co_await al::wait_for(getter, hang_limit);
                if (!item) break;
                EXPECT_EQ(**item, expected);
                if (**item != expected) break;
                ++expected;
            } catch (const al::CancelledError&) {
                ++cancelled;
            }
        }
    }());
    producer.join();
    EXPECT_GT(sent, 0u);
    EXPECT_EQ(expected, sent);
    EXPECT_GT(cancelled, 0u);
}

TEST(ThreadSafeQueue, AThreadBlockedInGetSyncUsesNoCpu) {
    al::ThreadSafeQueue<int> q(1);
    std::atomic<pid_t> tid{0};
    std::chrono::nanoseconds cpu{};
    int got = 0;
    std::thread consumer([&] {
        tid.store(bridge_test::thread_id(), std::memory_order_release);  // release: publishes the id
        auto before = bridge_test::thread_cpu_time();
        got = q.get_sync(true);
        cpu = bridge_test::thread_cpu_time() - before;
    });
    while (tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();  // acquire: pairs with above
    EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(tid.load()));
    std::this_thread::sleep_for(1s);
    q.put_sync(42);
    consumer.join();
    EXPECT_EQ(got, 42);
    EXPECT_LT(cpu, 50ms) << "a thread blocked 1 s in get_sync(true) used " << cpu.count() / 1000 << " us of CPU";
}

TEST(ThreadSafeQueue, AThreadBlockedInPutSyncUsesNoCpu) {
    al::ThreadSafeQueue<int> q(1);
    q.put_sync(1);
    std::atomic<pid_t> tid{0};
    std::chrono::nanoseconds cpu{};
    std::thread producer([&] {
        tid.store(bridge_test::thread_id(), std::memory_order_release);  // release: publishes the id
        auto before = bridge_test::thread_cpu_time();
        q.put_sync(2, true);
        cpu = bridge_test::thread_cpu_time() - before;
    });
    while (tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();  // acquire: pairs with above
    EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(tid.load()));
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(q.get_sync(), 1);
    producer.join();
    EXPECT_EQ(q.get_sync(), 2);
    EXPECT_LT(cpu, 50ms) << "a thread blocked 1 s in put_sync(true) used " << cpu.count() / 1000 << " us of CPU";
}

TEST(ThreadSafeQueue, StressBothWaysAcrossCoresWithRandomPauses) {
    // Thread -> task -> thread through two small queues, each side pausing at
    // random so that every wait/wake path is taken on both ends.
    const std::uint64_t count = bridge_test::scaled(1'000'000);
    al::ThreadSafeQueue<std::uint64_t> to_loop(8);
    al::ThreadSafeQueue<std::uint64_t> to_thread(8);
    std::thread producer([&] {
        bridge_test::Budget budget(count);
        std::mt19937 rng(8);
        for (std::uint64_t sent = 0; budget.more(sent); ++sent) {
            to_loop.put_sync(sent, true);
            if (rng() % 4096 == 0) std::this_thread::sleep_for(20us);
        }
        to_loop.close();
    });
    std::uint64_t thread_received = 0;
    std::thread consumer([&] {
        std::mt19937 rng(9);
        try {
            for (;;) {
                std::uint64_t v = to_thread.get_sync(true);
                ASSERT_EQ(v, thread_received);
                ++thread_received;
                if (rng() % 4096 == 0) std::this_thread::sleep_for(20us);
            }
        } catch (const al::QueueClosed&) {
        }
    });
    std::uint64_t loop_received = 0;
    al::run([&]() -> al::Task<void> {
        std::mt19937 rng(10);
        while (auto v = co_await al::wait_for(to_loop.next(), hang_limit)) {
            EXPECT_EQ(*v, loop_received);
            if (*v != loop_received) break;
            ++loop_received;
            co_await al::wait_for(to_thread.put(*v), hang_limit);
            if (rng() % 4096 == 0) co_await al::sleep(20us);
        }
        to_thread.close();
    }());
    producer.join();
    consumer.join();
    EXPECT_GT(loop_received, 0u);
    EXPECT_EQ(thread_received, loop_received);
}

// try_put(lvalue) moved from the caller's object while
// put_sync(lvalue) copied it. Every put now copies an lvalue and moves an rvalue.
TEST(ThreadSafeQueue, EveryPutCopiesAnLvalueAndMovesAnRvalue) {
    al::ThreadSafeQueue<std::string> q(8);
    std::string text = "a string too long for the small-string buffer, so a move empties it";
    const std::string original = text;
    EXPECT_TRUE(q.try_put(text));
    EXPECT_EQ(text, original) << "try_put(lvalue) must copy, as put_sync(lvalue) does";
    q.put_sync(text);
    EXPECT_EQ(text, original);
    q.put_sync(text, true);
    EXPECT_EQ(text, original);
    al::run([&]() -> al::Task<void> { co_await q.put(text); }());
    EXPECT_EQ(text, original);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(q.get_sync(), original);

    EXPECT_TRUE(q.try_put(std::move(text)));
    EXPECT_TRUE(text.empty()) << "an rvalue that was accepted is moved in";
    EXPECT_EQ(q.get_sync(), original);

    // A refused lvalue or rvalue stays with the caller.
    al::ThreadSafeQueue<std::string> one(1);
    EXPECT_TRUE(one.try_put(std::string("x")));
    std::string kept = original;
    EXPECT_FALSE(one.try_put(kept));
    EXPECT_FALSE(one.try_put(std::move(kept)));
    EXPECT_EQ(kept, original);
    one.close();
    EXPECT_FALSE(one.try_put(kept));
    EXPECT_EQ(kept, original);
}

// A blocking put_sync/get_sync in a task blocked the loop,
// and never returned when the other end was a task on that loop.
TEST(ThreadSafeQueue, BlockingSyncEndsInATaskAreAUsageErrorNamingTheAwaitable) {
    al::ThreadSafeQueue<int> q(1);
    auto message_of = [](auto&& call) -> std::string {
        try {
            call();
        } catch (const al::UsageError& e) {
            return e.what();
        }
        return "no UsageError";
    };
    al::run([&]() -> al::Task<void> {
        std::string get_error = message_of([&] { (void)q.get_sync(true); });
        EXPECT_NE(get_error.find("co_await get()"), std::string::npos) << get_error;
        EXPECT_TRUE(q.try_put(1));  // full now: a blocking put would wait for a getter on this loop
        std::string put_error = message_of([&] { q.put_sync(2, true); });
        EXPECT_NE(put_error.find("co_await put("), std::string::npos) << put_error;
        const int two = 2;
        std::string copy_error = message_of([&] { q.put_sync(two, true); });
        EXPECT_NE(copy_error.find("co_await put("), std::string::npos) << copy_error;
        // The non-blocking forms stay legal in a task.
        EXPECT_THROW(q.put_sync(3), al::QueueFull);
        EXPECT_EQ(q.get_sync(), 1);
        EXPECT_THROW((void)q.get_sync(), al::QueueEmpty);
        q.put_sync(4);
        EXPECT_EQ(co_await q.get(), 4);
    }());
    // On a thread without a loop, blocking is what they are for.
    std::thread consumer([&] { EXPECT_EQ(q.get_sync(true), 5); });
    q.put_sync(5, true);
    consumer.join();
}

// An async end waits on one live loop at a time. Here loop A still holds an
// unrun wake-up for the consumer end (posted, then its getter was cancelled)
// when a task on loop B waits at that end. Before the check, B's wait shared
// A's pending wake-up: B's put coalesced into it, B's getter was never woken
// (TimeoutError after hang_limit), and A would have run B's waiter on A's
// thread. Now B is refused with a UsageError; once A has ended, B may wait.
TEST(ThreadSafeQueue, AnEndWaitsOnOneLiveLoopAtATime) {
    using Queue = al::ThreadSafeQueue<Item>;
    Queue q(4);
    auto get_one = [](Queue& queue) -> al::Task<std::uint64_t> { co_return *co_await queue.get(); };
    // On loop B (another thread): take what is queued, then wait for one item
    // that a put made while the getter is parked.
    auto wait_on_another_loop = [&] {
        std::string outcome = "no exception";
        std::thread b([&] {
            al::run([&]() -> al::Task<void> {
                try {
                    while (q.try_get()) {
                    }
                    auto getter = al::create_task(get_one(q));
                    co_await settle();
                    EXPECT_TRUE(q.try_put(make_item(2)));
                    EXPECT_EQ(co_await al::wait_for(getter, hang_limit), 2u);
                } catch (const al::UsageError& e) {
                    outcome = e.what();
                }
            }());
        });
        b.join();
        return outcome;
    };
    {
        al::Loop a;
        a.run_until_complete([&]() -> al::Task<void> {
            auto getter = al::create_task(get_one(q));
            co_await settle();
            EXPECT_TRUE(q.try_put(make_item(1)));  // takes the waiting bit, posts to A
            getter.cancel();                       // A has not run the wake-up yet
            std::string outcome = wait_on_another_loop();
            EXPECT_NE(outcome.find("waits on another loop"), std::string::npos) << outcome;
            EXPECT_THROW(co_await getter, al::CancelledError);
        }());
    }
    // A has ended: the end passes to the next loop that waits at it.
    EXPECT_EQ(wait_on_another_loop(), "no exception");
}

namespace asynclink::detail {
template <class Queue>
struct QueueLayoutProbe {
    static std::uintptr_t at(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
    static std::uintptr_t tail(const Queue& q) { return at(&q.producer_.word); }
    static std::uintptr_t producer_limit(const Queue& q) { return at(&q.producer_.limit); }
    static std::uintptr_t head(const Queue& q) { return at(&q.consumer_.word); }
    static std::uintptr_t consumer_limit(const Queue& q) { return at(&q.consumer_.limit); }
#if ASYNCLINK_QUEUE_LAP_SLOTS
    // What each end reads per item to find its slot: its half's base and last index.
    static std::uintptr_t lap_words(const Queue& q, int side) {
        const auto& e = side == 0 ? q.producer_ : q.consumer_;
        return at(&e.lap_base) / al::port::cache_line == at(&e.last) / al::port::cache_line ? at(&e.lap_base) : 0;
    }
#endif
    static std::uintptr_t capacity(const Queue& q) { return at(&q.capacity_); }
    static std::uintptr_t closed(const Queue& q) { return at(&q.closed_); }
    static std::uintptr_t waiting(const Queue& q, int side) { return at(&q.waiting_[side]); }
};
}  // namespace asynclink::detail

// The hot words sit where the header says: each index word on a cache line of
// its own, with the end's cached view of the other index beside it, and the
// read-mostly words on neither (a producer's write must not invalidate the
// consumer's line, nor the line both read).
TEST(ThreadSafeQueueLayout, EachEndsHotWordsShareALineAndTheEndsShareNone) {
    using Queue = al::ThreadSafeQueue<std::uint64_t>;
    using Probe = al::detail::QueueLayoutProbe<Queue>;
    constexpr std::uintptr_t line = al::port::cache_line;
    static_assert(alignof(Queue) >= line, "the queue is aligned to a cache line");
    Queue q(8);
    auto line_of = [&](std::uintptr_t a) { return a / line; };
    EXPECT_EQ(Probe::tail(q) % line, 0u) << "the producer's word starts a cache line";
    EXPECT_EQ(Probe::head(q) % line, 0u) << "the consumer's word starts a cache line";
    EXPECT_EQ(line_of(Probe::producer_limit(q)), line_of(Probe::tail(q)))
        << "the producer's limit (from the head it read)";
    EXPECT_EQ(line_of(Probe::consumer_limit(q)), line_of(Probe::head(q))) << "the consumer's limit (the tail it read)";
#if ASYNCLINK_QUEUE_LAP_SLOTS
    EXPECT_EQ(line_of(Probe::lap_words(q, 0)), line_of(Probe::tail(q))) << "the producer's lap base and last index";
    EXPECT_EQ(line_of(Probe::lap_words(q, 1)), line_of(Probe::head(q))) << "the consumer's lap base and last index";
#endif
    EXPECT_NE(line_of(Probe::tail(q)), line_of(Probe::head(q)));
    EXPECT_NE(line_of(Probe::capacity(q)), line_of(Probe::tail(q)));
    EXPECT_NE(line_of(Probe::capacity(q)), line_of(Probe::head(q)));
    // The flags each end reads per item (the other's waiting flag, closed)
    // sit on the read-mostly line, written only when an end waits or closes.
    for (std::uintptr_t flag : {Probe::closed(q), Probe::waiting(q, 0), Probe::waiting(q, 1)}) {
        EXPECT_EQ(line_of(flag), line_of(Probe::capacity(q)));
    }
}
