// SPDX-License-Identifier: BSL-1.0
// asynclink/asio.hpp: an io_context drives a Loop (Attachment); a task awaits
// Asio operations (use_task); an Asio coroutine awaits asynclink awaitables
// (asio::await); cancellation crosses both ways. Every test runs the
// io_context on the test's thread, bounded by a guard timer that stops it.
#include <asynclink/asio.hpp>
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <variant>

#include <unistd.h>

namespace al = asynclink;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Runs `io`'s handlers until the test sets `finished`, `io` runs out of
/// work, or `limit` passes (a bound for a failing test, which then fails).
void run_bounded(net::io_context& io, const bool& finished, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished && io.run_one_until(deadline) != 0) {
    }
    EXPECT_TRUE(finished) << "the io_context ran out of work or time first";
}

}  // namespace

TEST(Asio, AnIoContextDrivesTheLoopWokenFromAThread) {
    al::ThreadSafeFlag flag;
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    bool finished = false;
    auto task = loop.create_task([&]() -> al::Task<void> {
        co_await flag.wait();
        co_await al::sleep(5ms);  // a timer, through the steady_timer
        finished = true;
        attachment.stop();  // io.run() returns once nothing else is pending
    });
    std::thread setter([&] { flag.set(); });
    run_bounded(io, finished);
    setter.join();
    EXPECT_TRUE(task.done());
}

TEST(Asio, ATaskAwaitsATimerAndARead) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    net::posix::stream_descriptor reader(io, fds[0]);
    bool finished = false;
    std::string text;
    auto task = loop.create_task([&]() -> al::Task<void> {
        net::steady_timer timer(io, 2ms);
        co_await timer.async_wait(al::asio::use_task);
        std::array<char, 5> buffer{};
        std::size_t n = co_await net::async_read(reader, net::buffer(buffer), al::asio::use_task);
        text.assign(buffer.data(), n);
        finished = true;
        attachment.stop();
    });
    std::thread writer([&] { EXPECT_EQ(::write(fds[1], "hello", 5), 5); });
    run_bounded(io, finished);
    writer.join();
    ::close(fds[1]);
    EXPECT_EQ(text, "hello");
}

TEST(Asio, AnOperationErrorIsThrownAsSystemError) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[1]);  // end of file at once
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    net::posix::stream_descriptor reader(io, fds[0]);
    bool finished = false;
    auto task = loop.create_task([&]() -> al::Task<void> {
        std::array<char, 4> buffer{};
        try {
            co_await net::async_read(reader, net::buffer(buffer), al::asio::use_task);
        } catch (const boost::system::system_error& e) {
            EXPECT_EQ(e.code(), net::error::eof);
            finished = true;
        }
        attachment.stop();
    });
    run_bounded(io, finished);
}

TEST(Asio, CancellingTheTaskCancelsTheOperation) {
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    net::steady_timer timer(io, 1h);
    bool finished = false;
    bool cancelled = false;
    auto waiter = loop.create_task([&]() -> al::Task<void> {
        try {
            co_await timer.async_wait(al::asio::use_task);
        } catch (const al::CancelledError&) {
            cancelled = true;
            throw;
        }
    });
    auto canceller = loop.create_task([&]() -> al::Task<void> {
        co_await al::sleep(2ms);
        waiter.cancel();
        try {
            co_await waiter;
        } catch (const al::CancelledError&) {
        }
        finished = true;
        attachment.stop();
    });
    run_bounded(io, finished);  // returns at once: the timer's hour-long wait is gone
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(waiter.cancelled());
}

TEST(Asio, AnAsioCoroutineAwaitsAQueueAndAFlag) {
    al::ThreadSafeQueue<int> q(4);
    al::ThreadSafeFlag flag;
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    bool finished = false;
    int got = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            got = co_await al::asio::await(loop, q.get(), net::use_awaitable);
            co_await al::asio::await(loop, flag.wait(), net::use_awaitable);
            finished = true;
            attachment.stop();
        },
        net::detached);
    std::thread producer([&] {
        q.put_sync(7, true);
        flag.set();
    });
    run_bounded(io, finished);
    producer.join();
    EXPECT_EQ(got, 7);
}

TEST(Asio, AnAsioCoroutineGetsATasksResultAndException) {
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    bool finished = false;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            int v = co_await al::asio::await(
                loop, []() -> al::Task<int> { co_return 41 + 1; }(), net::use_awaitable);
            EXPECT_EQ(v, 42);
            try {
                co_await al::asio::await(
                    loop, []() -> al::Task<void> { throw std::runtime_error("from asynclink"); }(), net::use_awaitable);
                ADD_FAILURE() << "no exception";
            } catch (const std::runtime_error& e) {
                EXPECT_STREQ(e.what(), "from asynclink");
            }
            finished = true;
            attachment.stop();
        },
        net::detached);
    run_bounded(io, finished);
}

TEST(Asio, AnAsioCancellationCancelsTheAsynclinkSideAndTheItemStays) {
    using namespace net::experimental::awaitable_operators;
    al::ThreadSafeQueue<int> q(4);
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    bool finished = false;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            net::steady_timer timer(io, 5ms);
            auto first =
                co_await (al::asio::await(loop, q.get(), net::use_awaitable) || timer.async_wait(net::use_awaitable));
            EXPECT_EQ(first.index(), 1u);  // the timer won; the get was cancelled
            EXPECT_TRUE(q.try_put(9));
            // The cancelled get took nothing: the next one gets the item.
            int v = co_await al::asio::await(loop, q.get(), net::use_awaitable);
            EXPECT_EQ(v, 9);
            finished = true;
            attachment.stop();
        },
        net::detached);
    run_bounded(io, finished);
}

TEST(Asio, ACancellationSignalCancelsTheAsynclinkSide) {
    al::ThreadSafeFlag flag;
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    net::cancellation_signal signal;
    bool finished = false;
    al::asio::await(io.get_executor(), loop, flag.wait(),
                    net::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr error) {
                        try {
                            if (error) std::rethrow_exception(error);
                            ADD_FAILURE() << "completed without an error";
                        } catch (const al::CancelledError&) {
                            finished = true;
                        }
                        attachment.stop();
                    }));
    net::post(io, [&] { signal.emit(net::cancellation_type::terminal); });
    run_bounded(io, finished);
    flag.set();  // remembered for the next waiter: the cancelled wait consumed nothing
    EXPECT_TRUE(flag.is_set());
}

TEST(Asio, TheLoopOnItsOwnThreadServesAnAsioCoroutine) {
    // The io_context and the loop on two threads: await() starts and cancels
    // the task through call_soon_threadsafe, the result comes back posted.
    al::ThreadSafeQueue<int> q(4);
    al::ThreadSafeFlag stop;
    al::Loop* loop_ptr = nullptr;
    std::atomic<bool> loop_ready{false};
    std::thread loop_thread([&] {
        al::run([&]() -> al::Task<void> {
            loop_ptr = &al::Loop::current();
            loop_ready.store(true, std::memory_order_release);  // release: publishes loop_ptr
            co_await stop.wait();
        }());
    });
    while (!loop_ready.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: loop_ptr
    net::io_context io;
    bool finished = false;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            int v = co_await al::asio::await(*loop_ptr, q.get(), net::use_awaitable);
            EXPECT_EQ(v, 3);
            finished = true;
        },
        net::detached);
    std::thread producer([&] { q.put_sync(3, true); });
    run_bounded(io, finished);
    producer.join();
    stop.set();
    loop_thread.join();
}
