// SPDX-License-Identifier: BSL-1.0
// The stress tests' shared rig: where each side runs (the loop on CPU 0, the
// other side on CPU 1 when there is one) and the random pauses that keep two
// sides drifting in and out of full, empty and waiting.
#pragma once

#include <asynclink/asynclink.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>

namespace test_support {

using Prng = std::mt19937_64;

constexpr int loop_cpu = 0;
/// The CPU for "the other core": 1, or 0 on a one-CPU machine.
inline int other_cpu() { return asynclink::port::cpu_count() > 1 ? 1 : 0; }

/// Busy for `iterations` rounds of a compiler-only fence (which keeps the
/// empty loop from being optimised away).
inline void spin(std::uint64_t iterations) noexcept {
    for (std::uint64_t i = 0; i < iterations; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
}

/// Mostly nothing; about one call in pause_period + 1 a short spin, a yield or
/// a sleep of up to 63 µs. pause_period + 1 is a power of two.
inline void thread_pause(Prng& rng, std::uint64_t pause_period) {
    std::uint64_t r = rng();
    if ((r & pause_period) != 0) return;
    switch ((r >> 10) & 15) {
    case 0: std::this_thread::sleep_for(std::chrono::microseconds((r >> 14) & 63)); break;
    case 1:
    case 2: std::this_thread::yield(); break;
    default: spin((r >> 14) & 2047); break;
    }
}

/// The loop side's pause for the random word `r`: a yield to the loop, a spin,
/// or a short sleep on the loop's timer (the loop then sleeps in the kernel).
inline asynclink::Task<void> loop_pause(std::uint64_t r) {
    switch ((r >> 10) & 15) {
    case 0: co_await asynclink::sleep(std::chrono::microseconds((r >> 14) & 63)); break;
    case 1:
    case 2: co_await asynclink::sleep(0); break;
    default: spin((r >> 14) & 2047); break;
    }
}

}  // namespace test_support
