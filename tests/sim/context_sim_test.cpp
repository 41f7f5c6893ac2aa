// SPDX-License-Identifier: BSL-1.0
// Context under the sim (its workers are sim threads, port/threads.hpp): a
// job's result reaches its task; a task cancelled while its job runs; jobs
// pending at shutdown run or fail with ContextClosed; a Context destroyed
// while its worker finishes a job whose loop has ended.
#include <asynclink/context.hpp>
#include <asynclink/core.hpp>
#include <asynclink/sim.hpp>
#include <gtest/gtest.h>

#include <memory>

#include "explore_both.hpp"

namespace al = asynclink;
namespace sim = asynclink::sim;
using namespace std::chrono_literals;
using sim_test::explore_both;
using sim_test::small_loop;

TEST(ContextSim, AJobsResultReachesItsTask) {
    explore_both([] {
        al::Context context(1, 1);
        al::run(
            [&]() -> al::Task<> {
                int v = co_await context.assign([] { return 42; });
                sim::check(v == 42, "the job's result");
            }(),
            small_loop());
    });
}

TEST(ContextSim, ATaskCancelledWhileItsJobRunsEndsAndTheJobFinishes) {
    explore_both([] {
        bool ran = false;
        {
            al::Context context(1, 1);
            al::run(
                [&]() -> al::Task<> {
                    try {
                        co_await al::wait_for(context.assign([&] {
                            sim::sleep_for(2ms);
                            ran = true;
                        }),
                                              1ms);
                    } catch (const al::TimeoutError&) {
                    }
                }(),
                small_loop());
        }
        sim::check(ran, "the job ran to its end: ~Context joined its worker");
    });
}

TEST(ContextSim, JobsPendingAtShutdownRunOrFailWithContextClosed) {
    explore_both(
        [] {
            al::Context context(2, 1);
            int done = 0;
            int closed = 0;
            al::run(
                [&]() -> al::Task<> {
                    auto one = [&]() -> al::Task<> {
                        try {
                            co_await context.assign([] {});
                            ++done;
                        } catch (const al::ContextClosed&) {
                            ++closed;
                        }
                    };
                    auto a = al::create_task(one());
                    auto b = al::create_task(one());
                    co_await al::sleep(0s);
                    context.shutdown(al::ContextShutdown::fail_pending);
                    co_await a;
                    co_await b;
                }(),
                small_loop());
            sim::check(done + closed == 2, "each job ran or failed, once");
        },
        {.schedules = 2000, .bound = 2, .exhaustive_budget = 20000});
}

TEST(ContextSim, AContextOutlivingTheLoopOfAJobDropsItsResultOnTheWorker) {
    explore_both([] {
        auto context = std::make_unique<al::Context>(1, 1);
        al::run(
            [&]() -> al::Task<> {
                try {
                    co_await al::wait_for(context->assign([] {
                        sim::sleep_for(1ms);
                        return std::make_unique<int>(7);  // dropped on the worker if the task is gone
                    }),
                                          1ms);
                } catch (const al::TimeoutError&) {
                }
            }(),
            small_loop());
        context.reset();  // after the loop: joins the worker, nothing leaks
    });
}
