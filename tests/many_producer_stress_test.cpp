// SPDX-License-Identifier: BSL-1.0
// Stress of ThreadSafeQueue<T, many_producers>: four producer threads on two
// CPUs (blocking puts), a periodic timer signal whose handler try_puts on one
// of them (so it lands in the middle of that thread's own puts: a claim and
// publish preempted by another claim and publish on the same core), and a
// task on a second loop (co_await put), all feeding one consumer: a task on
// the loop, or a thread in get_sync(true). Random pauses keep every side
// drifting in and out of full, empty and hole. The consumer checks each
// producer's sequence (every item once, in that producer's order, nothing
// invented), and the totals at the end, after close().
//
// Sizes scale with ASYNCLINK_STRESS_SCALE (1 in Release: 12 million items per
// run with the large queue); each run also stops at a time budget, so a
// loaded machine does fewer items rather than running for minutes. A stuck
// run is a lost wake-up: the watchdog then says where and aborts.
#include <asynclink/asynclink.hpp>
#include <asynclink/posix/periodic_signal.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <mutex>
#include <optional>
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
using test_support::loop_pause;
using test_support::Prng;
using test_support::spin;
using test_support::thread_pause;

namespace {

using Queue = al::ThreadSafeQueue<std::uint64_t, al::many_producers>;

constexpr int thread_producers = 4;
constexpr int handler_producer = thread_producers;  // id of the signal handler
constexpr int task_producer = thread_producers + 1;
constexpr int producers = thread_producers + 2;

std::uint64_t item(int producer, std::uint64_t seq) { return (static_cast<std::uint64_t>(producer) << 48) | seq; }

enum class Consumer { task, thread };

struct Shape {
    std::size_t capacity;
    std::uint64_t items_per_producer;
    std::chrono::milliseconds budget;
    std::uint64_t pause_period;  // a power of two minus one
};

/// The signal handler's producer: its own sequence, advanced only by a put
/// that was accepted (a full queue refuses it; the handler never waits).
struct HandlerProducer {
    Queue* queue = nullptr;
    std::atomic<std::uint32_t> accepted{0};
    std::atomic<std::uint32_t> refused{0};
    std::atomic<bool> stop{false};
};

void handler_put(void* arg) noexcept {
    auto& h = *static_cast<HandlerProducer*>(arg);
    // relaxed (all): only this handler writes the counters; read after the
    // signal is stopped (the PeriodicSignal destructor).
    if (h.stop.load(std::memory_order_relaxed)) return;
    std::uint32_t seq = h.accepted.load(std::memory_order_relaxed);
    if (h.queue->try_put(item(handler_producer, seq + 1))) {
        h.accepted.store(seq + 1, std::memory_order_relaxed);
    } else {
        h.refused.fetch_add(1, std::memory_order_relaxed);
    }
}

class Streams {
public:
    Streams(const Shape& shape, std::uint64_t seed) : queue_(shape.capacity), shape_(shape), seed_(seed) {
        handler_.queue = &queue_;
    }

    void go(Consumer consumer) {
        Watchdog watchdog(progress_, [this] { return describe(); });
        deadline_ = std::chrono::steady_clock::now() + shape_.budget;
        std::thread consuming([&] {
            al::port::pin_current_thread(0);
            if (consumer == Consumer::task) {
                al::run(consume_async());
            } else {
                consume_sync();
            }
        });
        std::vector<std::thread> threads;
        for (int p = 0; p < thread_producers; ++p) threads.emplace_back([this, p] { produce_sync(p); });
        threads.emplace_back([this] { al::run(produce_async()); });
        for (auto& t : threads) t.join();
        queue_.close();
        consuming.join();
    }

