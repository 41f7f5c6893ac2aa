// SPDX-License-Identifier: BSL-1.0
// A deadline in the loop's timer heap (a sleep, a wait_for timeout), and the
// saturating arithmetic that turns a user's duration into one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ratio>
#include <type_traits>
#include <utility>

#include "asynclink/port/port.hpp"

namespace asynclink::detail {

struct TimerNode {
    static constexpr std::size_t not_queued = ~std::size_t{0};
    Clock::time_point deadline{};
    std::size_t heap_index = not_queued;  ///< where the loop's heap holds this timer (its key is copied there)
    void (*fire)(TimerNode& self) noexcept = nullptr;
};

/// `d` in the clock's unit, saturated: a duration beyond Clock::duration's
/// range becomes its max() (or min()), where duration_cast would overflow
/// (undefined for integers, and in practice a wrap to a negative count: an
/// hours::max() sleep or timeout would end at once). NaN counts as zero.
/// Truncates toward zero, as duration_cast does. Integer durations are
/// converted with integer arithmetic only (no floating point on a core
/// without an FPU).
template <class Rep, class Period>
constexpr Clock::duration saturating_duration(std::chrono::duration<Rep, Period> d) noexcept {
    using Target = Clock::duration;
    using Ratio = std::ratio_divide<Period, Target::period>;  // one unit of d, in clock ticks
    constexpr Target::rep max = Target::max().count();
    constexpr Target::rep min = Target::min().count();
    if constexpr (std::is_integral_v<Rep> && Ratio::den == 1) {
        // A coarser unit (seconds, hours): ticks = count * num.
        constexpr Target::rep limit = max / Ratio::num;
        if (std::cmp_greater(d.count(), limit)) return Target::max();
        if (std::cmp_less(d.count(), -limit)) return Target::min();
        return Target(static_cast<Target::rep>(d.count()) * Ratio::num);
    } else if constexpr (std::is_integral_v<Rep> && Ratio::num == 1) {
        // A finer unit: ticks = count / den, which only a wider Rep can overflow.
        auto ticks = d.count() / static_cast<Rep>(Ratio::den);
        if (std::cmp_greater(ticks, max)) return Target::max();
        if (std::cmp_less(ticks, min)) return Target::min();
        return Target(static_cast<Target::rep>(ticks));
    } else {
        // Floating point (or an odd ratio): compared where neither side can
        // overflow. Target's limits round up to a power of two at worst, and
        // every value below that converts.
        long double ticks = static_cast<long double>(d.count()) * Ratio::num / Ratio::den;
        if (!(ticks == ticks)) return Target::zero();  // NaN
        if (ticks >= static_cast<long double>(max)) return Target::max();
        if (ticks <= static_cast<long double>(min)) return Target::min();
        return Target(static_cast<Target::rep>(ticks));
    }
}

/// now + d, or time_point::max() ("never") when that is beyond the clock's
/// range. `d` is positive (a non-positive one is a yield or an expired
/// timeout, handled by the caller).
inline Clock::time_point deadline_after(Clock::time_point now, Clock::duration d) noexcept {
    if (d > Clock::time_point::max() - now) return Clock::time_point::max();
    return now + d;
}

}  // namespace asynclink::detail
