// SPDX-License-Identifier: BSL-1.0
// Message, iteration (the seed's third Message example: `async for text in msg`).
//
// A thread sends a few words, one per period, through a Message; a task
// iterates over it with `co_await msg.next()`, which waits for the next set(),
// clears the message and returns the payload. When the sender is faster than
// the task, values in between are replaced (the latest wins); the task never
// gets one twice, nor an older one after a newer one.
//
//   thread --set(text)--> [Message<std::string>] --co_await msg.next()--> task
//
// Usage: message_iterate [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

constexpr std::array<const char*, 4> words{"Hello", "This is a", "message", "goodbye"};

al::Task<std::vector<std::string>> waiter(al::Message<std::string>& msg) {
    std::vector<std::string> received;
    for (;;) {
        std::string text = co_await msg.next();
        std::printf("Waiter got %s\n", text.c_str());
        received.push_back(text);
        if (text == "goodbye") co_return received;
    }
}

al::Task<int> run_example(std::chrono::milliseconds period) {
    al::Message<std::string> msg;
    auto task = al::create_task(waiter(msg));
    std::thread sender([&msg, period] {
        for (const char* text : words) {
            msg.set(text);
            std::this_thread::sleep_for(period);
        }
    });
    std::vector<std::string> received = co_await task;
    sender.join();

    // What arrived must be the words in the order sent, perhaps with some
    // replaced by a later one, and must end with the last.
    int errors = 0;
    std::size_t next_word = 0;
    for (const std::string& text : received) {
        while (next_word < words.size() && text != words[next_word]) ++next_word;
        if (next_word == words.size()) {
            std::printf("FAILED: \"%s\" arrived out of order or twice\n", text.c_str());
            ++errors;
            break;
        }
        ++next_word;
    }
    if (received.empty() || received.back() != "goodbye") ++errors;
    std::printf("%zu of %zu words arrived (a missing one was replaced by a later set)\n", received.size(),
                words.size());
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = al::run(run_example(is_short ? 20ms : 1000ms));
    std::printf(errors == 0 ? "message_iterate: all checks passed (the words arrived in order, ending with goodbye)\n"
                            : "message_iterate: FAILED\n");
    return errors == 0 ? 0 : 1;
}
