// SPDX-License-Identifier: BSL-1.0
// Queue<T>: FIFO, maxsize (0 = unbounded), put/get, put_nowait/get_nowait
// with QueueFull/QueueEmpty, and cancellation safety (no item is lost to or
// duplicated by a cancelled putter or getter).
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using Log = std::vector<std::string>;

using test_support::settle;

al::Task<int> get_and_log(Log& log, al::Queue<int>& q, std::string name) {
    try {
        int v = co_await q.get();
        log.push_back(name + " got " + std::to_string(v));
        co_return v;
    } catch (const al::CancelledError&) {
        log.push_back(name + " cancelled");
        throw;
    }
}

al::Task<void> put_and_log(Log& log, al::Queue<int>& q, int v) {
    try {
        co_await q.put(v);
        log.push_back("put " + std::to_string(v));
    } catch (const al::CancelledError&) {
        log.push_back("put " + std::to_string(v) + " cancelled");
        throw;
    }
}

std::vector<int> drain(al::Queue<int>& q) {
    std::vector<int> items;
    while (!q.empty()) items.push_back(q.get_nowait());
    return items;
}

}  // namespace

TEST(Queue, IsFifo) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q;
        for (int i = 0; i < 5; ++i) co_await q.put(i);
        EXPECT_EQ(q.qsize(), 5u);
        for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await q.get(), i);
        EXPECT_TRUE(q.empty());
    }());
}

TEST(Queue, MaxsizeZeroIsUnbounded) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q;
        EXPECT_EQ(q.maxsize(), 0u);
        for (int i = 0; i < 100000; ++i) q.put_nowait(i);
        EXPECT_FALSE(q.full());
        EXPECT_EQ(q.qsize(), 100000u);
        co_await q.put(-1);  // never waits
        EXPECT_EQ(q.qsize(), 100001u);
    }());
}

TEST(Queue, PutNowaitOnAFullQueueThrowsQueueFullAndKeepsTheContents) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q(2);
        q.put_nowait(1);
        EXPECT_FALSE(q.full());
        q.put_nowait(2);
        EXPECT_TRUE(q.full());
        EXPECT_THROW(q.put_nowait(3), al::QueueFull);
        EXPECT_EQ(drain(q), (std::vector<int>{1, 2}));
        co_return;
    }());
}

TEST(Queue, GetNowaitOnAnEmptyQueueThrowsQueueEmpty) {
    al::run([]() -> al::Task<void> {
        al::Queue<int> q(3);
        EXPECT_THROW(q.get_nowait(), al::QueueEmpty);
        q.put_nowait(4);
        EXPECT_EQ(q.get_nowait(), 4);
        EXPECT_THROW(q.get_nowait(), al::QueueEmpty);
        co_return;
    }());
}

TEST(Queue, GetWaitsForAPut) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto g = al::create_task(get_and_log(log, q, "g"));
        co_await settle();
        EXPECT_TRUE(log.empty());
        q.put_nowait(9);
        EXPECT_TRUE(q.empty());  // handed straight to the waiting getter
        EXPECT_EQ(co_await g, 9);
    }());
    EXPECT_EQ(log, Log{"g got 9"});
}

TEST(Queue, PutWaitsForSpaceAndPuttersAreServedInOrder) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q(1);
        q.put_nowait(0);
        auto p1 = al::create_task(put_and_log(log, q, 1));
        auto p2 = al::create_task(put_and_log(log, q, 2));
        co_await settle();
        EXPECT_TRUE(log.empty());
        EXPECT_THROW(q.put_nowait(3), al::QueueFull);  // waiting putters keep their place
        EXPECT_EQ(co_await q.get(), 0);
        EXPECT_EQ(co_await q.get(), 1);
        EXPECT_EQ(co_await q.get(), 2);
        co_await p1;
        co_await p2;
    }());
    EXPECT_EQ(log, (Log{"put 1", "put 2"}));
}

TEST(Queue, GettersAreServedInOrder) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto a = al::create_task(get_and_log(log, q, "a"));
        auto b = al::create_task(get_and_log(log, q, "b"));
        co_await settle();
        co_await q.put(1);
        co_await q.put(2);
        EXPECT_EQ(co_await a, 1);
        EXPECT_EQ(co_await b, 2);
    }());
}

TEST(Queue, CarriesMoveOnlyItems) {
    al::run([]() -> al::Task<void> {
        al::Queue<std::unique_ptr<int>> q(1);
        co_await q.put(std::make_unique<int>(1));
        EXPECT_THROW(q.put_nowait(std::make_unique<int>(2)), al::QueueFull);
        auto first = co_await q.get();
        EXPECT_EQ(first ? *first : -1, 1);
        q.put_nowait(std::make_unique<int>(3));
        auto second = q.get_nowait();
        EXPECT_EQ(second ? *second : -1, 3);
    }());
}

