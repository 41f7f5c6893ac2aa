// SPDX-License-Identifier: BSL-1.0
// A shared pool written by an interrupt and read consistently (the seed's
// section 1 and 2: `update_dict()` filling d["x"], d["y"], d["z"] from a device).
//
// A PeriodicSignal (a POSIX timer signal: the stand-in for a hardware timer
// interrupt) fills a Shared<Pool> with three channels of readings at 20 kHz.
// The signal interrupts the loop's thread wherever it is, including in the
// middle of the task's copy of the pool. A task and a thread on another core
// read snapshots as fast as they can and check each one: all fields must come
// from the same interrupt. The seed had to disable interrupts around the read
// for this; Shared<T> never blocks the writer and makes a reader that
// overlapped a write retry.
//
//   signal handler --write()--> [Shared<Pool>] --read()--> task (same CPU)
//                                              --read()--> thread (other CPU)
//
// Usage: shared_pool [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t samples_per_channel = 8;

// What one interrupt reads from the device: channel c, sample i of interrupt n
// is n * 100 + c * 10 + i, so a reader can tell whether every field came from
// the same interrupt.
struct Pool {
    std::uint64_t interrupt;
    std::array<std::uint64_t, samples_per_channel> x, y, z;
};

std::uint64_t read_data(std::uint64_t n, int channel, std::size_t i) { return n * 100 + channel * 10 + i; }

Pool sample_device(std::uint64_t n) {
    Pool p;
    p.interrupt = n;
    for (std::size_t i = 0; i < samples_per_channel; ++i) {
        p.x[i] = read_data(n, 0, i);
        p.y[i] = read_data(n, 1, i);
        p.z[i] = read_data(n, 2, i);
    }
    return p;
}

bool consistent(const Pool& p) {
    for (std::size_t i = 0; i < samples_per_channel; ++i) {
        if (p.x[i] != read_data(p.interrupt, 0, i) || p.y[i] != read_data(p.interrupt, 1, i) ||
            p.z[i] != read_data(p.interrupt, 2, i)) {
            return false;
        }
    }
    return true;
}

struct Device {
    al::Shared<Pool> pool{sample_device(0)};
    std::uint64_t interrupts = 0;  // touched only by the handler
};

// The interrupt handler: async-signal-safe. Shared::write never waits.
void update_pool(void* arg) noexcept {
    auto& dev = *static_cast<Device*>(arg);
    dev.pool.write(sample_device(++dev.interrupts));
}

struct ReadReport {
    std::uint64_t snapshots = 0;
    std::uint64_t torn = 0;
    std::uint64_t went_back = 0;
    std::uint64_t distinct = 0;  // how many different interrupts' data were seen
    std::uint64_t last = 0;

    void take(const Pool& p) {
        ++snapshots;
        if (!consistent(p)) ++torn;
        if (p.interrupt < last) ++went_back;
        if (p.interrupt != last) ++distinct;
        last = p.interrupt;
    }
    bool ok() const { return torn == 0 && went_back == 0 && snapshots > 0; }
    void print(const char* who) const {
        std::printf("  %-32s %9llu snapshots, %6llu different interrupts, %llu torn, %llu out of order\n", who,
                    static_cast<unsigned long long>(snapshots), static_cast<unsigned long long>(distinct),
                    static_cast<unsigned long long>(torn), static_cast<unsigned long long>(went_back));
    }
};

al::Task<int> run_example(std::chrono::milliseconds duration) {
    Device dev;
    std::atomic<bool> stop{false};
    std::atomic<bool> thread_reading{false};
    ReadReport thread_report;
    std::thread other_core([&] {
        al::port::pin_current_thread(1);
        // Relaxed: the flags only start and end the loops; Shared orders the data.
        while (!stop.load(std::memory_order_relaxed)) {
            thread_report.take(dev.pool.read());
            if (thread_report.snapshots == 1000) thread_reading.store(true, std::memory_order_relaxed);
        }
    });

    ReadReport task_report;
    {
        al::PeriodicSignal timer(50us, &update_pool, &dev);  // 20 kHz, on this (the loop's) thread
        auto end = al::Clock::now() + duration;
        // Until the time is up and the thread, too, has been reading for a while
        // (on a busy machine it may start late).
        for (int round = 0; al::Clock::now() < end || !thread_reading.load(std::memory_order_relaxed); ++round) {
            for (int i = 0; i < 1000; ++i) task_report.take(dev.pool.read());
            if (round % 200 == 0) {
                Pool p = dev.pool.read();
                std::printf("task: interrupt #%llu: x[0]=%llu y[0]=%llu z[0]=%llu\n",
                            static_cast<unsigned long long>(p.interrupt), static_cast<unsigned long long>(p.x[0]),
                            static_cast<unsigned long long>(p.y[0]), static_cast<unsigned long long>(p.z[0]));
            }
            co_await al::sleep(0);  // let other tasks run: a real program has some
        }
        std::printf("the timer signal wrote the pool %llu times in %lld ms (%llu expirations merged by the kernel)\n",
                    static_cast<unsigned long long>(timer.ticks()), static_cast<long long>(duration.count()),
                    static_cast<unsigned long long>(timer.overruns()));
    }
    stop.store(true, std::memory_order_relaxed);
    other_core.join();

    task_report.print("task, interrupted by the writer:");
    thread_report.print("thread on another CPU:");
    co_return task_report.ok() && thread_report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    al::port::pin_current_thread(0);
    int errors = al::run(run_example(is_short ? 300ms : 3000ms));
    std::printf(errors == 0 ? "shared_pool: all checks passed (every snapshot was consistent)\n"
                            : "shared_pool: FAILED\n");
    return errors == 0 ? 0 : 1;
}