    void expect_all_delivered() {
        EXPECT_EQ(error_, "");
        for (int p = 0; p < producers; ++p) {
            // relaxed: read after the threads were joined.
            std::uint64_t put = p == handler_producer ? handler_.accepted.load(std::memory_order_relaxed) : put_[p];
            EXPECT_EQ(next_[p], put) << "producer " << p << ": items lost (or invented)";
        }
        EXPECT_TRUE(queue_.empty());
        EXPECT_TRUE(queue_.closed());
        EXPECT_GT(total(), 0u);
    }

    std::uint64_t total() const {
        std::uint64_t sum = 0;
        for (std::uint64_t n : next_) sum += n;
        return sum;
    }
    std::uint32_t handler_items() const { return handler_.accepted.load(std::memory_order_relaxed); }

private:
    bool keep_going(std::uint64_t i) const {
        return i < shape_.items_per_producer && ((i & 7) != 0 || std::chrono::steady_clock::now() < deadline_);
    }

    void produce_sync(int p) {
        al::port::pin_current_thread(p % 2 == 0 ? 1 : 0);
        std::optional<al::PeriodicSignal> signal;
        // 200 us: a handler that costs more than the period (a sanitizer's
        // signal interception, a loaded machine) would starve this producer.
        if (p == 0) signal.emplace(200us, &handler_put, &handler_);
        Prng rng(seed_ + static_cast<std::uint64_t>(p));
        std::uint64_t i = 0;
        for (; keep_going(i); ++i) {
            thread_pause(rng, shape_.pause_period);
            queue_.put_sync(item(p, i + 1), true);
        }
        put_[p] = i;
        if (signal) {
            handler_.stop.store(true, std::memory_order_relaxed);  // relaxed: the destructor below synchronises
            signal.reset();
        }
    }

    al::Task<void> produce_async() {
        Prng rng(seed_ + 99);
        std::uint64_t i = 0;
        for (; keep_going(i); ++i) {
            std::uint64_t r = rng();
            if ((r & shape_.pause_period) == 0) co_await loop_pause(r);
            co_await queue_.put(item(task_producer, i + 1));
        }
        put_[task_producer] = i;
    }

    void check(std::uint64_t v) {
        auto p = static_cast<std::size_t>(v >> 48);
        std::uint64_t seq = v & ((std::uint64_t{1} << 48) - 1);
        if (p >= producers) {
            record("an item from no producer: " + std::to_string(v));
            return;
        }
        if (seq != next_[p] + 1) {
            record("producer " + std::to_string(p) + ": got " + std::to_string(seq) + " after " +
                   std::to_string(next_[p]));
        }
        next_[p] = seq;
        // relaxed: a progress report for the watchdog.
        progress_.fetch_add(1, std::memory_order_relaxed);
    }

    al::Task<void> consume_async() {
        Prng rng(~seed_);
        while (std::optional<std::uint64_t> v = co_await queue_.next()) {
            check(*v);
            std::uint64_t r = rng();
            if ((r & shape_.pause_period) == 0) co_await loop_pause(r);
        }
    }

    void consume_sync() {
        Prng rng(~seed_);
        for (;;) {
            thread_pause(rng, shape_.pause_period);
            try {
                check(queue_.get_sync(true));
            } catch (const al::QueueClosed&) {
                return;
            }
        }
    }

    void record(const std::string& what) {
        std::lock_guard lock(error_mutex_);
        if (error_.size() < 2000) error_ += what + "; ";
    }

    std::string describe() const {
        // relaxed: a diagnostic snapshot of a stuck run.
        return "capacity " + std::to_string(queue_.capacity()) + ", received " +
               std::to_string(progress_.load(std::memory_order_relaxed)) + ", qsize " + std::to_string(queue_.qsize()) +
               (queue_.closed() ? ", closed" : ", open");
    }

