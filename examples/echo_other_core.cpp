// SPDX-License-Identifier: BSL-1.0
// Echo server on another core (the seed's section 2.1.3).
//
// A thread pinned to another CPU plays the seed's "core 2": it takes integers
// from one ThreadSafeQueue and echoes each back on a second one. A sender task
// puts consecutive integers; the main task iterates over the echoes and checks
// that every one comes back exactly once, in order.
//
//   loop thread, CPU 0                               echo thread, CPU 1
//   sender task --co_await put--> [to_core2]   --get_sync(block)--.
//   main task  <--co_await next-- [from_core2] <--put_sync(block)--'
//
// Both queues hold 10 items (a capacity-10 queue holds 10, not 9 as in the
// seed). When the sender is done it closes to_core2; the echo thread then gets
// QueueClosed, closes from_core2 in turn, and the main task's iteration ends
// after the last echo: nothing is lost at shutdown.
//
// Usage: echo_other_core [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "trace_option.hpp"

namespace al = asynclink;

namespace {

// "Core 2": blocks as long as it likes, it is not the loop's thread.
void echo_server(al::ThreadSafeQueue<int>& in, al::ThreadSafeQueue<int>& out, int cpu) {
    al::trace::name_this_thread("echo (core 2)");  // the name of its lane in a --trace
    bool pinned = al::port::pin_current_thread(cpu);
    std::printf("echo thread: running on CPU %d%s\n", al::port::current_cpu(), pinned ? "" : " (could not pin)");
    try {
        for (;;) out.put_sync(in.get_sync(true), true);  // parks while in is empty or out is full
    } catch (const al::QueueClosed&) {
        out.close();  // the sender is done and every item was echoed: pass the end on
    }
}

al::Task<void> sender(al::ThreadSafeQueue<int>& to_core2, int count) {
    for (int x = 1; x <= count; ++x) co_await to_core2.put(x);  // pauses this task while the queue is full
    to_core2.close();
}

al::Task<int> run_echo(int count) {
    al::ThreadSafeQueue<int> to_core2(10);
    al::ThreadSafeQueue<int> from_core2(10);
    al::current_task().set_name("main");
    std::printf("main task:   running on CPU %d\n", al::port::current_cpu());
    std::thread core2(echo_server, std::ref(to_core2), std::ref(from_core2), 1);
    auto send = al::create_task(sender(to_core2, count), "sender");

    auto start = al::Clock::now();
    int n = 0;
    int errors = 0;
    while (std::optional<int> x = co_await from_core2.next()) {
        ++n;
        if (*x != n && errors++ < 5) std::printf("  out of order: expected %d, received %d\n", n, *x);
        if (n % (count / 5) == 0) std::printf("Received %d queue items.\n", n);
    }
    co_await send;
    core2.join();
    double seconds = std::chrono::duration<double>(al::Clock::now() - start).count();

    std::printf("%d items went to CPU 1 and back in %.3f s: %.0f round trips/s\n", n, seconds, n / seconds);
    if (n != count) {
        std::printf("FAILED: received %d items, expected %d\n", n, count);
        ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    // --trace FILE: the first 1024 events of each context, enough to see the
    // pattern (docs/traces/echo-on-another-core.json is one).
    example::TraceOption trace(argc, argv, 1024);
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int count = is_short ? 50'000 : 1'000'000;
    al::port::pin_current_thread(0);  // the loop stays on CPU 0, the echo thread gets CPU 1
    // The echo comes back within microseconds: polling that long before
    // sleeping in the kernel saves a system call and a wake-up per item (about
    // ten times the throughput here). Without it the loop uses no CPU at all
    // while it waits; both are correct.
    al::LoopOptions options;
    options.spin_before_sleep = std::chrono::microseconds(50);
    int errors = al::run(run_echo(count), options);
    std::printf(errors == 0 ? "echo_other_core: all checks passed (every item came back once, in order)\n"
                            : "echo_other_core: FAILED\n");
    return errors == 0 ? 0 : 1;
}
