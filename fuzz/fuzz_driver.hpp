// SPDX-License-Identifier: BSL-1.0
// Shared plumbing of the model-based fuzzers: read operations from the fuzzer's
// bytes, run them inside a task on a fresh loop, and fail loudly on any
// divergence from the reference model.
#pragma once

#include <asynclink/asynclink.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace fuzz {

/// Consumes the fuzzer's input one small number at a time; zeros when empty.
class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
    bool more() const noexcept { return pos_ < size_; }
    std::uint8_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
    /// A number in [0, n).
    unsigned pick(unsigned n) noexcept { return byte() % n; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

/// Aborts (which libFuzzer records as a crash with this input) when the
/// implementation and the model disagree.
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "model divergence: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)

/// Lets every task that can run, run, and every wake-up posted, land.
inline asynclink::Task<void> settle(int turns = 4) {
    for (int i = 0; i < turns; ++i) co_await asynclink::sleep(0);
}

/// A queue fuzzer's async put, as a task: records `value` in `accepted` (a
/// vector or a set) once the put succeeded; a put refused by close() records
/// nothing.
template <class Queue, class Accepted>
asynclink::Task<void> put_task(Queue& queue, int value, Accepted& accepted) {
    try {
        co_await queue.put(std::make_unique<int>(value));
        accepted.insert(accepted.end(), value);
    } catch (const asynclink::QueueClosed&) {
    }
}

/// A queue fuzzer's async get (use_next: next()), as a task: appends what it
/// took to `delivered`; the end of a closed queue appends nothing.
template <class Queue>
asynclink::Task<void> get_task(Queue& queue, bool use_next, std::vector<int>& delivered) {
    if (use_next) {
        if (auto v = co_await queue.next()) delivered.push_back(**v);
    } else {
        try {
            delivered.push_back(*co_await queue.get());
        } catch (const asynclink::QueueClosed&) {
        }
    }
}

}  // namespace fuzz
