// SPDX-License-Identifier: BSL-1.0
// A libuv program with asynclink inside it, on one thread: a periodic timer
// signal (the stand-in for a hardware interrupt) puts samples on a
// ThreadSafeQueue; an asynclink task, stepped by the libuv loop, averages
// them, while a libuv timer of the program's own keeps ticking beside it.
// No thread is added for asynclink.
//
//   uv_signal [--short]
#include <asynclink/uv.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

al::ThreadSafeQueue<std::uint32_t> samples(64);  // interrupt -> task

void on_tick(void*) noexcept {
    static std::uint32_t sample = 0;
    samples.try_put(++sample);  // async-signal-safe; a full queue drops the sample
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 && std::strcmp(argv[1], "--short") == 0 ? 5 : 50;
    uv_loop_t* uv = uv_default_loop();
    al::Loop loop;
    al::uv::Attachment attachment(uv, loop);

    // The libuv program's own work: a 1 ms timer counting its ticks.
    uv_timer_t heartbeat;
    std::uint64_t beats = 0;
    uv_timer_init(uv, &heartbeat);
    heartbeat.data = &beats;
    uv_timer_start(
        &heartbeat, [](uv_timer_t* t) { ++*static_cast<std::uint64_t*>(t->data); }, 1, 1);

    bool ok = true;
    int averaged = 0;
    auto averager = loop.create_task([&]() -> al::Task<void> {
        std::uint32_t previous = 0;
        for (int r = 0; r < rounds; ++r) {
            double sum = 0;
            for (int i = 0; i < 10; ++i) {
                std::uint32_t s = co_await samples.get();
                if (s <= previous) ok = false;  // samples come in order
                previous = s;
                sum += s;
            }
            std::printf("average of ten samples: %.1f (libuv heartbeats so far: %llu)\n", sum / 10,
                        static_cast<unsigned long long>(beats));
            ++averaged;
            co_await al::sleep(1ms);  // an asynclink timer, through the uv_timer_t
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat), nullptr);
        attachment.stop();  // nothing else active: uv_run() returns
    });

    al::PeriodicSignal timer(500us, on_tick, nullptr);
    uv_run(uv, UV_RUN_DEFAULT);
    ok = ok && averaged == rounds && averager.done() && beats > 0;
    std::printf("%s\n", ok ? "uv_signal: all checks passed" : "uv_signal: FAILED");
    return ok ? 0 : 1;
}
