// SPDX-License-Identifier: BSL-1.0
// An Asio program with asynclink inside it, on one thread: a periodic timer
// signal (the stand-in for a hardware interrupt) puts samples on a
// ThreadSafeQueue; an asynclink task, stepped by the io_context, averages
// them and hands each average to an Asio coroutine, which awaits the
// asynclink queue through asio::await. No thread is added for asynclink.
//
//   asio_signal [--short]
#include <asynclink/asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace al = asynclink;
namespace net = boost::asio;
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
    al::ThreadSafeQueue<double> averages(4);  // task -> Asio coroutine
    al::Loop loop;
    net::io_context io;
    al::asio::Attachment attachment(io.get_executor(), loop);
    bool ok = true;

    // asynclink's side: batches of ten samples, a pause on an Asio timer.
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
            co_await averages.put(sum / 10);
            net::steady_timer pause(io, 1ms);
            co_await pause.async_wait(al::asio::use_task);  // an Asio operation, awaited by a task
        }
    });

    // Asio's side: an asio::awaitable coroutine awaits the asynclink queue.
    int received = 0;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            double last = 0;
            for (int r = 0; r < rounds; ++r) {
                double average = co_await al::asio::await(loop, averages.get(), net::use_awaitable);
                if (average <= last) ok = false;
                last = average;
                ++received;
                std::printf("average of ten samples: %.1f\n", average);
            }
            co_await al::asio::await(loop, averager, net::use_awaitable);  // a TaskHandle, awaited from Asio
            attachment.stop();                                             // nothing else pending: io.run() returns
        },
        net::detached);

    al::PeriodicSignal timer(500us, on_tick, nullptr);
    io.run();
    ok = ok && received == rounds && averager.done();
    std::printf("%s\n", ok ? "asio_signal: all checks passed" : "asio_signal: FAILED");
    return ok ? 0 : 1;
}
