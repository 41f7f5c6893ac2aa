// SPDX-License-Identifier: BSL-1.0
// asynclink/uv.hpp: a libuv loop drives a Loop (uv::Attachment): a thread's
// set(), a signal handler's try_put and the loop's timers reach its tasks,
// and stop() lets uv_run() return.
#include <asynclink/uv.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

/// Runs `uv` until it has nothing active, or `limit` passes (a guard timer
/// stops it: a bound for a failing test, which then fails).
void run_bounded(uv_loop_t* uv, const bool& finished, std::uint64_t limit_ms = 30000) {
    uv_timer_t guard;
    uv_timer_init(uv, &guard);
    guard.data = uv;
    uv_timer_start(
        &guard, [](uv_timer_t* t) { uv_stop(static_cast<uv_loop_t*>(t->data)); }, limit_ms, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));  // does not keep uv_run() going by itself
    uv_run(uv, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(uv, UV_RUN_NOWAIT);  // the close callbacks
    EXPECT_TRUE(finished) << "uv_run() ended before the test finished";
}

al::ThreadSafeQueue<int>* signal_queue = nullptr;
void put_from_signal(int) { signal_queue->try_put(5); }

}  // namespace

TEST(Uv, ALibuvLoopDrivesTheLoopWokenFromAThreadAndASignal) {
    al::ThreadSafeFlag flag;
    al::ThreadSafeQueue<int> q(4);
    signal_queue = &q;
    uv_loop_t uv;
    ASSERT_EQ(uv_loop_init(&uv), 0);
    {
        al::Loop loop;
        al::uv::Attachment attachment(&uv, loop);
        bool finished = false;
        int got = 0;
        auto task = loop.create_task([&]() -> al::Task<void> {
            co_await flag.wait();
            co_await al::sleep(3ms);  // through the uv_timer_t
            std::raise(SIGUSR1);      // a signal handler puts on the queue
            got = co_await q.get();
            finished = true;
            attachment.stop();
        });
        struct sigaction action {};
        struct sigaction previous {};
        action.sa_handler = put_from_signal;
        sigemptyset(&action.sa_mask);
        ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
        std::thread setter([&] { flag.set(); });
        run_bounded(&uv, finished);
        setter.join();
        sigaction(SIGUSR1, &previous, nullptr);
        EXPECT_EQ(got, 5);
        EXPECT_TRUE(task.done());
    }
    EXPECT_EQ(uv_loop_close(&uv), 0);  // every handle closed
}

TEST(Uv, DestroyingTheAttachmentClosesItsHandles) {
    uv_loop_t uv;
    ASSERT_EQ(uv_loop_init(&uv), 0);
    al::Loop loop;
    { al::uv::Attachment attachment(&uv, loop); }
    uv_run(&uv, UV_RUN_DEFAULT);  // only the close callbacks: returns at once
    EXPECT_EQ(uv_loop_close(&uv), 0);
}
