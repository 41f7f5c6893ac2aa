// SPDX-License-Identifier: BSL-1.0
// A million tasks created and completed without leaking: a counter in an
// object each coroutine frame holds says how many frames are alive, and must
// be back to zero; ASan's leak check covers the rest. Scaled by
// ASYNCLINK_STRESS_SCALE (1 in Release, 0.05 under the sanitizers) and bounded
// in time.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/stress.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

using test_support::stress_scale;

std::size_t scaled(std::size_t n) {
    auto v = static_cast<std::size_t>(static_cast<double>(n) * stress_scale());
    return v > 0 ? v : 1;
}

// Generous: the full million takes well under a second in Release.
constexpr auto time_budget = 60s;

// Counts live coroutine frames; one copy lives in each frame as a parameter.
struct Alive {
    std::size_t* count;
    explicit Alive(std::size_t& c) noexcept : count(&c) { ++*count; }
    Alive(const Alive& other) noexcept : count(other.count) { ++*count; }
    Alive& operator=(const Alive&) = delete;
    ~Alive() { --*count; }
};

al::Task<std::size_t> one_yield(Alive, std::size_t i) {
    co_await al::sleep(0);
    co_return i;
}

al::Task<void> finish_at_once(Alive, std::size_t& completed) {
    ++completed;
    co_return;
}

al::Task<int> nested(Alive alive, int depth) {
    if (depth == 0) co_return 1;
    co_return 1 + co_await nested(alive, depth - 1);
}

}  // namespace

TEST(ManyTasks, AMillionAwaitedTasksCompleteAndFreeTheirFrames) {
    const std::size_t total = scaled(1'000'000);
    const std::size_t batch = 10'000;
    std::size_t alive = 0;
    std::size_t completed = 0;
    std::size_t sum = 0;
    al::run([&]() -> al::Task<void> {
        auto deadline = al::Clock::now() + time_budget;
        while (completed < total && al::Clock::now() < deadline) {
            std::vector<al::TaskHandle<std::size_t>> handles;
            std::size_t n = std::min(batch, total - completed);
            handles.reserve(n);
            for (std::size_t i = 0; i < n; ++i) handles.push_back(al::create_task(one_yield(Alive(alive), i)));
            EXPECT_EQ(alive, n);
            for (auto& h : handles) sum += co_await h;
            completed += n;
        }
    }());
    EXPECT_EQ(completed, total) << "ran out of the time budget";
    EXPECT_EQ(alive, 0u);
    EXPECT_EQ(sum, (completed / batch) * (batch * (batch - 1) / 2) + (completed % batch) * (completed % batch - 1) / 2);
}

TEST(ManyTasks, AMillionFireAndForgetTasksCompleteAndFreeTheirFrames) {
    const std::size_t total = scaled(1'000'000);
    std::size_t alive = 0;
    std::size_t completed = 0;
    std::size_t created = 0;
    al::run([&]() -> al::Task<void> {
        auto deadline = al::Clock::now() + time_budget;
        while (created < total && al::Clock::now() < deadline) {
            for (std::size_t i = 0; i < 10'000 && created < total; ++i, ++created) {
                (void)al::create_task(finish_at_once(Alive(alive), completed));
            }
            co_await al::sleep(0);  // they all run here, and free themselves
            EXPECT_EQ(alive, 0u);
        }
    }());
    EXPECT_EQ(created, total) << "ran out of the time budget";
    EXPECT_EQ(completed, created);
    EXPECT_EQ(alive, 0u);
}

TEST(ManyTasks, GatherOverManyTasksFreesEveryFrame) {
    const std::size_t total = scaled(100'000);
    std::size_t alive = 0;
    std::size_t sum = 0;
    al::run([&]() -> al::Task<void> {
        std::vector<al::Task<std::size_t>> tasks;
        tasks.reserve(total);
        for (std::size_t i = 0; i < total; ++i) tasks.push_back(one_yield(Alive(alive), 1));
        for (std::size_t v : co_await al::gather(std::move(tasks))) sum += v;
    }());
    EXPECT_EQ(sum, total);
    EXPECT_EQ(alive, 0u);
}

TEST(ManyTasks, CancelledTasksFreeTheirFramesToo) {
    const std::size_t total = scaled(50'000);  // each costs three throws: kept smaller
    std::size_t alive = 0;
    std::size_t cancelled = 0;
    al::run([&]() -> al::Task<void> {
        std::vector<al::TaskHandle<void>> handles;
        handles.reserve(total);
        auto block = [](Alive, bool started_only) -> al::Task<void> {
            if (!started_only) co_await al::sleep(1h);
        };
        for (std::size_t i = 0; i < total; ++i) handles.push_back(al::create_task(block(Alive(alive), false)));
        // Half are cancelled before they ever run, half while parked at a timer.
        for (std::size_t i = 0; i < total; i += 2) handles[i].cancel();
        co_await al::sleep(0);
        for (std::size_t i = 1; i < total; i += 2) handles[i].cancel();
        for (auto& h : handles) {
            try {
                co_await h;
            } catch (const al::CancelledError&) {
                ++cancelled;
            }
        }
    }());
    EXPECT_EQ(cancelled, total);
    EXPECT_EQ(alive, 0u);
}

TEST(ManyTasks, DeepSubCoroutineChainsFreeEveryFrame) {
    std::size_t alive = 0;
    int depth = static_cast<int>(scaled(10'000));
    int result = al::run(nested(Alive(alive), depth));
    EXPECT_EQ(result, depth + 1);
    EXPECT_EQ(alive, 0u);
}
