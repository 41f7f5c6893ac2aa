// A deadline in the loop's timer heap (a sleep, a wait_for timeout).
#pragma once

#include <cstddef>
#include <cstdint>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

struct TimerNode {
    static constexpr std::size_t not_queued = ~std::size_t{0};
    Clock::time_point deadline{};
    std::uint64_t sequence = 0;  ///< equal deadlines fire in the order they were added
    std::size_t heap_index = not_queued;
    void (*fire)(TimerNode& self) noexcept = nullptr;
};

}  // namespace asynclink::detail
