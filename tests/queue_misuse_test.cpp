// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue: one end used by two contexts at once aborts with a message
// in debug builds. Every build type this suite runs in (Release, and the
// RelWithDebInfo sanitizer builds) defines NDEBUG, so this file undefines it
// before including asynclink: the check is compiled in here whatever the build.
// Only item types private to this file are queued, so no ThreadSafeQueue
// instantiation is shared with code compiled with NDEBUG defined.
#include <gtest/gtest.h>

#undef NDEBUG
#include <asynclink/asynclink.hpp>

#include <atomic>
#include <cstdint>
#include <thread>

#include <unistd.h>

#include "support/bridge.hpp"

namespace al = asynclink;

namespace {

// An item whose move constructor (which runs inside push and pop, with the
// end held) can stop and wait, or use the queue itself, on request.
struct Probe {
    enum class OnMove { nothing, wait_forever, put_again, get_again };
    static inline std::atomic<OnMove> on_move{OnMove::nothing};
    static inline std::atomic<bool> inside{false};
    static inline al::ThreadSafeQueue<Probe>* queue = nullptr;

    int value = 0;
    explicit Probe(int v) noexcept : value(v) {}
    Probe(Probe&& other) noexcept : value(other.value) {
        // relaxed (all): flags of a death test's child, read after the stores they order.
        switch (on_move.exchange(OnMove::nothing, std::memory_order_relaxed)) {
        case OnMove::nothing: break;
        case OnMove::wait_forever:
            inside.store(true, std::memory_order_release);  // release: the other thread may go
            for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        case OnMove::put_again:
            // Like a signal handler interrupting a put to put on the same end.
            (void)queue->try_put(Probe(-1));
            break;
        case OnMove::get_again: (void)queue->try_get(); break;
        }
    }
    Probe& operator=(Probe&& other) noexcept {
        value = other.value;
        return *this;
    }
};

void wait_until_inside() {
    // acquire: pairs with the release in the blocked move constructor.
    while (!Probe::inside.load(std::memory_order_acquire)) std::this_thread::yield();
}

}  // namespace

TEST(QueueMisuseDeathTest, TwoThreadsPuttingAtOnceAbortNamingTheProducerEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            alarm(30);  // without the check the second put succeeds and join() waits forever
            static al::ThreadSafeQueue<Probe> q(4);
            Probe::on_move.store(Probe::OnMove::wait_forever);
            std::thread first([] { (void)q.try_put(Probe(1)); });  // stops inside its put
            wait_until_inside();
            (void)q.try_put(Probe(2));
            first.join();
        },
        "two contexts used the producer end of a ThreadSafeQueue at once");
}

TEST(QueueMisuseDeathTest, TwoThreadsGettingAtOnceAbortNamingTheConsumerEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            alarm(30);  // as above
            static al::ThreadSafeQueue<Probe> q(4);
            (void)q.try_put(Probe(1));
            (void)q.try_put(Probe(2));
            Probe::on_move.store(Probe::OnMove::wait_forever);
            std::thread first([] { (void)q.try_get(); });  // stops inside its get
            wait_until_inside();
            (void)q.try_get();
            first.join();
        },
        "two contexts used the consumer end of a ThreadSafeQueue at once");
}

TEST(QueueMisuseDeathTest, AHandlerPuttingWhileItsThreadIsMidPutAborts) {
    // What a signal handler sharing the producer end with the code it
    // interrupts would do: nested use of one end on one thread.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            static al::ThreadSafeQueue<Probe> q(4);
            Probe::queue = &q;
            Probe::on_move.store(Probe::OnMove::put_again);
            (void)q.try_put(Probe(1));
        },
        "producer end");
}

TEST(QueueMisuseDeathTest, AHandlerGettingWhileItsThreadIsMidGetAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            static al::ThreadSafeQueue<Probe> q(4);
            Probe::queue = &q;
            (void)q.try_put(Probe(1));
            (void)q.try_put(Probe(2));
            Probe::on_move.store(Probe::OnMove::get_again);
            (void)q.try_get();
        },
        "consumer end");
}

TEST(QueueMisuse, EndsHandedFromOneThreadToAnotherInTurnAreFine) {
    // The check is about use at the same moment; taking turns is legitimate.
    al::ThreadSafeQueue<Probe> q(8);
    std::thread([&] { EXPECT_TRUE(q.try_put(Probe(1))); }).join();
    std::thread([&] { EXPECT_TRUE(q.try_put(Probe(2))); }).join();
    std::thread([&] { EXPECT_EQ(q.try_get()->value, 1); }).join();
    EXPECT_EQ(q.try_get()->value, 2);
}

TEST(QueueMisuse, AProducerAndAConsumerAtOnceNeverTripTheCheck) {
    // One context per end is the intended use: a stream across two threads in
    // a debug build must not abort.
    struct Number {
        std::uint64_t value;
    };
    al::ThreadSafeQueue<Number> q(16);
    const std::uint64_t count = bridge_test::scaled(100'000);
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < count; ++i) q.put_sync(Number{i}, true);
    });
    for (std::uint64_t i = 0; i < count; ++i) ASSERT_EQ(q.get_sync(true).value, i);
    producer.join();
}
