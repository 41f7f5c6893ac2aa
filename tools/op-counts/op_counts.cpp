// SPDX-License-Identifier: BSL-1.0
// Instructions per operation, counted by valgrind's callgrind: exact and
// independent of the machine's load, so a regression shows as a number, not
// as noise (issue 16, item 2). Each operation runs `rounds` times after a
// warm-up, between CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT(name);
// tools/op-counts/op-counts reads the dumps and divides by the rounds.
// Natively (not under valgrind) the requests do nothing and the program only
// checks that every operation completes.
//
// Everything runs on one thread and the loop never goes idle (something is
// always ready), so no spin or sleep, whose length depends on time, is
// counted: a count depends only on the code. The cross-context operations
// are made from a signal handler (raise() runs it synchronously) or through
// the same calls a thread makes; what a second core adds (cache misses) is
// what instructions cannot show, and what the bridge benchmark measures.
//
// Rows (each per operation):
//   flag_set_wake    ThreadSafeFlag: set() in a signal handler -> the waiting task runs
//   event_set_wake   Event: set() in a task -> the waiting task runs (ping-pong / 2)
//   queue_try_put    ThreadSafeQueue::try_put (room)
//   queue_try_get    ThreadSafeQueue::try_get (an item)
//   queue_put_wake   try_put in a signal handler -> the task waiting in get() has the item
//   queue_task_put   co_await put() (room) then the task waiting in get() on the same loop
//   queue_task_put_room  co_await put() with room, nobody waiting (a task producer's own cost)
//   queue_task_get_ready co_await get() with an item there (a task consumer's own cost)
//   queue_put_sync   put_sync(v, true) on a thread, room there (no loop on that thread)
//   queue_get_sync   get_sync(true) on a thread, an item there (no loop on that thread)
//   schedule         Loop::schedule(fn, arg) -> fn ran
//   call_soon_threadsafe  -> fn ran
//   spawn            create_task of a trivial task + co_await its handle
//   yield            co_await sleep(0)
//   timer            co_await sleep(1 ns): a timer that is due when the loop looks
// Asio's rows (Boost.Asio's io_context, one thread): asio_post (post ->
// handler ran), asio_yield (co_await post(use_awaitable)), asio_spawn
// (co_spawn of a trivial awaitable, awaited), asio_timer (steady_timer
// expiring at once), asio_event_wake (a timer cancelled as an event,
// ping-pong / 2).
#include <asynclink/asynclink.hpp>
#include <valgrind/callgrind.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#if __has_include(<boost/asio.hpp>)
#define ASYNCLINK_OP_COUNTS_ASIO 1
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include "op_counts.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace op_counts {

namespace {
int failures = 0;
const char* counting = nullptr;  // the row being counted, in the counted pass
}  // namespace

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "op_counts: %s\n", what);
        ++failures;
    }
}

void start_counting() {
    if (counting != nullptr) CALLGRIND_ZERO_STATS;
}

void stop_counting() {
    if (counting != nullptr) CALLGRIND_DUMP_STATS_AT(counting);
    counting = nullptr;
}

}  // namespace op_counts

