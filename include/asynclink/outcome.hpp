// SPDX-License-Identifier: BSL-1.0
/// @file
/// Outcome<T>: a value or the exception that replaced it; what gather() returns
/// per child with return_exceptions.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace asynclink {

/// void results are carried as std::monostate in tuples and vectors.
template <class T>
using result_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
class Outcome {
public:
    using value_type = result_t<T>;

    explicit Outcome(value_type v) : state_(std::in_place_index<0>, std::move(v)) {}
    explicit Outcome(std::exception_ptr e) : state_(std::in_place_index<1>, std::move(e)) {}

    bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    /// The value, or the exception rethrown.
    value_type& value() & {
        if (!has_value()) std::rethrow_exception(std::get<1>(state_));
        return std::get<0>(state_);
    }
    value_type&& value() && { return std::move(value()); }
    /// The exception (nullptr when there is a value).
    std::exception_ptr error() const noexcept { return has_value() ? nullptr : std::get<1>(state_); }

private:
    std::variant<value_type, std::exception_ptr> state_;
};

}  // namespace asynclink
