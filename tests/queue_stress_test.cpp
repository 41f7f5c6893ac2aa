// SPDX-License-Identifier: BSL-1.0
// Stress of ThreadSafeQueue across cores. Millions of sequence numbers go each
// way between a thread and a task, and between two loops, with random pauses on
// both sides so that each end keeps falling into the full, empty and waiting
// states; the consumer checks every value, so an item lost, duplicated or
// reordered fails the test. Capacities 1, 2 and 3 hammer the wait paths and
// the waiting-bit handshake. close() at a random point must deliver every item
// put before it, whoever closes and whenever.
//
// Built twice: as queue_stress_test, with the fences the kernel offers
// (membarrier on this machine), and as queue_stress_full_fences_test
// (ASYNCLINK_TEST_FULL_FENCES), with the fallback for a kernel without
// membarrier: a full fence on both sides (port::publish_fence).
//
// Sizes scale with ASYNCLINK_STRESS_SCALE (1 in Release, 0.05 under the
// sanitizers). A stuck test is a lost wake-up: a watchdog then prints where
// each side was and aborts instead of hanging.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "support/bridge.hpp"
#include "support/pauses.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;
using bridge_test::scaled;
using stress_test::Watchdog;
using test_support::loop_cpu;
using test_support::loop_pause;
using test_support::other_cpu;
using test_support::Prng;
using test_support::spin;
using test_support::thread_pause;

namespace {

#if ASYNCLINK_TEST_FULL_FENCES
// Before any queue chooses: as if the kernel had refused membarrier.
// relaxed: static initialization, before any thread starts.
const bool fallback_chosen = [] {
    al::port::detail::membarrier_state.store(2, std::memory_order_relaxed);
    return true;
}();
#endif

/// Asks the kernel itself, apart from the port's choice.
[[maybe_unused]] bool kernel_has_private_expedited_membarrier() {
    long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    return supported > 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0;
}

// --------------------------------------------------------------- test rig

std::uint64_t below(Prng& rng, std::uint64_t n) { return rng() % n; }

// --------------------------------------------------------------- streams

enum class End { thread, loop };

/// How long a stream may run and how often each side pauses.
struct StreamShape {
    std::size_t capacity;
    std::uint64_t max_items;
    /// The producer stops and closes when this runs out (or after max_items).
    std::chrono::milliseconds budget;
    /// One item in pause_period + 1 pauses (a power of two minus one).
    std::uint64_t pause_period;
};

/// One producer end and one consumer end moving 1, 2, 3, ... through one
/// queue, then close() from the producer. The consumer checks every value
/// against the next expected one, and that it got exactly as many as were put.
class Stream {
public:
    Stream(const StreamShape& shape, std::uint64_t seed) : queue_(shape.capacity), shape_(shape), seed_(seed) {}

    void run(End producer, End consumer) {
        Watchdog watchdog(received_, [this] { return describe(); });
        // The producer on the other CPU, the consumer on the loop's CPU (the
        // seed's "other core" layout); for loop -> loop both ends are loops.
        std::thread consumer_thread([&] { guarded([&] { consume(consumer); }); });
        std::thread producer_thread([&] { guarded([&] { produce(producer); }); });
        producer_thread.join();
        consumer_thread.join();
    }

    void expect_all_delivered() const {
        // Relaxed: read after the threads were joined.
        std::uint64_t put = put_.load(std::memory_order_relaxed);
        std::uint64_t received = received_.load(std::memory_order_relaxed);
        EXPECT_EQ(error_, "");
        EXPECT_EQ(first_bad_, 0u) << "item " << first_bad_ << " was " << bad_value_;
        EXPECT_EQ(received, put) << "items lost (or invented) at close()";
        EXPECT_GT(put, 0u);
        EXPECT_TRUE(queue_.empty());
        EXPECT_TRUE(queue_.closed());
    }

