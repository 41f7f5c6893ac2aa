// SPDX-License-Identifier: BSL-1.0
// What the sim port (src/port/sim.cpp) asks of the scheduler. Outside a
// schedule each does the harmless thing: the clock stands at its start, a
// wait returns at once, fatal() prints and aborts.
#pragma once

#include <cstdint>
#include <optional>

#include "asynclink/port/sim.hpp"

namespace asynclink::sim::detail {

using Nanos = std::int64_t;

namespace hooks {

inline constexpr int cores = 8;

Nanos now() noexcept;
void idle_wait(const void* idle, std::optional<Nanos> deadline) noexcept;
void idle_wake(const void* idle) noexcept;
void block_on_word(const port::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
void unblock_word(const void* word) noexcept;
bool pin(int core) noexcept;
int core() noexcept;
/// The running context's id (-1 outside a schedule).
int context_id() noexcept;
void mask(int core, int delta) noexcept;
Loop*& loop_slot() noexcept;
[[noreturn]] void fatal(const char* message) noexcept;

}  // namespace hooks
}  // namespace asynclink::sim::detail
