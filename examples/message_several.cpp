// SPDX-License-Identifier: BSL-1.0
// Message, several waiters (the seed's second Message example), then the same
// waiters fed by a thread on another core with a payload of 4 KiB.
//
// Part 1, as in the seed: five tasks wait on one Message; a task sets it once
// a period with "Hello k". Every waiter wakes for every set: the first one to
// run clears the message, but the others were already woken and still get the
// payload. Check: each waiter received every message, in order.
//
// Part 2: a thread pinned to another CPU sets the message as fast as it can
// with a 4 KiB payload whose words all derive from one sequence number. There
// is no queue (the latest value wins), so a waiter sees some of the values, but
// it never sees a torn one, and never an older one after a newer one. Here the
// waiters read with `co_await msg` and never clear: with `co_await msg;
// msg.clear()` a set() landing between the read and the clear would be cleared
// unseen and a waiter could miss the last one, and msg.next() takes each set
// for a single consumer, so it is for one iterating task, not five.
//
//   task or thread --set(v)--> [Message<T>] --co_await msg--> waiters 0..4
//
// Usage: message_several [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr int waiter_count = 5;

// ---------------------------------------------------------------- part 1

al::Task<std::vector<std::string>> bar(al::Message<std::string>& msg, int n, int messages) {
    std::vector<std::string> received;
    while (static_cast<int>(received.size()) < messages) {
        std::string res = co_await msg;
        msg.clear();
        std::printf("%d %s\n", n, res.c_str());
        received.push_back(res);
        // Let the other waiters run before waiting again.
        co_await al::sleep(0);
    }
    co_return received;
}

al::Task<int> several_waiters(int messages, std::chrono::milliseconds period) {
    al::Message<std::string> msg;
    std::vector<al::TaskHandle<std::vector<std::string>>> waiters;
    for (int n = 0; n < waiter_count; ++n) waiters.push_back(al::create_task(bar(msg, n, messages)));
    for (int k = 1; k <= messages; ++k) {
        co_await al::sleep(period);
        msg.set("Hello " + std::to_string(k));
    }
    std::vector<std::vector<std::string>> received = co_await al::gather(waiters);

    int errors = 0;
    for (int n = 0; n < waiter_count; ++n) {
        for (int k = 1; k <= messages; ++k) {
            std::string expected = "Hello " + std::to_string(k);
            if (received[n].size() < static_cast<std::size_t>(k) || received[n][k - 1] != expected) {
                std::printf("FAILED: waiter %d did not get \"%s\" in its place\n", n, expected.c_str());
                ++errors;
                break;
            }
        }
    }
    co_return errors;
}

// ---------------------------------------------------------------- part 2

struct Reading {
    std::uint64_t sequence;
    bool last;                               // the producer's final reading
    std::array<std::uint64_t, 510> samples;  // sample i of reading s is s * 1000 + i
};

Reading make_reading(std::uint64_t sequence, bool last = false) {
    Reading r{};
    r.sequence = sequence;
    r.last = last;
    for (std::size_t i = 0; i < r.samples.size(); ++i) r.samples[i] = sequence * 1000 + i;
    return r;
}

bool consistent(const Reading& r) {
    for (std::size_t i = 0; i < r.samples.size(); ++i) {
        if (r.samples[i] != r.sequence * 1000 + i) return false;
    }
    return true;
}

struct ReaderReport {
    int payloads = 0;
    int torn = 0;
    int went_back = 0;
    std::uint64_t last = 0;
};

al::Task<ReaderReport> reader(al::Message<Reading>& msg) {
    ReaderReport report;
    for (;;) {
        // Several readers share one Message: each reads the latest payload
        // without clearing it (next() is for one iterating consumer: it takes
        // each set for itself), then lets the others run.
        Reading r = co_await msg;
        co_await al::sleep(0);
        ++report.payloads;
        if (!consistent(r)) ++report.torn;
        if (r.sequence < report.last) ++report.went_back;
        report.last = r.sequence;
        if (r.last) co_return report;
    }
}

al::Task<int> fast_thread(std::chrono::milliseconds duration) {
    al::Message<Reading> msg;
    std::vector<al::TaskHandle<ReaderReport>> readers;
    for (int n = 0; n < waiter_count; ++n) readers.push_back(al::create_task(reader(msg)));

    std::uint64_t sets = 0;
    std::thread producer([&] {
        bool pinned = al::port::pin_current_thread(1);
        std::printf("producer thread on CPU %d%s, readers on CPU %d\n", al::port::current_cpu(),
                    pinned ? "" : " (could not pin)", 0);
        auto end = al::Clock::now() + duration;
        while (al::Clock::now() < end) msg.set(make_reading(++sets));
        msg.set(make_reading(++sets, true));
    });
    std::vector<ReaderReport> reports = co_await al::gather(readers);
    producer.join();

    int errors = 0;
    std::printf("the thread set the message %llu times (4 KiB each)\n", static_cast<unsigned long long>(sets));
    for (int n = 0; n < waiter_count; ++n) {
        const ReaderReport& r = reports[n];
        std::printf("  waiter %d: %d payloads, %d torn, %d older than the one before, last #%llu\n", n, r.payloads,
                    r.torn, r.went_back, static_cast<unsigned long long>(r.last));
        if (r.torn != 0 || r.went_back != 0 || r.payloads == 0) ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    al::port::pin_current_thread(0);
    std::printf("Part 1: five waiters, a task sets the message\n");
    int errors = al::run(several_waiters(is_short ? 3 : 5, is_short ? 20ms : 1000ms));
    std::printf("Part 2: the same five waiters, a thread on another core sets a 4 KiB payload\n");
    errors += al::run(fast_thread(is_short ? 200ms : 2000ms));
    std::printf(errors == 0
                    ? "message_several: all checks passed (every waiter got every message; no payload was torn)\n"
                    : "message_several: FAILED\n");
    return errors == 0 ? 0 : 1;
}
