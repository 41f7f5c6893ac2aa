// SPDX-License-Identifier: BSL-1.0
// Chains of co_awaits that complete without suspending must not grow the
// stack, whatever the optimisation level. Symmetric
// transfer alone does not promise that: GCC at -O0 makes each transfer a
// nested call, and 10^5 of them overflowed the 8 MiB stack. This file is
// built at -O0 (tests/CMakeLists.txt) so the test runs where it matters.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

namespace al = asynclink;

namespace {

constexpr int chain = 100'000;

al::Task<int> one() { co_return 1; }
al::Task<void> nothing() { co_return; }
al::Task<int> one_through_a_middle() { co_return co_await one(); }

al::Task<int> nested_sync(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await nested_sync(depth - 1);
}

// The innermost level suspends once, so the whole chain of 10^5 levels ends
// from the loop, one completion after the other.
al::Task<int> nested_async(int depth) {
    if (depth == 0) {
        co_await al::sleep(0);
        co_return 0;
    }
    co_return 1 + co_await nested_async(depth - 1);
}

}  // namespace

TEST(TaskStack, ASequenceOfSynchronousAwaitsOfValueTasks) {
    int total = al::run([]() -> al::Task<int> {
        int sum = 0;
        for (int i = 0; i < chain; ++i) sum += co_await one();
        co_return sum;
    }());
    EXPECT_EQ(total, chain);
}

TEST(TaskStack, ASequenceOfSynchronousAwaitsOfVoidTasks) {
    int count = 0;
    al::run([&]() -> al::Task<void> {
        for (int i = 0; i < chain; ++i) {
            co_await nothing();
            ++count;
        }
    }());
    EXPECT_EQ(count, chain);
}

TEST(TaskStack, ASequenceOfSynchronousAwaitsTwoLevelsDeep) {
    int total = al::run([]() -> al::Task<int> {
        int sum = 0;
        for (int i = 0; i < chain; ++i) sum += co_await one_through_a_middle();
        co_return sum;
    }());
    EXPECT_EQ(total, chain);
}

TEST(TaskStack, NestingThatCompletesSynchronously) { EXPECT_EQ(al::run(nested_sync(chain)), chain); }

TEST(TaskStack, NestingThatCompletesFromTheLoop) { EXPECT_EQ(al::run(nested_async(chain)), chain); }

TEST(TaskStack, ASequenceInsideACreatedTask) {
    int total = al::run([]() -> al::Task<int> {
        auto h = al::create_task([]() -> al::Task<int> {
            int sum = 0;
            for (int i = 0; i < chain; ++i) sum += co_await one();
            co_return sum;
        }());
        co_return co_await h;
    }());
    EXPECT_EQ(total, chain);
}
