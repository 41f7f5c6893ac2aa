// SPDX-License-Identifier: BSL-1.0
// A GLib program with asynclink inside it, on one thread: a periodic timer
// signal (the stand-in for a hardware interrupt) puts samples on a
// ThreadSafeQueue; an asynclink task, stepped by the GMainLoop, averages
// them, while a GLib timeout of the program's own keeps ticking beside it.
// No thread is added for asynclink.
//
//   glib_signal [--short]
#include <asynclink/glib.hpp>

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

gboolean heartbeat(gpointer beats) {
    ++*static_cast<std::uint64_t*>(beats);
    return G_SOURCE_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 && std::strcmp(argv[1], "--short") == 0 ? 5 : 50;
    GMainLoop* main_loop = g_main_loop_new(nullptr, FALSE);
    al::Loop loop;
    al::glib::Attachment attachment(nullptr, loop);  // the default GMainContext

    // The GLib program's own work: a 1 ms timeout counting its ticks.
    std::uint64_t beats = 0;
    guint heartbeat_id = g_timeout_add(1, heartbeat, &beats);

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
            std::printf("average of ten samples: %.1f (GLib heartbeats so far: %llu)\n", sum / 10,
                        static_cast<unsigned long long>(beats));
            ++averaged;
            co_await al::sleep(1ms);  // an asynclink timer, through the source's ready time
        }
        g_source_remove(heartbeat_id);
        attachment.stop();
        g_main_loop_quit(main_loop);
    });

    al::PeriodicSignal timer(500us, on_tick, nullptr);
    g_main_loop_run(main_loop);
    g_main_loop_unref(main_loop);
    ok = ok && averaged == rounds && averager.done() && beats > 0;
    std::printf("%s\n", ok ? "glib_signal: all checks passed" : "glib_signal: FAILED");
    return ok ? 0 : 1;
}
