// SPDX-License-Identifier: BSL-1.0
// A controller task that waits for the first of three things: a command from
// a thread (a ThreadSafeQueue), a new sensor reading from a signal handler's
// timer (a Message), or a quiet period (a timeout). select() gives what came
// first and cancels the other waits, which lose nothing: a command that was
// not taken stays in the queue, a reading stays in the Message.
//
//   operator thread --put_sync("start"/"stop"/...)--> [ThreadSafeQueue<Command>] --+
//   timer signal ---------set(reading)--------------> [Message<int>] ---------------+--> select --> controller
//                                                     sleep(quiet period) ---------+
//
// Usage: select_commands [--short] [--trace FILE]
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

enum class Command { start, stop, quit };

const char* name(Command c) {
    switch (c) {
    case Command::start: return "start";
    case Command::stop: return "stop";
    case Command::quit: return "quit";
    }
    return "?";
}

struct Report {
    int commands = 0;
    int readings = 0;
    int quiet_periods = 0;
    int last_reading = -1;
};

al::Task<Report> controller(al::ThreadSafeQueue<Command>& commands, al::Message<int>& sensor,
                            al::Clock::duration quiet) {
    Report report;
    bool running = false;
    for (;;) {
        auto [command, reading, quiet_period] = co_await al::select(commands.get(), sensor, al::sleep(quiet));
        // More than one may be engaged: each one that happened is handled.
        if (reading) {
            sensor.clear();
            ++report.readings;
            report.last_reading = *reading;
            if (running && report.readings % 10 == 0) std::printf("controller: reading %d\n", *reading);
        }
        if (command) {
            ++report.commands;
            std::printf("controller: command %s\n", name(*command));
            if (*command == Command::quit) co_return report;
            running = *command == Command::start;
        }
        if (quiet_period) ++report.quiet_periods;
    }
}

/// What the timer's signal handler touches: only the Message and a counter
/// of its own.
struct Sensor {
    al::Message<int> message;
    int next_reading = 0;  // the handler's alone
    static void on_tick(void* self) noexcept {
        auto& s = *static_cast<Sensor*>(self);
        s.message.set(s.next_reading++);
    }
};

al::Task<int> run_example(bool is_short) {
    al::ThreadSafeQueue<Command> commands(4);
    Sensor sensor;
    // The sensor: a periodic POSIX timer whose handler sets the Message (an
    // int payload: its copy is async-signal-safe).
    al::PeriodicSignal ticker(is_short ? 2ms : 10ms, &Sensor::on_tick, &sensor);
    auto ctl = al::create_task(controller(commands, sensor.message, is_short ? 30ms : 200ms));
    std::thread operator_thread([&] {
        auto pause = is_short ? 40ms : 500ms;
        for (Command c : {Command::start, Command::stop, Command::start}) {
            std::this_thread::sleep_for(pause);
            commands.put_sync(c, true);
        }
        std::this_thread::sleep_for(pause);
        commands.put_sync(Command::quit, true);
    });
    Report report = co_await ctl;
    operator_thread.join();

    int errors = 0;
    if (report.commands != 4) {
        std::printf("FAILED: %d commands arrived, 4 were sent\n", report.commands);
        ++errors;
    }
    if (report.readings == 0) {
        std::printf("FAILED: no sensor reading arrived\n");
        ++errors;
    }
    if (!commands.empty()) {
        std::printf("FAILED: a command was left in the queue\n");
        ++errors;
    }
    std::printf("controller: %d commands, %d readings (last %d), %d quiet periods\n", report.commands, report.readings,
                report.last_reading, report.quiet_periods);
    co_return errors;
}

}  // namespace

int main(int argc, char** argv) {
    example::TraceOption trace(argc, argv);  // --trace FILE
    bool is_short = argc > 1 && std::strcmp(argv[1], "--short") == 0;
    int errors = al::run(run_example(is_short));
    std::printf(errors == 0 ? "select_commands: all checks passed (every command arrived once)\n"
                            : "select_commands: FAILED\n");
    return errors == 0 ? 0 : 1;
}
