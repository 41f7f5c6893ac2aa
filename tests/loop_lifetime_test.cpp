// SPDX-License-Identifier: BSL-1.0
// The end of a loop: a set() racing the loop's
// destruction touches only live memory, and every call schedule() or
// call_soon_threadsafe() accepted runs, even one accepted while ~Loop runs.
// Run these under ASan: a set() racing the end is a heap-use-after-free there.
#include <asynclink/asynclink.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/bridge.hpp"
#include "support/watchdog.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// Both primitives of one loop's life; kept until the setter thread has
// stopped, as their contract asks.
struct Primitives {
    al::ThreadSafeFlag flag;
    al::ThreadSafeEvent event;
};

al::Task<void> wait_on_flag(al::ThreadSafeFlag& flag) {
    for (;;) co_await flag.wait();
}

al::Task<void> wait_on_event(al::ThreadSafeEvent& event) {
    for (;;) {
        co_await event.wait();
        event.clear();
    }
}

}  // namespace

// A thread sets a flag and an event in a tight loop while loops are created,
// run briefly with a task waiting on each, and destroyed. The shutdown cancels
// the waiters while a set() may hold the waiting bit; that set() then posts to
// the loop being destroyed. It must find live memory (the loop's wake core),
// and a post it makes after the end must be refused, not left queued.
TEST(LoopLifetime, ASetRacingTheEndOfItsLoopTouchesOnlyLiveMemory) {
    std::atomic<Primitives*> current{nullptr};
    std::atomic<std::uint64_t> setter_rounds{0};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> progress{0};
    std::thread setter([&] {
        // Relaxed: stop is only a request to end.
        while (!stop.load(std::memory_order_relaxed)) {
            // acquire: pairs with the release store below; the primitives are built.
            if (Primitives* p = current.load(std::memory_order_acquire)) {
                p->flag.set();
                p->event.set();
            }
            // release: this round's sets happen before the main thread,
            // having seen the count move twice, destroys the primitives.
            setter_rounds.fetch_add(1, std::memory_order_release);
        }
    });
    stress_test::Watchdog watchdog(progress, [&] { return "loops: " + std::to_string(progress.load()); });
    const auto budget = std::chrono::duration<double>(2.0 * bridge_test::stress_scale());
    const auto end = std::chrono::steady_clock::now() + budget;
    std::uint64_t loops = 0;
    while (std::chrono::steady_clock::now() < end || loops < 20) {
        auto p = std::make_unique<Primitives>();
        auto loop = std::make_unique<al::Loop>();
        loop->run_until_complete([&]() -> al::Task<void> {
            current.store(p.get(), std::memory_order_release);  // release: the primitives are built
            auto a = al::create_task(wait_on_flag(p->flag));
            auto b = al::create_task(wait_on_event(p->event));
            for (int i = 0; i < 3; ++i) co_await al::sleep(0);
        }());
        loop.reset();  // the set()s keep coming while the loop ends
        // The primitives go only once the setter has stopped using them, as
        // their contract asks: after two more of its rounds.
        current.store(nullptr, std::memory_order_relaxed);  // relaxed: the rounds below order it
        std::uint64_t seen = setter_rounds.load(std::memory_order_acquire);
        while (setter_rounds.load(std::memory_order_acquire) < seen + 2) std::this_thread::yield();
        p.reset();
        ++loops;
        progress.fetch_add(1, std::memory_order_relaxed);
    }
    stop.store(true, std::memory_order_relaxed);
    setter.join();
    EXPECT_GE(loops, 20u);
}

namespace {

// A chain of calls, each posting the next from inside the loop's end.
struct Chain {
    int length = 0;
    int accepted = 0;
    int run = 0;
    al::Loop* loop = nullptr;
};

void scheduled_link(void* arg) {
    auto& c = *static_cast<Chain*>(arg);
    ++c.run;
    if (c.accepted < c.length && c.loop->schedule(&scheduled_link, &c)) ++c.accepted;
}

void threadsafe_link(Chain& c) {
    ++c.run;
    if (c.accepted < c.length) {
        try {
            c.loop->call_soon_threadsafe([&c] { threadsafe_link(c); });
            ++c.accepted;
        } catch (const al::UsageError&) {
            // refused: the loop is closed
        }
    }
}

al::Task<void> post_chains_when_cancelled(Chain& scheduled, Chain& threadsafe) {
    try {
        co_await al::sleep(1h);
    } catch (const al::CancelledError&) {
        // The shutdown's cancel: post the first links from the clean-up.
        if (scheduled.loop->schedule(&scheduled_link, &scheduled)) ++scheduled.accepted;
        threadsafe.loop->call_soon_threadsafe([&threadsafe] { threadsafe_link(threadsafe); });
        ++threadsafe.accepted;
        throw;
    }
}

}  // namespace

