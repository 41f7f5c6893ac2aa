// SPDX-License-Identifier: BSL-1.0
// Message, one waiter (the seed's first Message example).
//
// A task waits on a Message; a thread (any context would do: another core, a
// signal handler) sets it with a payload. The task gets the payload and clears
// the message so that a later wait suspends again.
//
//   thread --set("Hello")--> [Message<std::string>] --co_await msg--> waiter task
//
// Usage: message_single [--short] [--trace FILE]
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "trace_option.hpp"

namespace al = asynclink;
using namespace std::chrono_literals;

namespace {

al::Task<std::string> waiter(al::Message<std::string>& msg) {
    std::printf("Waiting for message\n");
    std::string res = co_await msg;  // suspends until set(); the loop runs other tasks meanwhile
    std::printf("waiter got %s\n", res.c_str());
    msg.clear();
    co_return res;
}

al::Task<int> run_example(std::chrono::milliseconds delay) {
    al::Message<std::string> msg;
    auto task = al::create_task(waiter(msg));
    // Set from outside the loop. A std::string may allocate, which is fine in
    // a thread; from a signal handler use a payload whose copy does not.
    std::thread setter([&msg, delay] {
        std::this_thread::sleep_for(delay);
        msg.set("Hello");
    });
    std::string res = co_await task;
    setter.join();

    int errors = 0;
    if (res != "Hello") {
        std::printf("FAILED: the waiter got \"%s\", expected \"Hello\"\n", res.c_str());
        ++errors;
    }
    if (msg.is_set()) {
        std::printf("FAILED: the message is still set after clear()\n");
        ++errors;
    }
    if (msg.value() != "Hello") {  // clear() keeps the payload; only the "set" state goes
        std::printf("FAILED: value() lost the payload after clear()\n");
        ++errors;
    }
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = al::run(run_example(is_short ? 50ms : 1000ms));
    std::printf(errors == 0 ? "message_single: all checks passed (the waiter got the payload)\n"
                            : "message_single: FAILED\n");
    return errors == 0 ? 0 : 1;
}