TEST(QueueCancel, AGetterWokenWithAnItemThenCancelledStillGetsTheItem) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto g = al::create_task([](Log& l, al::Queue<int>& queue) -> al::Task<void> {
            int v = co_await queue.get();
            l.push_back("got " + std::to_string(v));
            co_await al::sleep(0);  // the cancellation lands here
            l.push_back("not cancelled");
        }(log, q));
        co_await settle();
        q.put_nowait(5);  // handed to the getter
        g.cancel();
        EXPECT_THROW(co_await g, al::CancelledError);
        EXPECT_TRUE(q.empty());
    }());
    EXPECT_EQ(log, Log{"got 5"});
}

TEST(QueueCancel, ACancelledGetterLeavesTheQueueAndTheItemGoesToTheNext) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q;
        auto a = al::create_task(get_and_log(log, q, "a"));
        auto b = al::create_task(get_and_log(log, q, "b"));
        co_await settle();
        a.cancel();
        co_await settle();
        q.put_nowait(1);
        EXPECT_EQ(co_await b, 1);
        EXPECT_THROW(co_await a, al::CancelledError);
        q.put_nowait(2);
        EXPECT_EQ(q.qsize(), 1u);  // nobody waits any more
    }());
    EXPECT_EQ(log, (Log{"a cancelled", "b got 1"}));
}

TEST(QueueCancel, ACancelledPutterDoesNotEnqueueItsItem) {
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q(1);
        q.put_nowait(0);
        auto p1 = al::create_task(put_and_log(log, q, 1));
        auto p2 = al::create_task(put_and_log(log, q, 2));
        co_await settle();
        p1.cancel();
        EXPECT_THROW(co_await p1, al::CancelledError);
        EXPECT_EQ(q.get_nowait(), 0);
        co_await p2;
        EXPECT_EQ(drain(q), std::vector<int>{2});
    }());
    EXPECT_EQ(log, (Log{"put 1 cancelled", "put 2"}));
}

TEST(QueueCancel, AFailedPutNowaitOrACancelledPutOfAReferenceLeavesTheItemWithTheCaller) {
    al::run([]() -> al::Task<void> {
        al::Queue<std::unique_ptr<int>> q(1);
        q.put_nowait(std::make_unique<int>(1));
        auto second = std::make_unique<int>(2);
        EXPECT_THROW(q.put_nowait(std::move(second)), al::QueueFull);
        EXPECT_NE(second, nullptr) << "put_nowait lost the item it refused";
        auto putter =
            al::create_task([](al::Queue<std::unique_ptr<int>>& queue, std::unique_ptr<int>& item) -> al::Task<void> {
                co_await queue.put(std::ref(item));
            }(q, second));
        co_await settle();
        putter.cancel();
        EXPECT_THROW(co_await putter, al::CancelledError);
        EXPECT_TRUE(second && *second == 2) << "a cancelled put(std::ref(item)) lost the item";
        // Taken by a getter: moved in, and the queue delivers it.
        auto again =
            al::create_task([](al::Queue<std::unique_ptr<int>>& queue, std::unique_ptr<int>& item) -> al::Task<void> {
                co_await queue.put(std::ref(item));
            }(q, second));
        co_await settle();
        EXPECT_EQ(*q.get_nowait(), 1);
        co_await again;
        EXPECT_EQ(second, nullptr) << "an enqueued item was not moved in";
        EXPECT_EQ(*q.get_nowait(), 2);
        // A copyable item is copied, as before.
        al::Queue<std::string> strings(1);
        std::string text = "kept";
        strings.put_nowait(text);
        EXPECT_THROW(strings.put_nowait(text), al::QueueFull);
        EXPECT_EQ(text, "kept");
        EXPECT_EQ(strings.get_nowait(), "kept");
    }());
}

TEST(QueueCancel, APutterWhoseItemWasTakenThenCancelledSucceeds) {
    // get() moved the putter's item into the queue and woke it; cancelling it
    // before it runs must not make the put fail (the item is in the queue).
    Log log;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q(1);
        q.put_nowait(0);
        auto p = al::create_task(put_and_log(log, q, 1));
        co_await settle();
        EXPECT_EQ(q.get_nowait(), 0);
        p.cancel();
        co_await p;
        EXPECT_FALSE(p.cancelled());
        EXPECT_EQ(drain(q), std::vector<int>{1});
    }());
    EXPECT_EQ(log, Log{"put 1"});
}

