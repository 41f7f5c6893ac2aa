// SPDX-License-Identifier: BSL-1.0
// The hook between the sim port and the sim's scheduler: every operation one
// context can see another do (an atomic, a fence, blocking and waking, a spin
// hint) first calls point(), where the scheduler may run another context.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace asynclink::sim::detail {

/// What the running context is about to do, for the trace.
enum class Op : std::uint8_t {
    load,
    store,
    exchange,
    compare_exchange,
    fetch_add,
    fetch_sub,
    fetch_and,
    fetch_or,
    fetch_xor,
    fence,
    block,
    unblock,
    relax,
    yield,
    idle,
    wake,
    user,
};

/// The source line of the operation: the call site's, through default
/// arguments (__builtin_FILE/__builtin_LINE work in both g++ and clang 14,
/// which has no std::source_location).
struct Where {
    const char* file;
    unsigned line;
};

/// Called before each operation of the running context. Returns when the
/// context runs again (at once, unless the scheduler chose another one).
void point(Op op, const void* object, Where where) noexcept;

/// True while a failing schedule is re-run to be traced: the operations then
/// report their values through trace_values().
extern bool tracing;
void trace_values(std::uint64_t before, std::uint64_t after) noexcept;

/// A value as the trace shows it: integers and pointers as they are, anything
/// else of up to 8 bytes by its bits.
template <class T>
std::uint64_t bits(const T& value) noexcept {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<std::uintptr_t>(value);
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
        return static_cast<std::uint64_t>(value);
    } else {
        std::uint64_t out = 0;
        std::memcpy(&out, &value, sizeof value < sizeof out ? sizeof value : sizeof out);
        return out;
    }
}

}  // namespace asynclink::sim::detail
