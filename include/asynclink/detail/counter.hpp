// SPDX-License-Identifier: BSL-1.0
// detail::Counter: one statistics counter of a primitive or a loop
// (asynclink/stats.hpp reads them). Lock-free, allocation-free and
// async-signal-safe to update; compiled out with ASYNCLINK_COUNTERS=0 (then
// it holds nothing and reads 0).
//
// Every order is relaxed: a counter publishes nothing, orders nothing, and a
// reader in another context wants a recent value, not a consistent cut (a
// snapshot of several counters may be a few operations apart).
//
// An object keeps its counters in one CounterArray, indexed by its own enum
// of what it counts. Compiled out, that is one empty member declared
// [[no_unique_address]]: it takes no byte of the object (the Cortex-M
// firmware's RAM stays as it was; several empty members of one type could
// not share an address).
//
// Two ways to count, so that the cost is visible where it is paid:
// - add(): any number of contexts may count at once (a set() from a thread
//   and from a signal handler): an atomic read-modify-write.
// - add_by_owner(): exactly one context ever counts (the loop's thread; the
//   one context of a queue end): a load and a store, no locked instruction. A
//   signal handler may not count on a context's behalf here, which the
//   primitives' contracts already forbid (an end belongs to one context).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>

#include "asynclink/detail/config.hpp"

namespace asynclink::detail {

#if ASYNCLINK_COUNTERS
class Counter {
public:
    /// Counted by any context.
    void add(std::size_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    /// Counted by one context only (see the header comment).
    void add_by_owner(std::size_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    /// Raises the value to `v` if it is higher; one counting context only.
    void raise_by_owner(std::size_t v) noexcept {
        if (v > value_.load(std::memory_order_relaxed)) value_.store(v, std::memory_order_relaxed);
    }
    /// Any context.
    std::size_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    // A word: lock-free on every port (a 64-bit atomic is not on Cortex-M).
    port::atomic<std::size_t> value_{0};
};

/// An object's counters, indexed by its enum class of what it counts, whose
/// last enumerator `kinds` is their number. at(first, i): the i-th of a run
/// of counters that starts at `first` (a histogram's buckets).
template <class Kind>
class CounterArray {
public:
    Counter& operator[](Kind k) noexcept { return counters_[static_cast<std::size_t>(k)]; }
    const Counter& operator[](Kind k) const noexcept { return counters_[static_cast<std::size_t>(k)]; }
    Counter& at(Kind first, std::size_t i) noexcept { return counters_[static_cast<std::size_t>(first) + i]; }
    const Counter& at(Kind first, std::size_t i) const noexcept {
        return counters_[static_cast<std::size_t>(first) + i];
    }

private:
    std::array<Counter, static_cast<std::size_t>(Kind::kinds)> counters_;
};
#else
class Counter {
public:
    void add(std::size_t = 1) noexcept {}
    void add_by_owner(std::size_t = 1) noexcept {}
    void raise_by_owner(std::size_t) noexcept {}
    std::size_t get() const noexcept { return 0; }
};

template <class Kind>
class CounterArray {
public:
    Counter operator[](Kind) const noexcept { return {}; }
    Counter at(Kind, std::size_t) const noexcept { return {}; }
};
#endif

}  // namespace asynclink::detail