TEST(QueueCancel, NoItemIsLostOrDuplicatedUnderRandomCancellation) {
    // Producers and consumers through a small queue while a third task keeps
    // cancelling consumers: every item put successfully is received once.
    std::vector<int> received;
    std::vector<int> sent;
    al::run([&]() -> al::Task<void> {
        al::Queue<int> q(2);
        auto producer = [](al::Queue<int>& queue, std::vector<int>& s, int base) -> al::Task<void> {
            for (int i = 0; i < 200; ++i) {
                co_await queue.put(base + i);
                s.push_back(base + i);
            }
        };
        auto consumer = [](al::Queue<int>& queue, std::vector<int>& r) -> al::Task<void> {
            for (;;) {
                r.push_back(co_await queue.get());
                if (r.size() % 3 == 0) co_await al::sleep(0);
            }
        };
        auto p1 = al::create_task(producer(q, sent, 0));
        auto p2 = al::create_task(producer(q, sent, 1000));
        std::vector<al::TaskHandle<void>> consumers;
        for (int i = 0; i < 3; ++i) consumers.push_back(al::create_task(consumer(q, received)));
        for (int round = 0; !p1.done() || !p2.done(); ++round) {
            co_await al::sleep(0);
            auto& victim = consumers[static_cast<std::size_t>(round) % consumers.size()];
            victim.cancel();
            try {
                co_await victim;
            } catch (const al::CancelledError&) {
            }
            victim = al::create_task(consumer(q, received));
        }
        while (!q.empty()) co_await al::sleep(0);
        for (auto& c : consumers) c.cancel();
        for (auto& c : consumers) {
            try {
                co_await c;
            } catch (const al::CancelledError&) {
            }
        }
    }());
    std::sort(received.begin(), received.end());
    std::sort(sent.begin(), sent.end());
    EXPECT_EQ(sent.size(), 400u);
    EXPECT_EQ(received, sent);
}

// An item whose copy throws (and which has no move
// constructor, so every hand-over copies it) is never lost, and nor is a
// waiting task: whichever copy throws, each item is in exactly one place
// and every waiter is still waiting or has been answered.
namespace {

struct CopyFailed : std::runtime_error {
    CopyFailed() : std::runtime_error("copy failed") {}
};

struct Fragile {
    int value;
    explicit Fragile(int v) : value(v) {}
    Fragile(const Fragile& other) : value(other.value) { count_copy(); }
    Fragile& operator=(const Fragile& other) {
        count_copy();
        value = other.value;
        return *this;
    }
    ~Fragile() = default;

    /// The n-th copy from now throws (0: none does).
    static void fail_copy(int n) { copies_until_failure = n; }

private:
    static void count_copy() {
        if (copies_until_failure > 0 && --copies_until_failure == 0) throw CopyFailed();
    }
    static inline int copies_until_failure = 0;
};

}  // namespace

TEST(QueueExceptionSafety, AGetterIsAnsweredWhicheverHandOverCopyThrows) {
    for (int n = 1; n <= 3; ++n) {
        std::vector<int> got;
        al::run([&]() -> al::Task<void> {
            al::Queue<Fragile> q;
            auto getter = al::create_task([&q, &got]() -> al::Task<void> {
                while (got.empty()) {
                    try {
                        Fragile f = co_await q.get();
                        got.push_back(f.value);
                    } catch (const CopyFailed&) {
                        // The copy out of the queue failed; the item must still be there.
                    }
                }
            });
            co_await settle();
            Fragile::fail_copy(n);
            bool put_threw = false;
            try {
                q.put_nowait(Fragile(n));
            } catch (const CopyFailed&) {
                put_threw = true;
                EXPECT_EQ(q.qsize(), 0u) << "a put that threw enqueued its item";
            }
            co_await settle();
            Fragile::fail_copy(0);
            if (put_threw) q.put_nowait(Fragile(n));  // the getter must still be waiting for it
            co_await settle();
            if (getter.done()) {
                co_await getter;
            } else {
                ADD_FAILURE() << "copy " << n << " threw and the getter was never answered";
                getter.cancel();
                EXPECT_THROW(co_await getter, al::CancelledError);
            }
            EXPECT_EQ(q.qsize(), 0u) << "copy " << n;
        }());
        EXPECT_EQ(got, std::vector<int>{n}) << "copy " << n << " threw";
    }
}

