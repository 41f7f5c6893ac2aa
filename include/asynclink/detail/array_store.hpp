// SPDX-License-Identifier: BSL-1.0
// ArrayStore<T, Capacity>: the loop's arrays (timer heap, schedule() cells).
// Capacity 0 means "as large as needed", on the heap (std::vector, the hosted
// ports); any other capacity is a fixed array inside the owner, so a port
// without a heap (bare metal) allocates nothing. The port chooses the
// capacities (port::max_timers, port::max_schedule_capacity).
#pragma once

#include <cstddef>
#include <vector>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

template <class T, std::size_t Capacity>
class ArrayStore {
public:
    static constexpr bool bounded = true;
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    bool full() const noexcept { return size_ == Capacity; }
    T& operator[](std::size_t i) noexcept { return items_[i]; }
    const T& operator[](std::size_t i) const noexcept { return items_[i]; }
    T& front() noexcept { return items_[0]; }
    T& back() noexcept { return items_[size_ - 1]; }
    /// Precondition: !full().
    void push_back(const T& item) noexcept { items_[size_++] = item; }
    void pop_back() noexcept { --size_; }
    /// Makes the array hold `n` default-constructed elements; false if n > Capacity.
    bool reset(std::size_t n) noexcept {
        if (n > Capacity) return false;
        size_ = n;
        return true;
    }

private:
    T items_[Capacity]{};
    std::size_t size_ = 0;
};

template <class T>
class ArrayStore<T, 0> {
public:
    static constexpr bool bounded = false;
    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }
    bool full() const noexcept { return false; }
    T& operator[](std::size_t i) noexcept { return items_[i]; }
    const T& operator[](std::size_t i) const noexcept { return items_[i]; }
    T& front() noexcept { return items_.front(); }
    T& back() noexcept { return items_.back(); }
    void push_back(const T& item) { items_.push_back(item); }
    void pop_back() noexcept { items_.pop_back(); }
    bool reset(std::size_t n) {
        items_ = std::vector<T>(n);
        return true;
    }

private:
    std::vector<T> items_;
};

}  // namespace asynclink::detail
