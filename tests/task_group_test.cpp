// SPDX-License-Identifier: BSL-1.0
// task_group(): every child ends before the group does; the first failure
// cancels the rest; every failure is reported; cancellation of the waiter.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/settle.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

struct Boom : std::runtime_error {
    explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

al::Task<int> value_after(al::Clock::duration d, int v) {
    co_await al::sleep(d);
    co_return v;
}

TEST(TaskGroup, EndsWhenTheBodyAndEveryChildHaveEnded) {
    std::vector<int> ended;
    int r = al::run([&]() -> al::Task<int> {
        int v = co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<int> {
            tg.create_task([&]() -> al::Task<> {
                co_await al::sleep(3ms);
                ended.push_back(1);
            });
            auto b = tg.create_task(value_after(1ms, 2));
            co_return 10 + co_await b;
        });
        EXPECT_EQ(ended, std::vector<int>{1});  // the slower child too
        co_return v;
    }());
    EXPECT_EQ(r, 12);
}

TEST(TaskGroup, AChildMayStartMoreChildren) {
    int count = 0;
    al::run([&]() -> al::Task<> {
        co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
            tg.create_task([&]() -> al::Task<> {
                co_await al::sleep(1ms);
                tg.create_task([&]() -> al::Task<> {
                    co_await al::sleep(1ms);
                    ++count;
                });
                ++count;
            });
            co_return;
        });
        EXPECT_EQ(count, 2);
    }());
}

TEST(TaskGroup, TheFirstFailureCancelsTheOthersAndAllFailuresAreReported) {
    std::vector<std::string> log;
    try {
        al::run([&]() -> al::Task<> {
            co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
                tg.create_task([&]() -> al::Task<> {
                    co_await al::sleep(1ms);
                    throw Boom("first");
                });
                tg.create_task([&]() -> al::Task<> {
                    try {
                        co_await al::sleep(1h);
                    } catch (const al::CancelledError&) {
                        log.push_back("sibling cancelled");
                        throw Boom("second, in clean-up");  // a failure while being cancelled counts too
                    }
                });
                try {
                    co_await al::sleep(1h);
                } catch (const al::CancelledError&) {
                    log.push_back("body cancelled");
                    throw;
                }
            });
        }());
        FAIL() << "no ExceptionGroup";
    } catch (const al::ExceptionGroup& g) {
        ASSERT_EQ(g.exceptions().size(), 2u);
        EXPECT_NE(std::string(g.what()).find("2 failure(s)"), std::string::npos) << g.what();
        EXPECT_NE(std::string(g.what()).find("first"), std::string::npos) << g.what();
        try {
            std::rethrow_exception(g.exceptions()[1]);
        } catch (const Boom& b) {
            EXPECT_EQ(std::string(b.what()), "second, in clean-up");
        }
    }
    EXPECT_EQ(log.size(), 2u);
}

TEST(TaskGroup, AFailureOfTheBodyCancelsTheChildren) {
    bool child_cancelled = false;
    EXPECT_THROW(al::run([&]() -> al::Task<> {
                     co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
                         tg.create_task([&]() -> al::Task<> {
                             try {
                                 co_await al::sleep(1h);
                             } catch (const al::CancelledError&) {
                                 child_cancelled = true;
                                 throw;
                             }
                         });
                         co_await al::sleep(1ms);
                         throw Boom("body");
                     });
                 }()),
                 al::ExceptionGroup);
    EXPECT_TRUE(child_cancelled);
}

TEST(TaskGroup, AChildsOwnCancellationIsNotAFailure) {
    al::run([]() -> al::Task<> {
        co_await al::task_group([](al::TaskGroup& tg) -> al::Task<> {
            auto c = tg.create_task(value_after(1h, 1));
            tg.create_task(value_after(2ms, 2));
            co_await al::sleep(1ms);
            c.cancel();
        });
    }());
}

TEST(TaskGroup, CancellingTheWaiterCancelsEverythingAndWaitsForIt) {
    al::run([]() -> al::Task<> {
        std::vector<std::string> log;
        auto waiter = al::create_task([&]() -> al::Task<> {
            co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
                tg.create_task([&]() -> al::Task<> {
                    try {
                        co_await al::sleep(1h);
                    } catch (const al::CancelledError&) {
                        log.push_back("child");
                    }
                    co_await al::sleep(2ms);  // clean-up that takes time
                    log.push_back("child done");
                });
                co_await al::sleep(1h);
            });
            log.push_back("not reached");
        });
        // Loop iterations, not time: the waiter, the body, then the child park
        // (under valgrind 1 ms passed before the child had started).
        co_await test_support::settle(6);
        waiter.cancel();
        std::vector<al::TaskHandle<>> waited{waiter};  // not in the co_await: GCC 12 rejects an initializer list there
        co_await al::wait(waited);
        EXPECT_TRUE(waiter.cancelled());
        EXPECT_EQ(log, (std::vector<std::string>{"child", "child done"}));
    }());
}

TEST(TaskGroup, CreateTaskOnAShuttingDownGroupIsAUsageError) {
    al::run([]() -> al::Task<> {
        bool refused = false;
        try {
            co_await al::task_group([&](al::TaskGroup& tg) -> al::Task<> {
                tg.create_task([]() -> al::Task<> {
                    co_await al::sleep(0);
                    throw Boom("x");
                });
                try {
                    co_await al::sleep(1h);
                } catch (const al::CancelledError&) {
                }
                EXPECT_TRUE(tg.shutting_down());
                try {
                    tg.create_task(value_after(1ms, 1));
                } catch (const al::UsageError&) {
                    refused = true;
                }
            });
        } catch (const al::ExceptionGroup&) {
        }
        EXPECT_TRUE(refused);
    }());
}

}  // namespace
