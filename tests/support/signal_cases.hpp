// SPDX-License-Identifier: BSL-1.0
// Cases ThreadSafeFlag and ThreadSafeEvent share: each primitive's test calls
// them with its own type and checks what is its own (the message's words).
#pragma once

#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "settle.hpp"

namespace test_support {

/// The UsageError's message a task on a second loop gets when it waits on
/// `signal` (set, so the first wait returns at once) while the loop that
/// first waited on it still lives. Empty if nothing was thrown. (Once that
/// loop has ended, the primitive passes to the next loop that waits:
/// loop_affinity_test.)
template <class Signal>
std::string second_loop_wait_error(Signal& signal) {
    signal.set();
    asynclink::Loop first;
    first.run_until_complete([&]() -> asynclink::Task<void> { co_await signal.wait(); }());
    std::string message;
    std::thread other([&] {
        asynclink::run([&]() -> asynclink::Task<void> {
            try {
                co_await signal.wait();
            } catch (const asynclink::UsageError& e) {
                message = e.what();
            }
        }());
    });
    other.join();
    return message;
}

/// A set() posts a node that lives in the primitive; the primitive is
/// destroyed (its waiter cancelled) before the loop takes the node. Under
/// ASan a dangling node is a use-after-free.
template <class Signal>
void destroy_with_a_wake_up_still_posted() {
    asynclink::run([]() -> asynclink::Task<void> {
        auto signal = std::make_unique<Signal>();
        auto waiter = asynclink::create_task([](Signal& s) -> asynclink::Task<void> { co_await s.wait(); }(*signal));
        co_await settle();
        signal->set();
        waiter.cancel();
        signal.reset();
        EXPECT_THROW(co_await waiter, asynclink::CancelledError);
        co_await settle();
    }());
}

}  // namespace test_support