namespace {
using op_counts::check;
using op_counts::counting;
using op_counts::start_counting;
using op_counts::stop_counting;

int rounds = 1000;
const char* only = nullptr;  // argv[1]: measure this row only

bool selected(const char* name) { return only == nullptr || std::strcmp(only, name) == 0; }

/// Counts what `body(n)` does for n = rounds from its start_counting() on,
/// after body(warm) ran once uncounted (first-time allocations, the frame
/// pool filling up).
template <class Body>
al::Task<void> counted(const char* name, Body body) {
    if (!selected(name)) co_return;
    co_await body(rounds / 10 + 1);
    counting = name;
    co_await body(rounds);
    stop_counting();
    std::printf("%s %d\n", name, rounds);
}

// ---------------------------------------------------------------- asynclink

al::ThreadSafeFlag* handler_flag = nullptr;
al::ThreadSafeQueue<int>* handler_queue = nullptr;
void set_flag(int) { handler_flag->set(); }
void put_item(int) { (void)handler_queue->try_put(1); }

al::Task<void> flag_set_wake(int n) {
    start_counting();
    al::ThreadSafeFlag flag;
    handler_flag = &flag;
    std::signal(SIGUSR1, set_flag);
    auto setter = [](int count) -> al::Task<void> {
        for (int i = 0; i < count; ++i) {
            std::raise(SIGUSR1);
            co_await al::sleep(0);
        }
    };
    // The setter runs while the waiter waits: each round is one set() -> wake.
    auto handle = al::create_task(setter(n));
    for (int i = 0; i < n; ++i) co_await flag.wait();
    co_await handle;
    std::signal(SIGUSR1, SIG_DFL);
}

al::Task<void> event_set_wake(int n) {
    start_counting();
    al::Event ping;
    al::Event pong;
    auto responder = [](al::Event& in, al::Event& out, int count) -> al::Task<void> {
        for (int i = 0; i < count; ++i) {
            co_await in.wait();
            in.clear();
            out.set();
        }
    };
    auto handle = al::create_task(responder(ping, pong, n / 2));
    for (int i = 0; i < n / 2; ++i) {
        ping.set();
        co_await pong.wait();
        pong.clear();
    }
    co_await handle;
}

al::Task<void> queue_try_put(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    start_counting();
    for (int i = 0; i < n; ++i) check(q.try_put(i), "try_put refused with room");
    stop_counting();
    co_return;
}

al::Task<void> queue_try_get(int n) {
    al::ThreadSafeQueue<int> q(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) (void)q.try_put(i);
    start_counting();
    for (int i = 0; i < n; ++i) check(q.try_get().has_value(), "try_get found nothing");
    stop_counting();
    co_return;
}

al::Task<void> queue_put_wake(int n) {
    start_counting();
    al::ThreadSafeQueue<int> q(4);
    handler_queue = &q;
    std::signal(SIGUSR2, put_item);
    auto producer = [](int count) -> al::Task<void> {
        for (int i = 0; i < count; ++i) {
            std::raise(SIGUSR2);
            co_await al::sleep(0);
        }
    };
    auto handle = al::create_task(producer(n));
    for (int i = 0; i < n; ++i) check(co_await q.get() == 1, "queue_put_wake: wrong item");
    co_await handle;
    std::signal(SIGUSR2, SIG_DFL);
}

al::Task<void> queue_task_put(int n) {
    start_counting();
    al::ThreadSafeQueue<int> q(4);
    auto consumer = [](al::ThreadSafeQueue<int>& queue, int count) -> al::Task<void> {
        for (int i = 0; i < count; ++i) check(co_await queue.get() == i, "queue_task_put: wrong item");
    };
    auto handle = al::create_task(consumer(q, n));
    for (int i = 0; i < n; ++i) co_await q.put(i);
    co_await handle;
}

void count_call(void* arg) { ++*static_cast<int*>(arg); }

al::Task<void> schedule(int n) {
    start_counting();
    al::Loop& loop = al::Loop::current();
    int ran = 0;
    for (int i = 0; i < n; i += 32) {
        for (int k = i; k < i + 32 && k < n; ++k) check(loop.schedule(count_call, &ran), "schedule refused");
        co_await al::sleep(0);
    }
    co_await al::sleep(0);
    check(ran == n, "schedule: not every call ran");
}

al::Task<void> call_soon_threadsafe(int n) {
    start_counting();
    al::Loop& loop = al::Loop::current();
    int ran = 0;
    for (int i = 0; i < n; i += 32) {
        for (int k = i; k < i + 32 && k < n; ++k) loop.call_soon_threadsafe([&ran] { ++ran; });
        co_await al::sleep(0);
    }
    co_await al::sleep(0);
    check(ran == n, "call_soon_threadsafe: not every call ran");
}

al::Task<void> trivial(int& ran) {
    ++ran;
    co_return;
}

al::Task<void> spawn(int n) {
    start_counting();
    int ran = 0;
    for (int i = 0; i < n; ++i) co_await al::create_task(trivial(ran));
    check(ran == n, "spawn: a task did not run");
}

al::Task<void> yield(int n) {
    start_counting();
    for (int i = 0; i < n; ++i) co_await al::sleep(0);
}

al::Task<void> timer(int n) {
    start_counting();
    for (int i = 0; i < n; ++i) co_await al::sleep(1ns);
}

al::Task<void> asynclink_rows() {
    co_await counted("flag_set_wake", flag_set_wake);
    co_await counted("event_set_wake", event_set_wake);
    co_await counted("queue_try_put", queue_try_put);
    co_await counted("queue_try_get", queue_try_get);
    co_await counted("queue_put_wake", queue_put_wake);
    co_await counted("queue_task_put", queue_task_put);
    co_await counted("queue_task_put_room", op_counts::queue_task_put_room);
    co_await counted("queue_task_get_ready", op_counts::queue_task_get_ready);
    co_await counted("schedule", schedule);
    co_await counted("call_soon_threadsafe", call_soon_threadsafe);
    co_await counted("spawn", spawn);
    co_await counted("yield", yield);
    co_await counted("timer", timer);
}

/// counted() for the blocking ends (op_counts_ends.cpp): called with no
/// loop running, as they refuse a thread that runs one.
template <class Body>
void thread_counted(const char* name, Body body) {
    if (!selected(name)) return;
    body(rounds / 10 + 1);
    counting = name;
    body(rounds);
    stop_counting();
    std::printf("%s %d\n", name, rounds);
}

void thread_rows() {
    thread_counted("queue_put_sync", op_counts::queue_put_sync);
    thread_counted("queue_get_sync", op_counts::queue_get_sync);
}

// ---------------------------------------------------------------- Boost.Asio

#ifdef ASYNCLINK_OP_COUNTS_ASIO
namespace asio = boost::asio;

template <class Body>
void asio_counted(const char* name, Body body) {
    if (!selected(name)) return;
    for (int pass = 0; pass < 2; ++pass) {
        int n = pass == 0 ? rounds / 10 + 1 : rounds;
        asio::io_context context(1);
        if (pass == 1) CALLGRIND_ZERO_STATS;
        body(context, n);
        context.run();
        if (pass == 1) CALLGRIND_DUMP_STATS_AT(name);
    }
    std::printf("%s %d\n", name, rounds);
}

asio::awaitable<void> asio_post_body(int n) {
    // Posted in batches, then a yield lets them run: as schedule() is used above.
    auto executor = co_await asio::this_coro::executor;
    int ran = 0;
    for (int i = 0; i < n; i += 32) {
        for (int k = i; k < i + 32 && k < n; ++k) asio::post(executor, [&ran] { ++ran; });
        co_await asio::post(executor, asio::use_awaitable);
    }
    co_await asio::post(executor, asio::use_awaitable);
    check(ran == n, "asio_post: not every handler ran");
}

asio::awaitable<void> asio_yield_body(int n) {
    for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

asio::awaitable<void> asio_trivial(int& ran) {
    ++ran;
    co_return;
}

asio::awaitable<void> asio_spawn_body(int n) {
    auto executor = co_await asio::this_coro::executor;
    int ran = 0;
    for (int i = 0; i < n; ++i) co_await asio::co_spawn(executor, asio_trivial(ran), asio::use_awaitable);
    check(ran == n, "asio_spawn: a coroutine did not run");
}

asio::awaitable<void> asio_timer_body(int n) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < n; ++i) {
        t.expires_after(std::chrono::nanoseconds(1));
        co_await t.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<void> wait_signalled(asio::steady_timer& timer) {
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

asio::awaitable<void> asio_event_body(int n) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer ping(executor, asio::steady_timer::time_point::max());
    asio::steady_timer pong(executor, asio::steady_timer::time_point::max());
    auto responder = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n / 2; ++i) {
            co_await wait_signalled(ping);
            pong.cancel();
        }
    };
    asio::co_spawn(executor, responder(), asio::detached);
    for (int i = 0; i < n / 2; ++i) {
        co_await asio::post(executor, asio::use_awaitable);  // the responder waits first
        ping.cancel();
        co_await wait_signalled(pong);
    }
}

void asio_rows() {
    asio_counted("asio_post", [](asio::io_context& c, int n) { asio::co_spawn(c, asio_post_body(n), asio::detached); });
    asio_counted("asio_yield",
                 [](asio::io_context& c, int n) { asio::co_spawn(c, asio_yield_body(n), asio::detached); });
    asio_counted("asio_spawn",
                 [](asio::io_context& c, int n) { asio::co_spawn(c, asio_spawn_body(n), asio::detached); });
    asio_counted("asio_timer",
                 [](asio::io_context& c, int n) { asio::co_spawn(c, asio_timer_body(n), asio::detached); });
    asio_counted("asio_event_wake",
                 [](asio::io_context& c, int n) { asio::co_spawn(c, asio_event_body(n), asio::detached); });
}
#endif

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1) only = argv[1];
    if (const char* r = std::getenv("OP_COUNTS_ROUNDS")) rounds = std::atoi(r) > 0 ? std::atoi(r) : rounds;
    al::run(asynclink_rows());
    thread_rows();
#ifdef ASYNCLINK_OP_COUNTS_ASIO
    asio_rows();
#endif
    return op_counts::failures == 0 ? 0 : 1;
}
