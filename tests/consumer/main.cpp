// SPDX-License-Identifier: BSL-1.0
// A program built against the installed asynclink package, through
// find_package and through pkg-config (at -O2: GCC 12 miscompiled the
// vector-returning coroutine below unless the package's flags carry the
// workaround, see cmake/pkg_config_paths.cmake and CMakeLists.txt).
#include <asynclink/asynclink.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace al = asynclink;
using namespace std::chrono_literals;

al::Task<int> twice(int x) {
    co_await al::sleep(1ms);
    co_return 2 * x;
}

al::Task<std::vector<std::string>> collect(al::Message<std::string>& msg, int count) {
    std::vector<std::string> received;
    while (static_cast<int>(received.size()) < count) {
        std::string value = co_await msg;
        msg.clear();
        received.push_back(value);
        co_await al::sleep(0);
    }
    co_return received;
}

al::Task<int> run_all() {
    auto [a, b] = co_await al::gather(twice(1), twice(20));
    if (a + b != 42) co_return 1;
    constexpr int count = 3;
    al::Message<std::string> msg;
    auto collector = al::create_task(collect(msg, count));
    for (int k = 1; k <= count; ++k) {
        co_await al::sleep(0);
        co_await al::sleep(0);
        msg.set("Hello " + std::to_string(k));
    }
    std::vector<std::string> got = co_await collector;
    int errors = got.size() == count ? 0 : 1;
    for (std::size_t k = 0; k < got.size(); ++k) {
        if (got[k] != "Hello " + std::to_string(k + 1)) {
            std::printf("consumer: item %zu is \"%s\"\n", k, got[k].c_str());
            ++errors;
        }
    }
    co_return errors;
}

/// An exception thrown inside the library (a shared one too) is caught by its
/// type here: its RTTI is exported.
int library_exception_is_caught() {
    try {
        al::LoopOptions options;
        options.schedule_capacity = 3;  // not a power of two
        al::Loop loop(options);
    } catch (const al::UsageError& e) {
        return std::string(e.what()).find("schedule_capacity") != std::string::npos ? 0 : 1;
    } catch (...) {
        std::printf("consumer: the library's UsageError was not caught as al::UsageError\n");
        return 1;
    }
    std::printf("consumer: no UsageError for a schedule_capacity of 3\n");
    return 1;
}

/// A call run on a Context's worker thread: its job type derives from a
/// library class whose RTTI and vtable only the library defines (a shared
/// library that did not export them failed to link this program).
al::Task<int> offloaded() {
    al::Context ctx(4, 1);
    int answer = co_await ctx.assign([](int x) { return x + 1; }, 41);
    co_return answer == 42 ? 0 : 1;
}

int main() {
    int errors = library_exception_is_caught();
    errors += al::run(run_all());
    errors += al::run(offloaded());
    std::printf("consumer: %s\n", errors == 0 ? "ok" : "FAILED");
    return errors == 0 ? 0 : 1;
}