TEST(QueueExceptionSafety, ARefillFromAWaitingPutterWhoseCopyThrowsLosesNoItem) {
    for (int n = 1; n <= 3; ++n) {
        std::vector<int> taken;
        bool put_done = false;
        bool put_failed = false;
        al::run([&]() -> al::Task<void> {
            al::Queue<Fragile> q(1);
            q.put_nowait(Fragile(1));
            Fragile mine(2);
            auto putter = al::create_task([&]() -> al::Task<void> {
                try {
                    co_await q.put(std::ref(mine));
                    put_done = true;
                } catch (const CopyFailed&) {
                    put_failed = true;
                }
            });
            co_await settle();  // the putter waits: the queue is full
            Fragile::fail_copy(n);
            try {
                Fragile f = q.get_nowait();
                taken.push_back(f.value);
            } catch (const CopyFailed&) {
                EXPECT_EQ(q.qsize(), 1u) << "a get that threw took its item";
            }
            co_await settle();
            Fragile::fail_copy(0);
            while (!q.empty()) taken.push_back(q.get_nowait().value);
            co_await settle();
            if (!putter.done()) {
                ADD_FAILURE() << "copy " << n << " threw and the putter was never answered";
                putter.cancel();
                EXPECT_THROW(co_await putter, al::CancelledError);
            }
            EXPECT_EQ(mine.value, 2) << "the caller's item changed";
            if (put_failed) {
                EXPECT_EQ(std::count(taken.begin(), taken.end(), 2), 0);
            }
        }());
        EXPECT_TRUE(put_done != put_failed) << "copy " << n;
        std::vector<int> expected{1};
        if (put_done) expected.push_back(2);
        EXPECT_EQ(taken, expected) << "copy " << n << " threw";
    }
}

// Found by fuzz_queue: an item promised to a woken getter does not count in
// qsize(), so taking it makes no room; the refill from a waiting putter used
// to push anyway, leaving qsize() == 2 in a queue of maxsize 1.
TEST(Queue, TakingAPromisedItemMakesNoRoomForAWaitingPutter) {
    al::run([]() -> al::Task<void> {
        Log log;
        al::Queue<int> q(1);
        auto getter = al::create_task(get_and_log(log, q, "g"));
        co_await settle();  // g waits on the empty queue
        // The putter is queued to run before g (woken by the first put), so
        // it finds the queue full and waits while 1 is still promised to g.
        auto putter = al::create_task(put_and_log(log, q, 3));
        q.put_nowait(1);  // promised to g
        q.put_nowait(2);  // free: the queue is full now
        co_await settle();
        EXPECT_EQ(co_await std::move(getter), 1);
        EXPECT_LE(q.qsize(), q.maxsize());
        EXPECT_EQ(q.qsize(), 1u);
        EXPECT_FALSE(putter.done());   // still waiting for room
        EXPECT_EQ(q.get_nowait(), 2);  // this get makes room: 3 goes in
        co_await std::move(putter);
        EXPECT_EQ(drain(q), (std::vector<int>{3}));
    }());
}

TEST(PriorityQueue, GetTakesTheSmallestFirst) {
    al::run([]() -> al::Task<void> {
        al::PriorityQueue<int> q;
        for (int v : {5, 1, 4, 2, 3}) q.put_nowait(v);
        std::vector<int> out;
        while (!q.empty()) out.push_back(co_await q.get());
        EXPECT_EQ(out, (std::vector<int>{1, 2, 3, 4, 5}));
        al::PriorityQueue<int, std::greater<int>> largest_first;
        for (int v : {2, 9, 4}) largest_first.put_nowait(v);
        EXPECT_EQ(largest_first.get_nowait(), 9);
    }());
}

TEST(PriorityQueue, AWaitingGetterTakesTheBestItemWhenItRunsAndMaxsizeHolds) {
    al::run([]() -> al::Task<void> {
        al::PriorityQueue<std::pair<int, std::string>> q(2);
        auto getter = al::create_task([&]() -> al::Task<std::pair<int, std::string>> { co_return co_await q.get(); });
        co_await al::sleep(0);
        co_await q.put({7, "low"});  // promised to the waiting getter
        EXPECT_EQ(q.qsize(), 0u);
        co_await q.put({1, "urgent"});
        co_await q.put({3, "mid"});
        EXPECT_TRUE(q.full());
        auto first = co_await getter;
        EXPECT_EQ(first.first, 1);  // the best item when it ran
        EXPECT_EQ(q.get_nowait().first, 3);
        EXPECT_EQ(q.get_nowait().first, 7);
        EXPECT_THROW(q.get_nowait(), al::QueueEmpty);
    }());
}

TEST(LifoQueue, GetTakesTheLastPutFirst) {
    al::run([]() -> al::Task<void> {
        al::LifoQueue<std::string> q(3);
        q.put_nowait("a");
        q.put_nowait("b");
        q.put_nowait("c");
        EXPECT_THROW(q.put_nowait("d"), al::QueueFull);
        EXPECT_EQ(co_await q.get(), "c");
        EXPECT_EQ(co_await q.get(), "b");
        EXPECT_EQ(q.get_nowait(), "a");
    }());
}
