// SPDX-License-Identifier: BSL-1.0
// asynclink/glib.hpp: a GLib main loop drives a Loop (glib::Attachment): a
// thread's set(), a signal handler's try_put and the loop's timers reach its
// tasks, and stop() removes the source.
#include <asynclink/glib.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

/// Iterates `context` until the test sets `finished`, or `limit` passes (a
/// bound for a failing test, which then fails).
void run_bounded(GMainContext* context, const bool& finished, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished && std::chrono::steady_clock::now() < deadline) g_main_context_iteration(context, TRUE);
    EXPECT_TRUE(finished) << "the test's time bound passed first";
}

al::ThreadSafeQueue<int>* signal_queue = nullptr;
void put_from_signal(int) { signal_queue->try_put(6); }

}  // namespace

TEST(Glib, AGlibLoopDrivesTheLoopWokenFromAThreadAndASignal) {
    al::ThreadSafeFlag flag;
    al::ThreadSafeQueue<int> q(4);
    signal_queue = &q;
    GMainContext* context = g_main_context_new();
    {
        al::Loop loop;
        al::glib::Attachment attachment(context, loop);
        bool finished = false;
        int got = 0;
        auto task = loop.create_task([&]() -> al::Task<void> {
            co_await flag.wait();
            co_await al::sleep(3ms);  // through the source's ready time
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
        run_bounded(context, finished);
        setter.join();
        sigaction(SIGUSR1, &previous, nullptr);
        EXPECT_EQ(got, 6);
        EXPECT_TRUE(task.done());
        // Removed: the context has no source left that could step the loop.
        EXPECT_FALSE(g_main_context_pending(context));
    }
    g_main_context_unref(context);
}