    Queue queue_;
    Shape shape_;
    std::uint64_t seed_;
    std::chrono::steady_clock::time_point deadline_;
    HandlerProducer handler_;
    std::array<std::uint64_t, producers> put_{};   // each written by its producer, read after join
    std::array<std::uint64_t, producers> next_{};  // consumer only
    std::atomic<std::uint64_t> progress_{0};
    std::mutex error_mutex_;
    std::string error_;
};

struct Case {
    std::size_t capacity;
    Consumer consumer;
};
// GoogleTest prints a parameter it cannot format as its raw bytes, padding
// included, which valgrind reports as uninitialised reads.
void PrintTo(const Case& c, std::ostream* os) {
    *os << "capacity " << c.capacity << ", " << (c.consumer == Consumer::task ? "task" : "thread") << " consumer";
}

class ManyProducerStress : public testing::TestWithParam<Case> {};

TEST_P(ManyProducerStress, EveryItemOnceInEachProducersOrder) {
    const Case& c = GetParam();
    bool large = c.capacity >= 1024;
    Shape shape{c.capacity, large ? scaled(2'500'000, 2'000) : scaled(100'000, 500),
                std::chrono::milliseconds(scaled(large ? 8000 : 3000, 500)), large ? 8191u : 255u};
    Streams run(shape, 0x3a11 + c.capacity);
    run.go(c.consumer);
    run.expect_all_delivered();
    std::printf("capacity %zu: %llu items (%u from the signal handler)\n", c.capacity,
                static_cast<unsigned long long>(run.total()), run.handler_items());
}

INSTANTIATE_TEST_SUITE_P(Shapes, ManyProducerStress,
                         testing::Values(Case{4096, Consumer::task}, Case{4096, Consumer::thread},
                                         Case{1, Consumer::task}, Case{2, Consumer::thread}, Case{3, Consumer::task},
                                         Case{5, Consumer::thread}),
                         [](const testing::TestParamInfo<Case>& param_info) {
                             return std::string(param_info.param.consumer == Consumer::task ? "ToTask" : "ToThread") +
                                    "Capacity" + std::to_string(param_info.param.capacity);
                         });

// close() from another thread at a random moment while every producer runs:
// each put that succeeded is delivered once, in order; each producer then
// stops at QueueClosed.
TEST(ManyProducerStressClose, CloseRacesEveryProducer) {
    Prng rng(0xc1);
    bridge_test::Budget rounds(scaled(500, 20), 3s);
    for (std::uint64_t round = 0; rounds.more(round) && !HasFailure(); ++round) {
        Queue q(1 + rng() % 4);
        std::array<std::uint64_t, 4> put{};
        std::array<std::uint64_t, 4> next{};
        std::atomic<std::uint64_t> progress{0};
        Watchdog watchdog(progress, [&] { return "round " + std::to_string(round) + " of the close race"; });
        std::thread consumer([&] {
            al::run([&]() -> al::Task<void> {
                while (std::optional<std::uint64_t> v = co_await q.next()) {
                    auto p = static_cast<std::size_t>(*v >> 48);
                    EXPECT_EQ(*v & ((std::uint64_t{1} << 48) - 1), next[p] + 1) << "round " << round;
                    next[p] = *v & ((std::uint64_t{1} << 48) - 1);
                    progress.fetch_add(1, std::memory_order_relaxed);  // relaxed: the watchdog's
                }
            }());
        });
        std::vector<std::thread> producing;
        for (int p = 0; p < 3; ++p) {
            producing.emplace_back([&, p] {
                try {
                    for (;;) {
                        q.put_sync(item(p, put[p] + 1), true);
                        ++put[p];
                    }
                } catch (const al::QueueClosed&) {
                }
            });
        }
        producing.emplace_back([&] {
            al::run([&]() -> al::Task<void> {
                try {
                    for (;;) {
                        co_await q.put(item(3, put[3] + 1));
                        ++put[3];
                    }
                } catch (const al::QueueClosed&) {
                }
            }());
        });
        spin(rng() % 200'000);
        q.close();
        for (auto& t : producing) t.join();
        consumer.join();
        for (int p = 0; p < 4; ++p) EXPECT_EQ(next[p], put[p]) << "round " << round << ", producer " << p;
    }
}

}  // namespace
