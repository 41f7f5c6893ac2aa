// SPDX-License-Identifier: BSL-1.0
// Two interrupt sources feed one task through a many-producer queue.
//
// A PeriodicSignal (a POSIX timer whose callback runs in a signal handler: the
// Linux stand-in for a hardware timer interrupt) samples a "temperature"; a
// second real-time signal, sent by a "UART" thread at its own pace, delivers
// received bytes. Both handlers run on the loop's thread, interrupting it (and
// each other) wherever it is, and both put onto one
// ThreadSafeQueue<Event, al::many_producers>; one task takes the events in
// the order they were put.
//
//   timer signal handler --try_put--> [ThreadSafeQueue<Event, many_producers>] --next()--> task
//   UART signal handler  --try_put--^
//
// A handler never waits: try_put takes no lock, allocates nothing and never
// waits for the other handler, even when it interrupted that handler in the
// middle of its own put. A handler that finds the queue full drops its event
// and counts it, as a driver would. The checks: each source's events arrive
// in order, none twice, and every event accepted arrives.
//
// With --uart-thread the UART thread puts its bytes itself, as a DMA
// completion thread would, instead of raising an interrupt: the queue then has
// a handler and a thread as producers. The ThreadSanitizer build runs it so:
// that runtime, sent two signals at once, can leave the loop's thread with
// every signal blocked for good (docs/tsan-signal-mask.cpp reproduces it
// without asynclink), and it never nests handlers anyway.
//
// Usage: many_interrupts [--short] [--uart-thread] [--trace FILE]
#include <asynclink/asynclink.hpp>
#include <asynclink/posix/periodic_signal.hpp>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

enum class Source : std::uint8_t { timer, uart };

struct Event {
    Source source;
    std::uint32_t seq;    // per source
    std::uint32_t value;  // the sample or the byte
};

al::ThreadSafeQueue<Event, al::many_producers> events(64);

// Each source's own state: only that source's handler (or the UART thread,
// with --uart-thread) writes it (32-bit atomics are lock-free, so the task
// may read them for the summary).
struct HandlerState {
    std::atomic<std::uint32_t> accepted{0};
    std::atomic<std::uint32_t> dropped{0};
};
HandlerState timer_state;
HandlerState uart_state;

void put_from_handler(HandlerState& state, Source source, std::uint32_t value) noexcept {
    // relaxed (all): only this source writes its counters.
    std::uint32_t seq = state.accepted.load(std::memory_order_relaxed);
    if (events.try_put(Event{source, seq, value})) {
        state.accepted.store(seq + 1, std::memory_order_relaxed);
    } else {
        state.dropped.fetch_add(1, std::memory_order_relaxed);
    }
}

// The timer interrupt: a temperature sample (a made-up sensor).
void on_timer(void*) noexcept {
    std::uint32_t ticks = timer_state.accepted.load(std::memory_order_relaxed);  // relaxed: as above
    put_from_handler(timer_state, Source::timer, 200 + ticks % 7);
}

// The UART interrupt: the next received byte.
constexpr int uart_signal_offset = 5;  // SIGRTMIN + 5: PeriodicSignal uses + 2
std::atomic<std::uint8_t> uart_data{0};
extern "C" void on_uart(int) {
    al::trace::HandlerScope trace_lane("UART");  // its own lane in a --trace
    // relaxed: the "data register", written by the UART thread before it raises the signal.
    put_from_handler(uart_state, Source::uart, uart_data.load(std::memory_order_relaxed));
}

al::Task<int> consume(std::uint32_t wanted) {
    std::uint32_t next_seq[2] = {0, 0};
    std::uint32_t received = 0;
    int errors = 0;
    while (std::optional<Event> e = co_await events.next()) {
        auto s = static_cast<std::size_t>(e->source);
        if (e->seq != next_seq[s]) {
            std::printf("FAILED: %s event %u arrived when %u was next\n", s == 0 ? "timer" : "uart", e->seq,
                        next_seq[s]);
            ++errors;
        }
        next_seq[s] = e->seq + 1;
        if (++received % (wanted / 4) == 0) {
            std::printf("%u events: %u timer samples, %u UART bytes (the last: %u)\n", received, next_seq[0],
                        next_seq[1], e->value);
        }
    }
    // The stream is closed and drained: everything accepted has arrived.
    // relaxed: the handlers (and the UART thread) stopped before close(), and
    // the loop resumed after the UART thread was joined (see main).
    if (next_seq[0] != timer_state.accepted.load(std::memory_order_relaxed) ||
        next_seq[1] != uart_state.accepted.load(std::memory_order_relaxed)) {
        std::printf("FAILED: an accepted event was lost\n");
        ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = false;
    bool uart_thread = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--short") == 0) {
            is_short = true;
        } else if (std::strcmp(argv[i], "--uart-thread") == 0) {
            uart_thread = true;
        } else {
            std::fprintf(stderr, "usage: %s [--short] [--uart-thread] [--trace FILE]\n", argv[0]);
            return 2;
        }
    }
    const std::uint32_t wanted = is_short ? 400 : 4000;

    struct sigaction action {};
    action.sa_handler = &on_uart;
    sigemptyset(&action.sa_mask);  // the timer's signal may interrupt this handler, and the other way round
    sigaction(SIGRTMIN + uart_signal_offset, &action, nullptr);

    pthread_t loop_thread = pthread_self();
    int errors = al::run([&]() -> al::Task<int> {
        auto consumer = al::create_task(consume(wanted));
        {
            al::PeriodicSignal timer(500us, &on_timer, nullptr);
            // The UART: a byte every 300 us, raised as an interrupt on the loop's
            // thread (or, with --uart-thread, put by this thread itself).
            std::atomic<bool> stop{false};
            std::thread uart([&] {
                std::uint8_t byte = 'a';
                while (!stop.load(std::memory_order_relaxed)) {        // relaxed: only ends the loop
                    uart_data.store(byte, std::memory_order_relaxed);  // relaxed: see on_uart
                    if (uart_thread) {
                        put_from_handler(uart_state, Source::uart, byte);
                    } else {
                        pthread_kill(loop_thread, SIGRTMIN + uart_signal_offset);
                    }
                    byte = byte == 'z' ? 'a' : static_cast<std::uint8_t>(byte + 1);
                    std::this_thread::sleep_for(300us);
                }
            });
            // relaxed: a progress count.
            while (timer_state.accepted.load(std::memory_order_relaxed) +
                       uart_state.accepted.load(std::memory_order_relaxed) <
                   wanted) {
                co_await al::sleep(1ms);
            }
            stop.store(true, std::memory_order_relaxed);
            co_await al::unblock([&] { uart.join(); });  // joined off the loop: the loop never blocks
        }                                                // the timer is gone: no handler runs any more
        // The end of the stream: the consumer still gets every event accepted.
        events.close();
        co_return co_await consumer;
    }());
    std::printf("timer: %u accepted, %u dropped; UART: %u accepted, %u dropped\n", timer_state.accepted.load(),
                timer_state.dropped.load(), uart_state.accepted.load(), uart_state.dropped.load());
    std::printf(errors == 0 ? "many_interrupts: all checks passed (each source's events once, in order)\n"
                            : "many_interrupts: FAILED\n");
    return errors == 0 ? 0 : 1;
}
