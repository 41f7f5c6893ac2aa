// SPDX-License-Identifier: BSL-1.0
// Gate: holds jobs (on Context workers, threads) inside their function until
// opened, and tells how many got there. Shared by the Context tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace test_support {

class Gate {
public:
    void pass() {
        std::unique_lock lock(mutex_);
        ++arrived_;
        changed_.notify_all();
        changed_.wait(lock, [&] { return open_; });
    }
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }
    /// Blocks the calling thread until `n` jobs have reached the gate (bounded).
    bool wait_arrived(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(60), [&] { return arrived_ >= n; });
    }
    int arrived() {
        std::lock_guard lock(mutex_);
        return arrived_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int arrived_ = 0;
    bool open_ = false;
};

}  // namespace test_support
