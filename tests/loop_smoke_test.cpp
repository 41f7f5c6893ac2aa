#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {
al::Task<int> twice(int x) {
    co_await al::sleep(1ms);
    co_return 2 * x;
}
}  // namespace

TEST(LoopSmoke, RunReturnsTheResultOfGather) {
    auto main_task = []() -> al::Task<int> {
        auto [a, b] = co_await al::gather(twice(1), twice(2));
        co_return a + b;
    };
    EXPECT_EQ(al::run(main_task()), 6);
}