    std::uint64_t items() const noexcept { return put_.load(std::memory_order_relaxed); }  // relaxed: after run()
    /// Before run(): every wait arms at once (no spin), so the ends arm
    /// often; the producer goes on past max_items (within the budget) until
    /// the queue has switched to full fences.
    void without_spin_until_full_fences() {
        queue_.set_spin_before_block(al::Clock::duration::zero());
        until_full_fences_ = true;
    }
    /// After run(): whether the queue switched to full fences on both sides.
    bool uses_full_fences() const noexcept { return queue_.uses_full_fences(); }

private:
    void guarded(const std::function<void()>& body) {
        try {
            body();
        } catch (const std::exception& e) {
            std::lock_guard lock(error_mutex_);
            error_ += e.what();
            error_ += "; ";
        }
    }

    bool keep_producing(std::uint64_t v, std::chrono::steady_clock::time_point deadline) const noexcept {
        if (v > shape_.max_items && !(until_full_fences_ && !queue_.uses_full_fences())) return false;
        return (v & 63) != 0 || std::chrono::steady_clock::now() < deadline;
    }

    void produce(End end) {
        EXPECT_TRUE(al::port::pin_current_thread(other_cpu()));
        if (end == End::loop) {
            al::run(produce_async());
            return;
        }
        Prng rng(seed_);
        auto deadline = std::chrono::steady_clock::now() + shape_.budget;
        std::uint64_t v = 1;
        for (; keep_producing(v, deadline); ++v) {
            thread_pause(rng, shape_.pause_period);
            queue_.put_sync(v, true);
            // Relaxed: a progress report for the watchdog; the final value is read after join.
            if ((v & 1023) == 0) put_.store(v, std::memory_order_relaxed);
        }
        put_.store(v - 1, std::memory_order_relaxed);  // relaxed: as above
        queue_.close();
    }

    al::Task<void> produce_async() {
        Prng rng(seed_);
        auto deadline = std::chrono::steady_clock::now() + shape_.budget;
        std::uint64_t v = 1;
        for (; keep_producing(v, deadline); ++v) {
            std::uint64_t r = rng();
            if ((r & shape_.pause_period) == 0) co_await loop_pause(r);
            co_await queue_.put(v);
            if ((v & 1023) == 0) put_.store(v, std::memory_order_relaxed);  // relaxed: as in produce()
        }
        put_.store(v - 1, std::memory_order_relaxed);
        queue_.close();
    }

    void consume(End end) {
        EXPECT_TRUE(al::port::pin_current_thread(loop_cpu));
        if (end == End::thread) {
            Prng rng(~seed_);
            std::uint64_t expected = 1;
            for (;;) {
                thread_pause(rng, shape_.pause_period);
                std::uint64_t v;
                try {
                    v = queue_.get_sync(true);
                } catch (const al::QueueClosed&) {
                    break;
                }
                check(v, expected++);
            }
        } else {
            al::run(consume_async());
        }
        received_.store(count_, std::memory_order_relaxed);  // relaxed: read after join
    }

    al::Task<void> consume_async() {
        Prng rng(~seed_);
        std::uint64_t expected = 1;
        while (std::optional<std::uint64_t> v = co_await queue_.next()) {
            check(*v, expected++);
            std::uint64_t r = rng();
            if ((r & shape_.pause_period) == 0) co_await loop_pause(r);
        }
    }

    void check(std::uint64_t value, std::uint64_t expected) noexcept {
        if (value != expected && first_bad_ == 0) {
            first_bad_ = expected;
            bad_value_ = value;
        }
        ++count_;
        // Relaxed: a progress report for the watchdog.
        if ((count_ & 255) == 0) received_.store(count_, std::memory_order_relaxed);
    }

    std::string describe() const {
        // Relaxed: a diagnostic snapshot of a stuck test.
        return "capacity " + std::to_string(queue_.capacity()) +
               ", put >= " + std::to_string(put_.load(std::memory_order_relaxed)) +
               ", received >= " + std::to_string(received_.load(std::memory_order_relaxed)) + ", qsize " +
               std::to_string(queue_.qsize()) + (queue_.closed() ? ", closed" : ", open");
    }