// The reproducer: calls accepted during the loop's end (a task's
// clean-up posts one, and each call posts the next) all run: 4 accepted, 4 run
// (before the fix: schedule() 4 accepted, 3 run; call_soon_threadsafe() 3
// accepted, 2 run).
TEST(LoopLifetime, EveryCallAcceptedDuringTheLoopsEndRuns) {
    Chain scheduled{.length = 4};
    Chain threadsafe{.length = 4};
    {
        al::Loop loop;
        scheduled.loop = threadsafe.loop = &loop;
        loop.run_until_complete([&]() -> al::Task<void> {
            auto pending = al::create_task(post_chains_when_cancelled(scheduled, threadsafe));
            co_await al::sleep(0);
        }());
    }
    EXPECT_EQ(scheduled.accepted, 4);
    EXPECT_EQ(scheduled.run, scheduled.accepted) << "schedule(): accepted calls were dropped by ~Loop";
    EXPECT_EQ(threadsafe.accepted, 4);
    EXPECT_EQ(threadsafe.run, threadsafe.accepted) << "call_soon_threadsafe(): accepted calls were dropped by ~Loop";
}

namespace {
std::atomic<std::uint64_t> handle_runs{0};
void count_handle_run(void*) { handle_runs.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a tally
}  // namespace

// A thread posts through a Loop::Handle in a tight loop while loops are
// created, run and destroyed: every call a loop accepted ran before its
// destructor returned, and a call to a closed loop is refused (false, or
// UsageError for call_soon_threadsafe).
TEST(LoopLifetime, AThreadPostingWhileLoopsEndGetsEveryAcceptedCallRun) {
    std::atomic<al::Loop::Handle*> current{nullptr};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> threadsafe_accepted{0};
    std::atomic<std::uint64_t> threadsafe_runs{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> progress{0};
    std::atomic<int> in_use{0};
    std::thread poster([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            // A copy of the loop's handle: holding it keeps the loop's wake
            // core alive, whatever the loop does meanwhile.
            // seq_cst here and in the main thread's store and load: a Dekker
            // handshake, each side's write before its read.
            in_use.fetch_add(1, std::memory_order_seq_cst);
            al::Loop::Handle* shared = current.load(std::memory_order_seq_cst);
            std::optional<al::Loop::Handle> h;
            if (shared != nullptr) h = *shared;
            in_use.fetch_sub(1, std::memory_order_release);  // release: the copy is done
            if (!h) continue;
            for (int i = 0; i < 64; ++i) {
                if (h->schedule(&count_handle_run, nullptr)) {
                    accepted.fetch_add(1, std::memory_order_relaxed);
                } else {
                    refused.fetch_add(1, std::memory_order_relaxed);
                }
            }
            try {
                h->call_soon_threadsafe([&] { threadsafe_runs.fetch_add(1, std::memory_order_relaxed); });
                threadsafe_accepted.fetch_add(1, std::memory_order_relaxed);
            } catch (const al::UsageError& e) {
                EXPECT_NE(std::string(e.what()).find("the loop is closed"), std::string::npos) << e.what();
                refused.fetch_add(1, std::memory_order_relaxed);
            }
        }
    });
    stress_test::Watchdog watchdog(progress, [&] { return "loops: " + std::to_string(progress.load()); });
    const auto budget = std::chrono::duration<double>(2.0 * bridge_test::stress_scale());
    const auto end = std::chrono::steady_clock::now() + budget;
    // Past the budget, go on until a post has met a closed loop (the race this
    // test exists for): a slow or serialising run (valgrind) may need more
    // loops for it. Bounded: not meeting it within the limit fails below.
    const auto limit = std::chrono::steady_clock::now() + bridge_test::hang_limit;
    auto more = [&](std::uint64_t loops) {
        auto now = std::chrono::steady_clock::now();
        if (now < end || loops < 20) return true;
        return refused.load(std::memory_order_relaxed) == 0 && now < limit;  // relaxed: a tally
    };
    std::uint64_t loops = 0;
    while (more(loops)) {
        auto loop = std::make_unique<al::Loop>(al::LoopOptions{.schedule_capacity = 16});
        al::Loop::Handle handle = loop->handle();
        current.store(&handle, std::memory_order_release);
        loop->run_until_complete([]() -> al::Task<void> {
            for (int i = 0; i < 3; ++i) co_await al::sleep(0);
        }());
        loop.reset();  // the poster keeps posting while the loop ends
        current.store(nullptr, std::memory_order_seq_cst);
        // The handle object itself (not the core) goes at the end of this
        // iteration: wait until the poster has copied it, if it is doing so.
        while (in_use.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
        ++loops;
        progress.fetch_add(1, std::memory_order_relaxed);
    }
    stop.store(true, std::memory_order_relaxed);
    poster.join();
    EXPECT_GE(loops, 20u);
    EXPECT_GT(refused.load(), 0u) << "no post reached a closed loop: the race was not exercised";
    EXPECT_EQ(handle_runs.load(), accepted.load()) << "schedule(): accepted and run differ";
    EXPECT_EQ(threadsafe_runs.load(), threadsafe_accepted.load()) << "call_soon_threadsafe(): accepted and run differ";
}
