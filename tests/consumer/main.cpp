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

int main() {
    int errors = al::run(run_all());
    std::printf("consumer: %s\n", errors == 0 ? "ok" : "FAILED");
    return errors == 0 ? 0 : 1;
}