    al::ThreadSafeQueue<std::uint64_t> queue_;
    StreamShape shape_;
    std::uint64_t seed_;
    bool until_full_fences_ = false;
    std::atomic<std::uint64_t> put_{0};
    std::atomic<std::uint64_t> received_{0};
    std::uint64_t count_ = 0;  // consumer only
    std::uint64_t first_bad_ = 0;
    std::uint64_t bad_value_ = 0;
    std::mutex error_mutex_;
    std::string error_;
};

const char* name_of(End end) { return end == End::thread ? "Thread" : "Loop"; }

}  // namespace

// The fences the streams below ran with: the fallback in the full-fences
// build, else membarrier where this kernel offers it.
TEST(QueueStress, TheFencesAreTheOnesThisBuildMeansToTest) {
    al::ThreadSafeQueue<int> q(1);  // a queue chooses the fences
    // relaxed: read on the thread that made the choice.
    int state = al::port::detail::membarrier_state.load(std::memory_order_relaxed);
#if ASYNCLINK_TEST_FULL_FENCES
    EXPECT_TRUE(fallback_chosen);
    EXPECT_EQ(state, 2) << "the full-fences build runs with the fallback";
#else
    EXPECT_EQ(state, kernel_has_private_expedited_membarrier() ? 1 : 2);
#endif
    // A new queue starts with the asymmetric pair where membarrier is in use.
    EXPECT_EQ(q.uses_full_fences(), state != 1);
}

// ----------------------------------------------------------- full size

