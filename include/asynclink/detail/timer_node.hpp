// A deadline in the loop's timer heap (a sleep, a wait_for timeout).
#pragma once

#include <cstddef>
#include <cstdint>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

struct TimerNode {
    static constexpr std::size_t not_queued = ~std::size_t{0};
    Clock::time_point deadline{};
    std::size_t heap_index = not_queued;  ///< where the loop's heap holds this timer (its key is copied there)
    void (*fire)(TimerNode& self) noexcept = nullptr;
};

}  // namespace asynclink::detail
