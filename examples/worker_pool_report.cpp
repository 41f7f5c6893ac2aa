// SPDX-License-Identifier: BSL-1.0
// A pool of worker threads reports to the loop through one many-producer queue.
//
// Four workers, on whatever CPUs the scheduler gives them, each work through
// their share of jobs (a checksum of a block of made-up data) and put each
// result on one ThreadSafeQueue<Report, al::many_producers>. A put that finds
// the queue full blocks that worker (put_sync with block = true parks the
// thread in the kernel), never another worker and never the loop. A task on
// the loop takes the reports as they come, while a second task keeps the loop
// busy with other work; when every worker has finished, the queue is closed
// and the task still receives every report.
//
//   worker 1 --put_sync--> [ThreadSafeQueue<Report, many_producers>] --next()--> task
//   ...                 --^
//   worker 4 --put_sync--^
//
// The checks: every job reported once, each worker's reports in the order
// it did its jobs, and every checksum right.
//
// Usage: worker_pool_report [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr int workers = 4;

struct Report {
    int worker;
    std::uint32_t job;
    std::uint64_t checksum;
};

std::uint64_t checksum_of(std::uint32_t job) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::uint32_t i = 0; i < 2000; ++i) h = (h ^ (job * 2654435761u + i)) * 1099511628211ull;
    return h;
}

al::Task<int> collect(al::ThreadSafeQueue<Report, al::many_producers>& reports, std::uint32_t jobs_each) {
    std::array<std::uint32_t, workers> next{};
    int errors = 0;
    std::uint32_t received = 0;
    while (std::optional<Report> r = co_await reports.next()) {
        if (r->job != next[r->worker]) {
            std::printf("FAILED: worker %d reported job %u when %u was next\n", r->worker, r->job, next[r->worker]);
            ++errors;
        }
        next[r->worker] = r->job + 1;
        if (r->checksum != checksum_of(r->job)) {
            std::printf("FAILED: worker %d, job %u: wrong checksum\n", r->worker, r->job);
            ++errors;
        }
        if (++received % (jobs_each * workers / 4) == 0) std::printf("%u reports in\n", received);
    }
    for (int w = 0; w < workers; ++w) {
        if (next[w] != jobs_each) {
            std::printf("FAILED: worker %d: %u of %u reports arrived\n", w, next[w], jobs_each);
            ++errors;
        }
    }
    co_return errors;
}

al::Task<void> other_work(const bool& done) {
    std::uint64_t ticks = 0;
    while (!done) {
        ++ticks;
        co_await al::sleep(1ms);
    }
    std::printf("the loop ran other work meanwhile (%llu ticks)\n", static_cast<unsigned long long>(ticks));
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    const std::uint32_t jobs_each = is_short ? 2000 : 50000;
    al::ThreadSafeQueue<Report, al::many_producers> reports(16);

    int errors = al::run([&]() -> al::Task<int> {
        bool done = false;
        auto ticker = al::create_task(other_work(done));
        auto collector = al::create_task(collect(reports, jobs_each));
        std::vector<std::thread> pool;
        for (int w = 0; w < workers; ++w) {
            pool.emplace_back([&reports, w, jobs_each] {
                for (std::uint32_t job = 0; job < jobs_each; ++job) {
                    reports.put_sync(Report{w, job, checksum_of(job)}, true);
                }
            });
        }
        // Join the workers off the loop, then end the stream.
        co_await al::unblock([&pool] {
            for (auto& t : pool) t.join();
        });
        reports.close();
        int result = co_await collector;
        done = true;
        co_await ticker;
        co_return result;
    }());
    std::printf(errors == 0 ? "worker_pool_report: all checks passed (every report once, in each worker's order)\n"
                            : "worker_pool_report: FAILED\n");
    return errors == 0 ? 0 : 1;
}
