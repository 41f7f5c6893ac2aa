// SPDX-License-Identifier: BSL-1.0
// ThreadSafeQueue<T, many_producers>: the consumer end used by two contexts at
// once aborts with a message in debug builds; any number of producers at once,
// including a signal handler putting while its own thread is in the middle of
// a put, never trips a check. NDEBUG is undefined here so the check is
// compiled in whatever the build (see queue_misuse_test.cpp); the item types
// are private to this file.
#include <gtest/gtest.h>

#undef NDEBUG
#include <asynclink/asynclink.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <thread>

#include <pthread.h>

#include "support/bridge.hpp"

namespace al = asynclink;

namespace {

// An item whose moves (inside the queue's put and get) stop at a gate while
// it is closed, if the item was made to stall.
struct Gated {
    static inline std::atomic<bool> closed{false};
    static inline std::atomic<bool> inside{false};
    explicit Gated(std::uint64_t v, bool stalls = false) noexcept : value(v), stall(stalls) {}
    Gated(Gated&& other) noexcept : value(other.value), stall(other.stall) {
        if (!stall) return;
        // release/acquire: the test waits for `inside`, then opens the gate.
        inside.store(true, std::memory_order_release);
        while (closed.load(std::memory_order_acquire)) std::this_thread::yield();
    }
    Gated& operator=(Gated&&) noexcept = default;
    std::uint64_t value;
    bool stall;
};

void wait_inside() {
    while (!Gated::inside.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: see Gated
}

using Queue = al::ThreadSafeQueue<Gated, al::many_producers>;

}  // namespace

TEST(ManyProducerMisuseDeathTest, TwoContextsGettingAtOnceAbortNamingTheConsumerEnd) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            Queue q(4);
            q.try_put(Gated(1, true));
            q.try_put(Gated(2));
            Gated::closed = true;
            Gated::inside = false;
            std::thread first([&] { (void)q.try_get(); });  // stops inside its get
            wait_inside();
            (void)q.try_get();
            first.join();
        },
        "two contexts used the consumer end");
}

namespace {
Queue* handler_queue = nullptr;
std::atomic<bool> handler_put{false};
std::atomic<bool> handler_ran{false};
extern "C" void put_from_handler(int) {
    // A copy of the signal resent by signal_until_handled() (bridge.hpp)
    // whose first copy arrived puts nothing. Relaxed: the handler does not
    // interrupt itself.
    if (handler_ran.load(std::memory_order_relaxed)) return;
    handler_put.store(handler_queue->try_put(Gated(100)), std::memory_order_relaxed);  // relaxed: published below
    handler_ran.store(true, std::memory_order_release);  // release: the test's acquire sees handler_put
}
}  // namespace

// A signal handler puts while its own thread is stopped in the middle of a put
// (between its claim and its publish): the handler claims the next ticket and
// returns; nothing aborts, and both items arrive, the stalled one first.
TEST(ManyProducerMisuse, AHandlerPuttingWhileItsThreadIsMidPutIsFine) {
    Queue q(4);
    handler_queue = &q;
    handler_ran.store(false, std::memory_order_relaxed);  // relaxed: before the handler is installed
    struct sigaction action {};
    action.sa_handler = &put_from_handler;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    ASSERT_EQ(sigaction(SIGUSR2, &action, &previous), 0);
    Gated::closed = true;
    Gated::inside = false;
    std::thread producer([&] { EXPECT_TRUE(q.try_put(Gated(1, true))); });
    wait_inside();
    // acquire: pairs with the handler's release.
    EXPECT_TRUE(bridge_test::signal_until_handled(producer.native_handle(), SIGUSR2, [] {
        return handler_ran.load(std::memory_order_acquire);
    })) << "the signal handler never ran";
    EXPECT_TRUE(handler_put.load(std::memory_order_relaxed)) << "the handler's put was refused";
    Gated::closed = false;
    producer.join();
    sigaction(SIGUSR2, &previous, nullptr);
    EXPECT_EQ(q.try_get()->value, 1u);
    EXPECT_EQ(q.try_get()->value, 100u);
}
