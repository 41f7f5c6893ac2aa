// SPDX-License-Identifier: BSL-1.0
// A watchdog for stress tests: a stuck stress test is a lost wake-up, and it
// should say where it stuck rather than hang until ctest kills it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace stress_test {

/// Aborts the process with `describe()` on stderr when `progress` has not
/// moved for `limit`. The limit is far beyond any scheduling delay: reaching
/// it is the failure, not a timing assumption. describe() runs on the
/// watchdog's thread, so it may read only atomics and thread-safe queries.
class Watchdog {
public:
    Watchdog(const std::atomic<std::uint64_t>& progress, std::function<std::string()> describe,
             std::chrono::seconds limit = std::chrono::seconds(60))
        : progress_(progress), describe_(std::move(describe)), limit_(limit), thread_([this] { watch(); }) {}
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    void watch() {
        std::unique_lock lock(mutex_);
        // Relaxed: a progress counter; only whether it changes matters.
        std::uint64_t last = progress_.load(std::memory_order_relaxed);
        auto last_change = std::chrono::steady_clock::now();
        while (!wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return done_; })) {
            std::uint64_t now_value = progress_.load(std::memory_order_relaxed);  // relaxed: as above
            auto now = std::chrono::steady_clock::now();
            if (now_value != last) {
                last = now_value;
                last_change = now;
            } else if (now - last_change > limit_) {
                std::fprintf(stderr, "watchdog: no progress for %llds, a lost wake-up? %s\n",
                             static_cast<long long>(limit_.count()), describe_().c_str());
                std::fflush(stderr);
                std::abort();
            }
        }
    }

    const std::atomic<std::uint64_t>& progress_;
    std::function<std::string()> describe_;
    std::chrono::seconds limit_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool done_ = false;
    std::thread thread_;
};

}  // namespace stress_test
