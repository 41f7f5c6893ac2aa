// unblock: await a slow blocking function while a busy task keeps printing
// (the seed's unblock example).
//
// slow_add() blocks its thread in ten steps, as a driver that polls a device
// would. Called directly from a task it would freeze the whole loop for its
// duration; awaited through unblock() it runs on a worker thread, the task
// that awaits it pauses, and every other task (here one printing '#') goes on.
//
//   task --unblock(slow_add, 1, 2)--> worker thread (blocks) --result 3--> task
//   busywork task: # # # # ...  (keeps running meanwhile)
//
// Usage: unblock_busy [--short]
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

// An ordinary blocking function: it knows nothing about the loop.
int slow_add(int a, int b, std::chrono::milliseconds step) {
    for (int x = 0; x < 10; ++x) std::this_thread::sleep_for(step);  // a blocking call
    return a + b;
}

al::Task<void> busywork(int& ticks, std::chrono::milliseconds period) {
    for (;;) {
        std::printf("#");
        std::fflush(stdout);
        ++ticks;
        co_await al::sleep(period);
    }
}

al::Task<int> run_example(std::chrono::milliseconds step) {
    int ticks = 0;
    auto bw = al::create_task(busywork(ticks, step / 2));
    co_await al::sleep(0);  // let busywork print its first '#'
    int ticks_before = ticks;
    auto start = al::Clock::now();

    int res = co_await al::unblock(slow_add, 1, 2, step);  // the loop runs busywork meanwhile

    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(al::Clock::now() - start);
    int ticks_during = ticks - ticks_before;
    bw.cancel();
    std::printf("\nDone. Result = %d after %lld ms; busywork printed %d '#' meanwhile\n", res,
                static_cast<long long>(took.count()), ticks_during);

    int errors = 0;
    if (res != 3) {
        std::printf("FAILED: slow_add(1, 2) returned %d\n", res);
        ++errors;
    }
    if (ticks_during == 0) {
        std::printf("FAILED: busywork never ran while slow_add blocked: the loop was stalled\n");
        ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = al::run(run_example(is_short ? 30ms : 500ms));
    std::printf(errors == 0 ? "unblock_busy: all checks passed (the loop kept running during the blocking call)\n"
                            : "unblock_busy: FAILED\n");
    return errors == 0 ? 0 : 1;
}
