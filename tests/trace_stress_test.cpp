// SPDX-License-Identifier: BSL-1.0
// The trace recorder under concurrency: a full lane counts exactly what it
// drops while a thread and a signal handler interrupting it write (with the
// handler on its own lane, and on the thread's); switching the recorder on
// and off and exporting races with writers in several threads, a signal
// handler and a loop (run under ThreadSanitizer), and every export parses.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include <pthread.h>

#include "support/stress.hpp"
#include "support/trace_reader.hpp"

#if ASYNCLINK_TRACE

namespace al = asynclink;
using namespace std::chrono_literals;
using test_support::read_trace;
using test_support::scaled;
using test_support::TraceFile;

namespace {

std::atomic<bool> handler_own_lane{true};
std::atomic<int> handler_runs{0};
al::ThreadSafeFlag handler_flag;

extern "C" void set_from_handler(int) {
    if (handler_own_lane.load(std::memory_order_relaxed)) {
        al::trace::HandlerScope scope("SIGUSR2");
        handler_flag.set();
    } else {
        handler_flag.set();
    }
    handler_runs.fetch_add(1, std::memory_order_relaxed);
}

class SignalHandler {
public:
    SignalHandler() {
        struct sigaction action {};
        action.sa_handler = &set_from_handler;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGUSR2, &action, &previous_) != 0) std::abort();
    }
    ~SignalHandler() { sigaction(SIGUSR2, &previous_, nullptr); }
    SignalHandler(const SignalHandler&) = delete;
    SignalHandler& operator=(const SignalHandler&) = delete;

private:
    struct sigaction previous_ {};
};

std::size_t count_on(const TraceFile& t, double tid) {
    std::size_t n = 0;
    for (const auto& e : t.events) n += e["tid"].number == tid ? 1 : 0;
    return n;
}

// A writer thread sets a flag nobody waits for at least `sets` times, and on
// until the handler of the signals the main thread keeps sending it has run
// more often than a lane holds (or 2 s have passed); returns how many sets
// the writer made (the handler's runs are in handler_runs).
int write_with_interruptions(int sets) {
    al::ThreadSafeFlag flag;
    std::atomic<bool> done{false};
    int made = 0;
    std::thread writer([&] {
        al::trace::name_this_thread("writer");
        auto give_up = std::chrono::steady_clock::now() + 2s;
        while (made < sets || (handler_runs.load() <= 300 && std::chrono::steady_clock::now() < give_up)) {
            flag.set();
            ++made;
        }
        done = true;
    });
    pthread_t handle = writer.native_handle();
    while (!done) {
        pthread_kill(handle, SIGUSR2);
        std::this_thread::yield();
    }
    writer.join();
    return made;
}

}  // namespace

TEST(TraceStress, AFullLaneCountsWhatItDropsWhileAHandlerWritesToItsOwnLane) {
    SignalHandler installed;
    handler_own_lane = true;
    handler_runs = 0;
    al::trace::Options options;
    options.records_per_lane = 256;
    al::trace::start(options);
    int sets = write_with_interruptions(scaled(200'000, 5'000));
    al::trace::stop();
    TraceFile t = read_trace();
    double writer = t.lane("thread writer");
    ASSERT_NE(writer, -1);
    EXPECT_EQ(count_on(t, writer), 256u);
    EXPECT_EQ(t.dropped("thread writer"), sets - 256);
    int runs = handler_runs.load();
    double handler = t.lane("handler SIGUSR2");
    if (runs == 0) GTEST_SKIP() << "no signal arrived while the writer ran";
    ASSERT_NE(handler, -1);
    EXPECT_EQ(count_on(t, handler), static_cast<std::size_t>(std::min(runs, 256)));
    EXPECT_EQ(t.dropped("handler SIGUSR2"), std::max(runs - 256, 0));
    for (const auto& e : t.events) EXPECT_EQ(e["name"].string, "ThreadSafeFlag.set");
}

TEST(TraceStress, AHandlerWithoutAScopeSharesItsThreadsLaneConsistently) {
    SignalHandler installed;
    handler_own_lane = false;
    handler_runs = 0;
    al::trace::Options options;
    options.records_per_lane = 256;
    al::trace::start(options);
    int sets = write_with_interruptions(scaled(200'000, 5'000));
    al::trace::stop();
    TraceFile t = read_trace();
    double writer = t.lane("thread writer");
    ASSERT_NE(writer, -1);
    // The handler's records interleave with the thread's in one lane; each
    // is whole, and together they were counted exactly once.
    EXPECT_EQ(count_on(t, writer), 256u);
    EXPECT_EQ(t.dropped("thread writer") + 256, sets + handler_runs.load());
    for (const auto& e : t.events) EXPECT_EQ(e["name"].string, "ThreadSafeFlag.set");
}

TEST(TraceStress, StartStopAndExportRaceWithWriters) {
    SignalHandler installed;
    handler_own_lane = true;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(scaled(1500, 200));
    std::atomic<bool> stop{false};
    al::ThreadSafeFlag wake;
    std::atomic<int> woken{0};

    // A loop whose task waits on `wake` over and over, woken by the writers.
    al::Loop* loop_ptr = nullptr;
    std::atomic<bool> loop_ready{false};
    std::thread loop_thread([&] {
        al::run([&]() -> al::Task<void> {
            loop_ptr = &al::Loop::current();
            loop_ready = true;
            while (!stop.load()) {
                co_await wake.wait();
                woken.fetch_add(1);
            }
        }());
    });
    while (!loop_ready) std::this_thread::yield();
    al::Loop::Handle handle = loop_ptr->handle();

    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
        writers.emplace_back([&, w] {
            al::ThreadSafeQueue<int> queue(4);
            while (!stop.load(std::memory_order_relaxed)) {
                wake.set();
                handle.schedule([](void*) {}, nullptr);
                if (!queue.try_put(w)) static_cast<void>(queue.try_get());
            }
        });
    }
    pthread_t signalled = writers[0].native_handle();
    int exports = 0;
    // At least a few exports however long the threads took to start (under
    // valgrind on a loaded machine, longer than the whole deadline).
    while (exports < 4 || std::chrono::steady_clock::now() < deadline) {
        al::trace::start();
        pthread_kill(signalled, SIGUSR2);
        std::this_thread::sleep_for(1ms);
        al::trace::stop();
        TraceFile t = read_trace();  // parses, and its arrows are paired
        ++exports;
        if (exports % 4 == 0) read_trace();  // and an export while nothing is recorded
    }
    stop = true;
    for (auto& w : writers) w.join();
    wake.set();  // the loop's task sees `stop`
    loop_thread.join();
}

#else

TEST(TraceStress, NeedsTheRecorder) { GTEST_SKIP() << "built with ASYNCLINK_TRACE=OFF"; }

#endif
