// SPDX-License-Identifier: BSL-1.0
// port::atomic of the sim port: std::atomic's interface, where every
// operation is a preemption point first. All contexts of a simulation run on
// one OS thread, one at a time, so the value itself is a plain member and
// every schedule is sequentially consistent: the sim explores interleavings,
// not the reorderings a weaker memory order allows (TSan and the Promela
// models look at those). A weak compare-exchange never fails spuriously.
#pragma once

#include <atomic>
#include <cstddef>
#include <type_traits>

#include "asynclink/sim/point.hpp"

namespace asynclink::sim {

template <class T>
class atomic {
    static_assert(std::is_trivially_copyable_v<T>, "atomic<T> needs a trivially copyable T");
    using Op = detail::Op;
    using Where = detail::Where;
    static constexpr auto seq_cst = std::memory_order_seq_cst;

public:
    using value_type = T;
    static constexpr bool is_always_lock_free = std::atomic<T>::is_always_lock_free;

    constexpr atomic() noexcept : value_() {}
    constexpr atomic(T desired) noexcept : value_(desired) {}
    atomic(const atomic&) = delete;
    atomic& operator=(const atomic&) = delete;

    bool is_lock_free() const noexcept { return is_always_lock_free; }

    T load(std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) const noexcept {
        detail::point(Op::load, this, w);
        T v = value_;
        if (detail::tracing) detail::trace_values(detail::bits(v), detail::bits(v));
        return v;
    }
    void store(T v, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        detail::point(Op::store, this, w);
        T old = value_;
        value_ = v;
        if (detail::tracing) detail::trace_values(detail::bits(old), detail::bits(v));
    }
    T exchange(T v, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        return modify(Op::exchange, w, [v](T) { return v; });
    }
    bool compare_exchange_strong(T& expected, T desired, std::memory_order, std::memory_order,
                                 Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        detail::point(Op::compare_exchange, this, w);
        T old = value_;
        bool equal = std::memcmp(&old, &expected, sizeof(T)) == 0;
        if (equal) {
            value_ = desired;
        } else {
            expected = old;
        }
        if (detail::tracing) detail::trace_values(detail::bits(old), detail::bits(equal ? desired : old));
        return equal;
    }
    bool compare_exchange_strong(T& expected, T desired, std::memory_order order = seq_cst,
                                 Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        return compare_exchange_strong(expected, desired, order, order, w);
    }
    bool compare_exchange_weak(T& expected, T desired, std::memory_order success, std::memory_order failure,
                               Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        return compare_exchange_strong(expected, desired, success, failure, w);
    }
    bool compare_exchange_weak(T& expected, T desired, std::memory_order order = seq_cst,
                               Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
        return compare_exchange_strong(expected, desired, order, order, w);
    }

    T fetch_add(T arg, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return modify(Op::fetch_add, w, [arg](T old) { return static_cast<T>(old + arg); });
    }
    T fetch_sub(T arg, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return modify(Op::fetch_sub, w, [arg](T old) { return static_cast<T>(old - arg); });
    }
    T fetch_and(T arg, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return modify(Op::fetch_and, w, [arg](T old) { return static_cast<T>(old & arg); });
    }
    T fetch_or(T arg, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return modify(Op::fetch_or, w, [arg](T old) { return static_cast<T>(old | arg); });
    }
    T fetch_xor(T arg, std::memory_order = seq_cst, Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        return modify(Op::fetch_xor, w, [arg](T old) { return static_cast<T>(old ^ arg); });
    }
    T fetch_add(std::ptrdiff_t arg, std::memory_order = seq_cst,
                Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept requires std::is_pointer_v<T> {
        return modify(Op::fetch_add, w, [arg](T old) { return old + arg; });
    }
    T fetch_sub(std::ptrdiff_t arg, std::memory_order = seq_cst,
                Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept requires std::is_pointer_v<T> {
        return modify(Op::fetch_sub, w, [arg](T old) { return old - arg; });
    }

    operator T() const noexcept { return load(); }
    T operator=(T v) noexcept {
        store(v);
        return v;
    }

    /// The value without a preemption point: for the scheduler (a blocked
    /// thread's word), never for the code under test.
    T peek() const noexcept { return value_; }

private:
    template <class F>
    T modify(Op op, Where w, F next) noexcept {
        detail::point(op, this, w);
        T old = value_;
        value_ = next(old);
        if (detail::tracing) detail::trace_values(detail::bits(old), detail::bits(value_));
        return old;
    }

    T value_;
};

/// A fence orders nothing more among contexts that already run one at a time
/// in a single order; it is a preemption point like an atomic.
inline void atomic_thread_fence(std::memory_order, detail::Where w = {__builtin_FILE(), __builtin_LINE()}) noexcept {
    detail::point(detail::Op::fence, nullptr, w);
}

}  // namespace asynclink::sim