// At least 10 million items each way in Release, with no time limit: the count
// is the point. A larger queue and rarer pauses than below, since on a loaded
// machine every sleep and wake costs a scheduling delay.
StreamShape ten_million_items() { return {4096, scaled(10'000'000, 10'000), std::chrono::hours(1), 8191}; }

TEST(QueueStress, TenMillionItemsThreadOnOtherCpuToTask) {
    Stream stream(ten_million_items(), 0x5eed0001);
    stream.run(End::thread, End::loop);
    stream.expect_all_delivered();
    EXPECT_EQ(stream.items(), scaled(10'000'000, 10'000));
}

TEST(QueueStress, TenMillionItemsTaskToThreadOnOtherCpu) {
    Stream stream(ten_million_items(), 0x5eed0002);
    stream.run(End::loop, End::thread);
    stream.expect_all_delivered();
    EXPECT_EQ(stream.items(), scaled(10'000'000, 10'000));
}

TEST(QueueStress, TenMillionItemsLoopToLoopAcrossCpus) {
    Stream stream(ten_million_items(), 0x5eed0003);
    stream.run(End::loop, End::loop);
    stream.expect_all_delivered();
    EXPECT_EQ(stream.items(), scaled(10'000'000, 10'000));
}

// ----------------------------------------------------------- small capacity

struct SmallCase {
    std::size_t capacity;
    End producer;
    End consumer;
};

class QueueStressSmall : public testing::TestWithParam<SmallCase> {};

// Capacity 1 to 3: nearly every item finds the queue full or empty, so nearly
// every item goes through the waiting bit, a park and a wake. Each costs a
// scheduling delay, so these run for a time budget rather than a count; the
// producer then closes, and the consumer must have every item put.
TEST_P(QueueStressSmall, EveryItemOnceInOrder) {
    const SmallCase& c = GetParam();
    auto budget = std::chrono::milliseconds(scaled(2000, 200));
    Stream stream({c.capacity, scaled(1'000'000, 2'000), budget, 255}, 0x5a11 + c.capacity);
    stream.run(c.producer, c.consumer);
    stream.expect_all_delivered();
    std::printf("capacity %zu: %llu items\n", c.capacity, static_cast<unsigned long long>(stream.items()));
}

INSTANTIATE_TEST_SUITE_P(Capacity, QueueStressSmall,
                         testing::Values(SmallCase{1, End::thread, End::loop}, SmallCase{2, End::thread, End::loop},
                                         SmallCase{3, End::thread, End::loop}, SmallCase{1, End::loop, End::thread},
                                         SmallCase{2, End::loop, End::thread}, SmallCase{3, End::loop, End::thread},
                                         SmallCase{1, End::loop, End::loop}, SmallCase{2, End::loop, End::loop},
                                         SmallCase{3, End::loop, End::loop}, SmallCase{1, End::thread, End::thread}),
                         [](const testing::TestParamInfo<SmallCase>& param_info) {
                             return std::string(name_of(param_info.param.producer)) + "To" +
                                    name_of(param_info.param.consumer) + "Capacity" +
                                    std::to_string(param_info.param.capacity);
                         });

// ----------------------------------------------------------- fence modes

class QueueStressFenceModes : public testing::TestWithParam<SmallCase> {};

// Ends that never spin arm at nearly every wait, so the queue switches from
// the asymmetric fences (membarrier) to a full fence on both sides while the
// items flow (FenceMode in thread_safe_queue.hpp, proof/queue_asymmetric.pml
// -DADAPTIVE): every item still arrives once and in order, with no lost
// wake-up (the watchdog) before, during or after the switch. Where the port
// uses the fallback fences (the full-fences build) the queue has a full
// fence on both sides from the start.
TEST_P(QueueStressFenceModes, SwitchMidStreamLosesNothing) {
    const SmallCase& c = GetParam();
    // Bounded in time; a switch takes 64 waits, a few hundred items here.
    Stream stream({c.capacity, scaled(200'000, 4'000), 20s, 15}, 0xfe9ce + c.capacity);
    stream.without_spin_until_full_fences();
    stream.run(c.producer, c.consumer);
    stream.expect_all_delivered();
    EXPECT_TRUE(stream.uses_full_fences()) << stream.items() << " items";
}

INSTANTIATE_TEST_SUITE_P(Capacity, QueueStressFenceModes,
                         testing::Values(SmallCase{1, End::thread, End::loop}, SmallCase{4, End::loop, End::thread},
                                         SmallCase{2, End::thread, End::thread}, SmallCase{3, End::loop, End::loop}),
                         [](const testing::TestParamInfo<SmallCase>& param_info) {
                             return std::string(name_of(param_info.param.producer)) + "To" +
                                    name_of(param_info.param.consumer) + "Capacity" +
                                    std::to_string(param_info.param.capacity);
                         });

// ----------------------------------------------------------- close()

struct Direction {
    End producer;
    End consumer;
};

class QueueStressClose : public testing::TestWithParam<Direction> {};

// Many short streams of a random length through a random small capacity, each
// ended by the producer's close() wherever the consumer happens to be (parked
// on an empty queue, mid-batch, pausing): every item before close() arrives.
TEST_P(QueueStressClose, ProducerClosesAtARandomPoint) {
    Prng rng(0xc105e);
    bridge_test::Budget rounds(scaled(1000, 10), 3s);
    for (std::uint64_t round = 0; rounds.more(round) && !HasFailure(); ++round) {
        StreamShape shape{1 + below(rng, 8), 1 + below(rng, 500), std::chrono::hours(1), 63};
        Stream stream(shape, rng());
        stream.run(GetParam().producer, GetParam().consumer);
        stream.expect_all_delivered();
        EXPECT_EQ(stream.items(), shape.max_items) << "round " << round;
    }
}

INSTANTIATE_TEST_SUITE_P(Direction, QueueStressClose,
                         testing::Values(Direction{End::thread, End::loop}, Direction{End::loop, End::thread},
                                         Direction{End::loop, End::loop}, Direction{End::thread, End::thread}),
                         [](const testing::TestParamInfo<Direction>& param_info) {
                             return std::string(name_of(param_info.param.producer)) + "To" +
                                    name_of(param_info.param.consumer);
                         });

// close() from a third thread at a random moment while a producer thread and a
// consumer task run flat out: every put that succeeded is delivered, in order,
// and every put after close() fails with QueueClosed.
TEST(QueueStressCloseRace, ThirdThreadClosesWhileBothEndsRun) {
    Prng rng(0x7d12d);
    bridge_test::Budget rounds(scaled(3000, 20), 2s);
    for (std::uint64_t round = 0; rounds.more(round) && !HasFailure(); ++round) {
        al::ThreadSafeQueue<std::uint64_t> queue(1 + below(rng, 4));
        std::atomic<std::uint64_t> progress{0};
        std::uint64_t put = 0;
        std::uint64_t received = 0;
        std::uint64_t out_of_order = 0;
        Watchdog watchdog(progress, [&] { return "round " + std::to_string(round) + " of the close race"; });
        std::thread consumer([&] {
            al::port::pin_current_thread(loop_cpu);
            al::run([&]() -> al::Task<void> {
                while (std::optional<std::uint64_t> v = co_await queue.next()) {
                    if (*v != ++received) ++out_of_order;
                    progress.fetch_add(1, std::memory_order_relaxed);  // relaxed: watchdog only
                }
            }());
        });
        std::thread producer([&] {
            al::port::pin_current_thread(other_cpu());
            try {
                for (;;) {
                    queue.put_sync(put + 1, true);
                    ++put;
                }
            } catch (const al::QueueClosed&) {
            }
        });
        spin(below(rng, 200'000));
        queue.close();
        producer.join();
        consumer.join();
        EXPECT_EQ(received, put) << "round " << round << ": items put before close() were lost";
        EXPECT_EQ(out_of_order, 0u) << "round " << round;
    }
}

// The consumer takes a few items, closes the queue and stops reading, while
// the producer thread is blocked on the full queue: the producer must get
// QueueClosed (not stay parked), and what it put before is still there.
TEST(QueueStressCloseRace, ConsumerClosesWhileTheProducerIsBlockedOnAFullQueue) {
    Prng rng(0xb10c);
    bridge_test::Budget rounds(scaled(3000, 20), 2s);
    for (std::uint64_t round = 0; rounds.more(round) && !HasFailure(); ++round) {
        std::size_t capacity = 1 + below(rng, 3);
        al::ThreadSafeQueue<std::uint64_t> queue(capacity);
        std::atomic<std::uint64_t> put{0};
        std::atomic<bool> producer_done{false};
        Watchdog watchdog(
            put,
            [&] {
                // Relaxed: a diagnostic snapshot.
                return "round " + std::to_string(round) + ": producer still blocked in put_sync after close(); put " +
                       std::to_string(put.load(std::memory_order_relaxed)) + ", qsize " +
                       std::to_string(queue.qsize()) + ", closed " + std::to_string(queue.closed()) + ", done " +
                       std::to_string(producer_done.load(std::memory_order_relaxed));
            },
            20s);
        std::thread producer([&] {
            al::port::pin_current_thread(other_cpu());
            try {
                for (std::uint64_t v = 1;; ++v) {
                    queue.put_sync(v, true);
                    put.store(v, std::memory_order_relaxed);  // relaxed: read after join, and by the watchdog
                }
            } catch (const al::QueueClosed&) {
            }
            producer_done.store(true, std::memory_order_relaxed);  // relaxed: diagnostic
        });
        std::uint64_t taken = below(rng, 6);
        std::uint64_t pause = below(rng, 20'000);
        std::thread consumer([&] {
            al::port::pin_current_thread(loop_cpu);
            for (std::uint64_t i = 1; i <= taken; ++i) EXPECT_EQ(queue.get_sync(true), i);
            spin(pause);
            queue.close();
        });
        consumer.join();
        producer.join();
        // Everything put before close() is still there, in order.
        std::uint64_t expected = taken + 1;
        while (std::optional<std::uint64_t> v = queue.try_get()) EXPECT_EQ(*v, expected++);
        EXPECT_EQ(expected - 1, put.load(std::memory_order_relaxed)) << "round " << round;  // relaxed: after join
        EXPECT_THROW(queue.get_sync(), al::QueueClosed);
    }
}

namespace {

std::atomic<al::ThreadSafeQueue<std::uint64_t>*> queue_to_close{nullptr};

extern "C" void close_queue_from_signal(int) {
    // acquire: pairs with the test's release store, so the queue is fully built.
    if (auto* q = queue_to_close.load(std::memory_order_acquire)) q->close();
}

}  // namespace

// The close race above, made deterministic: the producer is parked in
// put_sync(block) on a full queue, and a signal handler that interrupts that
// very thread closes the queue (close() is async-signal-safe). With SA_RESTART
// the kernel restarts the interrupted wait, so put_sync must notice close()
// through the word it sleeps on, not through a wake-up sent to nobody.
//
// The signal is SIGSYS, and it is sent once the producer sleeps in the
// kernel. ThreadSanitizer runs an asynchronous signal's handler only when the
// thread next enters an intercepted call, which a thread parked in a raw futex
// system call (restarted by SA_RESTART) never does; it runs the handler of a
// synchronous signal (SIGSYS is one, by number) at once. Sent while the thread
// sleeps in the kernel, the handler cannot land inside the sanitizer's own
// bookkeeping, so every build runs this test the same way.
TEST(QueueStressCloseRace, SignalHandlerClosesTheQueueItsThreadIsBlockedOn) {
    struct sigaction action {};
    action.sa_handler = &close_queue_from_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    const int signal_number = SIGSYS;
    ASSERT_EQ(sigaction(signal_number, &action, &previous), 0);

    for (std::size_t capacity = 1; capacity <= 3; ++capacity) {
        al::ThreadSafeQueue<std::uint64_t> queue(capacity);
        queue_to_close.store(&queue, std::memory_order_release);  // release: see the handler
        std::atomic<bool> producer_done{false};
        std::atomic<pid_t> producer_tid{0};
        std::uint64_t put = 0;
        std::thread producer([&] {
            producer_tid.store(bridge_test::thread_id(), std::memory_order_release);  // release: read below
            try {
                for (;;) {
                    queue.put_sync(put + 1, true);
                    ++put;
                }
            } catch (const al::QueueClosed&) {
            }
            producer_done.store(true, std::memory_order_release);  // release: `put` is read after this
        });
        while (!queue.full()) std::this_thread::yield();
        pid_t tid = 0;
        // acquire: pairs with the producer's release.
        while ((tid = producer_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
        EXPECT_TRUE(bridge_test::wait_until_parked_on_futex(tid)) << "the producer never parked: it busy-waits";
        pthread_kill(producer.native_handle(), signal_number);

        auto deadline = std::chrono::steady_clock::now() + 10s;
        // acquire: pairs with the producer's release.
        while (!producer_done.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        bool stuck = !producer_done.load(std::memory_order_acquire);  // acquire: as above
        EXPECT_FALSE(stuck) << "capacity " << capacity
                            << ": the producer stayed parked in put_sync for 10 s after a signal handler on its "
                               "thread closed the queue (lost wake-up: close() did not change the word it sleeps on)";
        if (stuck) {
            // Free it the only way left: make room, which changes the word.
            EXPECT_TRUE(queue.try_get().has_value());
        }
        producer.join();
        EXPECT_EQ(put, capacity);
        std::uint64_t expected = stuck ? 2 : 1;
        while (std::optional<std::uint64_t> v = queue.try_get()) EXPECT_EQ(*v, expected++);
        EXPECT_EQ(expected - 1, put);
        queue_to_close.store(nullptr, std::memory_order_release);  // release: as above
    }
    sigaction(signal_number, &previous, nullptr);
}
