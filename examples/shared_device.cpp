// SPDX-License-Identifier: BSL-1.0
// One stream device shared by several tasks (the seed's section 5).
//
// A pseudo-terminal plays a serial line to a device that answers every
// command line with a reply line carrying the same header. Four client tasks
// send commands through the one line and each waits for its own replies.
//
//   client 0..3 --Lock: write, drain, write, drain, write--> [serial line] --> device (echoes each line)
//   client n <--Queue n-- router task <--readline-- [serial line] <-----------'
//
// Two hazards, two remedies:
// - Transmission: each command goes out in parts, and the client is suspended
//   between them (drain() may wait for the line, and the payload comes from a
//   reading that takes time). Without the Lock another client's bytes land
//   inside the command; under the Lock they never do. Run with --no-lock to
//   see the device receive spliced commands.
// - Reception: only one task may read a stream. The router reads every line,
//   parses its header and puts it on the Queue of the client it names.
// The device checks each command arrives whole; each client checks it gets
// every reply, its own only, in order.
//
// Usage: shared_device [--short] [--trace FILE] [--no-lock]
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;

namespace {

constexpr int client_count = 4;

// "<client> <seq> <payload>\n"; the payload is a function of client and seq,
// so the receiver can tell a whole line from a spliced one.
std::string payload(int client, int seq) {
    return std::string(static_cast<std::size_t>(8 + (client * 7 + seq) % 40), static_cast<char>('a' + client));
}

bool well_formed(const std::string& line, int& client, int& seq) {
    char tail[64] = {};
    if (std::sscanf(line.c_str(), "%d %d %63s", &client, &seq, tail) != 3) return false;
    return client >= 0 && client < client_count &&
           line == std::to_string(client) + " " + std::to_string(seq) + " " + payload(client, seq) + "\n";
}

// The device on the far end of the line: answers each command with its reply.
al::Task<int> device(al::Stream& port) {
    int spliced = 0;
    for (;;) {
        std::string line = co_await port.readline();
        if (line.empty()) co_return spliced;  // the line was hung up
        int client = 0;
        int seq = 0;
        if (!well_formed(line, client, seq)) ++spliced;
        port.write(line);
        co_await port.drain();
    }
}

// Stands for a measurement the client takes while composing a command.
al::Task<std::string> take_reading(int client, int seq) {
    co_await al::sleep(0);
    co_return payload(client, seq);
}

al::Task<int> client(int id, int count, al::Stream& line, al::Lock* lock, al::Queue<std::string>& replies) {
    for (int seq = 0; seq < count; ++seq) {
        al::Lock::Guard guard;
        if (lock != nullptr) guard = co_await lock->acquire();  // the whole command goes out before another
        line.write(std::to_string(id) + " " + std::to_string(seq) + " ");
        co_await line.drain();
        std::string reading = co_await take_reading(id, seq);  // suspends: other clients run here
        line.write(reading + "\n");
        co_await line.drain();
    }
    int wrong = 0;
    for (int seq = 0; seq < count; ++seq) {
        std::string reply;
        try {
            reply = co_await al::wait_for(replies.get(), std::chrono::seconds(2));
        } catch (const al::TimeoutError&) {
            co_return wrong + (count - seq);  // the rest never came: their commands were spliced
        }
        int client = -1;
        int got = -1;
        if (!well_formed(reply, client, got) || client != id || got != seq) ++wrong;
    }
    co_return wrong;
}

// The only reader of the line: routes each reply to the client it names.
al::Task<int> router(al::Stream& line, std::vector<std::unique_ptr<al::Queue<std::string>>>& queues) {
    int unroutable = 0;
    for (;;) {
        std::string reply = co_await line.readline();
        if (reply.empty()) co_return unroutable;  // the line was closed
        int client = -1;
        int seq = -1;
        if (!well_formed(reply, client, seq)) {
            ++unroutable;
            continue;
        }
        queues[static_cast<std::size_t>(client)]->put_nowait(std::move(reply));
    }
}

al::Task<int> run_example(int per_client, bool use_lock) {
    // A small write buffer makes drain() suspend often, as a slow UART would.
    al::StreamOptions options;
    options.high_water = 256;
    options.low_water = 64;
    al::PtyPair pty = al::open_pty(options);
    std::printf("serial line: %s (the device holds the other end)\n", pty.terminal_path.c_str());
    al::Stream& line = pty.terminal;

    auto dev = al::create_task(device(pty.controller));
    std::vector<std::unique_ptr<al::Queue<std::string>>> queues;
    for (int n = 0; n < client_count; ++n) queues.push_back(std::make_unique<al::Queue<std::string>>());
    auto route = al::create_task(router(line, queues));

    al::Lock lock;
    auto start = al::Clock::now();
    std::vector<al::TaskHandle<int>> clients;
    for (int n = 0; n < client_count; ++n)
        clients.push_back(al::create_task(client(n, per_client, line, use_lock ? &lock : nullptr, *queues[n])));
    std::vector<int> wrong = co_await al::gather(clients);
    double seconds = std::chrono::duration<double>(al::Clock::now() - start).count();

    line.close();  // the router reads the end of the stream; the device sees the hang-up
    int unroutable = co_await route;
    int spliced = co_await dev;

    int total = client_count * per_client;
    std::printf("%d commands sent over one line in %.3f s (%.0f round trips/s)\n", total, seconds, total / seconds);
    int errors = 0;
    for (int n = 0; n < client_count; ++n) {
        std::printf("  client %d: %d of %d replies wrong, missing or out of order\n", n, wrong[n], per_client);
        errors += wrong[n];
    }
    std::printf("  device: %d spliced commands; router: %d unroutable replies\n", spliced, unroutable);
    co_return errors + spliced + unroutable;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = false;
    bool use_lock = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--short") == 0) is_short = true;
        if (std::strcmp(argv[i], "--no-lock") == 0) use_lock = false;
    }
    int errors = al::run(run_example(is_short ? 200 : 5000, use_lock));
    std::printf(errors == 0
                    ? "shared_device: all checks passed (no command was split, every reply reached its client)\n"
                    : "shared_device: FAILED\n");
    return errors == 0 ? 0 : 1;
}
